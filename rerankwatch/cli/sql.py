"""`rerankwatch sql`: one read-only query over the store, printed or written to CSV / Parquet."""

from __future__ import annotations

import contextlib
import functools
import json
import threading
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from rerankwatch.cli.errors import fail
from rerankwatch.cli.options import StoreConfigOpt, StoreDbOpt, store_db
from rerankwatch.core.errors import (
    ConfigError,
    QueryRefused,
    QueryTimedOut,
    StorageError,
    StoreBusy,
)
from rerankwatch.core.files import atomic_path
from rerankwatch.core.sandbox import read_only_statement
from rerankwatch.core.store_spec import store_exists

OUTPUT_SUFFIXES = (".csv", ".parquet")
MAX_SHOWN = 1000  # a terminal table longer than this helps nobody; --out writes every row
BATCH_ROWS = 65_536  # rows fetched at a time: what is printed or written, never the whole result
BUSY_EXIT = 3  # another process held the store past the wait (docs/commands.md: exit codes)
TIMEOUT_EXIT = 3  # the query ran past --timeout: not judged, as ERROR
DEFAULT_TIMEOUT_S = 300.0


def run_query(db: str | Path, sql: str, wait_s: float = 0.0, on_wait=None, fetch=None,
              as_of: int | str | None = None, timeout_s: float | None = None):
    """Rows of one read-only statement, from the store opened read-only and sandboxed (no
    other files, no extensions, settings locked). While a writer holds the store, wait up to
    ``wait_s`` seconds (``on_wait`` is told when it starts waiting), then raise StoreBusy.

    ``fetch``: instead of every row as one frame, what ``fetch(rows)`` returns, called with the
    store open and the rows as ``Rows`` (Arrow record batches of BATCH_ROWS) that DuckDB
    streams as they are consumed: a result larger than memory is fine.

    ``as_of``: a DuckLake store read as it was at that snapshot id or timestamp.

    ``timeout_s``: interrupt the query (and the fetching of its rows) after that many seconds
    and raise QueryTimedOut; None or 0: no limit."""
    import duckdb

    from rerankwatch.store import open_store

    query = read_only_statement(sql)
    if not store_exists(db):
        raise QueryRefused(f"no such database: {db}")
    try:
        with open_store(db, mode="sandboxed", wait_s=wait_s, on_wait=on_wait,
                        as_of=as_of) as store, _interrupt_after(store.con, timeout_s) as fired:
            try:
                if fetch is None:
                    return store.sql(query)
                return fetch(Rows(store.con.sql(query).to_arrow_reader(BATCH_ROWS)))
            except (duckdb.Error, QueryRefused):
                if fired.is_set():
                    raise QueryTimedOut(f"the query ran past its timeout of {timeout_s:g} s "
                                        f"and was interrupted (--timeout S: a longer one; 0: "
                                        f"none)") from None
                raise
    except duckdb.Error as exc:  # read-only and sandboxed: the second line of defence
        message = str(exc)
        if isinstance(exc, duckdb.CatalogException):
            message += missing_name_hint(message)
        raise QueryRefused(message) from None


@contextlib.contextmanager
def _interrupt_after(con, timeout_s: float | None):
    """Interrupt ``con``'s running query after ``timeout_s`` seconds (a timer thread: DuckDB
    has no statement timeout of its own); yields the Event set when it fired."""
    fired = threading.Event()
    if not timeout_s:
        yield fired
        return

    def fire() -> None:
        fired.set()
        con.interrupt()

    timer = threading.Timer(timeout_s, fire)
    timer.daemon = True
    timer.start()
    try:
        yield fired
    finally:
        timer.cancel()


def missing_name_hint(message: str) -> str:
    """A hint for a table or view the store lacks: one of ours (a store an older rerankwatch
    wrote), or a name rerankwatch never had (then the views it has)."""
    import re

    from rerankwatch.store.store import sql_names

    found = re.search(r"with name (\S+) does not exist", message)
    views = sql_names("views")
    if found is None:
        return ""
    if found[1].strip('"').lower() in views:
        return ("\nhint: a store last written by an older rerankwatch lacks this view; any "
                "scoring command (score, nightly, gate) or `rerankwatch store init` adds it")
    return (f"\nhint: rerankwatch's views are {', '.join(views)} (docs/sql.md, SQL over history); "
            f"select table_name from information_schema.tables lists every table")


def parse_as_of(value: str | None) -> int | str | None:
    """--as-of: a snapshot id (digits), else a timestamp or ``run:RUN``, as given."""
    if value is None or not value.strip():
        return None
    return int(value) if value.strip().isdigit() else value.strip()


class Rows:
    """A query's rows as they stream from DuckDB: ``schema`` and the Arrow record batches. An
    error DuckDB raises while they stream (it reaches Python through Arrow, as an OSError)
    is the query's QueryRefused, not an error of the output file."""

    def __init__(self, reader):
        self.reader, self.schema = reader, reader.schema

    def __iter__(self):
        import pyarrow as pa

        while True:
            try:
                batch = self.reader.read_next_batch()
            except StopIteration:
                return
            except (OSError, pa.ArrowException) as exc:
                raise QueryRefused(str(exc)) from None
            yield batch


def head_and_count(rows: Rows, n: int):
    """(the first ``n`` rows as a polars frame, the number of rows), holding no more than one
    batch beyond those ``n``."""
    import polars as pl
    import pyarrow as pa

    kept, total = [], 0
    for batch in rows:
        if total < n:
            kept.append(batch.slice(0, n - total))
        total += batch.num_rows
    return pl.from_arrow(pa.Table.from_batches(kept, rows.schema)), total


def _json_text(frame):
    """Lists and structs as JSON text (what a CSV can hold)."""
    import polars as pl

    nested = [name for name, dtype in frame.schema.items() if dtype.is_nested()]
    return frame.with_columns(
        pl.Series(name, [None if v is None else json.dumps(v, default=str)
                         for v in frame[name].to_list()], dtype=pl.String)
        for name in nested)


def write_rows(rows: Rows, out: Path) -> int:
    """Write the rows to CSV or Parquet by the suffix, one batch at a time (lists and structs
    become JSON text in a CSV); returns their number. Written to a temporary file next to
    ``out`` and renamed when complete, so a failed query leaves no partial file."""
    import polars as pl
    import pyarrow.parquet as pq

    count = 0
    with atomic_path(out) as partial:
        if out.suffix.lower() == ".parquet":
            with pq.ParquetWriter(partial, rows.schema, compression="zstd") as writer:
                for batch in rows:
                    writer.write_batch(batch)
                    count += batch.num_rows
        else:
            with partial.open("wb") as sink:
                header = rows.schema.empty_table()  # the header line, even for no rows
                _json_text(pl.from_arrow(header)).write_csv(sink)
                for batch in rows:
                    _json_text(pl.from_arrow(batch)).write_csv(sink, include_header=False)
                    count += batch.num_rows
    return count


def note_wait(message: str) -> None:
    """A reader's note on stderr that it waits for the process holding the store."""
    typer.secho(f"note: {message}", fg=typer.colors.YELLOW, err=True)


def fail_busy(exc: StoreBusy, hint: bool = True) -> NoReturn:
    """Exit BUSY_EXIT naming the process that held the store."""
    from rerankwatch.store import LOCK_WAIT_ENV

    more = f"; try again when it is done, or set {LOCK_WAIT_ENV} to wait longer" if hint else ""
    fail(f"{exc}{more}", BUSY_EXIT, raw=True)


def sql(
    query: Annotated[str | None, typer.Argument(
        help="One SELECT statement, e.g. \"select * from upgrade_decisions\".")] = None,
    db: StoreDbOpt = None,
    config: StoreConfigOpt = None,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="A DuckLake store as it was: a snapshot id (an integer; list them: "
                        "select * from ducklake_snapshots('lake')), a timestamp "
                        "(2026-12-01 08:00:00+00), or run:RUN (as that run's finish left it).")
    ] = None,
    out: Annotated[Path | None, typer.Option(
        help="Write every row to FILE.csv or FILE.parquet instead of printing a table.")] = None,
    file: Annotated[Path | None, typer.Option(
        "--file", help="Read the query from a .sql file instead of the argument.")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace an existing --out file.")] = False,
    timeout: Annotated[float, typer.Option(
        "--timeout", min=0, help="Seconds the query (and writing its rows) may run before it "
                                 "is interrupted (exit 3); 0: no limit.")] = DEFAULT_TIMEOUT_S,
) -> None:
    """Run one read-only SELECT over the store's history (views: docs/sql.md, SQL over history)."""
    if (query is None) == (file is None):
        fail("give exactly one of a query or --file PATH.sql", 2)
    if out is not None and out.suffix.lower() not in OUTPUT_SUFFIXES:
        fail(f"--out must end in {' or '.join(OUTPUT_SUFFIXES)}: {out}", 2)
    if out is not None and out.exists() and not force:
        fail(f"{out} exists; pass --force to replace it", 2)
    if file is not None:
        if not file.is_file():
            fail(f"no such SQL file: {file}", 2)
        query = file.read_text(encoding="utf-8")
    from rerankwatch.store import reader_wait_s

    # only the printed rows are kept (the rest are counted), or every row streams to --out
    if out is not None:
        fetch = functools.partial(write_rows, out=out)
    else:
        fetch = functools.partial(head_and_count, n=MAX_SHOWN)
    try:
        fetched = run_query(store_db(db, config), query, reader_wait_s(), note_wait, fetch=fetch,
                            as_of=parse_as_of(as_of), timeout_s=timeout)
    except StoreBusy as exc:
        fail_busy(exc)
    except QueryTimedOut as exc:
        fail(str(exc), TIMEOUT_EXIT)
    except (QueryRefused, ConfigError, StorageError) as exc:
        fail(str(exc), 2)
    except OSError as exc:  # the output file's (a query's own errors are QueryRefused)
        if out is None:
            raise
        fail(f"cannot write {out}: {exc}", 1, raw=True)
    if out is not None:
        typer.echo(f"wrote {fetched} rows to {out}")
        return
    from rerankwatch.report import terminal as views

    frame, total = fetched
    views.CONSOLE.print(views.frame_table(frame))
    shown = f"the first {MAX_SHOWN} of " if total > MAX_SHOWN else ""
    more = "; --out FILE.csv writes them all" if shown else ""
    views.CONSOLE.print(f"{shown}{total} rows{more}", style="dim")
