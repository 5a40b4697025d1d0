"""irrelevant_ceiling: known-irrelevant pairs stay low, and a high one is listed.

The bench these tests read: tests/support/check_bench.py."""

from __future__ import annotations

import polars as pl
import pytest

from rerankwatch.checks.base import FAILED, PASSED, SKIPPED, Judge
from rerankwatch.checks.irrelevant_ceiling import IrrelevantCeiling
from tests.support.check_bench import (
    SET,
    Bench,
    filtered,
    only,
    run_check,
)

# --------------------------------------------------------------------------- irrelevant_ceiling


def test_irrelevant_ceiling_minilm_stays_low_on_unrelated_pairs(bench: Bench,
                                                                judge: Judge) -> None:
    results = run_check(IrrelevantCeiling, bench.suite("bi", "bi"), judge)
    ceiling = only(results, "bi", SET)
    assert ceiling.status == PASSED and ceiling.threshold == 0.3  # the cosine ceiling
    assert ceiling.observed < 0.3 and ceiling.detail["pairs"] == 4
    assert ceiling.detail["worst_pairs"] == []


def test_irrelevant_ceiling_fails_and_lists_the_pair(bench: Bench, judge: Judge) -> None:
    data = bench.suite("bi", "bi")
    irrelevant = data.engine_scores("bi").filter(pl.col("known_irrelevant"))
    low = float(irrelevant["score"].sort()[-2] + irrelevant["score"].max()) / 2
    results = run_check(IrrelevantCeiling, data, judge, cosine_ceiling=low)
    ceiling = only(results, "bi", SET)
    assert ceiling.status == FAILED and ceiling.threshold == pytest.approx(low)
    assert ceiling.observed == pytest.approx(irrelevant["score"].max())
    assert ceiling.observed > low
    top = irrelevant.sort("score", descending=True).row(0, named=True)
    assert [(p["query_id"], p["doc_id"], p["query"]) for p in ceiling.detail["worst_pairs"]] == [
        (top["query_id"], top["doc_id"], top["query"])]


def test_irrelevant_ceiling_uses_the_probability_ceiling_for_cross_encoders(
        bench: Bench, judge: Judge) -> None:
    results = run_check(IrrelevantCeiling, bench.suite("ce", "ce", "bi"), judge,
                        probability_ceiling=0.99, cosine_ceiling=0.01)
    assert only(results, "ce", SET).threshold == 0.99
    assert only(results, "ce", SET).status == PASSED
    assert only(results, "bi", SET).threshold == 0.01
    assert only(results, "bi", SET).status == FAILED


def test_irrelevant_ceiling_skips_without_known_irrelevant_pairs(bench: Bench,
                                                                 judge: Judge) -> None:
    data = filtered(bench.suite("bi", "bi"), ~pl.col("known_irrelevant"))
    results = run_check(IrrelevantCeiling, data, judge)
    skipped = only(results, "bi", "*")
    assert skipped.status == SKIPPED and "known_irrelevant" in skipped.detail["reason"]
