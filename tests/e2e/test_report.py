"""The HTML report of a BLOCKED and of a PASS run, read as a person would and rendered in
headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rerankwatch.cli import app
from rerankwatch.pipeline.replay import run_replays

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-quic"]


def _report(tmp: Path, db: Path, run_id: str, name: str) -> Path:
    result = CliRunner().invoke(app, ["report", "--db", str(db), "--run", run_id,
                                      "--out", str(tmp / name)])
    assert result.exit_code == 0, result.output
    return tmp / name


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """A BLOCKED run (the swap_args replay) and a PASS run (the clean cross-encoder control),
    each with its HTML report, on the demo cross-encoder when built (else the fixture)."""
    tmp = tmp_path_factory.mktemp("report")
    db = tmp / "replay.duckdb"
    blocked, clean = run_replays(str(db), ["swap_args", "clean_cross_encoder"])
    assert blocked.report.blocked and not clean.report.blocked
    return {"blocked": _report(tmp, db, blocked.report.run_id, "blocked.html"),
            "pass": _report(tmp, db, clean.report.run_id, "pass.html"),
            "runs": {"blocked": blocked.report.run_id, "pass": clean.report.run_id},
            "db": db, "tmp": tmp}


class Page(HTMLParser):
    """Ids, in-page links and the text of chosen elements of a report page."""

    def __init__(self, text: str):
        super().__init__()
        self.ids, self.links, self.findings, self.summary = set(), [], [], ""
        self._in: str | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href", "").startswith("#"):
            self.links.append((attrs["href"][1:], len(self.findings) - 1 if self._in else None))
        if tag == "li" and attrs.get("class") == "finding":
            self._in = "finding"
            self.findings.append("")
        if tag == "p" and attrs.get("id") == "summary":
            self._in = "summary"

    def handle_endtag(self, tag):
        if tag in ("li", "p"):
            self._in = None

    def handle_data(self, data):
        if self._in == "finding":
            self.findings[-1] += data
        elif self._in == "summary":
            self.summary += data


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    if not CHROMIUM:
        if os.environ.get("RERANKWATCH_REQUIRE_CHROMIUM"):
            pytest.fail("chromium is required here (Debian package `chromium`)")
        pytest.skip("chromium is not installed (Debian package `chromium`)")
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def test_a_blocked_report_says_each_failure_in_words_with_its_own_figure(reports):
    page = Page(reports["blocked"].read_text())
    assert 'class="verdict BLOCKED"' in reports["blocked"].read_text()
    lines = page.findings
    assert lines and all(line.startswith("ce-swapped: ") for line in lines), lines
    order = next(line for line in lines if "(argument_order)" in line)
    assert re.search(r"share of scores nearer the reference's swapped score\(d, q\) than its "
                     r"score\(q, d\) [0-9.]+, must be ≤ 0\.5 \(argument_order\) — .*arguments "
                     r"reversed", order), order
    delta = next(line for line in lines if "max |Δ score|" in line)
    assert re.search(r"max \|Δ score\| vs the reference [0-9.]+, must be ≤ 0\.02 "
                     r"\(engine_agreement\)", delta), delta
    plots = {}  # check -> the figures its findings link
    for href, index in page.links:
        if index is not None and not href.startswith("check-"):
            check = re.search(r"\((\w+)\)(?: — |\s*\()", page.findings[index]).group(1)
            plots.setdefault(check, set()).add(href)
    assert plots["argument_order"] == {"order-ce-swapped"}
    assert plots["engine_agreement"] == {"scatter-ce-swapped"}
    assert {href for href, _ in page.links} <= page.ids  # no link to nowhere
    page_text = reports["blocked"].read_text()
    assert "−0" not in page_text and ">-0<" not in page_text  # thresholds as written
    assert "http://" not in reports["blocked"].read_text().replace("http://www.w3.org", "")


def test_a_clean_report_is_one_line_with_its_details_collapsed(reports):
    text = reports["pass"].read_text()
    page = Page(text)
    assert 'class="verdict PASS"' in text and not page.findings
    assert re.match(r"2 engines × \d+ pairs; worst \|Δ score\| vs ce: [0-9.e-]+ \(ce-hf\); "
                    r"versions: .*torch ", page.summary), page.summary
    assert '<details id="details">' in text  # collapsed (no "open")


@pytest.mark.parametrize("run", ["blocked", "pass"])
def test_no_two_texts_of_any_figure_overlap(reports, run):
    """Every figure of both reports, drawn as the report draws it: titles, axis and tick
    labels and legend entries never overlap (matplotlib's own text extents)."""
    from rerankwatch.report import figures
    from rerankwatch.report.html import load_report_data
    from rerankwatch.store import open_store

    with open_store(reports["db"], mode="read") as store:
        data = load_report_data(store, reports["runs"][run])
    engine = "ce-swapped" if run == "blocked" else "ce-hf"
    drawn = {
        "scatter": figures.scatter_figure(data.scores, data.reference, engine),
        "order": figures.order_figure(data.scores, data.probes, data.reference, engine),
        "probes": figures.probes_figure(data.scores, data.probes, data.checks, engine),
        "truncation": figures.truncation_figure(data.scores, data.reference, engine),
        "distribution": figures.distribution_figure(data.scores, data.checks),
        "ladders": figures.ladder_figure(data.scores, data.reference),
        "trend": figures.trend_figure(data.trend),
        "quality": figures.quality_figure(data.checks)}
    assert drawn["ladders"] is not None and drawn["trend"] is not None
    for name, figure in drawn.items():
        if figure is not None:
            assert figures.text_overlaps(figure) == [], name


def test_the_overlap_check_sees_overlapping_texts():
    from rerankwatch.report import figures

    figure, (ax,) = figures.new_figure(1)
    ax.set_title("a title")
    ax.text(0.5, 1.02, "written over it", transform=ax.transAxes, ha="center")
    assert figures.text_overlaps(figure) == [("a title", "written over it")]


def test_reports_render_in_chromium_without_console_errors(reports):
    tmp = reports["tmp"]
    for run in ("blocked", "pass"):
        html = reports[run]
        dom = chromium("--enable-logging=stderr", "--v=0", "--dump-dom", html.as_uri(),
                       profile=tmp / f"profile-dom-{run}")
        assert dom.returncode == 0, dom.stderr[-2000:]
        assert run.upper() in dom.stdout or "PASS" in dom.stdout
        console_errors = [line for line in dom.stderr.splitlines()
                          if "CONSOLE" in line and ("Uncaught" in line or "rror" in line)]
        assert console_errors == []
    import matplotlib.image

    shots = {}
    for run in ("blocked", "pass"):
        shot = tmp / f"{run}.png"
        render = chromium("--window-size=1280,2400", f"--screenshot={shot}",
                          reports[run].as_uri(), profile=tmp / f"profile-shot-{run}")
        assert render.returncode == 0, render.stderr[-2000:]
        shots[run] = matplotlib.image.imread(shot)
    assert shots["blocked"].std() > 0.05  # figures drawn
    # a clean run fits about two screens: below 1,600 px the page is blank
    assert (shots["pass"][1600:, :, :3] > 0.98).all()


def test_report_for_a_missing_database_exits_2(tmp_path):
    result = CliRunner().invoke(app, ["report", "--db", str(tmp_path / "none.duckdb")])
    assert result.exit_code == 2 and "no such database" in result.output
