"""The plain-language summary every view shares: numbers as written, limits with their
direction, what each check measures, and where a report is said to be."""

from __future__ import annotations

import pytest

from rerankwatch.checks import CHECKS, check_class
from rerankwatch.core.records import CheckResult, SuiteReport
from rerankwatch.report.summary import (
    limit,
    measured,
    number,
    report_verdict_line,
    result_findings,
    verdict_markdown,
)


@pytest.mark.parametrize(("value", "text"), [
    (-0.0, "0"), (0.0, "0"), (45.0, "45"), (0.5, "0.5"), (1e-6, "1e-06"), (0.333333, "0.3333"),
    (None, "—")])
def test_numbers_read_as_written(value, text):
    assert number(value) == text


def test_limits_say_their_direction():
    assert limit("engine_agreement", "kendall_tau_min", 0.5) == "≥ 0.5"
    assert limit("engine_agreement", "score_max_abs_delta", 0.02) == "≤ 0.02"
    assert limit("monotonic_relevance", "golden_en", -0.0) == "≥ 0"
    assert limit("finite", "count", 45.0) == "= 45"
    assert limit("a_check_since_removed", "x", 1.0) == "≤ 1"


def test_every_check_says_what_it_measures():
    for name in CHECKS:
        assert check_class(name).measures, name
    assert measured("irrelevant_ceiling", "golden_zh") == (
        "highest score of a known-irrelevant pair in golden_zh")
    assert measured("a_check_since_removed", "x") == "a_check_since_removed x"


REPORT = SuiteReport("run-1", "gate", "base", (
    CheckResult("engine_agreement", "cand", "kendall_tau_min", "failed", True, 0.33, 0.5,
                {"message": "rankings disagree"}, "base"),
    CheckResult("finite", "cand", "values", "passed", True, 0.0, 0.0),
    CheckResult("saturation", "cand", "tied_share", "failed", False, 0.2, 0.05),
))


def test_a_finding_is_one_line_in_words():
    (finding,) = result_findings(REPORT.results)  # the non-blocking failure is no finding
    assert finding.line == ("cand: lowest per-query Kendall τ vs the reference 0.33, must be "
                            "≥ 0.5 (engine_agreement) — rankings disagree")


def test_the_markdown_links_a_report_only_over_http():
    on_disk = verdict_markdown(REPORT, "cand", "/srv/reports/run-1.html")
    assert "candidate `cand` vs baseline `base`" in on_disk and "**BLOCKED**" in on_disk
    assert "must be ≥ 0.5 (engine\\_agreement)" in on_disk
    assert "HTML report: `/srv/reports/run-1.html`" in on_disk and "](" not in on_disk
    assert "`rerankwatch report --run run-1 --open`" in on_disk
    served = verdict_markdown(REPORT, "cand", "/srv/reports/run-1.html",
                              "https://reports.example/run-1.html")
    assert "[run-1](https://reports.example/run-1.html)" in served
    short = verdict_markdown(REPORT, "cand", "/r.html", full=False)
    assert "blocked by: engine_agreement" in short and "Kendall" not in short
    assert report_verdict_line(REPORT, "cand") == (
        "BLOCKED: candidate cand vs baseline base: engine_agreement (run run-1)")


DOWN = "POST http://127.0.0.1:9/rerank failed after 4 attempt(s): connection refused"
UNSCORED = SuiteReport("run-2", "gate", "base", (
    CheckResult("finite", "base", "values", "passed", True, 0.0, 0.0),
    CheckResult("finite", "cand", "*", "not_judged", True,
                detail={"reason": "engine cand could not score"}),
    CheckResult("engine_agreement", "cand", "*", "not_judged", True, other_engine="base",
                detail={"reason": "engine cand could not score"}),
), engine_errors=(("cand", DOWN),))


def test_a_run_with_an_engine_that_could_not_score_is_error_and_says_why_once():
    assert UNSCORED.verdict == "ERROR" and UNSCORED.exit_code == 3 and not UNSCORED.blocked
    assert UNSCORED.failing == [] and UNSCORED.failing_checks == []
    line = report_verdict_line(UNSCORED, "cand")
    assert line == f"ERROR: engine cand could not score: {DOWN} (run run-2)"
    markdown = verdict_markdown(UNSCORED, "cand")
    assert "**ERROR**" in markdown and markdown.count("connection refused") == 1
    assert "Blocking failures" not in markdown


def test_blocked_wins_over_an_engine_that_could_not_score():
    both = SuiteReport("run-3", "nightly", "base", REPORT.results + UNSCORED.results[1:],
                       engine_errors=(("cand2", DOWN),))
    assert both.verdict == "BLOCKED" and both.exit_code == 1


def test_a_crashed_check_is_error_not_blocked():
    crashed = SuiteReport("run-4", "nightly", "base", (
        CheckResult("finite", "base", "*", "error", True, detail={"reason": "KeyError: 'x'"}),))
    assert crashed.verdict == "ERROR"
    assert report_verdict_line(crashed) == "ERROR: check finite crashed (run run-4)"


@pytest.mark.parametrize(("base", "url"), [
    ("https://reports.example/rw/", "https://reports.example/rw/run-1.html"),
    ("http://10.0.0.5:8000", "http://10.0.0.5:8000/run-1.html"),
    ("file:///srv/reports", None), ("", None)])
def test_a_report_link_only_for_an_http_base(monkeypatch, base, url):
    from rerankwatch.report.stored import REPORT_URL_ENV, report_link

    monkeypatch.setenv(REPORT_URL_ENV, base)
    assert report_link("run-1") == url
