"""engine_agreement: raw logits, truncation and the pooling incident fail on their deltas.

The bench these tests read: tests/support/check_bench.py."""

from __future__ import annotations

import polars as pl
import pytest

from rerankwatch.checks.base import FAILED, PASSED, SKIPPED, Judge
from rerankwatch.checks.engine_agreement import EngineAgreement
from rerankwatch.store import Store
from tests.support.check_bench import (
    LONG_DOC,
    Bench,
    filtered,
    graded_scores,
    hand_fingerprint,
    hand_suite,
    only,
    run_check,
)

# --------------------------------------------------------------------------- engine_agreement

AGREEMENT_SUBJECTS = ["score_max_abs_delta", "score_p99_abs_delta", "logit_max_abs_delta",
                      "kendall_tau_min", "topk_overlap_min"]


def test_engine_agreement_clean_hf_seqcls_matches_st_cross(bench: Bench, judge: Judge) -> None:
    results = run_check(EngineAgreement, bench.suite("ce", "ce", "ce-hf"), judge)
    assert [r.subject for r in results] == AGREEMENT_SUBJECTS
    for r in results:
        assert r.engine == "ce-hf" and r.other_engine == "ce" and r.status == PASSED
        assert r.detail["pairs"] == 12
        assert r.detail["fingerprint_differs"] == {"kind": ["hf-seqcls", "st-cross"]}
    assert only(results, "ce-hf", "score_max_abs_delta").observed < 1e-5
    assert only(results, "ce-hf", "kendall_tau_min").observed == 1.0
    assert only(results, "ce-hf", "topk_overlap_min").observed == 1.0


def test_engine_agreement_catches_raw_logits(bench: Bench, judge: Judge) -> None:
    results = run_check(EngineAgreement, bench.suite("ce", "ce", "ce-logits"), judge)
    delta = only(results, "ce-logits", "score_max_abs_delta")
    assert delta.status == FAILED and delta.threshold == 0.02 and delta.observed > 0.1
    worst = delta.detail["worst_pairs"][0]
    assert abs(worst["score"] - worst["score_other"]) == pytest.approx(delta.observed)
    assert worst["score"] == pytest.approx(worst["logit"])  # the activation was skipped
    assert only(results, "ce-logits", "score_p99_abs_delta").status == FAILED
    # the logits themselves agree, and sigmoid is monotonic: the ranking is intact
    for subject in ("logit_max_abs_delta", "kendall_tau_min", "topk_overlap_min"):
        assert only(results, "ce-logits", subject).status == PASSED


def test_engine_agreement_catches_truncation_at_128_tokens(bench: Bench, judge: Judge) -> None:
    results = run_check(EngineAgreement, bench.suite("ce", "ce", "ce-trunc128"), judge)
    delta = only(results, "ce-trunc128", "score_max_abs_delta")
    assert delta.status == FAILED and delta.observed > delta.threshold
    assert delta.detail["worst_pairs"][0]["doc_id"] == LONG_DOC
    assert delta.detail["worst_pairs"][1]["score"] == pytest.approx(
        delta.detail["worst_pairs"][1]["score_other"], abs=1e-5)  # only the long doc moved
    assert delta.detail["fingerprint_differs"] == {"max_length": [128, 512]}


def test_engine_agreement_pooling_incident_fails_on_delta_despite_same_ranking(
        store: Store, judge: Judge, graded: pl.DataFrame) -> None:
    """TEI CLS pooling on a mean-pooled model: 0.290 became 0.608, every ranking unchanged."""
    ids, mean_scores = graded_scores(graded, {3.0: 0.75, 1.0: 0.52, 0.0: 0.278})
    cls_scores = mean_scores + (0.608 - 0.290)
    incident = graded["doc_id"].to_list().index("g12-d3")
    assert (mean_scores[incident], cls_scores[incident]) == (pytest.approx(0.290),
                                                             pytest.approx(0.608))
    data = hand_suite(store, "mean", {"mean": (hand_fingerprint("mean"), ids, mean_scores),
                                      "cls": (hand_fingerprint("cls"), ids, cls_scores)})
    results = run_check(EngineAgreement, data, judge)

    tau = only(results, "cls", "kendall_tau_min")
    assert tau.status == PASSED and tau.observed == 1.0
    assert only(results, "cls", "topk_overlap_min").status == PASSED
    delta = only(results, "cls", "score_max_abs_delta")
    assert delta.status == FAILED and delta.other_engine == "mean"
    assert delta.observed == pytest.approx(0.318) and delta.threshold == 0.02
    assert delta.detail["fingerprint_differs"] == {"pooling": ["cls", "mean"]}
    for worst in delta.detail["worst_pairs"]:
        assert worst["score"] - worst["score_other"] == pytest.approx(0.318)
    stored = data.paired("cls", "mean").filter(pl.col("doc_id") == "g12-d3").row(0, named=True)
    assert (stored["score_other"], stored["score"]) == (pytest.approx(0.290),
                                                        pytest.approx(0.608))
    assert only(results, "cls", "logit_max_abs_delta").status == FAILED


def test_engine_agreement_p99_status_agrees_with_observed(store: Store, judge: Judge,
                                                          graded: pl.DataFrame) -> None:
    ids, reference = graded_scores(graded, {3.0: 0.9, 1.0: 0.5, 0.0: 0.1})
    candidate = reference.copy()
    candidate[0] += 0.015  # one pair of 36 moves, within max_abs_delta; p99 (linear) 0.00975
    data = hand_suite(store, "ref", {"ref": (hand_fingerprint(), ids, reference),
                                     "cand": (hand_fingerprint(dtype="float16"), ids, candidate)})
    results = run_check(EngineAgreement, data, judge)
    assert only(results, "cand", "score_max_abs_delta").status == PASSED
    p99 = only(results, "cand", "score_p99_abs_delta")
    assert (p99.status == PASSED) == (p99.observed <= p99.threshold), (
        p99.status, p99.observed, p99.threshold)


def test_engine_agreement_rankings_skip_without_multi_doc_queries(bench: Bench,
                                                                  judge: Judge) -> None:
    one_per_query = ["en-q01-d1", "en-q06-d1", "en-q17-d1", "en-q18-d1"]
    data = filtered(bench.suite("bi", "bi", "bi-bf16"), pl.col("doc_id").is_in(one_per_query))
    results = run_check(EngineAgreement, data, judge)
    assert only(results, "bi-bf16", "score_max_abs_delta").status == PASSED  # 4 real pairs
    for subject in ("kendall_tau_min", "topk_overlap_min"):
        row = only(results, "bi-bf16", subject)
        assert row.status == SKIPPED, (subject, row.status, row.observed)
