"""A cache that cannot lie: the fingerprint covers every file that shapes a score, and copied
scores are spot-checked against fresh ones, on the real all-MiniLM-L6-v2 and its copies."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from rerankwatch.checks.cache_spot_check import INCOMPLETE
from rerankwatch.checks.suites import run_suite
from rerankwatch.core.config import EngineConfig, EnvironmentConfig
from rerankwatch.core.records import FAILED, PASSED, SKIPPED, Fingerprint
from rerankwatch.engines import build_engine
from rerankwatch.engines.base import files_sha256, local_model_dir, model_revision
from rerankwatch.pipeline import run as sequence
from rerankwatch.pipeline.scoring import SPOT_CHECK_PAIRS
from rerankwatch.store import Store
from tests.support.suite_runs import run_config, score_run, suite_input


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


def whole_batches(store: Store, run_id: str, pair_ids: set[str]) -> set[str]:
    """Every pair of each batch of ``run_id`` that holds one of ``pair_ids``."""
    batches = store.sql("select batch_index, list(pair_id) as ids from scores where "
                        "run_id = $r and variant = 'main' group by all", r=run_id)
    return {i for ids in batches["ids"] if set(ids) & pair_ids for i in ids}


def test_a_changed_tokenizer_is_a_new_engine_and_is_scored_afresh(tmp_path, minilm_copy,
                                                                   golden_dir):
    from tests.support.suite_runs import golden_en

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
    from tests.support.suite_runs import golden_en

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
        spot = set(store.sql("select pair_id from scores where run_id = $r and "
                             "variant = 'spot'", r=honest)["pair_id"])
        report = run_suite(suite_input(store, honest, "bi"))
    assert len(spot) >= SPOT_CHECK_PAIRS
    with Store(db) as store:  # whole batches, as the first run scored them
        assert spot == whole_batches(store, first, spot)
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
    first, report = sequence.run_and_judge(config, "test", "nightly")
    assert not report.blocked
    with Store(config.db_path) as store:
        store.sql("update scores set score = 1 - score where run_id = $r and variant = 'main'",
                  r=first)
    _, report = sequence.run_and_judge(config, "test", "nightly")
    assert "cache_spot_check" in report.failing_checks


# --- every engine kind that fingerprints a local model, and a hub model's revision ---------


@pytest.fixture()
def tiny_copy(tmp_path, tiny_cross_encoder) -> Path:
    folder = tmp_path / "tiny"
    shutil.copytree(tiny_cross_encoder, folder)
    return folder


@pytest.mark.parametrize(("kind", "wraps"), [
    ("st-cross", None), ("hf-seqcls", None), ("onnx", None),
    ("replay-swap-args", "onnx"),  # a fault injector keeps what the engine it wraps records
])
def test_every_local_engine_kind_fingerprints_the_tokenizer(tiny_copy, kind, wraps):
    config = EngineConfig(name="ce", kind=kind, model=str(tiny_copy), wraps=wraps)
    before = build_engine(config).fingerprint()
    assert before.files_sha256 == files_sha256(tiny_copy) != "unknown"
    cased(tiny_copy)
    after = build_engine(config).fingerprint()
    assert before.weights_sha256 == after.weights_sha256
    assert before.files_sha256 != after.files_sha256
    assert before.engine_id != after.engine_id
    if "onnx" in (kind, wraps):  # the export's own sha is part of it, wrapped or not
        assert before.extra["onnx_sha256"] and before.extra["exporter"]
    if wraps:
        assert before.extra["fault"] == "swap_args"


@pytest.mark.slow
def test_an_isolated_worker_fingerprints_the_files_it_loads(tiny_copy):
    """The fingerprint is read inside the worker's venv (FlagReranker, transformers 4)."""
    from rerankwatch.engines.flag_reranker import ENVIRONMENT_REQUIREMENTS

    environment = EnvironmentConfig(name="flag", requirements=list(ENVIRONMENT_REQUIREMENTS))
    config = EngineConfig(name="flag", kind="flag-reranker", model=str(tiny_copy),
                          environment="flag")
    engine = build_engine(config, environment)
    try:
        before = engine.fingerprint()
    finally:
        engine.close()
    assert before.files_sha256 == files_sha256(tiny_copy)
    assert before.extra["environment"] == "flag"
    cased(tiny_copy)
    engine = build_engine(config, environment)
    try:
        after = engine.fingerprint()
    finally:
        engine.close()
    assert after.files_sha256 == files_sha256(tiny_copy) != before.files_sha256
    assert after.engine_id != before.engine_id


def hub_cache(root: Path, model: Path, repo: str, sha: str) -> Path:
    """A hub cache as huggingface_hub lays it out: models--org--name/refs/main names the
    commit, snapshots/<commit>/ holds the files (links into blobs/)."""
    folder = root / f"models--{repo.replace('/', '--')}"
    snapshot = folder / "snapshots" / sha
    snapshot.mkdir(parents=True)
    (folder / "blobs").mkdir()
    for path in sorted(p for p in model.rglob("*") if p.is_file()):
        blob = folder / "blobs" / path.relative_to(model).as_posix().replace("/", "__")
        shutil.copyfile(path, blob)
        link = snapshot / path.relative_to(model)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(blob)
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text(sha)
    return snapshot


def test_a_hub_model_named_by_its_id_records_its_revision(tmp_path, minilm_path):
    """A config naming a hub id, resolved offline from the cache HF_HUB_CACHE points at: the
    fingerprint (taken in a fresh process, as a nightly's) records the snapshot's commit, and
    the store keeps it in engines.revision."""
    sha = "89abcdef0123456789abcdef0123456789abcdef"
    snapshot = hub_cache(tmp_path / "hub", Path(minilm_path), "acme/minilm", sha)
    script = ("from rerankwatch.core.config import EngineConfig\n"
              "from rerankwatch.engines import build_engine\n"
              "engine = build_engine(EngineConfig(name='bi', kind='st-bi', "
              "model='acme/minilm'))\n"
              "print(engine.fingerprint().to_json())\n")
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf-home"),
           "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    fingerprint = Fingerprint(**json.loads(done.stdout.strip().splitlines()[-1]))
    assert fingerprint.model == "acme/minilm" and fingerprint.revision == sha
    assert fingerprint.files_sha256 == files_sha256(snapshot)
    assert fingerprint.weights_sha256 != "unknown"
    with Store(tmp_path / "hub.duckdb", migrate=True) as store:
        store.register_engine(fingerprint)
        stored = store.sql("select revision, files_sha256 from engines where engine_id = $e",
                           e=fingerprint.engine_id).row(0, named=True)
    assert stored == {"revision": sha, "files_sha256": fingerprint.files_sha256}

    # the hub moves main to another commit: another revision, another engine
    other = "fedcba9876543210fedcba9876543210fedcba98"
    shutil.copytree(snapshot, snapshot.parent / other, symlinks=True)
    (snapshot.parent.parent / "refs" / "main").write_text(other)
    moved = local_model_dir_in(env, "acme/minilm")
    assert Path(moved).name == other and model_revision(Path(moved)) == other


def local_model_dir_in(env: dict, model: str) -> str:
    script = ("import sys\nfrom rerankwatch.engines.base import local_model_dir\n"
              "print(local_model_dir(sys.argv[1]))\n")
    done = subprocess.run([sys.executable, "-c", script, model], env=env, capture_output=True,
                          text=True, timeout=120, check=True)
    return done.stdout.strip().splitlines()[-1]


def test_a_local_dir_download_records_its_revision(minilm_copy):
    """``hf download REPO --local-dir DIR`` records each file's commit under
    DIR/.cache/huggingface/download; that bookkeeping (timestamps) shapes no score."""
    before = files_sha256(minilm_copy)
    assert model_revision(minilm_copy) == ""
    sha = "0011223344556677889900112233445566778899"
    records = minilm_copy / ".cache" / "huggingface" / "download"
    for name in ("config.json", "tokenizer.json", "1_Pooling/config.json"):
        record = records / f"{name}.metadata"
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(f"{sha}\n\"etag-{name}\"\n1767225600.5\n")
    assert model_revision(minilm_copy) == sha
    assert files_sha256(minilm_copy) == before
    (records / "vocab.txt.metadata").write_text(f"{'f' * 40}\n\"etag\"\n1767225601.5\n")
    assert model_revision(minilm_copy) == f"{sha},{'f' * 40}"  # files of two commits


# --- the spot check catches what a fingerprint misses ------------------------------------


def test_the_spot_check_catches_a_changed_file_the_hash_leaves_out(tmp_path, minilm_copy,
                                                                   golden_dir, monkeypatch):
    """The original bug, replayed with a hole deliberately left in the fingerprint (tokenizer
    files not hashed): the run after the tokenizer changed copies every score, and only the
    spot check sees that the copies no longer reproduce."""
    from rerankwatch.engines import base
    from tests.support.suite_runs import golden_en

    monkeypatch.setattr(base, "NOT_SHAPING", re.compile(
        base.NOT_SHAPING.pattern + r"|(^|/)tokenizer[^/]*$", re.IGNORECASE))
    pairs = golden_en(golden_dir)
    engine = EngineConfig(name="bi", kind="st-bi", model=str(minilm_copy))
    db = tmp_path / "hole.duckdb"
    first = score_run(db, "bi", [engine], pairs, probes=False)
    cased(minilm_copy)
    second = score_run(db, "bi", [engine], pairs, probes=False)
    with Store(db) as store:
        row = engine_row(store, second, "bi")
        assert row["engine_id"] == engine_row(store, first, "bi")["engine_id"]  # the hole
        assert row["reused_pairs"] == pairs.height and row["scored_pairs"] == 0
        report = run_suite(suite_input(store, second, "bi"))
    (failed,) = [r for r in report.results if r.check == "cache_spot_check"]
    assert failed.status == FAILED and report.blocked
    assert failed.detail["message"].startswith(INCOMPLETE)
    assert failed.detail["copied_from"] == first
    assert failed.observed > 0.05  # lowercasing off moves MiniLM scores by up to ~0.4
    assert {r["copied_from"] for r in failed.detail["worst_pairs"]} == {first}


def test_batch_dependent_copies_reproduce_when_rescored_batch_by_batch(tmp_path, tiny_copy,
                                                                       golden_dir):
    """onnx int8 (dynamic quantization: activations scaled per batch) moves a score by up to
    0.25 in other company; the spot check re-scores whole batches as they were scored, so
    honest copies reproduce exactly instead of blocking every night."""
    from tests.support.suite_runs import golden_en

    pairs = golden_en(golden_dir)
    engine = EngineConfig(name="q8", kind="onnx", model=str(tiny_copy), precision="int8",
                          batch_size=8)
    db = tmp_path / "int8.duckdb"
    first = score_run(db, "q8", [engine], pairs, probes=False)
    honest = score_run(db, "q8", [engine], pairs, probes=False)
    with Store(db) as store:
        assert engine_row(store, honest, "q8")["reused_pairs"] == pairs.height
        spot = set(store.sql("select pair_id from scores where run_id = $r and "
                             "variant = 'spot'", r=honest)["pair_id"])
        assert len(spot) >= SPOT_CHECK_PAIRS and spot == whole_batches(store, first, spot)
        report = run_suite(suite_input(store, honest, "q8"))
    (passed,) = [r for r in report.results if r.check == "cache_spot_check"]
    assert passed.status == PASSED and passed.observed == 0.0
    assert passed.detail["copied_from"] == first
