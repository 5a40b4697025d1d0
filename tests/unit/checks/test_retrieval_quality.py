"""retrieval_quality: a reversed ranker is caught, an insignificant drop is not.

The bench these tests read: tests/support/check_bench.py."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from rerankwatch.checks.base import FAILED, PASSED, SKIPPED, Judge, SuiteInput
from rerankwatch.checks.retrieval_quality import RetrievalQuality
from rerankwatch.store import Store
from tests.support.check_bench import (
    Bench,
    filtered,
    graded_scores,
    hand_fingerprint,
    hand_suite,
    only,
    run_check,
)

# --------------------------------------------------------------------------- retrieval_quality


def graded_run(store: Store, graded: pl.DataFrame, reference: str,
               **engines: np.ndarray) -> SuiteInput:
    ids = graded["pair_id"].to_list()
    return hand_suite(store, reference, {name: (hand_fingerprint(), ids, scores)
                                         for name, scores in engines.items()})


def test_retrieval_quality_catches_a_reversed_ranker(store: Store, judge: Judge,
                                                     graded: pl.DataFrame) -> None:
    _, good = graded_scores(graded, {3.0: 0.9, 1.0: 0.5, 0.0: 0.1})
    _, reversed_ = graded_scores(graded, {3.0: 0.1, 1.0: 0.5, 0.0: 0.9})
    data = graded_run(store, graded, "good", good=good, reversed=reversed_)
    results = run_check(RetrievalQuality, data, judge)

    assert [r.subject for r in results] == ["ndcg@10", "mrr"]
    for r in results:
        assert r.engine == "reversed" and r.other_engine == "good" and r.status == FAILED
        assert r.threshold == 0.02 and r.observed > 0.3
        assert r.detail["p_value"] < 0.05 and r.detail["queries"] == 12
        assert r.detail["baseline"] == pytest.approx(1.0)
        assert r.observed == pytest.approx(r.detail["baseline"] - r.detail["candidate"])
    # labels 3 and 1 are relevant: reversed, the first relevant doc sits at rank 2
    assert only(results, "reversed", "mrr").detail["candidate"] == pytest.approx(0.5)


def test_retrieval_quality_passes_an_engine_against_itself(store: Store, judge: Judge,
                                                           graded: pl.DataFrame) -> None:
    _, good = graded_scores(graded, {3.0: 0.9, 1.0: 0.5, 0.0: 0.1})
    data = graded_run(store, graded, "good", good=good, copy=good)
    results = run_check(RetrievalQuality, data, judge)
    assert [r.subject for r in results] == ["ndcg@10", "mrr"]
    for r in results:
        assert r.engine == "copy" and r.status == PASSED
        assert r.observed == 0.0 and r.detail["p_value"] == 1.0


def test_retrieval_quality_ignores_an_insignificant_drop(store: Store, judge: Judge,
                                                         graded: pl.DataFrame) -> None:
    """One query of twelve reversed: the mean drop exceeds max_drop, but it is not significant."""
    _, good = graded_scores(graded, {3.0: 0.9, 1.0: 0.5, 0.0: 0.1})
    one_bad = good.copy()
    one_bad[:3] = one_bad[:3][::-1]  # g01 only
    data = graded_run(store, graded, "good", good=good, one_bad=one_bad)
    ndcg = only(run_check(RetrievalQuality, data, judge), "one_bad", "ndcg@10")
    assert ndcg.observed > ndcg.threshold and ndcg.detail["p_value"] >= 0.05
    assert ndcg.status == PASSED


def test_retrieval_quality_counts_queries_improved_degraded_and_unchanged(
        store: Store, judge: Judge, graded: pl.DataFrame) -> None:
    """The reference ranks g10-g12 reversed; the candidate fixes them and reverses g01, g02."""
    _, good = graded_scores(graded, {3.0: 0.9, 1.0: 0.5, 0.0: 0.1})
    ref, cand = good.copy(), good.copy()
    for q in (10, 11, 12):  # three docs per query, in the set's order
        ref[3 * (q - 1):3 * q] = ref[3 * (q - 1):3 * q][::-1]
    for q in (1, 2):
        cand[3 * (q - 1):3 * q] = cand[3 * (q - 1):3 * q][::-1]
    data = graded_run(store, graded, "ref", ref=ref, cand=cand)
    results = run_check(RetrievalQuality, data, judge)

    for r in results:  # the same queries move on both metrics
        counts = (r.detail["improved"], r.detail["degraded"], r.detail["unchanged"])
        assert counts == (3, 2, 7), (r.subject, r.detail)
        assert r.detail["queries"] == 12 and r.status == PASSED  # equal means: no drop
        worst = r.detail["most_degraded"]
        assert [(w["set_id"], w["query_id"]) for w in worst] == [("graded", "g01"),
                                                                  ("graded", "g02")]
        assert all(w["baseline"] == pytest.approx(1.0) and w["candidate"] < 1.0 for w in worst)
    mrr = only(results, "cand", "mrr")
    assert mrr.detail["most_degraded"][0]["candidate"] == pytest.approx(0.5)
    declared = RetrievalQuality.Detail.model_validate(json.loads(mrr.detail_json()))
    assert declared.rows() == mrr.detail["most_degraded"]  # the detail's rows, as views read

    lenient = run_check(RetrievalQuality, data, judge, unchanged_below=1.0, most_degraded=1)
    for r in lenient:  # no per-query change exceeds 1.0
        assert (r.detail["improved"], r.detail["degraded"], r.detail["unchanged"]) == (0, 0, 12)
        assert r.detail["most_degraded"] == []
    one = run_check(RetrievalQuality, data, judge, most_degraded=1)
    assert [w["query_id"] for w in only(one, "cand", "ndcg@10").detail["most_degraded"]] == [
        "g01"]


def test_retrieval_quality_skips_without_graded_labels(bench: Bench, judge: Judge) -> None:
    data = filtered(bench.suite("bi", "bi", "bi-bf16"), pl.col("known_irrelevant"))
    results = run_check(RetrievalQuality, data, judge)
    skipped = only(results, "bi-bf16", "*")
    assert skipped.status == SKIPPED and skipped.other_engine == "bi"
    assert "no graded labels" in skipped.detail["reason"]


def test_retrieval_quality_skips_without_multi_doc_queries(bench: Bench, judge: Judge) -> None:
    one_per_query = ["en-q01-d1", "en-q06-d1", "en-q17-d1", "en-q18-d1"]  # labels 3, 3, 0, 0
    data = filtered(bench.suite("bi", "bi", "bi-bf16"), pl.col("doc_id").is_in(one_per_query))
    results = run_check(RetrievalQuality, data, judge)
    assert [r.status for r in results] == [SKIPPED]
