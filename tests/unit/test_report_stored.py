"""Reports the team can open (report/stored.py): a DuckLake store keeps each run's report beside
its data, or under the run config's reports_url; a teammate (another home, no local report)
fetches the stored file instead of rebuilding it; its http(s) link under
RERANKWATCH_REPORT_URL. Real stores: two hand-made runs, copied into a SQLite-catalogued lake."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from rerankwatch.cli import app
from rerankwatch.core.home import HOME_ENV
from rerankwatch.report.stored import REPORT_URL_ENV, store_report
from rerankwatch.store.copy import copy_store
from tests.unit.test_sql_views import NEW, OLD, db_path  # noqa: F401 - two hand-made runs

MARK = b"<!-- as stored -->"  # added to a stored report: only a fetch returns it


def teammate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Another machine's home: no local report, no local lake folder."""
    home = tmp_path / "teammate-home"
    monkeypatch.setenv(HOME_ENV, str(home))
    return home


def report(*args: str):
    return CliRunner().invoke(app, ["report", *args])


def with_reports_url(db: Path, run_id: str, url: str) -> None:
    """Give a run's stored config a reports_url, as a flow stores a config that sets one."""
    with duckdb.connect(str(db)) as con:
        (config,) = con.execute("select config from runs where run_id = $run",
                                {"run": run_id}).fetchone()
        config = {**json.loads(config), "reports_url": url}
        con.execute("update runs set config = $config where run_id = $run",
                    {"config": json.dumps(config), "run": run_id})


@pytest.fixture
def lake(db_path: Path, tmp_path: Path) -> tuple[str, Path]:  # noqa: F811
    """A SQLite-catalogued lake with its data in a folder of its own, holding both runs."""
    spec, data = f"ducklake:sqlite:{tmp_path / 'catalog' / 'lake.sqlite'}", tmp_path / "data"
    copy_store(db_path, spec, str(data))
    return spec, data


def test_a_lake_keeps_each_report_beside_its_data(lake, tmp_path, monkeypatch) -> None:
    spec, data = lake
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "worker-home"))
    location = store_report(spec, NEW)
    assert location.where == f"{data}/reports/{NEW}.html"
    text = Path(location.where).read_text(encoding="utf-8")
    assert text.startswith("<!doctype html>") and f"run {NEW}" in text
    assert not (tmp_path / "worker-home").exists()  # nothing on the worker's host only


def test_a_teammate_fetches_the_stored_report_without_rebuilding(lake, tmp_path,
                                                                  monkeypatch) -> None:
    spec, data = lake
    stored = Path(store_report(spec, NEW).where)
    stored.write_bytes(stored.read_bytes() + MARK)
    home = teammate(monkeypatch, tmp_path)
    mine = tmp_path / "mine.html"

    got = report("--db", spec, "--run", NEW, "--out", str(mine))
    assert got.exit_code == 0, got.output
    assert f"report fetched: {mine} (stored at {stored})" in got.output
    assert mine.read_bytes() == stored.read_bytes()  # the stored bytes, mark included
    # no --out: the stored file is on a path this machine reads; nothing copied into the home
    got = report("--db", spec, "--run", NEW)
    assert got.exit_code == 0 and f"report fetched: {stored}" in got.output, got.output
    assert not home.exists()
    # --rebuild builds it from the store again and stores that for the team
    got = report("--db", spec, "--run", NEW, "--rebuild")
    assert got.exit_code == 0 and f"report written: {stored}" in got.output, got.output
    assert MARK not in stored.read_bytes()


def test_a_run_without_a_stored_report_is_built_once_then_fetched(lake, tmp_path,
                                                                  monkeypatch) -> None:
    spec, data = lake
    teammate(monkeypatch, tmp_path)
    first = report("--db", spec, "--run", "latest")
    assert first.exit_code == 0, first.output
    assert f"report written: {data}/reports/{NEW}.html" in first.output
    again = report("--db", spec, "--run", NEW)
    assert again.exit_code == 0 and "report fetched:" in again.output, again.output


@pytest.mark.parametrize("store", ["duckdb-file", "lake"])
def test_reports_url_to_a_local_folder(store, db_path, tmp_path, monkeypatch) -> None:  # noqa: F811
    folder = tmp_path / "team-reports"
    with_reports_url(db_path, OLD, str(folder))
    spec = str(db_path)
    if store == "lake":
        spec = f"ducklake:sqlite:{tmp_path / 'lake.sqlite'}"
        copy_store(db_path, spec, str(tmp_path / "data"))
    assert store_report(spec, OLD).where == f"{folder}/{OLD}.html"
    assert (folder / f"{OLD}.html").is_file()
    # a run whose config sets none keeps today's place: reports/ next to a DuckDB file
    if store == "duckdb-file":
        assert store_report(spec, NEW).where == str(tmp_path / "reports" / f"{NEW}.html")
    teammate(monkeypatch, tmp_path)
    got = report("--db", spec, "--run", OLD, "--out", str(tmp_path / "got.html"))
    assert got.exit_code == 0 and "report fetched:" in got.output, got.output
    assert (tmp_path / "got.html").read_bytes() == (folder / f"{OLD}.html").read_bytes()


@pytest.mark.parametrize("store", ["duckdb-file", "lake"])
def test_the_http_link_is_the_served_reports_folder(store, db_path, lake, monkeypatch,  # noqa: F811
                                                    tmp_path) -> None:
    monkeypatch.setenv(REPORT_URL_ENV, "https://reports.example/rw/")
    spec = str(db_path) if store == "duckdb-file" else lake[0]
    location = store_report(spec, NEW)
    assert location.url == f"https://reports.example/rw/{NEW}.html"
    got = report("--db", spec, "--run", NEW, "--out", str(tmp_path / "x.html"))
    assert got.exit_code == 0 and f"link: {location.url}" in got.output, got.output
    monkeypatch.setenv(REPORT_URL_ENV, "file:///srv/reports")  # never a link
    assert store_report(spec, NEW).url is None


def test_a_missing_run_exits_2_in_one_line(lake) -> None:
    got = report("--db", lake[0], "--run", "no-such-run")
    assert got.exit_code == 2, got.output
    assert got.output.strip().splitlines() == [
        f"error: no run 'no-such-run' in {lake[0]}"]


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    # its own process: webbrowser reads BROWSER, DISPLAY and TERM once per process
    return subprocess.run([sys.executable, "-m", "rerankwatch.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_open_hands_the_report_to_a_browser_or_says_there_is_none(lake, tmp_path) -> None:
    spec, data = lake
    seen = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" > {seen}\n')
    browser.chmod(0o755)
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "TERM", "BROWSER")}
    env[HOME_ENV] = str(tmp_path / "teammate-home")
    opened = run_cli("report", "--db", spec, "--run", NEW, "--open",
                     env={**env, "BROWSER": str(browser)})
    assert opened.returncode == 0, opened.stderr
    stored = data / "reports" / f"{NEW}.html"
    for _ in range(50):  # the browser runs in the background
        if seen.exists() and seen.read_text().strip():
            break
        time.sleep(0.1)
    assert seen.read_text().strip() == stored.as_uri()
    headless = run_cli("report", "--db", spec, "--run", NEW, "--open", env=env)
    assert headless.returncode == 0, headless.stderr
    assert f"no web browser available here: open {stored} yourself" in headless.stdout


@pytest.mark.parametrize(("url", "ok"), [
    ("s3://team/reports", True), ("/srv/reports", True), ("file:///srv/reports", True),
    ("https://reports.example/rw", False), ("s3://key:secret@team/reports", False)])
def test_reports_url_is_a_folder_or_a_bucket_without_credentials(url: str, ok: bool) -> None:
    from pydantic import ValidationError

    from rerankwatch.core.config import RunConfig

    config = {"reference": "a", "reports_url": url,
              "sample_sets": [{"name": "s", "path": "pkg:samples/golden_en.jsonl"}],
              "engines": [{"name": "a", "kind": "st-bi", "model": "embedded:all-MiniLM-L6-v2"}]}
    if ok:
        assert RunConfig.model_validate(config).reports_url == url
    else:
        with pytest.raises(ValidationError, match="reports_url"):
            RunConfig.model_validate(config)
