"""`hf-seqcls`: raw transformers AutoModelForSequenceClassification over (query, doc) pairs."""

from __future__ import annotations

import numpy as np

from rerankwatch.engines.base import DEFAULT_MAX_LENGTH, BatchedEngine, load_transformers, to_numpy
from rerankwatch.engines.heads import head_to_scores


class HfSeqClsEngine(BatchedEngine):
    kind = "hf-seqcls"
    activation = "sigmoid"

    def _load(self) -> None:
        from transformers import AutoModelForSequenceClassification

        self.tokenizer, self.model = load_transformers(
            AutoModelForSequenceClassification, self.model_ref, self.config)
        positions = getattr(self.model.config, "max_position_embeddings", DEFAULT_MAX_LENGTH)
        self.max_length = self.config.max_length or min(
            self.tokenizer.model_max_length, positions, DEFAULT_MAX_LENGTH
        )

    def _score_batch(self, queries: list[str], docs: list[str]) -> tuple[np.ndarray, np.ndarray]:
        import torch

        features = self.tokenizer(
            queries, docs, padding=True, truncation=True,
            max_length=self.max_length, return_tensors="pt",
        )
        self._saw(features["input_ids"], features["attention_mask"])
        features = features.to(self.config.device)
        with torch.inference_mode():
            logits = self.model(**features).logits
        return head_to_scores(to_numpy(logits), self.activation)
