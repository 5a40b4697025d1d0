"""Shared pieces for cross-encoder heads and bi-encoder pooling."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from rerankwatch.core.errors import RerankwatchError


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def head_to_scores(logits: np.ndarray, activation: str) -> tuple[np.ndarray, np.ndarray]:
    """Map a (n, labels) head output to (logit, score) per pair, in float64.

    One label: the logit itself, then the model's activation (sigmoid or none).
    Two labels: the positive-minus-negative logit; its sigmoid equals softmax[:, 1].
    """
    logits = np.asarray(logits, dtype=np.float64).reshape(len(logits), -1)
    if logits.shape[1] == 1:
        logit = logits[:, 0]
        return logit, (sigmoid(logit) if activation == "sigmoid" else logit.copy())
    if logits.shape[1] == 2:
        logit = logits[:, 1] - logits[:, 0]
        return logit, sigmoid(logit)
    raise RerankwatchError(f"a reranker head needs 1 or 2 labels, this one has {logits.shape[1]}")


def activation_name(module) -> str:
    """Name the activation module a CrossEncoder applies ("sigmoid" or "none")."""
    name = type(module).__name__.lower() if module is not None else "identity"
    return {"sigmoid": "sigmoid", "identity": "none"}.get(name, name)


def st_pooling(model_dir: str | Path) -> str | None:
    """Pooling mode from a sentence-transformers folder's Pooling config, if it has one."""
    modules_file = Path(model_dir) / "modules.json"
    if not modules_file.is_file():
        return None
    for module in json.loads(modules_file.read_text()):
        if module.get("type", "").endswith("Pooling"):
            config = json.loads((Path(model_dir) / module["path"] / "config.json").read_text())
            if "pooling_mode" in config:  # newer sentence-transformers layout
                return config["pooling_mode"]
            for mode in ("cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens"):
                if config.get(f"pooling_mode_{mode}"):
                    return {"cls_token": "cls", "mean_tokens": "mean"}.get(mode, mode)
    return None


def saved_json(model_dir: str | Path, name: str) -> dict:
    """A JSON file of a model folder (config.json, tokenizer_config.json, …); {} when absent."""
    path = Path(model_dir) / name
    return json.loads(path.read_text()) if path.is_file() else {}


def st_max_seq_length(model_dir: str | Path) -> int | None:
    return saved_json(model_dir, "sentence_bert_config.json").get("max_seq_length")


def tokenizer_max_length(model_dir: str | Path) -> int | None:
    """``model_max_length`` of a saved tokenizer (what st-cross and hf-seqcls truncate to);
    None when absent or the "no limit" sentinel transformers writes (~1e30)."""
    value = saved_json(model_dir, "tokenizer_config.json").get("model_max_length")
    return value if isinstance(value, int) and 0 < value < 1_000_000 else None


def cross_encoder_max_length(model_dir: str | Path) -> int | None:
    """Where st-cross and hf-seqcls truncate a saved cross-encoder: the tokenizer's limit, capped
    by the position embeddings (None without a tokenizer limit)."""
    limit = tokenizer_max_length(model_dir)
    positions = saved_json(model_dir, "config.json").get("max_position_embeddings")
    return min(limit, positions) if limit and positions else limit


def cosine(queries: np.ndarray, docs: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity in float64."""
    q = np.asarray(queries, dtype=np.float64)
    d = np.asarray(docs, dtype=np.float64)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return np.einsum("ij,ij->i", q, d)
