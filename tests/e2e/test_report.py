"""The HTML report for a run holding a replayed incident, rendered in headless Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rerankwatch.cli import app
from rerankwatch.pipeline.replay import run_replays

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-quic"]


@pytest.fixture(scope="module")
def swap_args_report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    db = tmp / "replay.duckdb"
    (outcome,) = run_replays(str(db), ["swap_args"])
    assert outcome.report.blocked
    result = CliRunner().invoke(app, ["report", "--db", str(db), "--run", outcome.report.run_id,
                                      "--out", str(tmp / "report.html")])
    assert result.exit_code == 0, result.output
    return tmp / "report.html", tmp


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    if not CHROMIUM:
        if os.environ.get("RERANKWATCH_REQUIRE_CHROMIUM"):
            pytest.fail("chromium is required here (Debian package `chromium`)")
        pytest.skip("chromium is not installed (Debian package `chromium`)")
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def test_report_holds_the_failing_check_and_its_plot(swap_args_report):
    html, _ = swap_args_report
    page = html.read_text()
    assert 'class="verdict BLOCKED"' in page
    assert 'id="check-argument_order"' in page and "arguments reversed" in page
    assert 'href="#scatter-ce-swapped"' in page
    assert 'id="scatter-ce-swapped"' in page and "data:image/png;base64," in page
    assert "http://" not in page.replace("http://www.w3.org", "")  # self-contained


def test_report_renders_in_chromium_without_console_errors(swap_args_report):
    html, tmp = swap_args_report
    shot = tmp / "report.png"
    dom = chromium("--enable-logging=stderr", "--v=0", "--dump-dom", html.as_uri(),
                   profile=tmp / "profile-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'id="scatter-ce-swapped"' in dom.stdout and "BLOCKED" in dom.stdout
    console_errors = [line for line in dom.stderr.splitlines()
                      if "CONSOLE" in line and ("Uncaught" in line or "rror" in line)]
    assert console_errors == []
    render = chromium("--window-size=1280,1600", f"--screenshot={shot}", html.as_uri(),
                      profile=tmp / "profile-shot")
    assert render.returncode == 0 and shot.stat().st_size > 50_000  # a page with plots drawn
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.std() > 0.05  # not a blank page


def test_report_for_a_missing_database_exits_2(tmp_path):
    result = CliRunner().invoke(app, ["report", "--db", str(tmp_path / "none.duckdb")])
    assert result.exit_code == 2 and "no such database" in result.output
