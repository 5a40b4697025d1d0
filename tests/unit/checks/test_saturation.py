"""saturation on real engine scores: softmax over one logit and a float16 activation are caught.

The bench these tests read: tests/support/check_bench.py."""

from __future__ import annotations

import json
import shutil

import numpy as np
import polars as pl
import pytest

from rerankwatch.checks.base import FAILED, PASSED, SKIPPED, Judge
from rerankwatch.checks.saturation import Saturation
from rerankwatch.core.config import EngineConfig
from rerankwatch.store import Store
from tests.support.check_bench import (
    Bench,
    only,
    rows_of,
    run_check,
)
from tests.support.suite_runs import score_run, suite_input

# --------------------------------------------------------------------------- saturation


def test_saturation_passes_a_clean_float32_engine(bench: Bench, judge: Judge) -> None:
    results = run_check(Saturation, bench.suite("ce", "ce", "bi"), judge)
    assert len(results) == 6
    cosine_grid = only(results, "bi", "low_precision_share")
    assert cosine_grid.status == SKIPPED and "cosine" in cosine_grid.detail["reason"]
    for r in results:
        if r is not cosine_grid:
            assert r.status == PASSED and r.observed == 0.0 and r.detail["examples"] == []
    assert {r.subject: r.threshold for r in rows_of(results, "ce")} == {
        "saturated_share": 0.01, "tied_share": 0.05, "low_precision_share": 0.5}


def test_saturation_catches_softmax_over_one_logit(bench: Bench, judge: Judge) -> None:
    results = run_check(Saturation, bench.suite("ce", "ce-softmax"), judge)
    saturated = only(results, "ce-softmax", "saturated_share")
    assert saturated.status == FAILED
    assert saturated.observed == 1.0 and saturated.threshold == 0.01
    assert saturated.detail["examples"] and all(
        e["score"] == 1.0 for e in saturated.detail["examples"])
    tied = only(results, "ce-softmax", "tied_share")
    scores = bench.pairs.with_columns(pl.len().over("query_id").alias("n"))
    in_multi_doc_queries = scores.filter(pl.col("n") > 1).height / scores.height
    assert tied.status == FAILED  # every pair of a query with two or more docs is tied
    assert tied.observed == pytest.approx(in_multi_doc_queries) and tied.threshold == 0.05


def test_saturation_catches_a_float16_activation(bench: Bench, judge: Judge) -> None:
    results = run_check(Saturation, bench.suite("ce", "ce-fp16-sigmoid"), judge)
    grid = only(results, "ce-fp16-sigmoid", "low_precision_share")
    assert grid.status == FAILED and grid.observed == 1.0 and grid.threshold == 0.5
    for example in grid.detail["examples"]:
        assert float(np.float16(example["score"])) == example["score"]
    assert only(results, "ce-fp16-sigmoid", "saturated_share").status == PASSED


@pytest.fixture(scope="session")
def identity_cross_encoder(tiny_cross_encoder: str, tmp_path_factory) -> str:
    """The tiny cross-encoder configured with no activation (score = raw logit), like
    cross-encoder/ms-marco-MiniLM-L-6-v2."""
    folder = tmp_path_factory.mktemp("identity") / "ce"
    shutil.copytree(tiny_cross_encoder, folder)
    config = json.loads((folder / "config.json").read_text())
    config["sentence_transformers"] = {"activation_fn": "torch.nn.modules.linear.Identity"}
    (folder / "config.json").write_text(json.dumps(config))
    return str(folder)


def test_saturation_low_precision_share_passes_clean_bf16_raw_score_engine(
        bench: Bench, store: Store, judge: Judge, identity_cross_encoder: str) -> None:
    config = EngineConfig(name="ce-identity-bf16", kind="st-cross", model=identity_cross_encoder,
                          precision="bfloat16")
    run_id = score_run(store.path, config.name, [config], bench.pairs, probes=False)
    data = suite_input(store, run_id, "ce")
    assert data.engine_info["ce-identity-bf16"]["status"] == "succeeded"
    assert data.engine_info["ce-identity-bf16"]["activation"] == "none"
    assert store.sql("select distinct variant, activation from scores where run_id = $r",
                     r=run_id).rows() == [("main", "none")]
    results = run_check(Saturation, data, judge)
    grid = only(results, "ce-identity-bf16", "low_precision_share")
    assert grid.status in (PASSED, SKIPPED), (grid.status, grid.observed, grid.threshold)
    assert not grid.blocks
