"""The demo cross-encoder (the full build, built here if need be; CI builds it first): it orders
every golden ladder, keeps known-irrelevant pairs under its config's ceiling, reloads
identically, scores alike through st-cross and hf-seqcls, and the cross-encoder config's run
(st-cross, hf-seqcls and vLLM's score API, all float32) agrees and passes every blocking check."""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl
import pytest

from rerankwatch.checks.irrelevant_ceiling import IrrelevantCeiling
from rerankwatch.core.config import EngineConfig
from rerankwatch.demo import model as demo_model
from rerankwatch.demo.evaluate import golden_en
from rerankwatch.engines import build_engine
from rerankwatch.pipeline import load_config

pytestmark = pytest.mark.slow
IRRELEVANT_TARGET = 0.3  # every golden known-irrelevant pair (the default ceiling is 0.5)


@pytest.fixture(scope="session")
def golden() -> pl.DataFrame:
    return golden_en()


def score(kind: str, frame: pl.DataFrame) -> np.ndarray:
    engine = build_engine(EngineConfig(name=kind, kind=kind, model=demo_model.MODEL_NAME))
    return engine.score(list(zip(frame["query"], frame["doc"], strict=True))).scores


def test_golden_ladders_fall_and_irrelevant_pairs_stay_low(demo_ce, golden):
    scored = golden.with_columns(pl.Series("score", score("st-cross", golden)))
    ladders = {ladder: rungs.sort("ladder_rank")["score"].to_list() for (ladder,), rungs
               in scored.filter(pl.col("ladder").is_not_null()).group_by("ladder")}
    ordered = [name for name, s in ladders.items() if all(a > b for a, b in itertools.pairwise(s))]
    irrelevant_max = scored.filter(pl.col("known_irrelevant"))["score"].max()
    assert "irrelevant_ceiling" not in load_config(demo_model.CROSS_CONFIG).checks  # no override
    assert len(ordered) == len(ladders) == 8, ladders
    assert irrelevant_max <= IRRELEVANT_TARGET < IrrelevantCeiling.Params().probability_ceiling


def test_the_build_beats_its_teacher_on_held_out_queries(demo_ce):
    """The recipe was chosen on the dev split; held-out and golden figures are reported."""
    evaluation = demo_model.build_info(demo_ce)["evaluation"]
    mrr, dev = evaluation["mrr_at_10"], evaluation["dev"]
    assert mrr["cross-encoder"] >= mrr["teacher bi-encoder"] > mrr["bm25"], mrr
    assert dev["queries"] > 100 and set(dev["mrr_at_10"]) == set(mrr)
    assert evaluation["golden_irrelevant_max"] <= IRRELEVANT_TARGET
    assert evaluation["asymmetry"] > 0.01  # score(q, d) ≠ score(d, q): argument order shows


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
    from rerankwatch.flows.nightly import nightly
    from rerankwatch.store import Store

    state = nightly(demo_model.CROSS_CONFIG, str(tmp_path / "ce.duckdb"), return_state=True)
    with Store(tmp_path / "ce.duckdb", read_only=True) as store:
        results = store.sql("select check_name, engine_name, status from check_results")
        deltas = store.sql(  # st-cross, hf-seqcls and vLLM's score API on the same pairs
            "select c.engine_name, max(abs(c.score - r.score)) as d from scores as c "
            "join scores as r using (run_id, pair_id) where c.variant = 'main' "
            "and r.variant = 'main' and r.engine_name = 'st-cross-fp32' "
            "and c.engine_name <> r.engine_name group by all")
    assert dict(deltas.iter_rows()).keys() == {"hf-seqcls-fp32", "vllm-fp32"}
    assert deltas["d"].max() < 1e-4, deltas
    agreement = results.filter(pl.col("check_name") == "engine_agreement")
    assert set(agreement["engine_name"]) == {"hf-seqcls-fp32", "vllm-fp32"}
    assert set(agreement["status"]) == {"passed"}
    failing = set(results.filter(pl.col("status").is_in(["failed", "error"]))["check_name"])
    assert state.is_completed(), state.message
    assert not failing
    judged = set(results.filter(pl.col("status") == "passed")["check_name"])
    assert {"argument_order", "engine_agreement", "determinism"} <= judged


def test_demo_replays_are_caught(demo_ce, tmp_path):
    from rerankwatch.pipeline.replay import run_replays

    outcomes = {o.replay.name: o for o in run_replays(
        str(tmp_path / "replay.duckdb"), ["swap_args", "random_head_demo_ce"])}
    swapped = outcomes["swap_args"]  # on the demo cross-encoder, once built
    assert swapped.replay.reference["model"] == "embedded:demo-cross-encoder"
    assert "argument_order" in swapped.caught_by
    reversal = [r for r in swapped.report.failing if r.subject == "matches_reference_swapped"]
    assert "reversed" in reversal[0].detail["message"]
    assert {"determinism", "engine_agreement"} <= set(outcomes["random_head_demo_ce"].caught_by)
    for outcome in outcomes.values():  # the model's own thresholds: its reference run passes
        failing = outcome.report.failing
        assert not [r for r in failing if r.engine == outcome.replay.reference["name"]], failing
