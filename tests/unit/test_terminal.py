"""Terminal views print stored text literally: a value, a column name, a title or an engine
error that looks like rich markup (``[/x]``, ``[/INST]``, ``[link=…]``) is shown as written,
never interpreted (no crash, no hidden or spoofed text)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import polars as pl
import pytest
from rich.console import Console

from rerankwatch.core.records import CheckResult, SuiteReport
from rerankwatch.pipeline import progress
from rerankwatch.report import terminal as views
from rerankwatch.report.summary import report_verdict_line
from rerankwatch.samples.loader import load_sample_set
from rerankwatch.store import Store

CLOSER = "[/x]"
INST = "Answer briefly. [/INST]"
LINK = "[link=https://evil.example]click[/link]"
STYLED = "[bold red]not bold[/bold red]"
EMOJI = ":thumbs_up: stays text"
TEXTS = (CLOSER, INST, LINK, STYLED, EMOJI)


def rendered(renderable) -> str:
    """What a wide terminal shows for ``renderable`` (plain text, styles dropped)."""
    console = Console(file=io.StringIO(), width=400, color_system=None)
    console.print(renderable)
    return console.file.getvalue()


def test_frame_table_prints_values_column_names_and_title_literally() -> None:
    frame = pl.DataFrame({CLOSER: [INST, LINK], STYLED: [EMOJI, None]})
    text = rendered(views.frame_table(frame, title=LINK))
    for literal in TEXTS:
        assert literal in text
    assert "—" in text  # a null stays the dash


def test_suite_report_prints_subjects_engines_and_errors_literally(monkeypatch) -> None:
    monkeypatch.setattr(views.CONSOLE, "width", 400)  # no folded cells
    report = SuiteReport(run_id="r-[/x]", suite="nightly", reference="ref", results=(
        CheckResult(check="score_agreement", engine=LINK, subject=INST, status="failed",
                    blocking=True, detail={"message": f"engine failed: {CLOSER} {STYLED}"},
                    other_engine="ref"),
        CheckResult(check="score_agreement", engine="ref", subject=EMOJI, status="passed",
                    blocking=True),
    ))
    with views.CONSOLE.capture() as captured:
        views.print_suite_report(report)
        views.print_verdict_lines([report_verdict_line(report)])
    text = captured.get()
    for literal in (LINK, INST, f"engine failed: {CLOSER} {STYLED}", "r-[/x]"):
        assert literal in text
    assert "BLOCKED: reference ref: score_agreement (run r-[/x])" in text


def test_an_engine_that_could_not_score_is_said_once_with_the_error_verdict(monkeypatch):
    monkeypatch.setattr(views.CONSOLE, "width", 400)
    report = SuiteReport(run_id="r1", suite="gate", reference="ref", results=(
        CheckResult(check="finite", engine="cand", subject="*", status="not_judged",
                    blocking=True, detail={"reason": "engine cand could not score"}),
    ), engine_errors=(("cand", f"connection refused {STYLED}"),))
    with views.CONSOLE.capture() as captured:
        views.print_suite_report(report)
        views.print_verdict_lines([report_verdict_line(report, "cand")])
    text = captured.get()
    assert text.count("connection refused") == 1
    assert "ERROR: engine cand could not score: connection refused" in text
    assert "not judged" in text  # the count table's column


def test_the_suite_report_says_per_query_outcomes_before_the_check_table(monkeypatch):
    monkeypatch.setattr(views.CONSOLE, "width", 400)
    report = SuiteReport(run_id="r1", suite="gate", reference="ref", results=(
        CheckResult("retrieval_quality", "cand", "ndcg@10", "passed", True, 0.001, 0.02,
                    {"baseline": 0.71, "candidate": 0.709, "p_value": 0.5, "queries": 45,
                     "improved": 3, "degraded": 5, "unchanged": 37, "most_degraded": []},
                    other_engine="ref"),))
    with views.CONSOLE.capture() as captured:
        views.print_suite_report(report)
    text = captured.get()
    line = ("cand ndcg@10 vs ref: 3 improved, 5 degraded, 37 unchanged "
            "(mean 0.71 → 0.709, Wilcoxon p=0.5)")
    assert line in text and text.index(line) < text.index("gate suite, run r1")


@pytest.fixture
def store(tmp_path: Path):
    rows = [{"set_id": "s1", "query_id": "q1", "query": "q", "doc_id": f"d{i}", "doc": doc,
             "label": 1, "tags": [], "lang": "en"} for i, doc in enumerate(TEXTS)]
    sample = tmp_path / "s1.jsonl"
    sample.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with Store(tmp_path / "rw.duckdb") as opened:
        opened.add_pairs(load_sample_set(sample, expected_set_id="s1"))
        yield opened


def test_run_summary_prints_an_engine_error_literally(store: Store, monkeypatch) -> None:
    monkeypatch.setattr(views.CONSOLE, "width", 400)
    run_id = store.start_run("f", {"reference": "ref"})
    store.record_engine_failure(run_id, "broken", f"RuntimeError: {CLOSER} {LINK}")
    summary = store.query("q_run_summary", run_id=run_id, reference="[b]ref")
    with views.CONSOLE.capture() as captured:
        views.print_run_summary(run_id, "[b]ref", summary)
    text = captured.get()
    assert f"RuntimeError: {CLOSER} {LINK}" in text
    assert "mean |Δ| vs [b]ref" in text


def test_stored_documents_print_literally(store: Store) -> None:
    text = rendered(views.frame_table(store.sql("select doc from sample_pairs order by doc")))
    for literal in TEXTS:
        assert literal in text


def test_a_progress_bar_shows_its_description_literally() -> None:
    with progress.CONSOLE.capture() as captured, progress.progress_bar(CLOSER, 2) as advance:
        advance(2)
    assert f"{CLOSER}" in captured.get()
    assert "2/2" in captured.get()


CONTROLS = "\x1b[2J\x1b]0;pwned\x07 \x00 \u202eevil \x9b"  # clear, retitle, NUL, RLO, CSI


def test_tables_show_control_characters_as_escapes() -> None:
    frame = pl.DataFrame({f"col{CONTROLS}": [f"v{CONTROLS}", "tab\tand\nline"]})
    text = rendered(views.frame_table(frame, title=f"t{CONTROLS}"))
    for char in "\x1b\x07\x00\u202e\x9b":
        assert char not in text
    assert text.count("\\x1b[2J\\x1b]0;pwned\\x07 \\x00 \\u202eevil \\x9b") == 3
    assert "line" in text


def test_stored_control_characters_print_as_escapes_through_sql(tmp_path: Path) -> None:
    from rerankwatch.cli.sql import run_query

    with Store(tmp_path / "rw.duckdb") as opened:
        opened.con.execute("create table evil as select $t as doc", {"t": CONTROLS})
    frame = run_query(tmp_path / "rw.duckdb", "select doc from evil")
    text = rendered(views.frame_table(frame))
    assert "\x1b" not in text and "\\x1b[2J" in text
