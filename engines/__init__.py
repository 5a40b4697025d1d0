"""Engine registry: one line per engine kind, imported lazily."""

from __future__ import annotations

from rerankwatch.config import EngineConfig
from rerankwatch.registry import build_registry, resolve

ENGINES = build_registry("engine kind", [
    ("st-cross", "engines.st_cross:StCrossEngine"),
    ("st-bi", "engines.st_bi:StBiEngine"),
    ("hf-seqcls", "engines.hf_seqcls:HfSeqClsEngine"),
    ("hf-bi", "engines.hf_bi:HfBiEngine"),
])


def engine_class(kind: str):
    """The class registered for ``kind``; an unknown kind lists the available ones."""
    return resolve("engine kind", ENGINES, kind)


def build_engine(config: EngineConfig):
    """Load the engine an EngineConfig describes."""
    return engine_class(config.kind)(config)
