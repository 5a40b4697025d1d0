"""precision_drift: bfloat16 within its tolerance passes, beyond a tiny tolerance fails.

The bench these tests read: tests/support/check_bench.py."""

from __future__ import annotations

import polars as pl
import pytest

from rerankwatch.checks.base import FAILED, PASSED, SKIPPED, Judge
from rerankwatch.checks.precision_drift import PrecisionDrift
from tests.support.check_bench import (
    Bench,
    only,
    run_check,
)

# --------------------------------------------------------------------------- precision_drift


def test_precision_drift_bfloat16_within_default_tolerance(bench: Bench, judge: Judge) -> None:
    results = run_check(PrecisionDrift, bench.suite("bi", "bi", "bi-bf16"), judge)
    drift = only(results, "bi-bf16", "bfloat16")
    assert drift.status == PASSED and drift.other_engine == "bi"
    assert 0 < drift.observed <= drift.threshold == 0.02  # bf16 differs, but slightly
    float32 = only(results, "bi", "*")
    assert float32.status == SKIPPED and "float32" in float32.detail["reason"]


def test_precision_drift_fails_beyond_a_tiny_tolerance(bench: Bench, judge: Judge) -> None:
    data = bench.suite("bi", "bi", "bi-bf16")
    results = run_check(PrecisionDrift, data, judge, tolerance=1e-9)
    drift = only(results, "bi-bf16", "bfloat16")
    assert drift.status == FAILED and drift.threshold == 1e-9 and drift.observed > 1e-9
    paired = data.paired("bi-bf16", "bi").with_columns(
        (pl.col("score") - pl.col("score_other")).abs().alias("d")).sort("d", descending=True)
    assert drift.observed == pytest.approx(paired["d"][0])
    assert drift.detail["worst_pairs"][0]["doc_id"] == paired["doc_id"][0]


def test_precision_drift_skips_without_a_float32_twin(bench: Bench, judge: Judge) -> None:
    results = run_check(PrecisionDrift, bench.suite("ce", "ce", "bi-bf16"), judge)
    lonely = only(results, "bi-bf16", "*")
    assert lonely.status == SKIPPED and "no float32 config" in lonely.detail["reason"]
    assert only(results, "ce", "*").status == SKIPPED  # float32 itself
    assert not any(r.status == PASSED for r in results)
