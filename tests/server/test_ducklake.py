"""The team store: a DuckLake catalog on a real PostgreSQL server, its data on moto's S3 server,
both on loopback, started and stopped by PID; the same nightly, gate and views as on a DuckDB
file; writers that race; readers that never wait for the nightly that writes."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rerankwatch.cli import app
from rerankwatch.core.records import BLOCKED
from rerankwatch.samples.loader import load_sample_set
from rerankwatch.store import open_store
from rerankwatch.store.store import PAIR_COLUMNS
from tests.support.configs import MINILM, TINY_CE, run_config
from tests.support.stores import BUCKET, postgres_binaries

# CI installs PostgreSQL and sets RERANKWATCH_REQUIRE_POSTGRES: there, a missing server fails
pytestmark = pytest.mark.skipif(
    postgres_binaries() is not None and not os.environ.get("RERANKWATCH_REQUIRE_POSTGRES"),
    reason=postgres_binaries() or "")

READERS = 4
RW = str(Path(sys.executable).parent / "rerankwatch")


@pytest.fixture
def s3_env(s3, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key, value in s3.env.items():
        monkeypatch.setenv(key, value)
    return s3.env


def fresh_lake(catalog: str, name: str) -> str:
    """A database of its own on the test's PostgreSQL server, as a DuckLake spec."""
    conninfo = dict(part.split("=", 1) for part in catalog.split())
    made = subprocess.run(["createdb", "-h", conninfo["host"], "-p", conninfo["port"], "-U",
                           conninfo["user"], name], capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    return f"ducklake:postgres:dbname={name} host={conninfo['host']} port={conninfo['port']} " \
           f"user={conninfo['user']}"


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.mark.parametrize("backend", ["duckdb-file", "ducklake-postgres-s3"])
def test_nightly_gate_and_views_on_both_backends(backend: str, catalog: str, s3_env, s3,
                                                 tmp_path: Path, golden_dir: Path) -> None:
    if backend == "duckdb-file":
        db, data = str(tmp_path / "rw.duckdb"), ""
    else:
        db, data = fresh_lake(catalog, "e2e"), f's3://{BUCKET}/lake-e2e'
    golden = golden_dir / "golden_en.jsonl"
    engines = [("tiny-ce", "st-cross", TINY_CE), ("tiny-ce-hf", "hf-seqcls", TINY_CE)]
    nightly_toml, gate_toml = tmp_path / "nightly.toml", tmp_path / "gate.toml"
    for path, listed in ((nightly_toml, engines),
                         (gate_toml, [*engines, ("tiny-ce-swapped", "replay-swap-args",
                                                 TINY_CE)])):
        text = run_config(Path("PLACEHOLDER"), golden, "tiny-ce", listed)
        path.write_text(text.replace('db = "PLACEHOLDER"', f'db = "{db}"\n'
                                     + (f'data_path = "{data}"' if data else "")))

    night = cli("nightly", "--config", str(nightly_toml))
    assert night.exit_code == 0, night.output
    passed = cli("gate", "--config", str(gate_toml), "--baseline", "tiny-ce",
                 "--candidate", "tiny-ce-hf")
    assert passed.exit_code == 0, passed.output
    blocked = cli("gate", "--config", str(gate_toml), "--baseline", "tiny-ce",
                  "--candidate", "tiny-ce-swapped")
    assert blocked.exit_code == 1, blocked.output
    assert "argument_order" in blocked.output

    with open_store(db, mode="read") as store:
        decisions = store.sql("select verdict from upgrade_decisions order by decided_at")
        assert decisions["verdict"].to_list() == ["PASS", "BLOCKED"]
        runs = store.sql("select flow_name, status from runs order by started_at")
        assert runs.rows() == [("nightly", "succeeded"), ("upgrade-gate", "succeeded"),
                               ("upgrade-gate", "succeeded")]
        # latest_scores reads nightly runs: the nightly's two engines; the gates' too with
        # latest_scores_all_flows (per fingerprint and flow: tiny-ce in the nightly and gate)
        assert store.sql("select count(*) as n from latest_scores")["n"][0] == 45 * 2
        flows = store.sql("select flow, count(distinct engine_name) as engines "
                          "from latest_scores_all_flows group by flow order by flow").rows()
        assert flows == [("gate", 3), ("nightly", 2)]
        checks = store.sql("select distinct check_name from check_history")["check_name"]
        assert {"engine_agreement", "argument_order", "finite"} <= set(checks)
        dupes = store.sql("select run_id, engine_name, variant, pair_id, count(*) as n "
                          "from scores group by all having n > 1")
        assert dupes.is_empty()
        # one nightly: nothing to drift from; the second gate drifts from the first
        moved = "select count(*) as n from {} where delta_prev is not null"
        assert store.sql(moved.format("score_drift"))["n"][0] == 0
        assert store.sql(moved.format("score_drift_all_flows"))["n"][0] > 0
    shown = cli("sql", "--db", db, "select verdict, candidate from upgrade_decisions "
                                   "order by decided_at")
    assert shown.exit_code == 0 and BLOCKED in shown.output, shown.output
    if backend != "duckdb-file":
        listed = s3.client.list_objects_v2(Bucket=BUCKET, Prefix="lake-e2e/")
        assert any(o["Key"].endswith(".parquet") for o in listed.get("Contents", [])), \
            "the lake's data is in the bucket"
        reports = [o["Key"] for o in listed["Contents"] if o["Key"].endswith(".html")]
        assert len(reports) == 3 and all(k.startswith("lake-e2e/reports/") for k in reports)
        with open_store(db, mode="read") as store:  # the spec and the bucket only, no key
            configs = " ".join(store.sql("select config from runs")["config"])
        assert "testing" not in configs and "ducklake:postgres" in configs


def test_a_writer_that_loses_the_race_retries_and_says_so(
        catalog: str, tmp_path: Path, golden_dir: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """Two writers on one PostgreSQL-catalogued lake: while the first is inside its write, the
    second commits the same pairs. Both took the write turn, so the first's commit conflicts;
    it rolls back, runs again, finds the pairs stored and adds none: no duplicate."""
    lake = fresh_lake(catalog, "race")
    pairs = load_sample_set(golden_dir / "golden_en.jsonl")
    with open_store(lake, data_path=str(tmp_path / "data")) as first, \
            open_store(lake) as second:
        attempts = []

        def write() -> None:
            with first.transaction():
                if not attempts:
                    second.add_pairs(pairs)  # commits while the first is open
                attempts.append(1)
                first._insert("sample_pairs", pairs.select(PAIR_COLUMNS), or_ignore=True)

        with caplog.at_level(logging.WARNING, logger="rerankwatch.store"):
            first._retried(write)
        assert len(attempts) == 2
        assert "another writer committed first" in caplog.text
        assert first.sql("select count(*) as n from sample_pairs")["n"][0] == pairs.height


def test_two_ingests_of_the_same_shards_racing_store_every_row_once(
        catalog: str, tmp_path: Path) -> None:
    """Two processes ingest copies of the same shards into one lake at the same moment: the
    ledger and the write turn keep every score once."""
    lake = fresh_lake(catalog, "ingests")
    script = tmp_path / "race.py"
    script.write_text(RACE_SCRIPT)
    prepared = subprocess.run([sys.executable, str(script), "prepare", lake,
                               str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert prepared.returncode == 0, prepared.stderr[-3000:]
    start = str(time.time() + 3)
    racers = [subprocess.Popen([sys.executable, str(script), "ingest", lake,
                                str(tmp_path / f"copy-{i}"), start], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for i in range(2)]
    outputs = [r.communicate(timeout=300) for r in racers]
    assert all(r.returncode == 0 for r in racers), outputs
    rows = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert sum(r["rows"] for r in rows) == 2000, rows  # one of them loaded them, once
    with open_store(lake, mode="read") as store:
        assert store.sql("select count(*) as n from scores")["n"][0] == 2000
        assert store.sql("select count(*) as n from ingested_shards")["n"][0] == 2
        assert store.sql("select count(*) as n from (select distinct pair_id, variant "
                         "from scores)")["n"][0] == 2000


RACE_SCRIPT = '''
import json, shutil, sys, time
from pathlib import Path
import numpy as np
import polars as pl
from rerankwatch.core.records import Fingerprint, ScoreBatch
from rerankwatch.store import open_store, shards

mode, lake, folder = sys.argv[1], sys.argv[2], Path(sys.argv[3])
if mode == "prepare":
    fp = Fingerprint(kind="st-bi", model="m", weights_sha256="ab" * 32, dtype="float32",
                     device="cpu", pooling="mean", max_length=8, activation="cosine",
                     versions={})
    with open_store(lake, data_path=str(folder / "data")) as store:
        run_id = store.start_run("race", {})
    origin = folder / "origin"
    for variant in ("main", "repeat"):
        ids = [f"p{i}" for i in range(1000)]
        values = np.linspace(0, 1, 1000)
        batch = ScoreBatch(values, values, "cosine", np.zeros(1000, dtype=np.int64), (0.1,))
        shards.write_shard(origin, shards.score_table(run_id, "bi", fp.engine_id, variant,
                                                      ids, batch), fp)
    for i in range(2):
        shutil.copytree(origin, folder / f"copy-{i}")
else:
    time.sleep(max(float(sys.argv[4]) - time.time(), 0))
    with open_store(lake) as store:
        report = store.ingest_shards(folder)
    print(json.dumps({"rows": report.rows, "shards": report.shards,
                      "skipped": report.skipped}))
'''


def test_readers_never_wait_for_a_nightly_that_writes(catalog: str, s3_env, tmp_path: Path,
                                                     golden_dir: Path) -> None:
    """A nightly ingests into the lake while four readers query the views in a loop (what
    `rerankwatch sql` runs): no reader fails or waits on the writer, the writer never waits on
    a reader, and every score lands once."""
    lake = fresh_lake(catalog, "readers")
    config = tmp_path / "nightly.toml"
    config.write_text(run_config(Path("PLACEHOLDER"), golden_dir / "golden_en.jsonl", "minilm",
                                 [("minilm", "st-bi", MINILM), ("minilm-2", "st-bi", MINILM)])
                      .replace('db = "PLACEHOLDER"',
                               f'db = "{lake}"\ndata_path = "s3://{BUCKET}/lake-readers"'))
    env = {**os.environ, **s3_env, "OMP_NUM_THREADS": "1"}
    first = subprocess.run([RW, "nightly", "--config",
                            str(config)], env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    stop = tmp_path / "stop"
    readers = [subprocess.Popen([sys.executable, "-c", READER, lake, str(stop)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(READERS)]
    try:
        night = subprocess.run([RW, "nightly", "--force",
                                "--config", str(config)], env=env, capture_output=True,
                               text=True, timeout=600)
    finally:
        stop.touch()
        outputs = [r.communicate(timeout=120) for r in readers]
    assert night.returncode == 0, night.stdout[-3000:] + night.stderr[-3000:]
    assert "held by" not in night.stdout + night.stderr  # the writer never waited
    for reader, (out, err) in zip(readers, outputs, strict=True):
        assert reader.returncode == 0, err[-3000:]
        stats = json.loads(out.strip().splitlines()[-1])
        assert stats["queries"] >= 3 and stats["errors"] == [], stats
        assert stats["slowest_s"] < 30, stats  # read a snapshot: never queued behind a write
    with open_store(lake, mode="read") as store:
        runs = store.sql("select run_id from runs where status = 'succeeded'")["run_id"]
        assert runs.len() == 2
        per_run = store.sql("select run_id, count(*) as n, count(distinct (engine_name, "
                            "variant, pair_id)) as distinct_n from scores group by run_id")
        assert (per_run["n"] == per_run["distinct_n"]).all()
        assert per_run["n"].n_unique() == 1  # the second night stored what the first did


READER = '''
import json, sys, time
from pathlib import Path
from rerankwatch.cli.sql import run_query

lake, stop = sys.argv[1], Path(sys.argv[2])
queries, errors, slowest = 0, [], 0.0
views = ["select count(*) from v_run_scores", "select count(*) from latest_scores",
         "select * from engine_agreement_history", "select * from check_history",
         "select count(*) from score_drift"]
while not stop.exists() or queries < 3:
    began = time.monotonic()
    try:
        run_query(lake, views[queries % len(views)])
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}"[:300])
    slowest = max(slowest, time.monotonic() - began)
    queries += 1
print(json.dumps({"queries": queries, "errors": errors, "slowest_s": slowest}))
'''


def test_the_sandboxed_postgres_lake_refuses_every_other_reader(catalog: str,
                                                                 tmp_path: Path) -> None:
    """The same refusals as on a SQLite lake (tests/unit/test_lake.py), here with the
    postgres scanner loaded and the catalog's own server as the target of its functions."""
    from tests.unit.test_lake import SANDBOX_REFUSALS, assert_sandbox_refuses, sandbox_victims

    lake = fresh_lake(catalog, "sandboxed")
    with open_store(lake, data_path=str(tmp_path / "data")):
        pass  # created and migrated
    paths = sandbox_victims(tmp_path / "elsewhere")
    paths["{pg}"] = lake.removeprefix("ducklake:postgres:")
    ok = cli("sql", "--db", lake, "select count(*) as n from runs")
    assert ok.exit_code == 0 and "│ 0 " in ok.output, ok.output
    failures = []
    for query, refusal in SANDBOX_REFUSALS:
        try:
            assert_sandbox_refuses(lake, query, refusal, paths)
        except AssertionError as exc:
            failures.append(f"{query}: {exc}")
    assert not failures, "\n".join(failures)


def test_two_nightlies_on_one_postgres_lake_never_take_each_others_shards(
        catalog: str, tmp_path: Path, golden_dir: Path) -> None:
    """As tests/e2e/test_reliability.py on a SQLite lake: each run ingests its own shards."""
    from tests.support.concurrent_runs import race, two_configs

    lake = fresh_lake(catalog, "two_nightlies")
    configs = two_configs(lake, golden_dir / "golden_en.jsonl", tmp_path,
                          data_path=str(tmp_path / "data"))
    assert race(configs, rounds=10) == []
