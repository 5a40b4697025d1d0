"""`st-cross`: sentence-transformers CrossEncoder."""

from __future__ import annotations

import numpy as np

from rerankwatch.engines.base import BatchedEngine, to_numpy, torch_dtype
from rerankwatch.engines.heads import activation_name, head_to_scores


class StCrossEngine(BatchedEngine):
    kind = "st-cross"

    def _load(self) -> None:
        import torch
        from sentence_transformers import CrossEncoder

        self.model = CrossEncoder(
            self.model_ref, device=self.config.device, max_length=self.config.max_length
        )
        self.model.model.to(torch_dtype(self.config.precision))
        self.max_length = self.model.max_length
        self.activation = activation_name(self.model.activation_fn)
        self._identity = torch.nn.Identity()

    def _score_batch(self, queries: list[str], docs: list[str]) -> tuple[np.ndarray, np.ndarray]:
        raw = self.model.predict(
            list(zip(queries, docs, strict=True)),
            batch_size=len(queries),
            activation_fn=self._identity,
            convert_to_tensor=True,
            show_progress_bar=False,
        )
        return head_to_scores(to_numpy(raw), self.activation)
