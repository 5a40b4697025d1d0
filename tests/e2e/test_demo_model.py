"""The demo cross-encoder, built with the CI budget unless a build is cached: it orders the
golden ladders, reloads identically, scores alike through st-cross and hf-seqcls, and the
default config's cross-encoder run passes every blocking check."""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl
import pytest

from engines import build_engine
from rerankwatch import demo_model
from rerankwatch.config import EngineConfig
from rerankwatch.demo_eval import golden_en

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def demo_ce() -> str:
    """The built demo model folder (the full build when cached, else a CI-budget build)."""
    if demo_model.find_built() is None:
        demo_model.build("ci")
    return demo_model.demo_model_path()


@pytest.fixture(scope="session")
def golden() -> pl.DataFrame:
    return golden_en()


def score(kind: str, frame: pl.DataFrame) -> np.ndarray:
    engine = build_engine(EngineConfig(name=kind, kind=kind, model=demo_model.MODEL_NAME))
    return engine.score(list(zip(frame["query"], frame["doc"], strict=True))).scores


def test_every_golden_ladder_falls_and_irrelevant_pairs_stay_low(demo_ce, golden):
    scored = golden.with_columns(pl.Series("score", score("st-cross", golden)))
    for (ladder,), rungs in scored.filter(pl.col("ladder").is_not_null()).group_by("ladder"):
        scores = rungs.sort("ladder_rank")["score"].to_list()
        assert all(a > b for a, b in itertools.pairwise(scores)), (ladder, scores)
    assert scored.filter(pl.col("known_irrelevant"))["score"].max() < 0.5


def test_two_loads_score_identically(demo_ce, golden):
    assert np.array_equal(score("st-cross", golden), score("st-cross", golden))


def test_st_cross_and_hf_seqcls_agree_in_float32(demo_ce, golden):
    delta = np.abs(score("st-cross", golden) - score("hf-seqcls", golden))
    assert delta.max() < 1e-5


def test_fingerprint_records_the_built_weights(demo_ce):
    engine = build_engine(EngineConfig(name="ce", kind="st-cross", model=demo_model.MODEL_NAME))
    fingerprint = engine.fingerprint()
    assert fingerprint.model == demo_model.MODEL_NAME
    assert fingerprint.weights_sha256 == demo_model.build_info(demo_ce)["weights_sha256"]


def test_default_runs_the_cross_encoder_config_once_built(demo_ce):
    from rerankwatch.cli import _configs

    assert _configs(None) == [None, demo_model.CROSS_CONFIG]
    assert _configs("mine.toml") == ["mine.toml"]


def test_cross_encoder_default_nightly_passes_every_blocking_check(demo_ce, tmp_path):
    from flows.nightly import nightly
    from rerankwatch.store import Store

    state = nightly(demo_model.CROSS_CONFIG, str(tmp_path / "ce.duckdb"), return_state=True)
    assert state.is_completed(), state.message
    with Store(tmp_path / "ce.duckdb", read_only=True) as store:
        results = store.sql("select check_name, status from check_results")
    assert not {"failed", "error"} & set(results["status"])
    judged = set(results.filter(pl.col("status") == "passed")["check_name"])
    assert {"monotonic_relevance", "irrelevant_ceiling", "argument_order", "engine_agreement",
            "determinism"} <= judged


def test_demo_replays_are_caught(demo_ce, tmp_path):
    from rerankwatch.replay import run_replays

    outcomes = {o.replay.name: o for o in run_replays(
        str(tmp_path / "replay.duckdb"), ["swap_args_demo_ce", "random_head_demo_ce"])}
    swapped = outcomes["swap_args_demo_ce"]
    assert "argument_order" in swapped.caught_by
    reversal = [r for r in swapped.report.failing if r.subject == "matches_reference_swapped"]
    assert "reversed" in reversal[0].detail["message"]
    assert {"determinism", "engine_agreement"} <= set(outcomes["random_head_demo_ce"].caught_by)
