"""Engine registry: one line per engine kind, imported lazily."""

from __future__ import annotations

from rerankwatch.core.config import EngineConfig, EnvironmentConfig
from rerankwatch.core.registry import build_registry, resolve
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
    # incident replays (fault injectors), see engines/faults.py
    ("replay-swap-args", "rerankwatch.engines.faults:SwapArgsEngine"),
    ("replay-cls-pooling", "rerankwatch.engines.faults:ClsPoolingEngine"),
    ("replay-random-head", "rerankwatch.engines.faults:RandomHeadEngine"),
    ("replay-low-precision-activation", "rerankwatch.engines.faults:LowPrecisionActivationEngine"),
    ("replay-softmax-single-logit", "rerankwatch.engines.faults:SoftmaxSingleLogitEngine"),
    ("replay-raw-logits", "rerankwatch.engines.faults:RawLogitsEngine"),
    ("replay-truncate-128", "rerankwatch.engines.faults:Truncate128Engine"),
    ("replay-crash", "rerankwatch.engines.faults:CrashEngine"),
    ("replay-shared-upgrade", "rerankwatch.engines.faults:SharedUpgradeEngine"),
    ("replay-attention-mask-dropped", "rerankwatch.engines.faults:AttentionMaskDroppedEngine"),
    ("replay-request-normalization", "rerankwatch.engines.faults:RequestNormalizationEngine"),
    ("replay-index-ignored", "rerankwatch.engines.faults:IndexIgnoredEngine"),
    ("replay-empty-docs-dropped", "rerankwatch.engines.faults:EmptyDocsDroppedEngine"),
    ("replay-token-type-ids-dropped", "rerankwatch.engines.faults:TokenTypeIdsDroppedEngine"),
    ("replay-pooler-dropped", "rerankwatch.engines.faults:PoolerDroppedEngine"),
    ("replay-activation-twice", "rerankwatch.engines.faults:ActivationTwiceEngine"),
    ("replay-int8-weights", "rerankwatch.engines.faults:Int8WeightsEngine"),
    ("replay-default-dtype", "rerankwatch.engines.faults:DefaultDtypeEngine"),
    ("replay-zeroed-head", "rerankwatch.engines.faults:ZeroedHeadEngine"),
    ("replay-llm-template-missing", "rerankwatch.engines.faults:LlmTemplateMissingEngine"),
    ("replay-llm-yes-no-swapped", "rerankwatch.engines.faults:LlmYesNoSwappedEngine"),
    ("replay-llm-right-padding", "rerankwatch.engines.faults:LlmRightPaddingEngine"),
    ("replay-call-noise", "rerankwatch.engines.faults:CallNoiseEngine"),
    ("replay-long-input-batch", "rerankwatch.engines.faults:LongInputBatchEngine"),
    ("replay-tokenizer-fallback", "rerankwatch.engines.faults:TokenizerFallbackEngine"),
    ("replay-sep-token-none", "rerankwatch.engines.faults:SepTokenNoneEngine"),
    ("replay-segment-bos", "rerankwatch.engines.faults:SegmentBosEngine"),
    ("replay-unicode-normalized", "rerankwatch.engines.faults:UnicodeNormalizedEngine"),
    ("replay-llm-cue-truncated", "rerankwatch.engines.faults:LlmCueTruncatedEngine"),
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
