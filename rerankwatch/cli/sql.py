"""`rerankwatch sql`: one read-only query over the store, printed or written to CSV / Parquet."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from rerankwatch.core.errors import QueryRefused

READ_STATEMENTS = ("SELECT", "EXPLAIN")
OUTPUT_SUFFIXES = (".csv", ".parquet")
MAX_SHOWN = 1000  # a terminal table longer than this helps nobody; --out writes every row


def read_only_statement(sql: str) -> str:
    """The query, if it is exactly one SELECT (or EXPLAIN) statement; else QueryRefused."""
    import duckdb

    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryRefused(f"invalid SQL: {exc}") from None
    if not statements:
        raise QueryRefused("no SQL statement given")
    if len(statements) > 1:
        raise QueryRefused(f"only SELECT statements, one at a time: got {len(statements)} "
                           f"statements (the store is opened read-only)")
    kind = statements[0].type.name
    if kind not in READ_STATEMENTS:
        raise QueryRefused(f"only SELECT statements are allowed, got {kind} (the store is "
                           f"opened read-only)")
    return sql


def run_query(db: str | Path, sql: str):
    """Rows of one read-only statement, from the store opened read-only and sandboxed (no
    other files, no extensions, settings locked)."""
    import duckdb

    from rerankwatch.store import open_store

    query = read_only_statement(sql)
    if not Path(db).is_file():
        raise QueryRefused(f"no such database: {db}")
    try:
        with open_store(db, mode="sandboxed") as store:
            return store.sql(query)
    except duckdb.Error as exc:  # read-only and sandboxed: the second line of defence
        message = str(exc)
        if isinstance(exc, duckdb.CatalogException):
            message += ("\nhint: a store last written by an older rerankwatch lacks the newer "
                        "views; any scoring command (score, nightly, gate) adds them")
        raise QueryRefused(message) from None


def write_frame(frame, out: Path) -> None:
    """CSV or Parquet by the suffix; lists and structs become JSON text in a CSV."""
    import polars as pl

    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".parquet":
        frame.write_parquet(out)
        return
    nested = [name for name, dtype in frame.schema.items() if dtype.is_nested()]
    frame.with_columns(
        pl.Series(name, [None if v is None else json.dumps(v, default=str)
                         for v in frame[name].to_list()], dtype=pl.String)
        for name in nested
    ).write_csv(out)


def _refuse(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def sql(
    query: Annotated[str | None, typer.Argument(
        help="One SELECT statement, e.g. \"select * from upgrade_decisions\".")] = None,
    db: Annotated[Path, typer.Option(help="DuckDB file, opened read-only.")] = Path(
        "rerankwatch.duckdb"),
    out: Annotated[Path | None, typer.Option(
        help="Write every row to FILE.csv or FILE.parquet instead of printing a table.")] = None,
    file: Annotated[Path | None, typer.Option(
        "--file", help="Read the query from a .sql file instead of the argument.")] = None,
) -> None:
    """Run one read-only SELECT over the store's history (views: see README, SQL over history)."""
    if (query is None) == (file is None):
        _refuse("give exactly one of a query or --file PATH.sql")
    if out is not None and out.suffix.lower() not in OUTPUT_SUFFIXES:
        _refuse(f"--out must end in {' or '.join(OUTPUT_SUFFIXES)}: {out}")
    if file is not None:
        if not file.is_file():
            _refuse(f"no such SQL file: {file}")
        query = file.read_text(encoding="utf-8")
    try:
        frame = run_query(db, query)
    except QueryRefused as exc:
        _refuse(str(exc))
    if out is not None:
        try:
            write_frame(frame, out)
        except OSError as exc:
            typer.secho(f"error: cannot write {out}: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from None
        typer.echo(f"wrote {frame.height} rows to {out}")
        return
    from rerankwatch.report import terminal as views

    views.CONSOLE.print(views.frame_table(frame.head(MAX_SHOWN)))
    shown = f"the first {MAX_SHOWN} of " if frame.height > MAX_SHOWN else ""
    more = "; --out FILE.csv writes them all" if shown else ""
    views.CONSOLE.print(f"{shown}{frame.height} rows{more}", style="dim")
