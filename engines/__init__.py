"""Engine registry: one line per engine kind, imported lazily; the replay-* kinds are those
engines/faults.py declares (it imports no model library at import)."""

from __future__ import annotations

from rerankwatch.core.config import EngineConfig, EnvironmentConfig
from rerankwatch.core.registry import build_registry, resolve
from rerankwatch.engines.faults import FAULT_KINDS
from rerankwatch.engines.isolated import IsolatedEngine

ENGINES = build_registry("engine kind", [
    ("st-cross", "rerankwatch.engines.st_cross:StCrossEngine"),
    ("st-bi", "rerankwatch.engines.st_bi:StBiEngine"),
    ("hf-seqcls", "rerankwatch.engines.hf_seqcls:HfSeqClsEngine"),
    ("hf-bi", "rerankwatch.engines.hf_bi:HfBiEngine"),
    ("vllm", "rerankwatch.engines.vllm_offline:VllmEngine"),
    ("http-rerank", "rerankwatch.engines.http_rerank:HttpRerankEngine"),
    ("http-embed", "rerankwatch.engines.http_embed:HttpEmbedEngine"),
    ("onnx", "rerankwatch.engines.onnx:OnnxEngine"),
    ("flag-reranker", "rerankwatch.engines.flag_reranker:FlagRerankerEngine"),
    ("llm-rerank", "rerankwatch.engines.llm_rerank:LlmRerankEngine"),
    # incident replays (fault injectors): the kinds engines/faults.py declares (@fault_kind)
    *((kind, f"rerankwatch.engines.faults:{cls.__name__}") for kind, cls in FAULT_KINDS.items()),
])


def engine_class(kind: str):
    """The class registered for ``kind``; an unknown kind lists the available ones."""
    return resolve("engine kind", ENGINES, kind)


def build_engine(config: EngineConfig, environment: EnvironmentConfig | None = None):
    """Load the engine an EngineConfig describes; with an environment, in a worker process
    inside that isolated venv (this process never imports the engine's packages)."""
    if environment is not None:
        return IsolatedEngine(config, environment)
    return engine_class(config.kind)(config)
