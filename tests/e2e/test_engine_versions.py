"""Two sentence-transformers versions side by side: the 6.x in this venv, 5.1 in an isolated
one, scored by a worker process that talks Arrow IPC. Plus how a worker fails."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rerankwatch.core.config import EngineConfig, EnvironmentConfig
from rerankwatch.core.errors import EngineFailed
from rerankwatch.engines import build_engine
from rerankwatch.engines.environments import (
    EnvironmentBuildError,
    ensure_environment,
    environment_dir,
)
from rerankwatch.flows.nightly import nightly
from rerankwatch.store import Store
from tests.support.configs import MINILM, ST5_REQUIREMENTS, environments_toml

pytestmark = pytest.mark.slow
ST5 = EnvironmentConfig(name="st-5", requirements=ST5_REQUIREMENTS)
PAIRS = [("How do I sell my shirt?", "List your shirt on our marketplace with photos."),
         ("How do I sell my shirt?", "Ketchup is a tomato sauce."),
         ("capital of France", "Paris is the capital and largest city of France.")] * 8


def st5_config(**extra) -> EngineConfig:
    return EngineConfig(name="st-bi-5", kind="st-bi", model=MINILM, environment="st-5",
                        batch_size=4, **extra)


@pytest.fixture(scope="module")
def st5_python() -> Path:
    return ensure_environment(ST5)  # built once per cache dir; CI shares it across tests


@pytest.fixture(scope="module")
def versions_run(tmp_path_factory, golden_dir, st5_python):
    tmp = tmp_path_factory.mktemp("versions")
    config = tmp / "config.toml"
    config.write_text(f'''db = "{tmp / 'rw.duckdb'}"
reference = "st-bi-6"

[[sample_sets]]
name = "golden_en"
path = "{golden_dir / 'golden_en.jsonl'}"

{environments_toml()}
[[engines]]
name = "st-bi-6"
kind = "st-bi"
model = "{MINILM}"

[[engines]]
name = "st-bi-5"
kind = "st-bi"
model = "{MINILM}"
environment = "st-5"
''')
    result = nightly(str(config))
    with Store(tmp / "rw.duckdb", read_only=True) as store:
        yield result, store


def test_two_versions_score_side_by_side_and_agree(versions_run):
    result, store = versions_run
    assert result.outcome == "PASS"
    scores = store.sql("select engine_name, pair_id, score from scores where run_id = $r "
                       "and variant = 'main'", r=result.run_id).pivot(
        on="engine_name", index="pair_id", values="score")
    assert scores.height == 45
    assert np.abs(scores["st-bi-6"].to_numpy() - scores["st-bi-5"].to_numpy()).max() < 1e-4
    agreement = store.sql("select status from check_results where run_id = $r and check_name = "
                          "'engine_agreement' and engine_name = 'st-bi-5'", r=result.run_id)
    assert set(agreement["status"]) == {"passed"}


def test_fingerprints_record_the_versions_installed_in_each_venv(versions_run):
    result, store = versions_run
    rows = store.sql("select e.fingerprint from run_engines r join engines e using (engine_id) "
                     "where r.run_id = $r order by r.engine_name", r=result.run_id)
    five, six = (json.loads(f) for f in rows["fingerprint"])
    assert five["versions"]["sentence-transformers"].startswith("5.1.")
    assert five["versions"]["transformers"].startswith("4.57.")
    assert six["versions"]["sentence-transformers"].startswith("6.")
    assert five["extra"] == {"environment": "st-5"}
    assert five["weights_sha256"] == six["weights_sha256"] != "unknown"


def test_a_tokenizer_upgrade_that_changes_nothing_feeds_identical_ids(st5_python,
                                                                       tiny_cross_encoder):
    """transformers 4.57 in the isolated venv, 5.x here, the same tokenizer files: the worker
    carries back the ids its model saw, and they are this process's, id for id (the control
    of the token replays); their token strings come from the worker's tokenizer."""
    config = EngineConfig(name="hf-4", kind="hf-seqcls", model=tiny_cross_encoder,
                          environment="st-5", batch_size=4)
    isolated = build_engine(config, ST5)
    try:
        there = isolated.score(PAIRS)
        words = isolated.id_tokens(there.token_ids[0])
    finally:
        isolated.close()
    here = build_engine(config.model_copy(update={"name": "hf-5", "environment": None}))
    ours = here.score(PAIRS)
    assert there.token_hash is not None and (there.input_tokens > 0).all()
    assert np.array_equal(there.token_hash, ours.token_hash)
    assert np.array_equal(there.input_tokens, ours.input_tokens)
    assert words == here.id_tokens(ours.token_ids[0])
    assert words[0] == "[CLS]" and words.count("[SEP]") == 2


def test_st_cross_before_sentence_transformers_6_scores_through_predict(st5_python,
                                                                        tiny_cross_encoder):
    """sentence-transformers 5.1 has no CrossEncoder.preprocess: a batch is one predict call,
    its scores this process's, and no ids are recorded (tokenization then says so)."""
    config = EngineConfig(name="st-cross-5", kind="st-cross", model=tiny_cross_encoder,
                          environment="st-5", batch_size=4)
    isolated = build_engine(config, ST5)
    try:
        there = isolated.score(PAIRS)
    finally:
        isolated.close()
    ours = build_engine(config.model_copy(update={"environment": None})).score(PAIRS)
    assert there.token_hash is None and ours.token_hash is not None
    assert np.abs(there.scores - ours.scores).max() < 1e-5


def test_the_main_process_never_imports_the_engine_packages(st5_python, tmp_path):
    script = f"""
import sys
from rerankwatch.engines import build_engine
from rerankwatch.core.config import EngineConfig, EnvironmentConfig
engine = build_engine(EngineConfig(name="x", kind="st-bi", model="{MINILM}", environment="st-5"),
                      EnvironmentConfig(name="st-5", requirements={ST5_REQUIREMENTS!r}))
assert engine.score([("a query", "a document")]).scores.shape == (1,)
engine.close()
leaked = sorted(m for m in ("sentence_transformers", "transformers", "torch") if m in sys.modules)
print("LEAKED", leaked)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2], timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "LEAKED []" in out.stdout


def test_a_worker_killed_mid_scoring_is_a_clear_failure(st5_python):
    engine = build_engine(st5_config(), ST5)

    def kill_on_first_batch(_n: int) -> None:
        os.kill(engine.process.pid, signal.SIGKILL)

    with pytest.raises(EngineFailed, match=r"st-bi-5.*worker died during scoring 24 pairs "
                                           r"\(killed by SIGKILL, out of memory\?\)"):
        engine.score(PAIRS, on_batch=kill_on_first_batch)
    with pytest.raises(EngineFailed, match="worker is not running"):
        engine.score(PAIRS)


def test_a_hung_worker_is_killed_after_the_timeout(st5_python):
    engine = build_engine(st5_config(), ST5)
    engine.config = st5_config(timeout_s=3)  # loaded; now a 3 s bound on silence
    os.kill(engine.process.pid, signal.SIGSTOP)  # alive but silent: a hang
    with pytest.raises(EngineFailed, match=r"worker silent for 3 s during scoring 24 pairs"):
        engine.score(PAIRS)
    assert engine.process.poll() is not None


def test_an_engine_error_inside_the_worker_is_raised_with_its_type(st5_python):
    with pytest.raises(EngineFailed, match=r"st-bi-5.*FileNotFoundError: .*/nonexistent/model"):
        build_engine(st5_config().model_copy(update={"model": "/nonexistent/model"}), ST5)


def test_a_failed_environment_build_is_clear_and_leaves_nothing_ready():
    broken = EnvironmentConfig(name="broken", requirements=["rerankwatch-no-such-package==0.0.1"])
    with pytest.raises(EnvironmentBuildError, match=r"environment 'broken': pip install failed.*"
                                                    r"rerankwatch-no-such-package"):
        ensure_environment(broken)
    assert not (environment_dir(broken) / ".ready").exists()
