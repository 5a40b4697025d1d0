"""A cache that cannot lie: the fingerprint covers every file that shapes a score, and copied
scores are spot-checked against fresh ones, on the real all-MiniLM-L6-v2 and its copies."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from rerankwatch.checks.cache_spot_check import INCOMPLETE
from rerankwatch.checks.suites import run_suite
from rerankwatch.core.config import EngineConfig
from rerankwatch.core.records import FAILED, PASSED, SKIPPED
from rerankwatch.engines import build_engine
from rerankwatch.engines.base import files_sha256, local_model_dir, model_revision
from rerankwatch.pipeline import judging
from rerankwatch.pipeline.scoring import SPOT_CHECK_PAIRS
from rerankwatch.store import Store
from tests.suite_runs import run_config, score_run, suite_input


@pytest.fixture()
def minilm_copy(tmp_path, minilm_path) -> Path:
    folder = tmp_path / "minilm"
    shutil.copytree(minilm_path, folder)
    return folder


def cased(folder: Path) -> None:
    """Turn the tokenizer's lowercasing off, in both of its files, as a user editing a copy
    (or a converter rewriting them) would."""
    config_file = folder / "tokenizer_config.json"
    config = json.loads(config_file.read_text())
    config_file.write_text(json.dumps(config | {"do_lower_case": False}))
    tokenizer_file = folder / "tokenizer.json"
    tokenizer = json.loads(tokenizer_file.read_text())
    tokenizer["normalizer"]["lowercase"] = False
    tokenizer_file.write_text(json.dumps(tokenizer))


def engine_row(store: Store, run_id: str, name: str) -> dict:
    return store.sql("select * from v_run_engine_status where run_id = $r and engine_name = $n",
                     r=run_id, n=name).row(0, named=True)


def main_scores(store: Store, run_id: str, name: str) -> np.ndarray:
    return store.sql("select score from scores where run_id = $r and engine_name = $n and "
                     "variant = 'main' order by pair_id", r=run_id, n=name)["score"].to_numpy()


def test_a_changed_tokenizer_is_a_new_engine_and_is_scored_afresh(tmp_path, minilm_copy,
                                                                   golden_dir):
    from tests.suite_runs import golden_en

    pairs = golden_en(golden_dir)
    engine = EngineConfig(name="bi", kind="st-bi", model=str(minilm_copy))
    db = tmp_path / "cache.duckdb"
    first = score_run(db, "bi", [engine], pairs, probes=False)
    cased(minilm_copy)
    second = score_run(db, "bi", [engine], pairs, probes=False)
    with Store(db) as store:
        before, after = engine_row(store, first, "bi"), engine_row(store, second, "bi")
        assert before["weights_sha256"] == after["weights_sha256"]  # same weights ...
        assert before["engine_id"] != after["engine_id"]  # ... another tokenizer: new engine
        assert before["files_sha256"] != after["files_sha256"]
        assert after["reused_pairs"] == 0 and after["scored_pairs"] == pairs.height
        moved = np.abs(main_scores(store, first, "bi") - main_scores(store, second, "bi"))
    assert moved.max() > 0.1  # what the copy would have hidden


def test_documentation_does_not_shape_a_score(minilm_copy):
    before = files_sha256(minilm_copy)
    (minilm_copy / "README.md").write_text("# notes about this model\n")
    assert files_sha256(minilm_copy) == before
    (minilm_copy / "1_Pooling" / "config.json").write_text(json.dumps(
        json.loads((minilm_copy / "1_Pooling" / "config.json").read_text())
        | {"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}))
    assert files_sha256(minilm_copy) != before  # a module config does


def test_a_hub_model_records_its_resolved_revision(tmp_path, minilm_path, monkeypatch):
    from huggingface_hub import constants

    sha = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--acme--minilm"
    shutil.copytree(minilm_path, repo / "snapshots" / sha)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(sha)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    folder = local_model_dir("acme/minilm")
    assert folder is not None and model_revision(folder) == sha
    engine = build_engine(EngineConfig(name="bi", kind="st-bi", model=str(folder)))
    assert engine.fingerprint().revision == sha


def test_the_spot_check_passes_honest_copies_and_blocks_lying_ones(tmp_path, minilm_copy,
                                                                   golden_dir):
    from tests.suite_runs import golden_en

    pairs = golden_en(golden_dir)
    engine = EngineConfig(name="bi", kind="st-bi", model=str(minilm_copy))
    db = tmp_path / "spot.duckdb"
    first = score_run(db, "bi", [engine], pairs, probes=False)
    with Store(db) as store:
        fresh = run_suite(suite_input(store, first, "bi"))
    (skipped,) = [r for r in fresh.results if r.check == "cache_spot_check"]
    assert skipped.status == SKIPPED and "no score was copied" in skipped.detail["reason"]

    honest = score_run(db, "bi", [engine], pairs, probes=False)
    with Store(db) as store:
        assert engine_row(store, honest, "bi")["reused_pairs"] == pairs.height
        spot = store.sql("select count(*) as n from scores where run_id = $r and "
                         "variant = 'spot'", r=honest)["n"][0]
        report = run_suite(suite_input(store, honest, "bi"))
    assert spot == SPOT_CHECK_PAIRS
    (passed,) = [r for r in report.results if r.check == "cache_spot_check"]
    assert passed.status == PASSED and passed.observed < 1e-5

    # something the fingerprint cannot see changed what the stored scores say: here, the
    # stored scores themselves (as a store restored from elsewhere, or a bug, would)
    with Store(db) as store:
        store.sql("update scores set score = score * 0.9 where run_id = $r", r=first)
    lying = score_run(db, "bi", [engine], pairs, probes=False)
    with Store(db) as store:
        report = run_suite(suite_input(store, lying, "bi"))
    (failed,) = [r for r in report.results if r.check == "cache_spot_check"]
    assert failed.status == FAILED and failed.blocking and report.blocked
    assert failed.detail["message"].startswith(INCOMPLETE)
    assert failed.detail["copied_from"] == first


def test_a_nightly_on_a_lying_cache_is_blocked(tmp_path, minilm_copy):
    """Whole runs, as a nightly makes them: the second copies the first, and blocks when the
    copies no longer reproduce."""
    config = run_config(tmp_path / "n.duckdb", "bi", [
        EngineConfig(name="bi", kind="st-bi", model=str(minilm_copy))],
        pl.DataFrame({"set_id": ["golden_en"]}))
    config = config.model_copy(update={"sample_sets": [
        config.sample_sets[0].model_copy(update={"path": "pkg:samples/golden_en.jsonl"})]})
    first, report = judging.run_and_judge(config, "test", "nightly")
    assert not report.blocked
    with Store(config.db_path) as store:
        store.sql("update scores set score = 1 - score where run_id = $r and variant = 'main'",
                  r=first)
    _, report = judging.run_and_judge(config, "test", "nightly")
    assert "cache_spot_check" in report.failing_checks
