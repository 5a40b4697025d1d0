"""`st-cross`: sentence-transformers CrossEncoder.

A batch runs what ``CrossEncoder.predict`` runs for one batch (its ``preprocess``, then the
model's forward, its ``scores`` output, no activation), without predict's own length sorting:
the ids it builds are recorded as the ids the model saw, and the scores are predict's, bit
for bit. Sentence-transformers before 6 (an isolated environment's) has no ``preprocess``:
there a batch is one ``predict`` call, as before, and no ids are recorded."""

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
        if hasattr(self.model, "preprocess"):  # predict sets eval mode itself; we run its body
            self.model.eval()
        # predict's default prompt, if the model has one (sentence-transformers >= 6)
        name = getattr(self.model, "default_prompt_name", None)
        self._prompt = (getattr(self.model, "prompts", None) or {}).get(name) if name else None
        self._identity = torch.nn.Identity()

    def _score_batch(self, queries: list[str], docs: list[str]) -> tuple[np.ndarray, np.ndarray]:
        import torch
        from sentence_transformers.util import batch_to_device

        pairs = list(zip(queries, docs, strict=True))
        if not hasattr(self.model, "preprocess"):  # sentence-transformers < 6
            raw = self.model.predict(pairs, batch_size=len(pairs), activation_fn=self._identity,
                                     convert_to_tensor=True, show_progress_bar=False)
            return head_to_scores(to_numpy(raw), self.activation)
        features = self.model.preprocess(pairs, prompt=self._prompt)
        self._saw(features["input_ids"], features.get("attention_mask"))
        with torch.inference_mode():
            raw = self.model(batch_to_device(features, self.model.device))["scores"]
        if self.model.num_labels == 1 and raw.ndim > 1:
            raw = raw.squeeze(-1)
        return head_to_scores(to_numpy(raw), self.activation)
