"""FlagEmbedding's FlagReranker on the tiny fixture cross-encoder, in its isolated environment
(FlagEmbedding 1.4 does not import under our transformers 5), and the truncation check on the
golden set's long documents: FlagReranker's default max_length (512) vs st-cross at 128."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from rerankwatch.checks.base import FAILED, PASSED, Judge, SuiteInput
from rerankwatch.checks.truncation import Params, Truncation
from rerankwatch.core.config import EngineConfig, EnvironmentConfig
from rerankwatch.core.errors import PrecisionUnsupportedError, RerankwatchError
from rerankwatch.core.records import Fingerprint
from rerankwatch.engines import build_engine
from rerankwatch.engines.flag_reranker import ENVIRONMENT_REQUIREMENTS
from rerankwatch.store import Store
from tests.support.suite_runs import golden_en, score_run, suite_input

FLAG_ENV = EnvironmentConfig(name="flag", requirements=list(ENVIRONMENT_REQUIREMENTS))
LONG_DOCS = {"en-q08-d1", "en-q09-d1", "en-q22-d1"}  # the golden set's `long` documents


def flag_config(model: str, **extra) -> EngineConfig:
    return EngineConfig(name="flag", kind="flag-reranker", model=model, environment="flag",
                        **extra)


def test_without_its_environment_it_names_the_requirements(tiny_cross_encoder: str) -> None:
    with pytest.raises(RerankwatchError, match=r"isolated environment.*FlagEmbedding==1\.4\.2"):
        build_engine(EngineConfig(name="flag", kind="flag-reranker", model=tiny_cross_encoder))


@pytest.mark.parametrize("precision", ["float16", "bfloat16", "int8"])
def test_rejects_what_flag_reranker_would_silently_run_as_float32(precision,
                                                                   tiny_cross_encoder) -> None:
    with pytest.raises(PrecisionUnsupportedError, match=f"not {precision} on cpu"):
        build_engine(EngineConfig(name="flag", kind="flag-reranker", model=tiny_cross_encoder,
                                  precision=precision))


@pytest.fixture(scope="module")
def pairs(golden_dir: Path) -> pl.DataFrame:
    return golden_en(golden_dir)


@pytest.fixture(scope="module")
def store(tmp_path_factory, pairs: pl.DataFrame):
    with Store(tmp_path_factory.mktemp("db") / "flag.duckdb") as s:
        yield s


@pytest.fixture(scope="module")
def flag_engine(tiny_cross_encoder: str):
    """FlagReranker (default max_length) loaded once in its venv for the module's runs."""
    engine = build_engine(flag_config(tiny_cross_encoder), FLAG_ENV)
    yield engine
    getattr(engine, "close", lambda: None)()


@pytest.fixture(scope="module")
def scored(store: Store, pairs: pl.DataFrame, tiny_cross_encoder: str, flag_engine):
    """``scored(reference, engine)``: a new run of both through the production scoring path,
    read back as a suite reads it: FlagReranker (default max_length) in its venv; st-cross at
    its default and at 128. Each engine config scores once; later runs copy its scores."""
    configs = {
        "flag": flag_config(tiny_cross_encoder),
        "st": EngineConfig(name="st", kind="st-cross", model=tiny_cross_encoder),
        "st-128": EngineConfig(name="st-128", kind="st-cross", model=tiny_cross_encoder,
                               max_length=128),
    }

    def run(reference: str, engine: str) -> SuiteInput:
        run_id = score_run(store.path, reference, [configs[reference], configs[engine]], pairs,
                           probes=False, environments=[FLAG_ENV], loaded={"flag": flag_engine})
        data = suite_input(store, run_id, reference)
        assert sorted(data.ok_engines()) == sorted({reference, engine}), data.engines.select(
            "engine_name", "status", "error").rows()
        return data

    return run


def activations(store: Store, run_id: str) -> dict[str, set[str]]:
    """The activation stored with each engine's main scores in a run."""
    rows = store.sql("select distinct engine_name, activation from scores "
                     "where run_id = $r and variant = 'main'", r=run_id)
    found: dict[str, set[str]] = {}
    for name, activation in rows.iter_rows():
        found.setdefault(name, set()).add(activation)
    return found


@pytest.mark.slow
def test_flag_reranker_matches_st_cross_at_the_same_max_length(store, scored, pairs) -> None:
    data = scored("st", "flag")
    assert activations(store, data.run_id) == {"flag": {"sigmoid"}, "st": {"sigmoid"}}
    both = data.paired("flag", "st")
    assert both.height == pairs.height
    np.testing.assert_allclose(both["logit"], both["logit_other"], atol=1e-4)
    np.testing.assert_allclose(both["score"], 1.0 / (1.0 + np.exp(-both["logit"].to_numpy())))


@pytest.mark.slow
def test_fingerprint_is_read_inside_the_environment(store, scored) -> None:
    data = scored("st", "flag")
    stored = store.sql("select e.fingerprint from run_engines r join engines e using (engine_id) "
                       "where r.run_id = $r and r.engine_name = 'flag'", r=data.run_id)
    fingerprint = Fingerprint(**json.loads(stored["fingerprint"][0]))
    assert fingerprint.kind == "flag-reranker" and fingerprint.max_length == 512
    assert fingerprint.versions["FlagEmbedding"] == "1.4.2"
    assert fingerprint.versions["transformers"].startswith("4.")
    assert fingerprint.extra["environment"] == "flag"
    assert fingerprint.extra["query_max_length"] == "384"  # 3/4 of max_length, its default


@pytest.mark.slow
def test_truncation_check_sees_flag_reranker_default_vs_st_cross_at_128(scored) -> None:
    data = scored("st-128", "flag")
    (result,) = Truncation().run(data, Params(), Judge())
    assert result.status == FAILED and result.engine == "flag"
    assert result.other_engine == "st-128"
    assert result.detail["max_lengths"] == {"flag": 512, "st-128": 128}
    assert result.detail["short_max_abs_delta"] < 1e-4
    assert {p["doc_id"] for p in result.detail["affected_pairs"]} <= LONG_DOCS
    assert result.detail["affected_pairs"]
    assert "flag (max_length 512) and st-128 (max_length 128)" in result.detail["message"]


@pytest.mark.slow
def test_truncation_check_passes_flag_reranker_vs_st_cross_at_512(scored) -> None:
    data = scored("st", "flag")
    (result,) = Truncation().run(data, Params(), Judge())
    assert result.status == PASSED and result.detail["long_pairs"] == 3
