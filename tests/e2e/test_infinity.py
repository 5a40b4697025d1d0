"""A real Infinity server (`infinity-emb`, its own environment) on 127.0.0.1 against st-cross.

The server hosts the demo cross-encoder and the embedded bi-encoder (all-MiniLM-L6-v2) at
once, as a team's Infinity deployment hosts several models. `http-rerank` with
`api_schema = "infinity"` scores the cross-encoder through `POST /rerank` and must agree with
st-cross within the agreement tolerance; `http-embed` scores the bi-encoder through
`POST /embeddings` and must agree with st-bi; a rerank engine pointed at the bi-encoder is
refused by the server, and the engine fails naming that refusal, never scoring.
"""

from __future__ import annotations

import os

import pytest

from rerankwatch.checks.suites import run_suite
from rerankwatch.core.config import EngineConfig, EnvironmentConfig
from rerankwatch.core.models import resolve_model
from rerankwatch.store import Store
from tests.support.configs import INFINITY_REQUIREMENTS, MINILM
from tests.support.suite_runs import golden_en, max_score_delta, score_run, suite_input

pytestmark = pytest.mark.slow
INFINITY = EnvironmentConfig(name="infinity", requirements=INFINITY_REQUIREMENTS)
DEMO_CE: dict = {}  # default_cross.toml overrides no threshold
STARTUP_S = 240


@pytest.fixture(scope="module")
def infinity_server(demo_ce):
    """`infinity_emb v2` from its environment: the demo CE as `demo-ce`, MiniLM as
    `minilm`, float32 on the CPU, no telemetry, offline."""
    from rerankwatch.engines.environments import ensure_environment
    from tests.support.process import free_port, running_server

    python = ensure_environment(INFINITY)
    port = free_port()
    command = [str(python), "-m", "infinity_emb.cli", "v2",
               "--model-id", demo_ce, "--served-model-name", "demo-ce",
               "--model-id", resolve_model(MINILM), "--served-model-name", "minilm",
               "--engine", "torch", "--device", "cpu", "--dtype", "float32",
               "--no-model-warmup", "--host", "127.0.0.1", "--port", str(port)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "INFINITY_ANONYMOUS_USAGE_STATS": "0",
           "DO_NOT_TRACK": "1"}
    with running_server(command, port, startup_s=STARTUP_S, name="infinity_emb", env=env) as url:
        yield url


def engine(name: str, kind: str, model: str, **extra) -> EngineConfig:
    return EngineConfig(name=name, kind=kind, model=model, precision="float32", **extra)


@pytest.fixture(scope="module")
def served_run(tmp_path_factory, golden_dir, demo_ce, infinity_server):
    """st-cross (reference) and Infinity's /rerank on the same weights, in one run."""
    pairs = golden_en(golden_dir)
    db = tmp_path_factory.mktemp("infinity") / "rw.duckdb"
    engines = [engine("st-cross", "st-cross", demo_ce),
               engine("infinity", "http-rerank", "demo-ce", url=infinity_server,
                      api_schema="infinity", batch_size=16, timeout_s=60),
               engine("infinity-bi", "http-rerank", "minilm", url=infinity_server,
                      api_schema="infinity", retries=0)]
    run_id = score_run(db, "st-cross", engines, pairs,
                       probes={"st-cross": True, "infinity": True})
    store = Store(db)
    yield store, run_id
    store.close()


@pytest.fixture(scope="module")
def embedded_run(tmp_path_factory, golden_dir, infinity_server):
    """st-bi (reference) and Infinity's /embeddings on all-MiniLM-L6-v2, in one run."""
    db = tmp_path_factory.mktemp("infinity-bi") / "rw.duckdb"
    engines = [engine("st-bi", "st-bi", MINILM),
               engine("infinity-embed", "http-embed", "minilm", url=infinity_server,
                      batch_size=16, timeout_s=60)]
    run_id = score_run(db, "st-bi", engines, golden_en(golden_dir))
    store = Store(db)
    yield store, run_id
    store.close()


def run_pairs(store: Store, run_id: str) -> int:
    return store.sql("select count(*) as n from run_pairs where run_id = $r", r=run_id)["n"][0]


def test_infinity_embeddings_agree_with_st_bi(embedded_run):
    store, run_id = embedded_run
    delta, pairs = max_score_delta(store, run_id, "st-bi", "infinity-embed")
    assert pairs == run_pairs(store, run_id) and delta < 1e-4, (delta, pairs)
    report = run_suite(suite_input(store, run_id, "st-bi"), {})
    assert report.verdict == "PASS", [r for r in report.results if r.blocks]


def test_infinity_rerank_agrees_with_st_cross(served_run):
    store, run_id = served_run
    report = run_suite(suite_input(store, run_id, "st-cross"), DEMO_CE)
    delta, pairs = max_score_delta(store, run_id, "st-cross", "infinity")
    assert pairs == run_pairs(store, run_id) and delta < 1e-4, (delta, pairs)
    for check in ("engine_agreement", "argument_order"):
        found = {r.status for r in report.results if r.check == check and r.engine == "infinity"}
        assert found == {"passed"}, (check, [r for r in report.results if r.check == check])
    fingerprint = store.sql("select e.fingerprint from run_engines r join engines e "
                            "using (engine_id) where r.run_id = $r and r.engine_name = "
                            "'infinity'", r=run_id)["fingerprint"][0]
    assert '"api_schema": "infinity"' in fingerprint and "/rerank" in fingerprint


def test_a_rerank_engine_on_the_served_bi_encoder_fails_naming_the_refusal(served_run):
    store, run_id = served_run
    [(status, error)] = store.sql("select status, error from run_engines where run_id = $r and "
                                  "engine_name = 'infinity-bi'", r=run_id).rows()
    assert status == "failed"
    assert "HTTP 400" in error and "does not support `rerank`" in error, error
    assert store.sql("select count(*) as n from scores where run_id = $r and "
                     "engine_name = 'infinity-bi'", r=run_id)["n"][0] == 0
    report = run_suite(suite_input(store, run_id, "st-cross"), DEMO_CE)
    assert report.verdict == "ERROR"  # could not judge it: never a pass, and no regression
    assert {r.status for r in report.results if r.engine == "infinity-bi"} == {"not_judged"}
    assert [engine for engine, _ in report.engine_errors] == ["infinity-bi"]
