"""`st-bi`: sentence-transformers SentenceTransformer; the score is cosine(query, doc)."""

from __future__ import annotations

import numpy as np

from engines.base import BatchedEngine, torch_dtype
from engines.heads import cosine


class StBiEngine(BatchedEngine):
    kind = "st-bi"
    activation = "cosine"

    def _load(self) -> None:
        from sentence_transformers import SentenceTransformer

        if self.config.pooling != "auto":
            raise ValueError("st-bi runs the model's own pooling module; set pooling = 'auto' "
                             "or use hf-bi to override the pooling")
        self.model = SentenceTransformer(self.model_ref, device=self.config.device)
        if self.config.max_length:
            self.model.max_seq_length = self.config.max_length
        self.model.to(torch_dtype(self.config.precision))
        self.max_length = self.model.max_seq_length
        pooling = next((m for m in self.model if type(m).__name__ == "Pooling"), None)
        self.pooling = str(getattr(pooling, "pooling_mode", "n/a")) if pooling else "n/a"
        self._query_cache: dict[str, np.ndarray] = {}

    def score(self, pairs, on_batch=None):
        self._query_cache = {}  # per call: batching must not leak between calls
        return super().score(pairs, on_batch)

    def _encode(self, texts: list[str]) -> np.ndarray:
        embeddings = self.model.encode(
            texts, batch_size=len(texts), convert_to_tensor=True, show_progress_bar=False
        )
        return embeddings.float().cpu().numpy()

    def _score_batch(self, queries: list[str], docs: list[str]) -> tuple[np.ndarray, np.ndarray]:
        new = list(dict.fromkeys(q for q in queries if q not in self._query_cache))
        if new:  # a query is embedded once per run, however many docs it has
            self._query_cache.update(zip(new, self._encode(new), strict=True))
        scores = cosine(np.stack([self._query_cache[q] for q in queries]), self._encode(docs))
        return scores, scores.copy()
