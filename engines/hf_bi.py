"""`hf-bi`: raw transformers AutoModel, pooling from the model's sentence-transformers config."""

from __future__ import annotations

import numpy as np

from rerankwatch.engines.base import (
    DEFAULT_MAX_LENGTH,
    SEGMENT_MARK,
    BatchedEngine,
    load_transformers,
    local_model_dir,
    unpadded_rows,
)
from rerankwatch.engines.heads import cosine, st_max_seq_length, st_pooling


class HfBiEngine(BatchedEngine):
    kind = "hf-bi"
    activation = "cosine"

    def _load(self) -> None:
        from transformers import AutoModel

        self.tokenizer, self.model = load_transformers(AutoModel, self.model_ref, self.config)
        model_dir = local_model_dir(self.model_ref)
        configured = st_pooling(model_dir) if model_dir else None
        auto = configured or "cls"
        self.pooling = auto if self.config.pooling == "auto" else self.config.pooling
        self.max_length = self.config.max_length or (
            (st_max_seq_length(model_dir) if model_dir else None)
            or min(self.tokenizer.model_max_length, DEFAULT_MAX_LENGTH)
        )
        if self.pooling not in ("mean", "cls"):
            raise ValueError(f"hf-bi supports mean or cls pooling, not {self.pooling!r}")

    def _embed(self, texts: list[str]) -> tuple[np.ndarray, list[np.ndarray]]:
        """(pooled embeddings, each text's ids as fed, padding removed)."""
        import torch

        features = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        rows = unpadded_rows(features["input_ids"], features["attention_mask"])
        features = features.to(self.config.device)
        with torch.inference_mode():
            hidden = self.model(**features).last_hidden_state
            if self.pooling == "cls":
                pooled = hidden[:, 0]
            else:
                mask = features["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return pooled.float().cpu().numpy(), rows

    def _score_batch(self, queries: list[str], docs: list[str]) -> tuple[np.ndarray, np.ndarray]:
        (query_vectors, query_ids), (doc_vectors, doc_ids) = self._embed(queries), self._embed(docs)
        mark = np.array([SEGMENT_MARK], dtype=np.int32)
        self._saw([np.concatenate([q, mark, d]) for q, d in zip(query_ids, doc_ids, strict=True)])
        scores = cosine(query_vectors, doc_vectors)
        return scores, scores.copy()
