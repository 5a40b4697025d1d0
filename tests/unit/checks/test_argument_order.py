"""argument_order on real engine scores: reversed arguments are caught, a clean cross-encoder
passes.

The bench these tests read: tests/support/check_bench.py."""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl
import pytest

from rerankwatch.checks.argument_order import ArgumentOrder
from rerankwatch.checks.base import FAILED, PASSED, SKIPPED, Judge
from rerankwatch.pipeline.scoring import probe_pairs
from tests.support.check_bench import (
    Bench,
    main_batch,
    only,
    rows_of,
    run_check,
    tampered,
)

# --------------------------------------------------------------------------- argument_order


def test_argument_order_catches_reversed_arguments(bench: Bench, judge: Judge,
                                                   pairs: pl.DataFrame) -> None:
    data = bench.suite("ce", "ce", "ce-swapped", "bi")
    results = run_check(ArgumentOrder, data, judge)

    reference = rows_of(results, "ce")
    assert [r.subject for r in reference] == ["asymmetry"]  # nothing to compare with itself
    assert reference[0].status == PASSED and reference[0].observed > reference[0].threshold

    swapped = only(results, "ce-swapped", "matches_reference_swapped")
    assert swapped.status == FAILED and swapped.other_engine == "ce"
    assert swapped.observed == 1.0 and swapped.threshold == 0.5  # every probed pair
    assert "reversed" in swapped.detail["message"]
    probed = set(probe_pairs(pairs)["doc_id"])
    examples = swapped.detail["examples"]
    assert examples and {e["doc_id"] for e in examples} <= probed
    for example in swapped.detail["examples"]:  # its scores are the reference's swapped ones
        assert example["score"] == pytest.approx(example["ref_swapped"], abs=1e-6)
        assert example["score"] != pytest.approx(example["score_other"], abs=1e-3)
    # the swapped engine is still order sensitive: only the comparison catches it
    assert only(results, "ce-swapped", "asymmetry").status == PASSED

    bi = only(results, "bi", "*")
    assert bi.status == SKIPPED and "bi-encoder" in bi.detail["reason"]


def test_argument_order_passes_a_clean_cross_encoder(bench: Bench, judge: Judge) -> None:
    results = run_check(ArgumentOrder, bench.suite("ce", "ce", "ce-hf"), judge)
    clean = only(results, "ce-hf", "matches_reference_swapped")
    assert clean.status == PASSED and clean.observed == 0.0 and clean.detail["message"] is None
    assert only(results, "ce-hf", "asymmetry").status == PASSED
    assert all(r.status == PASSED for r in results)


def test_argument_order_fails_an_engine_that_ignores_the_order(bench: Bench,
                                                               judge: Judge) -> None:
    """Swapped re-scores equal to the main scores: score(q, d) == score(d, q)."""
    fingerprint, batches, warnings = bench.stored("ce")
    ids, batch = main_batch(bench.stored("ce"))
    by_pair = dict(zip(ids, batch.scores, strict=True))
    symmetric = []
    for variant, probe_ids, b in batches:
        if variant == "swapped":
            same = np.array([by_pair[i] for i in probe_ids])
            b = dataclasses.replace(b, scores=same, logits=same.copy())
        symmetric.append((variant, probe_ids, b))
    assert {v for v, _, _ in symmetric} >= {"main", "swapped"}
    results = run_check(ArgumentOrder, bench.suite(
        "ce", hand={"ce": (tampered(fingerprint, "symmetric"), symmetric, warnings)}), judge)
    asymmetry = only(results, "ce", "asymmetry")
    assert asymmetry.status == FAILED
    assert asymmetry.observed == 0.0 and asymmetry.threshold == 1e-4
    assert "ignores argument order" in asymmetry.detail["hint"]


def test_argument_order_skips_what_it_cannot_judge(bench: Bench, judge: Judge) -> None:
    # no swapped probe was scored for ce-logits
    results = run_check(ArgumentOrder, bench.suite("ce", "ce", "ce-logits"), judge)
    skipped = only(results, "ce-logits", "asymmetry")
    assert skipped.status == SKIPPED and "no swapped probe" in skipped.detail["reason"]
    assert [r.subject for r in rows_of(results, "ce-logits")] == ["asymmetry"]

    # a bi-encoder reference has no swapped probe to compare a cross-encoder with
    results = run_check(ArgumentOrder, bench.suite("bi", "bi", "ce"), judge)
    assert only(results, "bi", "*").status == SKIPPED
    no_ref = only(results, "ce", "matches_reference_swapped")
    assert no_ref.status == SKIPPED and no_ref.other_engine == "bi"
    assert "reference has no swapped probe" in no_ref.detail["reason"]
    assert only(results, "ce", "asymmetry").status == PASSED
