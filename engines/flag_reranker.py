"""`flag-reranker`: FlagEmbedding's FlagReranker (encoder-only cross-encoders such as bge-reranker).

FlagEmbedding 1.4 does not import under transformers 5, so this engine runs in an isolated
environment (docs/engines.md, isolated environments): FlagEmbedding is imported in ``_load`` only.
FlagReranker truncates its own way: the query to ``query_max_length`` (3/4 of ``max_length``
unless set), then the passage so the pair fits ``max_length`` (512 by default).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from rerankwatch.core.errors import ConfigError, PrecisionUnsupportedError, RerankwatchError
from rerankwatch.core.records import Fingerprint
from rerankwatch.engines.base import TRACKED_PACKAGES, BatchedEngine
from rerankwatch.engines.heads import head_to_scores

# an isolated environment these requirements build runs this engine (torch stays on our pin)
ENVIRONMENT_REQUIREMENTS = ("FlagEmbedding==1.4.2", "transformers>=4.44.2,<5")
FLAG_DEFAULT_MAX_LENGTH = 512  # FlagReranker's own default, not the model's limit
PASSED_OPTIONS = ("query_max_length", "query_instruction_for_rerank", "query_instruction_format",
                  "passage_instruction_for_rerank", "passage_instruction_format")


class FlagRerankerEngine(BatchedEngine):
    kind = "flag-reranker"
    packages = (*TRACKED_PACKAGES, "FlagEmbedding")
    activation = "sigmoid"  # what compute_score(normalize=True) applies to the logit

    def _load(self) -> None:
        unknown = sorted(set(self.config.options) - set(PASSED_OPTIONS))
        if unknown:
            raise ConfigError(f"engine {self.config.name!r}: unknown flag-reranker option(s) "
                              f"{unknown}; known: {list(PASSED_OPTIONS)}")
        self._check_dtype()
        try:
            from FlagEmbedding import FlagReranker
        except ImportError as exc:  # not installed, or this transformers is too new for it
            raise RerankwatchError(
                f"engine {self.config.name!r}: FlagEmbedding cannot be imported here ({exc}). "
                f"Run it in an isolated environment: [[environments]] name = \"flag\", "
                f"requirements = {list(ENVIRONMENT_REQUIREMENTS)}, and environment = \"flag\" "
                "on the engine") from exc
        self.max_length = self.config.max_length or FLAG_DEFAULT_MAX_LENGTH
        self.query_max_length = int(self.config.options.get("query_max_length",
                                                            self.max_length * 3 // 4))
        self.reranker = FlagReranker(
            self.model_ref, use_fp16=self.config.precision == "float16",
            devices=self.config.device, max_length=self.max_length,
            **{**self.config.options, "query_max_length": self.query_max_length})

    def _check_dtype(self) -> None:
        """FlagReranker knows fp32 and fp16 only, and silently runs fp16 as fp32 on a CPU."""
        precision, device = self.config.precision, self.config.device
        if precision == "float32" or (precision == "float16" and device != "cpu"):
            return
        raise PrecisionUnsupportedError(
            f"engine {self.config.name!r}: FlagReranker runs float32, or float16 on an "
            f"accelerator (use_fp16); not {precision} on {device}")

    def _score_batch(self, queries: list[str], docs: list[str]) -> tuple[np.ndarray, np.ndarray]:
        # batch_size one above the batch: one pass, and FlagEmbedding's tqdm bars stay off
        logits = self.reranker.compute_score(list(zip(queries, docs, strict=True)),
                                             batch_size=len(queries) + 1, normalize=False)
        return head_to_scores(np.atleast_1d(np.asarray(logits, dtype=np.float64)),
                              self.activation)

    def fingerprint(self) -> Fingerprint:
        extra = {"truncation": "query then only_second",
                 "query_max_length": str(self.query_max_length)}
        extra |= {k: str(v) for k, v in self.config.options.items()}
        return dataclasses.replace(super().fingerprint(), extra=extra)
