"""monotonic_relevance: ladders in order pass, an inverted ladder is named.

The bench these tests read: tests/support/check_bench.py."""

from __future__ import annotations

import polars as pl
import pytest

from rerankwatch.checks.base import FAILED, PASSED, SKIPPED, Judge
from rerankwatch.checks.monotonic_relevance import MonotonicRelevance
from tests.support.check_bench import (
    SET,
    Bench,
    doc_ids,
    filtered,
    main_batch,
    only,
    replace_variant,
    run_check,
)

# --------------------------------------------------------------------------- monotonic_relevance


def test_monotonic_relevance_passes_minilm_on_english_ladders(bench: Bench,
                                                              judge: Judge) -> None:
    results = run_check(MonotonicRelevance, bench.suite("bi", "bi"), judge)
    ladders = only(results, "bi", SET)
    assert ladders.status == PASSED and ladders.threshold == 0.0
    assert ladders.observed > 0  # every step down the ladder lowers the score
    assert ladders.detail["ladders"] == 2 and ladders.detail["inverted"] == []


def test_monotonic_relevance_names_an_inverted_ladder(bench: Bench, judge: Judge,
                                                      pairs: pl.DataFrame) -> None:
    """The sell_shirt rungs 1 and 3 swap scores: two inverted steps on that ladder only."""
    ids, main = main_batch(bench.stored("bi"))
    docs = doc_ids(pairs, ids)
    first, third = docs.index("en-q01-d1"), docs.index("en-q01-d3")
    scores = main.scores.copy()
    scores[[first, third]] = scores[[third, first]]
    inverted = replace_variant(bench.stored("bi"), "main", scores=scores, logits=scores.copy())
    results = run_check(MonotonicRelevance, bench.suite("bi", hand={"bi": inverted}), judge)

    ladders = only(results, "bi", SET)
    assert ladders.status == FAILED and ladders.observed < 0 and ladders.threshold == 0.0
    steps = {(s["ladder"], s["ladder_rank"], s["doc_id"], s["next_doc_id"])
             for s in ladders.detail["inverted"]}
    assert steps == {("sell_shirt", 1, "en-q01-d1", "en-q01-d2"),
                     ("sell_shirt", 2, "en-q01-d2", "en-q01-d3")}
    assert ladders.observed == pytest.approx(min(s["score"] - s["next_score"]
                                                 for s in ladders.detail["inverted"]))


def test_monotonic_relevance_margin_tolerates_small_inversions(bench: Bench,
                                                               judge: Judge) -> None:
    data = bench.suite("ce", "ce")  # the untrained cross-encoder inverts its ladders
    failing = only(run_check(MonotonicRelevance, data, judge), "ce", SET)
    assert failing.status == FAILED and failing.detail["inverted"]
    assert {s["ladder"] for s in failing.detail["inverted"]} <= {"sell_shirt", "capital_australia"}
    margin = -failing.observed + 1e-6
    passing = only(run_check(MonotonicRelevance, data, judge, margin=margin), "ce", SET)
    assert passing.status == PASSED and passing.threshold == pytest.approx(-margin)


def test_monotonic_relevance_skips_without_ladders(bench: Bench, judge: Judge) -> None:
    data = filtered(bench.suite("bi", "bi"), pl.col("ladder").is_null())
    results = run_check(MonotonicRelevance, data, judge)
    skipped = only(results, "bi", "*")
    assert skipped.status == SKIPPED and "no ladders" in skipped.detail["reason"]
