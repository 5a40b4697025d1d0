"""A DuckLake store (a real SQLite catalog, Parquet data on disk): the same migrations, views and
writes as a DuckDB file, idempotent ingest without primary keys, writers that lose a race and
retry, time travel, and `rerankwatch store copy`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from rerankwatch.cli import app
from rerankwatch.core.store_spec import check_lake, local_dir, shard_dir
from rerankwatch.store import Store, open_store, shards
from rerankwatch.store.copy import copy_store, history_tables
from tests.unit.test_sql_views import db_path  # noqa: F401 - two hand-made runs, a fixture
from tests.unit.test_store import (
    batch,
    fingerprint,
    pairs as pairs,  # noqa: F401, PLC0414 - a fixture
)

ROOT = Path(__file__).resolve().parents[2]
VIEWS = ["latest_scores", "score_drift", "engine_agreement_history", "check_history",
         "upgrade_decisions", "baseline_history", "v_run_scores", "v_probe_scores",
         "v_run_engine_status"]


@pytest.fixture
def lake(tmp_path: Path) -> str:
    return f"ducklake:sqlite:{tmp_path / 'lake' / 'catalog.sqlite'}"


def rows(store: Store, view: str) -> pl.DataFrame:
    frame = store.sql(f"select * from {view}")
    return frame.sort(frame.columns, nulls_last=True)


def count(store: Store, table: str) -> int:
    return store.sql(f"select count(*) as n from {table}")["n"][0]


# --------------------------------------------------------------------------- specs


@pytest.mark.parametrize(("spec", "message"), [
    ("ducklake:mysql:x", "ducklake:sqlite:<path> or ducklake:postgres:<conninfo>"),
    ("ducklake:mysql:password=hunter2", "got catalog 'mysql'"),
    ("ducklake:sqlite:", "ducklake:sqlite:<path>"),
    ("ducklake:postgres:dbname=x password=hunter2", "PGPASSWORD"),
    ("ducklake:postgres:postgresql://u:p@h/db", "key=value conninfo"),
])
def test_a_bad_lake_spec_is_refused_with_the_reason(spec: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        check_lake(spec)
    assert message in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_a_lake_keeps_its_local_files_in_the_home(lake: str, tmp_path: Path) -> None:
    assert shard_dir(lake) == local_dir(lake) / "shards"
    assert local_dir(lake).name.startswith("catalog-")
    assert shard_dir(tmp_path / "x.duckdb") == tmp_path / "x.duckdb.shards"


# --------------------------------------------------------------------------- same SQL, both


def test_store_copy_moves_every_row_and_every_view_reads_the_same(
        db_path: Path, lake: str) -> None:  # noqa: F811
    copied = {c.table: c.rows for c in copy_store(db_path, lake)}
    assert set(copied) <= set(history_tables()) and copied["scores"] > 0
    with Store(db_path, read_only=True) as file, open_store(lake, mode="read") as shared:
        for table, n in copied.items():
            assert count(shared, table) == n == count(file, table), table
        for view in VIEWS:
            assert rows(shared, view).equals(rows(file, view)), view
    data = Path(lake.removeprefix("ducklake:sqlite:") + ".files")
    assert list(data.rglob("*.parquet")), "the lake's rows are Parquet files beside it"


def test_store_copy_refuses_a_store_that_holds_runs_and_keeps_it_unchanged(
        db_path: Path, lake: str) -> None:  # noqa: F811
    copy_store(db_path, lake)
    with open_store(lake, mode="read") as store:
        before = count(store, "scores")
    got = CliRunner().invoke(app, ["store", "copy", "--from", str(db_path), "--to", lake])
    assert got.exit_code == 2 and "already holds runs" in got.output, got.output
    with open_store(lake, mode="read") as store:
        assert count(store, "scores") == before


def test_store_copy_cli_says_what_it_copied(db_path: Path, lake: str) -> None:  # noqa: F811
    got = CliRunner().invoke(app, ["store", "copy", "--from", str(db_path), "--to", lake])
    assert got.exit_code == 0, got.output
    with Store(db_path, read_only=True) as file:
        scores = count(file, "scores")
    assert f"scores: {scores} rows copied, checked row by row" in got.output
    assert "every row checked" in got.output
    missing = CliRunner().invoke(app, ["store", "copy", "--from", str(db_path) + ".nope",
                                       "--to", lake])
    assert missing.exit_code == 2 and "existing DuckDB file" in missing.output


@pytest.mark.parametrize("failure", [KeyboardInterrupt, RuntimeError])
def test_a_failed_store_copy_leaves_no_parquet_behind(
        db_path: Path, lake: str, failure: type[BaseException]) -> None:  # noqa: F811
    """Ctrl-C (or any error) mid-copy rolls the catalog back, and DuckLake deletes the Parquet
    files the transaction had written: the lake holds nothing it does not list."""
    def interrupt(message: str) -> None:
        if message.startswith("scores:"):
            raise failure("stopped mid-copy")

    with pytest.raises(failure):
        copy_store(db_path, lake, progress=interrupt)
    assert parquet_files(lake) == []
    with open_store(lake, mode="read") as store:
        assert count(store, "scores") == 0


def copy_until_scores(source: Path, lake: str, signal_name: str) -> subprocess.CompletedProcess:
    """`copy_store` in a process of its own that gets ``signal_name`` once the scores table is
    written and checked, before the copy commits."""
    code = (f"import os, signal\n"
            f"from rerankwatch.store.copy import copy_store\n"
            f"def tell(message):\n"
            f"    if message.startswith('scores:'):\n"
            f"        os.kill(os.getpid(), signal.{signal_name})\n"
            f"copy_store({str(source)!r}, {lake!r}, progress=tell)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [
        str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env=env)


def test_a_terminated_store_copy_rolls_back_and_leaves_no_parquet(
        db_path: Path, lake: str) -> None:  # noqa: F811
    """SIGTERM (`kill`, `docker stop`) mid-copy is turned into an interrupt: rolled back, its
    Parquet files deleted, a StorageError (the CLI: one line, exit 2)."""
    done = copy_until_scores(db_path, lake, "SIGTERM")
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().endswith(
        "StorageError: store copy interrupted by SIGTERM: rolled back, nothing copied")
    assert parquet_files(lake) == []


def test_files_a_killed_store_copy_left_are_deleted_by_the_next_copy(
        db_path: Path, lake: str) -> None:  # noqa: F811
    """SIGKILL leaves no chance to clean up: the lake's catalog lists nothing, its data folder
    holds the copy's Parquet files; the next copy into the still empty lake deletes them first
    and says so."""
    done = copy_until_scores(db_path, lake, "SIGKILL")
    assert done.returncode == -9, done.stderr
    left = parquet_files(lake)
    assert left, "a killed copy leaves its Parquet files"
    told: list[str] = []
    copied = {c.table: c.rows for c in copy_store(db_path, lake, progress=told.append)}
    assert told[0] == (f"deleted {len(left)} Parquet file(s) that no snapshot of {lake} lists "
                       f"(left by an interrupted copy)")
    assert not set(left) & set(parquet_files(lake))
    with open_store(lake, mode="read") as store:
        assert count(store, "scores") == copied["scores"] > 0
        listed = store.sql("select data_file from ducklake_list_files('lake', 'scores')")
    assert len(listed) >= 1


def parquet_files(lake: str) -> list[str]:
    data = Path(lake.removeprefix("ducklake:sqlite:") + ".files")
    return sorted(str(p) for p in data.rglob("*.parquet"))


# --------------------------------------------------------------------------- writes


def test_ingesting_the_same_shard_twice_adds_nothing(lake: str, pairs: pl.DataFrame) -> None:  # noqa: F811
    with open_store(lake) as store:
        store.add_pairs(pairs)
        store.add_pairs(pairs)  # no primary key: the anti join keeps the stored pairs
        assert count(store, "sample_pairs") == 3
        run_id = store.start_run("f", {})
        fp, ids = fingerprint(), pairs["pair_id"].to_list()
        table = shards.score_table(run_id, "bi", fp.engine_id, "main", ids,
                                   batch([0.9, 0.5, 0.1], [0, 0, 1], (0.1, 0.2)))
        directory = shard_dir(lake)
        written = shards.write_shard(directory, table, fp)
        kept = written.parent.parent / "kept"
        kept.mkdir()
        for file in written.parent.iterdir():
            shutil.copy(file, kept / file.name)
        assert store.ingest_shards(directory).rows == 3
        for file in kept.iterdir():  # the same shard again, as after a crash mid-cleanup
            shutil.copy(file, written.parent / file.name)
        again = store.ingest_shards(directory)
        assert (again.rows, again.skipped) == (0, 1)
        assert count(store, "scores") == 3 and count(store, "ingested_shards") == 1
        assert count(store, "engines") == 1


# --------------------------------------------------------------------------- reading


def test_sql_as_of_reads_the_lake_as_it_was(db_path: Path, lake: str) -> None:  # noqa: F811
    with open_store(lake):
        pass  # created and migrated: no run yet
    with open_store(lake, mode="read") as store:
        before = store.sql("select max(snapshot_id) as s from ducklake_snapshots('lake')")["s"][0]
    copy_store(db_path, lake)
    runner = CliRunner()
    now = runner.invoke(app, ["sql", "--db", lake, "select count(*) as n from runs"])
    then = runner.invoke(app, ["sql", "--db", lake, "--as-of", str(before),
                               "select count(*) as n from runs"])
    assert now.exit_code == 0 and then.exit_code == 0, now.output + then.output
    assert "│ 2 " in now.output and "│ 0 " in then.output
    on_a_file = runner.invoke(app, ["sql", "--db", str(db_path), "--as-of", "1",
                                    "select 1"])
    assert on_a_file.exit_code == 2 and "keeps no snapshots" in on_a_file.output
    unknown = runner.invoke(app, ["sql", "--db", lake, "--as-of", "99999", "select 1"])
    assert unknown.exit_code == 2 and "No snapshot found" in unknown.output


def test_the_sandboxed_lake_reads_its_data_and_nothing_else(db_path: Path, lake: str,  # noqa: F811
                                                            tmp_path: Path) -> None:
    copy_store(db_path, lake)
    other = tmp_path / "other.csv"
    other.write_text("a\n1\n")
    runner = CliRunner()
    ok = runner.invoke(app, ["sql", "--db", lake, "select count(*) as n from latest_scores"])
    assert ok.exit_code == 0 and "│ 8 " in ok.output, ok.output  # the nightly run only
    refused = runner.invoke(app, ["sql", "--db", lake, f"select * from read_csv('{other}')"])
    assert refused.exit_code == 2 and "Permission Error" in refused.output


# Every scanner the four loaded extensions bring, and DuckDB's own file readers outside the
# lake's data path: (query, the refusal). {sqlite}: another SQLite file; {pg}: a PostgreSQL
# conninfo (the catalog's own, on a PostgreSQL lake); {parquet}, {csv}: files elsewhere.
SANDBOX_REFUSALS = [
    ("select * from sqlite_scan('{sqlite}', 'creds')", "sqlite_scan is not allowed"),
    ("select * from sqlite_attach('{sqlite}')", "sqlite_attach is not allowed"),
    ("select * from sqlite_query('__ducklake_metadata_lake', 'select 1')",
     "sqlite_query is not allowed"),
    ("select * from postgres_scan('{pg}', 'public', 'ducklake_snapshot')",
     "postgres_scan is not allowed"),
    ("select * from postgres_scan_pushdown('{pg}', 'public', 'ducklake_snapshot')",
     "postgres_scan_pushdown is not allowed"),
    ("select * from postgres_query('{pg}', 'select 1')", "postgres_query is not allowed"),
    ("select * from postgres_attach('{pg}')", "postgres_attach is not allowed"),
    ("select * from postgres_execute('{pg}', 'select 1')", "postgres_execute is not allowed"),
    ("select * from read_postgres_binary('{csv}')", "read_postgres_binary is not allowed"),
    ("select * from query('select 1')", "query is not allowed"),
    ("select * from query_table('runs')", "query_table is not allowed"),
    ("select * from json_execute_serialized_sql(json_serialize_sql('select 1'))",
     "json_execute_serialized_sql is not allowed"),
    ("select * from ducklake_expire_snapshots('lake', older_than => now())",
     "ducklake_expire_snapshots is not allowed"),
    ("select * from ducklake_cleanup_old_files('lake', cleanup_all => true)",
     "ducklake_cleanup_old_files is not allowed"),
    ("select * from ducklake_set_option('lake', 'parquet_compression', 'gzip')",
     "ducklake_set_option is not allowed"),
    ("select * from ducklake_add_data_files('lake', 'runs', '{parquet}')",
     "ducklake_add_data_files is not allowed"),
    ("select * from duckdb_secrets()", "duckdb_secrets is not allowed"),
    ("select * from sniff_csv('{csv}')", "sniff_csv is not allowed"),
    ("select * from read_duckdb('{parquet}')", "read_duckdb is not allowed"),
    ("with x as (select * from sqlite_scan('{sqlite}', 'creds')) select * from x",
     "sqlite_scan is not allowed"),
    ("select (select count(*) from SQLITE_SCAN('{sqlite}', 'creds')) as n",
     "sqlite_scan is not allowed"),
    ("explain analyze select * from main.sqlite_scan('{sqlite}', 'creds')",
     "sqlite_scan is not allowed"),
    ("select * from read_parquet('{parquet}')", "Permission Error"),
    ("select * from parquet_scan('{parquet}')", "Permission Error"),
    ("select * from '{parquet}'", "Permission Error"),
    ("select * from read_csv('{csv}')", "Permission Error"),
    ("select * from glob('{elsewhere}/*')", "Permission Error"),
]


def sandbox_victims(folder: Path) -> dict[str, str]:
    """Files outside a lake that its sandbox must not read: a SQLite file with a secret, a
    Parquet and a CSV file."""
    import sqlite3

    folder.mkdir(parents=True, exist_ok=True)
    other = folder / "other.sqlite"
    with sqlite3.connect(other) as con:
        con.execute("create table creds (user text, password text)")
        con.execute("insert into creds values ('root', 'hunter2')")
    con.close()
    pl.DataFrame({"secret": ["hunter2"]}).write_parquet(folder / "other.parquet")
    (folder / "other.csv").write_text("secret\nhunter2\n")
    return {"{sqlite}": str(other), "{parquet}": str(folder / "other.parquet"),
            "{csv}": str(folder / "other.csv"), "{elsewhere}": str(folder)}


def assert_sandbox_refuses(lake_spec: str, query: str, refusal: str, paths: dict[str, str]
                           ) -> None:
    """`rerankwatch sql` on the lake refuses the query with one line, exit 2, reading and
    writing nothing outside the lake."""
    folder = Path(paths["{elsewhere}"])
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    for key, value in paths.items():
        query = query.replace(key, value)
    got = CliRunner().invoke(app, ["sql", "--db", lake_spec, query])
    assert got.exit_code == 2, got.output
    assert refusal in got.output and "hunter2" not in got.output, got.output
    assert "Traceback" not in got.output
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


@pytest.mark.parametrize(("query", "refusal"), SANDBOX_REFUSALS)
def test_the_sandboxed_sqlite_lake_refuses_every_other_reader(
        db_path: Path, lake: str, tmp_path: Path, query: str, refusal: str) -> None:  # noqa: F811
    copy_store(db_path, lake)
    paths = sandbox_victims(tmp_path / "elsewhere")
    paths["{pg}"] = "dbname=x host=127.0.0.1 port=1"
    assert_sandbox_refuses(lake, query, refusal, paths)


def test_the_sandboxed_lake_reads_parquet_in_its_own_data_path(db_path: Path,  # noqa: F811
                                                               lake: str) -> None:
    copy_store(db_path, lake)
    data = Path(check_lake(lake)[1] + ".files")  # a SQLite lake's default data path
    files = sorted(data.rglob("*.parquet"))
    assert files, f"no data file under {data}"
    got = CliRunner().invoke(app, ["sql", "--db", lake,
                                   f"select count(*) > 0 as ok from read_parquet('{files[0]}')"])
    assert got.exit_code == 0 and "True" in got.output, got.output


def test_a_bad_spec_given_to_any_command_exits_2_without_echoing_it() -> None:
    import subprocess
    import sys

    rw = str(Path(sys.executable).parent / "rerankwatch")
    for args in (["baseline", "history"], ["report"], ["sql", "select 1"]):
        done = subprocess.run([rw, *args, "--db", "ducklake:postgres:dbname=x password=hunter2"],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, (args, done.stderr)
        assert "PGPASSWORD" in done.stderr and "hunter2" not in done.stdout + done.stderr
        assert "Traceback" not in done.stderr


def test_config_and_deploy_take_a_lake_as_written(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from rerankwatch.core.config import RunConfig
    from rerankwatch.tasks.deployments import deploy_parameters as _deploy_parameters

    base = {"reference": "a", "sample_sets": [{"name": "s", "path": "pkg:samples/golden_en.jsonl"}],
            "engines": [{"name": "a", "kind": "st-bi", "model": "embedded:all-MiniLM-L6-v2"}]}
    spec = "ducklake:postgres:dbname=rw host=db.internal user=rw"
    config = RunConfig.model_validate({**base, "db": spec, "data_path": "s3://bucket/lake"})
    assert config.db_path == spec and config.data_path == "s3://bucket/lake"
    assert config.shared_url == str(shard_dir(spec).resolve())
    for bad in ({"db": "ducklake:postgres:dbname=rw password=hunter2"},
                {"db": spec, "data_path": "s3://key:secret@bucket/lake"}):
        with pytest.raises(ValidationError) as caught:
            RunConfig.model_validate({**base, **bad})
        assert "hunter2" not in str(caught.value) and "secret@" not in str(caught.value)
    assert _deploy_parameters(None, spec) == {"db": spec}  # the same catalog from every worker
    assert _deploy_parameters(None, "rel.duckdb") == {"db": str(Path("rel.duckdb").resolve())}
