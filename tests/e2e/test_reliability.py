"""Faults end to end: a killed `rerankwatch score` and a crashing engine are resumed, cached
pairs are not rescored (unless --force), and a bad config writes nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from rerankwatch.cli import app
from rerankwatch.flows.nightly import nightly
from rerankwatch.pipeline.run import PLAIN, score_all
from rerankwatch.pipeline.scoring import SPOT_CHECK_PAIRS
from rerankwatch.store import Store, shards
from tests.support.configs import TINY_CE, UNTRAINED

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = 45
# the `rerankwatch` command in a process of its own (the package has no __main__ module)
RERANKWATCH = [sys.executable, "-c", "from rerankwatch.cli import main; main()"]


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def sql(db: Path, query: str, **params) -> list[tuple]:
    with Store(db, read_only=True) as store:
        return store.sql(query, **params).rows()


def config_toml(db: Path, sets: str, engines: str, extra: str = "") -> str:
    return f'db = "{db}"\nreference = "tiny-ce"\n{extra}\n{sets}\n{engines}\n{UNTRAINED}'


def golden_set(golden_dir: Path) -> str:
    return f'[[sample_sets]]\nname = "golden_en"\npath = "{golden_dir / "golden_en.jsonl"}"\n'


def engine(name: str, kind: str = "st-cross", extra: str = "", batch_size: int = 4) -> str:
    return (f'[[engines]]\nname = "{name}"\nkind = "{kind}"\nmodel = "{TINY_CE}"\n'
            f'batch_size = {batch_size}\n{extra}\n')


# --------------------------------------------------------------------------- a killed process


def big_set(path: Path, golden_dir: Path, n: int) -> Path:
    """``n`` distinct pairs built from the golden set's queries and documents."""
    golden = [json.loads(line) for line in (golden_dir / "golden_en.jsonl").read_text()
              .splitlines() if line.strip()]
    queries = sorted({r["query"] for r in golden})
    docs = sorted({r["doc"] for r in golden})
    rows = [{"set_id": "big", "query_id": f"q{i % len(queries)}",
             "query": queries[i % len(queries)], "doc_id": f"d{i}", "doc": docs[i % len(docs)],
             "label": 1, "tags": [], "lang": "en"} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def committed_main(db: Path) -> int | None:
    """Main scores committed so far, read without getting in the scorer's way (None: busy)."""
    if not db.is_file():
        return None
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.IOException:  # the scorer holds the file right now
        return None
    try:
        return con.sql("select count(*) from scores where variant = 'main'").fetchall()[0][0]
    except duckdb.CatalogException:  # not migrated yet
        return None
    finally:
        con.close()


@pytest.mark.slow
def test_sigkilled_score_resumes_scoring_only_the_missing_pairs(tmp_path, golden_dir):
    n, chunk = 3000, 40
    db = tmp_path / "rw.duckdb"
    sets = (f'[[sample_sets]]\nname = "big"\n'
            f'path = "{big_set(tmp_path / "big.jsonl", golden_dir, n)}"\n')
    config = tmp_path / "run.toml"
    config.write_text(config_toml(db, sets, engine("tiny-ce", batch_size=20),
                                  f"chunk_pairs = {chunk}"))
    log = (tmp_path / "score.log").open("w")
    scorer = subprocess.Popen([*RERANKWATCH, "score", "-c", str(config)], cwd=tmp_path,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 400
        while (committed_main(db) or 0) < 2 * chunk:
            assert scorer.poll() is None, (tmp_path / "score.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "no chunk committed in time"
            time.sleep(0.1)
        killed_at = datetime.now(UTC)
        os.killpg(scorer.pid, signal.SIGKILL)  # the scorer and the Prefect server it started
    finally:
        if scorer.poll() is None:
            os.killpg(scorer.pid, signal.SIGKILL)
        scorer.wait(60)
        log.close()
    assert scorer.returncode == -signal.SIGKILL

    [(run_id, status)] = sql(db, "select run_id, status from runs")
    assert status == "running"  # nobody marked it: the process died
    stored = sql(db, "select count(*) from scores where variant = 'main'")[0][0]
    waiting = sum(pq.read_metadata(p).num_rows
                  for p in shards.shard_dir(db).glob("*.parquet"))
    assert 2 * chunk <= stored and stored + waiting < n

    result = cli("resume", run_id, "--db", str(db))
    assert result.exit_code == 0, result.output

    assert sql(db, "select status, error from runs") == [("succeeded", None)]
    total, distinct, fresh = sql(
        db, "select count(*), count(distinct pair_id), count(*) filter (scored_at > $t) "
            "from scores where variant = 'main'", t=killed_at)[0]
    assert (total, distinct) == (n, n)  # every pair exactly once
    assert fresh == n - stored - waiting  # the resume scored only the missing pairs
    status_row = sql(db, "select status, scored_pairs, reused_pairs, pairs "
                         "from v_run_engine_status")
    assert status_row == [("succeeded", n, 0, n)]  # the killed attempt's chunks count too
    variants = sql(db, "select distinct variant from scores order by 1")
    assert [v for (v,) in variants] == ["long_batch", "long_single", "main", "mixed",
                                        "reload", "repeat", "shuffled", "single", "swapped"]
    assert list(shards.shard_dir(db).glob("*.parquet")) == []
    again = cli("resume", run_id, "--db", str(db))
    assert again.exit_code == 2 and "already succeeded" in again.output


# --------------------------------------------------------------------------- an engine raises


def test_crashing_engine_fails_the_nightly_and_resume_finishes_and_judges_it(tmp_path,
                                                                             golden_dir):
    db = tmp_path / "rw.duckdb"
    crash = engine("tiny-ce-crashy", "replay-crash", 'wraps = "st-cross"\n'
                   'options = { crash_after_pairs = 20, crashes = 1 }\n')
    config = tmp_path / "nightly.toml"
    config.write_text(config_toml(db, golden_set(golden_dir), engine("tiny-ce") + crash,
                                  "chunk_pairs = 8"))
    state = nightly(str(config), return_state=True)
    assert state.is_failed()  # a failed engine never turns into a passing suite
    [(run_id, status, error)] = sql(db, "select run_id, status, error from runs")
    assert status == "failed" and "tiny-ce-crashy" in error and "CUDA out of memory" in error
    assert sql(db, "select verdict from verdicts") == [("ERROR",)]  # could not judge it
    kept = dict(sql(db, "select engine_name, count(*) from scores where variant = 'main' "
                        "group by 1"))
    assert kept == {"tiny-ce": GOLDEN, "tiny-ce-crashy": 16}  # the finished chunks stayed

    crashed_at = datetime.now(UTC)
    result = cli("resume", run_id, "--db", str(db))
    assert result.exit_code == 0, result.output
    assert sql(db, "select status from runs") == [("succeeded",)]
    engines = sql(db, "select engine_name, status, pairs, scored_pairs from v_run_engine_status "
                      "order by 1")
    # tiny-ce had finished: not touched again; the crashy engine scored the 29 it lacked,
    # and its row counts the 16 the crashed attempt committed too
    assert engines == [("tiny-ce", "succeeded", GOLDEN, GOLDEN),
                       ("tiny-ce-crashy", "succeeded", GOLDEN, GOLDEN)]
    fresh = sql(db, "select count(*) from scores where variant = 'main' and scored_at > $t "
                    "and engine_name = 'tiny-ce-crashy'", t=crashed_at)
    assert fresh == [(GOLDEN - 16,)]  # the resume scored only what the run lacked
    assert sql(db, "select verdict from verdicts order by decided_at") == [("ERROR",),
                                                                           ("PASS",)]
    assert (db.parent / "reports" / f"{run_id}.html").is_file()


# --------------------------------------------------------------------------- caching via CLI


def test_score_twice_copies_and_force_rescores(tmp_path, golden_dir):
    db = tmp_path / "rw.duckdb"
    config = tmp_path / "run.toml"
    config.write_text(config_toml(db, golden_set(golden_dir), engine("tiny-ce")))
    for args in ([], [], ["--force"]):
        result = cli("score", "-c", str(config), *args)
        assert result.exit_code == 0, result.output
    rows = sql(db, "select r.run_id, e.scored_pairs, e.reused_pairs from runs as r "
                   "join v_run_engine_status as e using (run_id) order by r.started_at")
    assert [(scored, reused) for _, scored, reused in rows] == [
        (GOLDEN, 0), (0, GOLDEN), (GOLDEN, 0)]
    first, second, _ = (run for run, _, _ in rows)
    # every copied score names the run that scored it; the spot check's re-scores are fresh
    assert sql(db, "select distinct reused_from_run from scores where run_id = $r and "
                   "variant <> 'spot'", r=second) == [(first,)]
    (spot, spot_copied), = sql(db, "select count(*), count(reused_from_run) from scores "
                                   "where run_id = $r and variant = 'spot'", r=second)
    assert spot >= SPOT_CHECK_PAIRS and spot_copied == 0


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("change", "message"), [
    (lambda t: t.replace('kind = "st-cross"', 'kind = "st-crossencoder"'),
     "unknown kind 'st-crossencoder'"),
    (lambda t: t.replace("batch_size = 4", 'batch_size = 4\nprecision = "fp8"'),
     "unknown precision 'fp8'"),
    (lambda t: t.replace(f'model = "{TINY_CE}"', 'model = "./models/no-such-reranker"'),
     "model path './models/no-such-reranker' does not exist"),
    (lambda t: t.replace('reference = "tiny-ce"', 'reference = "tiny-ce-fp16"'),
     "reference engine 'tiny-ce-fp16' is not among the engines"),
    (lambda t: t.replace("batch_size = 4", 'batch_size = 4\ntruncation = "drop"'),
     "engines.0.truncation"),
    (lambda t: t.replace('reference = "tiny-ce"', 'reference = "tiny-ce"\nchunk_pairs = 0'),
     "chunk_pairs: Input should be greater than or equal to 1"),
])
def test_a_bad_config_fails_before_anything_runs(tmp_path, golden_dir, change, message):
    db = tmp_path / "rw.duckdb"
    config = tmp_path / "bad.toml"
    config.write_text(change(config_toml(db, golden_set(golden_dir), engine("tiny-ce"))))
    result = cli("score", "-c", str(config))
    assert result.exit_code == 2, result.output
    assert message in result.output and str(config) in result.output
    assert not db.exists() and not shards.shard_dir(db).exists()


def test_an_empty_sample_set_fails_before_anything_is_written(tmp_path):
    db = tmp_path / "rw.duckdb"
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    config = tmp_path / "run.toml"
    config.write_text(config_toml(
        db, f'[[sample_sets]]\nname = "empty"\npath = "{empty}"\n', engine("tiny-ce")))
    result = cli("score", "-c", str(config))
    assert result.exit_code == 2  # refused before anything ran, like a bad config
    assert "empty.jsonl: sample set has 0 pairs" in result.output
    assert not db.exists()


def test_resume_of_an_unknown_or_hostile_run_id_exits_2(tmp_path, golden_dir):
    db = tmp_path / "rw.duckdb"
    config = tmp_path / "run.toml"
    config.write_text(config_toml(db, golden_set(golden_dir), engine("tiny-ce")))
    assert cli("score", "-c", str(config)).exit_code == 0
    hostile = "x' or 1=1; drop table scores; --"
    result = cli("resume", hostile, "--db", str(db))
    assert result.exit_code == 2 and "no run" in result.output
    assert sql(db, "select count(*) from scores where variant = 'main'") == [(GOLDEN,)]
    missing = cli("resume", "r1", "--db", str(tmp_path / "absent.duckdb"))
    assert missing.exit_code == 2 and "no such database" in missing.output


# --------------------------------------------------------------------------- ERROR, not BLOCKED


def test_a_nightly_and_its_resume_whose_engine_cannot_load_are_error_not_blocked(
        tmp_path, golden_dir):
    """An engine config that cannot load: the nightly is ERROR (exit 3), its cause said once
    in the closing lines; resumed while it still cannot load, the run is judged again: ERROR
    (exit 3), never BLOCKED, and no baseline is accepted."""
    db = tmp_path / "rw.duckdb"
    config = tmp_path / "run.toml"
    ghost = ('[[engines]]\nname = "ghost"\nkind = "st-cross"\n'
             'model = "no-such-org/no-such-reranker"\n')
    config.write_text(config_toml(db, golden_set(golden_dir), engine("tiny-ce") + ghost))
    night = cli("nightly", "-c", str(config))
    assert night.exit_code == 3, night.output
    assert "ERROR: engine ghost could not score: " in night.output
    (run_id,) = [r[0] for r in sql(db, "select run_id from runs")]
    resumed = cli("resume", run_id, "--db", str(db))
    assert resumed.exit_code == 3, resumed.output
    assert "ERROR: engine ghost could not score: " in resumed.output
    assert f"(run {run_id})" in resumed.output and "BLOCKED" not in resumed.output
    verdicts = sql(db, "select verdict from verdicts where run_id = $r order by decided_at",
                   r=run_id)
    assert verdicts == [("ERROR",), ("ERROR",)]
    statuses = {s for (s,) in sql(db, "select distinct status from check_results where "
                                      "engine_name = 'ghost'")}
    assert statuses == {"not_judged"}
    assert sql(db, "select count(*) from baseline_acceptances") == [(0,)]


# --------------------------------------------------------------------------- resume judges


def test_resume_judges_a_nightly_killed_after_scoring_and_keeps_force(tmp_path, golden_dir):
    """A nightly killed right after its run finished scoring (succeeded, every score, no
    verdict) is judged by resume; a run started with --force is resumed with --force: the
    scores an identical fingerprint stored before are scored afresh, not copied."""
    from rerankwatch.pipeline import scoring
    from rerankwatch.pipeline.config import load_config

    db = tmp_path / "rw.duckdb"
    path = tmp_path / "run.toml"
    path.write_text(config_toml(db, golden_set(golden_dir), engine("tiny-ce")))
    config = load_config(path)
    pairs = scoring.load_pairs(config)
    # what a SIGKILL right after finish_run leaves: a succeeded nightly run, never judged
    session = scoring.begin_run(config, pairs, "nightly")
    scoring.end_run(session, score_all(session, pairs, PLAIN))
    killed = session.run_id
    assert sql(db, "select status from runs where run_id = $r", r=killed) == [("succeeded",)]
    assert sql(db, "select count(*) from verdicts") == [(0,)]
    judged = cli("resume", killed, "--db", str(db))
    assert judged.exit_code == 0, judged.output
    assert f"PASS: reference tiny-ce (run {killed})" in judged.output
    assert sql(db, "select verdict from verdicts where run_id = $r", r=killed) == [("PASS",)]
    again = cli("resume", killed, "--db", str(db))
    assert again.exit_code == 2 and "already succeeded and was judged" in again.output

    # a --force run killed before it scored anything: its resume scores, it copies nothing
    forced = scoring.begin_run(config, pairs, "score-matrix", force=True)
    shards.release_run_lock(forced.shard_dir, forced.run_id)
    forced = forced.run_id  # as its killed process would
    resumed = cli("resume", forced, "--db", str(db))
    assert resumed.exit_code == 0, resumed.output
    copied, total = sql(db, "select count(*) filter (reused_from_run is not null), count(*) "
                            "from scores where run_id = $r and variant = 'main'", r=forced)[0]
    assert (copied, total) == (0, GOLDEN)


# --------------------------------------------------------------------------- two nightlies


def test_two_nightlies_on_one_lake_never_take_each_others_shards(tmp_path: Path,
                                                                 golden_dir: Path) -> None:
    """Each run ingests its own shards only: two runs that score into the lake's one local
    shard folder at once never fail an engine (once 1 in 3 tries: "No files found that
    match …/shards/eA.main.<uuid>.parquet" in engine eB)."""
    from tests.support.concurrent_runs import race, two_configs

    lake = f"ducklake:sqlite:{tmp_path / 'lake' / 'catalog.sqlite'}"
    configs = two_configs(lake, golden_dir / "golden_en.jsonl", tmp_path)
    assert race(configs, rounds=10) == []
