"""determinism on real engine scores: a random classifier head is caught, clean engines pass.

The bench these tests read: tests/support/check_bench.py."""

from __future__ import annotations

import pytest

from rerankwatch.checks.base import FAILED, PASSED, SKIPPED, Judge
from rerankwatch.checks.determinism import Determinism
from rerankwatch.pipeline.scoring import probe_pairs
from tests.support.check_bench import (
    Bench,
    only,
    run_check,
)

# --------------------------------------------------------------------------- determinism


def test_determinism_catches_a_random_head(bench: Bench, judge: Judge) -> None:
    results = run_check(Determinism, bench.suite("bi", "bi", "minilm-as-reranker"), judge)

    reload = only(results, "minilm-as-reranker", "reload")
    assert reload.status == FAILED and reload.threshold == 1e-5  # float32
    assert reload.observed > 1e-4  # a fresh random head at each load
    worst = reload.detail["worst_pairs"]
    assert worst and abs(worst[0]["score"] - worst[0]["score_reload"]) == pytest.approx(
        reload.observed)

    report = only(results, "minilm-as-reranker", "load_report")
    assert report.status == FAILED and report.threshold == 0 and report.observed >= 1
    listed = report.detail["load_report"]
    assert len(listed) == report.observed
    assert any("MISSING" in w or "newly initialized" in w for w in listed)
    assert any("classifier" in w for w in listed)
    assert "newly (randomly) initialized" in report.detail["hint"]


@pytest.mark.parametrize("engine", ["ce", "bi"])
def test_determinism_passes_clean_engines(bench: Bench, judge: Judge, engine: str) -> None:
    results = run_check(Determinism, bench.suite(engine, engine), judge)
    reload, report = only(results, engine, "reload"), only(results, engine, "load_report")
    assert reload.status == PASSED and reload.observed <= reload.threshold == 1e-5
    assert reload.detail["pairs"] == min(16, probe_pairs(bench.pairs_for(engine)).height)
    assert report.status == PASSED and report.observed == 0
    assert report.detail["load_report"] == [] and report.detail["hint"] is None


def test_determinism_skips_reload_without_a_probe(bench: Bench, judge: Judge) -> None:
    results = run_check(Determinism, bench.suite("ce", "ce-logits"), judge)
    reload = only(results, "ce-logits", "reload")
    assert reload.status == SKIPPED and "reload probe" in reload.detail["reason"]
    assert only(results, "ce-logits", "load_report").status == PASSED
