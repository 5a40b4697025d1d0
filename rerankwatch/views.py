"""Terminal views of stored results (compute lives elsewhere; these only format)."""

from __future__ import annotations

import polars as pl
from rich.console import Console
from rich.table import Table

CONSOLE = Console()


def _fmt(value, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) < 1e4 else f"{value:.3g}"
    return str(value)


def frame_table(frame: pl.DataFrame, title: str | None = None) -> Table:
    """A rich table of any polars frame."""
    table = Table(title=title, header_style="bold")
    for column in frame.columns:
        table.add_column(column, overflow="fold")
    for row in frame.iter_rows():
        table.add_row(*(_fmt(v) for v in row))
    return table


def print_run_summary(run_id: str, reference: str, summary: pl.DataFrame) -> None:
    """Per-engine summary: pairs, mean score, mean |Δ| vs the reference, pairs/s."""
    shown = summary.rename({"mean_abs_delta": f"mean |Δ| vs {reference}", "pairs_per_s": "pairs/s"})
    if shown["error"].is_null().all():
        shown = shown.drop("error")
    CONSOLE.print(frame_table(shown, title=f"run {run_id}"))
