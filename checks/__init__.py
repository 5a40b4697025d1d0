"""Check registry: one line per check, imported lazily (each check is one GE expectation file)."""

from __future__ import annotations

from rerankwatch.registry import build_registry, resolve

CHECKS = build_registry("check", [
    ("monotonic_relevance", "checks.monotonic_relevance:MonotonicRelevance"),
    ("engine_agreement", "checks.engine_agreement:EngineAgreement"),
    ("irrelevant_ceiling", "checks.irrelevant_ceiling:IrrelevantCeiling"),
    ("determinism", "checks.determinism:Determinism"),
    ("argument_order", "checks.argument_order:ArgumentOrder"),
    ("precision_drift", "checks.precision_drift:PrecisionDrift"),
    ("saturation", "checks.saturation:Saturation"),
    ("finite", "checks.finite:Finite"),
    ("retrieval_quality", "checks.retrieval_quality:RetrievalQuality"),
    ("truncation", "checks.truncation:Truncation"),
])


def check_class(name: str):
    """The class registered for ``name``; an unknown name lists the available ones."""
    return resolve("check", CHECKS, name)
