"""Check registry: one line per check, imported lazily (each check is one GE expectation file)."""

from __future__ import annotations

from rerankwatch.core.registry import build_registry, resolve

CHECKS = build_registry("check", [
    ("monotonic_relevance", "rerankwatch.checks.monotonic_relevance:MonotonicRelevance"),
    ("engine_agreement", "rerankwatch.checks.engine_agreement:EngineAgreement"),
    ("irrelevant_ceiling", "rerankwatch.checks.irrelevant_ceiling:IrrelevantCeiling"),
    ("determinism", "rerankwatch.checks.determinism:Determinism"),
    ("argument_order", "rerankwatch.checks.argument_order:ArgumentOrder"),
    ("precision_drift", "rerankwatch.checks.precision_drift:PrecisionDrift"),
    ("saturation", "rerankwatch.checks.saturation:Saturation"),
    ("finite", "rerankwatch.checks.finite:Finite"),
    ("retrieval_quality", "rerankwatch.checks.retrieval_quality:RetrievalQuality"),
    ("truncation", "rerankwatch.checks.truncation:Truncation"),
    ("history_baseline", "rerankwatch.checks.history_baseline:HistoryBaseline"),
    ("score_scale", "rerankwatch.checks.score_scale:ScoreScale"),
    ("cache_spot_check", "rerankwatch.checks.cache_spot_check:CacheSpotCheck"),
    ("batch_invariance", "rerankwatch.checks.batch_invariance:BatchInvariance"),
    ("declared_precision", "rerankwatch.checks.declared_precision:DeclaredPrecision"),
    ("tokenization", "rerankwatch.checks.tokenization:Tokenization"),
    ("long_inputs", "rerankwatch.checks.long_inputs:LongInputs"),
])


def check_class(name: str):
    """The class registered for ``name``; an unknown name lists the available ones."""
    return resolve("check", CHECKS, name)
