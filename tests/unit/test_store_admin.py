"""A store that sets itself up (`rerankwatch store init / check / maintain`), the one place that
picks the store (--db > -c config's db > $RERANKWATCH_DB > home), commit messages naming the
run and step of each lake snapshot (`sql --as-of run:RUN`), and the deploy note on --db. A
real SQLite-catalogued lake on disk; the PostgreSQL + S3 versions: tests/server/."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rerankwatch.cli import app
from rerankwatch.core.home import DB_ENV, db_or_default, default_db, default_replay_db
from rerankwatch.store import open_store
from tests.support.configs import MINILM, run_config
from tests.support.prefect_server import free_port


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def lake(tmp_path: Path) -> str:
    return f"ducklake:sqlite:{tmp_path / 'lake' / 'catalog.sqlite'}"


def config_file(tmp_path: Path, db: str, name: str = "team.toml") -> Path:
    path = tmp_path / name
    path.write_text(run_config(db, "pkg:samples/golden_en.jsonl", "bi",  # type: ignore[arg-type]
                               [("bi", "st-bi", MINILM)]))
    return path


def one_finished_run(spec: str) -> str:
    with open_store(spec) as store:
        run_id = store.start_run("nightly", {})
        store.finish_run(run_id, "succeeded")
    return run_id


# --------------------------------------------------------------------------- store init/check


def test_store_init_creates_a_lake_and_a_second_init_says_it_exists(lake: str) -> None:
    first = cli("store", "init", "--db", lake)
    assert first.exit_code == 0, first.output
    assert "created the store" in first.output
    assert f"export RERANKWATCH_DB='{lake}'" in first.output
    assert "PGPASSWORD" not in first.output and "AWS_" not in first.output
    assert Path(lake.removeprefix("ducklake:sqlite:") + ".files").is_dir()
    again = cli("store", "init", "--db", lake)
    assert again.exit_code == 0, again.output
    assert "exists already" in again.output and "created" not in again.output
    # a lake before any run: readable, not "creating a new DuckLake is explicitly disabled"
    read = cli("sql", "--db", lake, "select count(*) as n from runs")
    assert read.exit_code == 0, read.output


def test_store_check_says_ok_line_by_line_on_an_initialized_lake(lake: str) -> None:
    assert cli("store", "init", "--db", lake).exit_code == 0
    result = cli("store", "check", "--db", lake)
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert [line.split()[1].rstrip(":") for line in lines] == [
        "versions", "catalog", "data", "schema"]
    assert all(line.startswith("ok") for line in lines)
    assert "duckdb 1.5.5" in lines[0]


def test_store_check_before_init_fails_with_the_command_that_fixes_it(lake: str) -> None:
    result = cli("store", "check", "--db", lake)
    assert result.exit_code == 3, result.output
    assert "FAIL catalog" in result.output
    assert f"rerankwatch store init --db '{lake}'" in result.output


def test_store_check_of_a_closed_port_exits_3_with_the_fix() -> None:
    spec = f"ducklake:postgres:dbname=lake host=127.0.0.1 port={free_port()} user=rw"
    result = cli("store", "check", "--db", spec)
    assert result.exit_code == 3, result.output
    assert "FAIL catalog" in result.output and "Connection refused" in result.output
    assert "fix: check the spec's host, port" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", ["check", "init", "maintain"])
def test_a_malformed_spec_exits_2_without_repeating_it(command: str) -> None:
    result = cli("store", command, "--db", "ducklake:postgres:dbname=x password=hunter2")
    assert result.exit_code == 2, result.output
    assert "PGPASSWORD" in result.output and "hunter2" not in result.output


# --------------------------------------------------------------------------- which store


def test_db_or_default_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(DB_ENV, raising=False)
    assert db_or_default(None) == default_db()
    monkeypatch.setenv(DB_ENV, "ducklake:sqlite:/env.sqlite")
    assert db_or_default(None) == "ducklake:sqlite:/env.sqlite"
    assert db_or_default(None, config_db="cfg.duckdb") == Path("cfg.duckdb")
    assert db_or_default("cli.duckdb", config_db="cfg.duckdb") == Path("cli.duckdb")
    # the replays keep their own store: a team's lake in the environment is not theirs
    assert db_or_default(None, default_replay_db()) == default_replay_db()


@pytest.mark.parametrize("how", ["env", "config"])
def test_sql_report_baseline_and_store_find_the_store_without_db(
        how: str, lake: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = one_finished_run(lake)
    if how == "env":
        monkeypatch.setenv(DB_ENV, lake)
        pick: list[str] = []
    else:
        pick = ["-c", str(config_file(tmp_path, lake))]
    found = cli("sql", *pick, "select run_id from runs")
    assert found.exit_code == 0, found.output
    assert run_id in found.output
    assert cli("baseline", "history", *pick).output.strip() == "no acceptance yet"
    accepted = cli("baseline", "accept", run_id, "--reason", "r", *pick)
    assert "has no engine config that succeeded" in accepted.output  # found the run there
    report = cli("report", *pick)  # this store (the home one does not exist: "no such database")
    assert report.exit_code == 2 and "no judged run" in report.output, report.output
    assert cli("store", "check", *pick).exit_code == 0
    # --db still wins over both
    other = tmp_path / "other.duckdb"
    assert "no such database" in cli("sql", *pick, "--db", str(other), "select 1").output


def test_a_bad_config_behind_c_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("reference = 1\n")
    result = cli("sql", "-c", str(bad), "select 1")
    assert result.exit_code == 2 and "error: -c" in result.output, result.output


# --------------------------------------------------------------------------- snapshots


def test_each_snapshot_names_its_step_and_run_and_as_of_run_reads_its_finish(
        lake: str) -> None:
    first = one_finished_run(lake)
    second = one_finished_run(lake)
    with open_store(lake, mode="read") as store:
        messages = store.sql("select commit_message, author from ducklake_snapshots('lake') "
                             "where commit_message is not null order by snapshot_id")
    assert messages["commit_message"].to_list() == [
        "migrate", f"start_run: run {first}", f"finish_run: run {first}",
        f"start_run: run {second}", f"finish_run: run {second}"]
    assert set(messages["author"]) == {"rerankwatch"}
    was = cli("sql", "--db", lake, "--as-of", f"run:{first}", "select run_id from runs")
    assert was.exit_code == 0, was.output
    assert first in was.output and second not in was.output
    unknown = cli("sql", "--db", lake, "--as-of", "run:nope", "select 1")
    assert unknown.exit_code == 2 and "ducklake_snapshots" not in unknown.output
    assert "no snapshot of this lake records the finish of run 'nope'" in unknown.output


def test_store_maintain_expires_old_snapshots_and_a_kept_one_still_reads(
        lake: str) -> None:
    old_run = one_finished_run(lake)
    with open_store(lake) as store:  # data files, not only rows inlined in the catalog
        for n in range(3):
            store.con.execute("create or replace temp table x as select 1")
            store.add_pairs(_pairs(n))
    time.sleep(4)
    boundary = time.time()
    kept_run = one_finished_run(lake)
    with open_store(lake, mode="read") as store:
        before = store.sql("select snapshot_id from ducklake_snapshots('lake')").height
        kept_snapshot = store.con.execute(
            "select min(snapshot_id) from ducklake_snapshots('lake') where commit_message = "
            "$m", {"m": f"start_run: run {kept_run}"}).fetchone()[0]
    retention = int(time.time() - boundary) + 2
    result = cli("store", "maintain", "--db", lake, "--retention", f"{retention}s")
    assert result.exit_code == 0, result.output
    assert "expired" in result.output and "kept" in result.output
    with open_store(lake, mode="read") as store:
        after = store.sql("select snapshot_id from ducklake_snapshots('lake')")["snapshot_id"]
        pairs = store.sql("select count(*) as n from sample_pairs")["n"][0]
    assert len(after) < before and kept_snapshot in after.to_list()
    assert pairs == 3
    for as_of in (str(kept_snapshot), f"run:{kept_run}"):
        read = cli("sql", "--db", lake, "--as-of", as_of,
                   "select count(*) as pairs, max(run_id) as run from sample_pairs, runs")
        assert read.exit_code == 0, read.output
        assert kept_run in read.output
    gone = cli("sql", "--db", lake, "--as-of", f"run:{old_run}", "select 1")
    assert gone.exit_code == 2 and "store maintain" in gone.output


def _pairs(n: int):
    import polars as pl

    from rerankwatch.store.store import PAIR_COLUMNS

    row = {c: None for c in PAIR_COLUMNS} | {
        "pair_id": f"p{n}", "set_id": "s", "query_id": f"q{n}", "query": "q", "doc_id": "d",
        "doc": "d", "label": 1, "tags": [], "lang": "en", "known_irrelevant": False,
        "source_file": "f"}
    return pl.DataFrame([row]).cast({"tags": pl.List(pl.String), "ladder": pl.String,
                                     "ladder_rank": pl.Int64})


def test_store_maintain_on_a_duckdb_file_says_there_is_nothing(tmp_path: Path) -> None:
    result = cli("store", "maintain", "--db", str(tmp_path / "x.duckdb"))
    assert result.exit_code == 2 and "keeps no snapshots" in result.output


# --------------------------------------------------------------------------- deploy, samples


def test_deploy_notes_a_db_that_overrides_the_configs(tmp_path: Path) -> None:
    from rerankwatch.tasks.deployments import deploy_parameters

    team = "ducklake:postgres:dbname=rerankwatch host=db.internal user=rw"
    config = config_file(tmp_path, team)
    local = tmp_path / "local.duckdb"
    notes: list[str] = []
    parameters = deploy_parameters(config, str(local), notes.append)
    assert parameters["db"] == str(local)
    assert any(f"--db {local} overrides the config's db {team}" in note for note in notes)
    notes.clear()
    deploy_parameters(config, team, notes.append)  # the same store: no note
    assert notes == []


def test_samples_validate_accepts_pkg_paths_as_configs_do() -> None:
    result = cli("samples", "validate", "pkg:samples/golden_en.jsonl")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: pkg:samples/golden_en.jsonl: ")


def test_a_view_rerankwatch_never_had_is_not_blamed_on_an_older_store(lake: str) -> None:
    assert cli("store", "init", "--db", lake).exit_code == 0
    result = cli("sql", "--db", lake, "select * from v_verdicts")
    assert result.exit_code == 2
    assert "older rerankwatch" not in result.output
    assert "upgrade_decisions" in result.output
