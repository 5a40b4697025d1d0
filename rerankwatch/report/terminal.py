"""Terminal views of stored results (compute lives elsewhere; these only format).

Every value, column name and title built from data is a ``rich.text.Text``: stored text (a
document holding ``[/INST]``, an engine error, a column alias) is printed as written, never
read as rich markup or emoji codes. Its control characters (ESC, BEL, NUL, a bidi override)
are printed as their escapes (``\x1b``), so stored text never clears, retitles or reorders
the terminal; tabs and line breaks stay.
"""

from __future__ import annotations

import sys

import polars as pl
from rich.console import Console
from rich.table import Table
from rich.text import Text

from rerankwatch.core.controls import visible
from rerankwatch.core.records import BLOCKED, PASS, STATUSES
from rerankwatch.report.details import explain
from rerankwatch.report.summary import NOT_JUDGED_LABEL, result_per_query

CONSOLE = Console(width=None if sys.stdout.isatty() else 160)


SHOWN_CONTROLS = "\t\n"  # controls a cell keeps; every other one prints as its escape


def _fmt(value, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) < 1e4 else f"{value:.3g}"
    return visible(str(value), keep=SHOWN_CONTROLS)


def frame_table(frame: pl.DataFrame, title: str | None = None) -> Table:
    """A rich table of any polars frame; its title, column names and cells print literally,
    control characters as their escapes."""
    table = Table(title=None if title is None else Text(visible(title)), header_style="bold")
    for column in frame.columns:
        table.add_column(Text(visible(column)), overflow="fold")
    for row in frame.iter_rows():
        table.add_row(*(Text(_fmt(v)) for v in row))
    return table


def print_run_summary(run_id: str, reference: str, summary: pl.DataFrame,
                      errors: bool = True) -> None:
    """Per-engine summary: status, pairs, mean score, mean |Δ| vs the reference, pairs/s, and
    each failed engine's error (``errors``; a judged run's verdict says it instead, once)."""
    shown = summary.rename({"mean_abs_delta": f"mean |Δ| vs {reference}", "pairs_per_s": "pairs/s"})
    if not errors or shown["error"].is_null().all():
        shown = shown.drop("error")
    CONSOLE.print(frame_table(shown, title=f"run {run_id}"))


def _reason(result) -> str:
    return explain(result.check, result.detail)[0]


def suite_frames(report) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(per-check status counts, blocking failures) of a SuiteReport."""
    rows = [{"check": r.check, "status": r.status} for r in report.results]
    counts = (pl.DataFrame(rows).pivot(on="status", index="check", values="status",
                                      aggregate_function="len")
              .fill_null(0) if rows else pl.DataFrame({"check": []}))
    for status in STATUSES:
        if status not in counts.columns:
            counts = counts.with_columns(pl.lit(0).alias(status))
    counts = counts.select("check", *STATUSES).rename({"not_judged": NOT_JUDGED_LABEL})
    failing = pl.DataFrame(
        [{"check": r.check, "engine": r.engine, "vs": r.other_engine, "subject": r.subject,
          "status": r.status, "observed": r.observed, "threshold": r.threshold,
          "why": _reason(r)[:160]} for r in report.failing],
        schema={"check": pl.String, "engine": pl.String, "vs": pl.String, "subject": pl.String,
                "status": pl.String, "observed": pl.Float64, "threshold": pl.Float64,
                "why": pl.String})
    return counts, failing


VERDICT_STYLES = {PASS: "bold green", BLOCKED: "bold red"}  # ERROR: yellow, not a regression


def print_per_query(lines: list[str]) -> None:
    """Per engine and metric, how many queries improved, degraded or stayed unchanged
    (report.summary.per_query_line): informational, printed plainly."""
    for line in lines:
        CONSOLE.print(Text(visible(line)), soft_wrap=True)


def print_suite_report(report) -> None:
    """The per-query outcomes first (retrieval_quality's counts), then a per-check table (not
    judged counted apart) and every blocking failure; the verdict line and its reasons are
    the command's closing lines (print_verdict_lines), said once."""
    print_per_query([entry["line"] for entry in result_per_query(report.results)])
    counts, failing = suite_frames(report)
    CONSOLE.print(frame_table(counts, title=f"{report.suite} suite, run {report.run_id}"))
    if failing.height:
        CONSOLE.print(frame_table(failing, title="blocking failures"))


def print_verdict_lines(lines: list[str]) -> None:
    """The closing lines of a judged command (report.ci.verdict_lines), coloured by verdict."""
    for line in lines:
        verdict = line.split(":", 1)[0]
        style = VERDICT_STYLES.get(verdict, "bold yellow") if not line.startswith(" ") else ""
        CONSOLE.print(Text(visible(line), style=style), soft_wrap=True)


def caught_text(caught_by: tuple[str, ...], margins: dict[str, float | None]) -> str:
    """"check ×margin, ..." (the margin: observed ÷ threshold, > 1 past it)."""
    def one(check: str) -> str:
        value = margins.get(check)
        return check if value is None else f"{check} ×{value:.3g}"

    return ", ".join(one(c) for c in caught_by)


def replay_rows(outcomes, nights=None) -> pl.DataFrame:
    """One row per replay (and the nightly sequence): the checks that caught it with their
    margins; controls must block nothing. README's detection table is this frame."""
    rows = [{
        "replay": o.replay.name, "incident": o.replay.incident,
        "caught by (margin)": caught_text(o.caught_by, o.margins)
        or ("—" if o.replay.clean else "NOT CAUGHT"),
        "result": ("ok" if o.ok else "FAIL") + (" (clean control)" if o.replay.clean else ""),
    } for o in outcomes]
    if nights is not None:
        rows.append({
            "replay": "nightly_sequence",
            "incident": "two clean nights, then one regression every engine shares",
            "caught by (margin)": caught_text(nights.caught_by, nights.margins)
            or "NOT CAUGHT",
            "result": ("ok" if nights.ok else "FAIL") + " (night 3, the history check alone)",
        })
    return pl.DataFrame(rows)


def print_replays(outcomes, nights=None) -> None:
    """incident → caught by which check(s), with margins; controls must block nothing."""
    CONSOLE.print(frame_table(replay_rows(outcomes, nights), title="incident replays"))
