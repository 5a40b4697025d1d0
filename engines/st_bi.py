"""`st-bi`: sentence-transformers SentenceTransformer; the score is cosine(query, doc)."""

from __future__ import annotations

import numpy as np

from rerankwatch.engines.base import BatchedEngine, torch_dtype
from rerankwatch.engines.heads import cosine


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
        self._query_cache: dict[str, np.ndarray] = {}  # filled per call by _prepare

    def _length(self, pair) -> int:
        return len(pair[1])  # batches embed docs only; queries are embedded up front

    def _prepare(self, pairs) -> None:
        """Embed every unique query of this call once, in full batches."""
        queries = list(dict.fromkeys(q for q, _ in pairs))
        self._query_cache = dict(zip(queries, self._encode(queries), strict=True))

    def _encode(self, texts: list[str]) -> np.ndarray:
        embeddings = self.model.encode(
            texts, batch_size=self.config.batch_size, convert_to_tensor=True,
            show_progress_bar=False,
        )
        return embeddings.float().cpu().numpy()

    def _score_batch(self, queries: list[str], docs: list[str]) -> tuple[np.ndarray, np.ndarray]:
        scores = cosine(np.stack([self._query_cache[q] for q in queries]), self._encode(docs))
        return scores, scores.copy()
