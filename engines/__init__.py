"""Engine registry: one line per engine kind, imported lazily."""

from __future__ import annotations

from rerankwatch.config import EngineConfig, EnvironmentConfig
from rerankwatch.registry import build_registry, resolve

ENGINES = build_registry("engine kind", [
    ("st-cross", "engines.st_cross:StCrossEngine"),
    ("st-bi", "engines.st_bi:StBiEngine"),
    ("hf-seqcls", "engines.hf_seqcls:HfSeqClsEngine"),
    ("hf-bi", "engines.hf_bi:HfBiEngine"),
    ("vllm", "engines.vllm_offline:VllmEngine"),
    ("http-rerank", "engines.http_rerank:HttpRerankEngine"),
    ("onnx", "engines.onnx:OnnxEngine"),
    ("flag-reranker", "engines.flag_reranker:FlagRerankerEngine"),
    # incident replays (fault injectors), see engines/faults.py
    ("replay-swap-args", "engines.faults:SwapArgsEngine"),
    ("replay-cls-pooling", "engines.faults:ClsPoolingEngine"),
    ("replay-random-head", "engines.faults:RandomHeadEngine"),
    ("replay-low-precision-activation", "engines.faults:LowPrecisionActivationEngine"),
    ("replay-softmax-single-logit", "engines.faults:SoftmaxSingleLogitEngine"),
    ("replay-raw-logits", "engines.faults:RawLogitsEngine"),
    ("replay-truncate-128", "engines.faults:Truncate128Engine"),
    ("replay-crash", "engines.faults:CrashEngine"),
])


def engine_class(kind: str):
    """The class registered for ``kind``; an unknown kind lists the available ones."""
    return resolve("engine kind", ENGINES, kind)


def build_engine(config: EngineConfig, environment: EnvironmentConfig | None = None):
    """Load the engine an EngineConfig describes; with an environment, in a worker process
    inside that isolated venv (this process never imports the engine's packages)."""
    if environment is not None:
        from engines.isolated import IsolatedEngine

        return IsolatedEngine(config, environment)
    return engine_class(config.kind)(config)
