"""finite on real and hand-built scores: NaN, inf and a lost score fail it.

The bench these tests read: tests/support/check_bench.py."""

from __future__ import annotations

import numpy as np
import polars as pl

from rerankwatch.checks.base import FAILED, PASSED, Judge
from rerankwatch.checks.finite import Finite
from tests.support.check_bench import (
    Bench,
    doc_ids,
    filtered,
    main_batch,
    only,
    replace_variant,
    run_check,
)

# --------------------------------------------------------------------------- finite


def test_finite_passes_real_scores(bench: Bench, judge: Judge) -> None:
    results = run_check(Finite, bench.suite("ce", "ce", "bi"), judge)
    for engine, n in (("ce", 12), ("bi", 11)):
        values, count = only(results, engine, "values"), only(results, engine, "count")
        assert values.status == PASSED and values.observed == 0 and values.threshold == 0
        assert values.detail["examples"] == []
        assert count.status == PASSED and count.observed == count.threshold == n
        assert count.detail["missing"] == 0


def test_finite_fails_on_nan_and_inf(bench: Bench, judge: Judge, pairs: pl.DataFrame) -> None:
    ids, main = main_batch(bench.stored("ce"))
    scores, logits = main.scores.copy(), main.logits.copy()
    scores[2], logits[5] = np.nan, np.inf
    broken = replace_variant(bench.stored("ce"), "main", scores=scores, logits=logits)
    results = run_check(Finite, bench.suite("ce", "ce", hand={"ce-nan": broken}), judge)

    values = only(results, "ce-nan", "values")
    assert values.status == FAILED and values.observed == 2 and values.threshold == 0
    assert {e["doc_id"] for e in values.detail["examples"]} == set(doc_ids(pairs, [ids[2], ids[5]]))
    assert only(results, "ce-nan", "count").status == PASSED  # nothing is missing
    assert only(results, "ce", "values").status == PASSED
    assert values.blocks


def test_finite_fails_on_a_missing_score(bench: Bench, judge: Judge) -> None:
    data = bench.suite("ce", "ce", "bi")
    lost = data.engine_scores("ce")["pair_id"][0]
    data = filtered(data, ~((pl.col("engine_name") == "ce") & (pl.col("pair_id") == lost)))
    results = run_check(Finite, data, judge)

    count = only(results, "ce", "count")
    assert count.status == FAILED
    assert count.observed == 11 and count.threshold == 12 and count.detail["missing"] == 1
    assert only(results, "ce", "values").status == PASSED
    assert only(results, "bi", "count").status == PASSED
