"""`rerankwatch store copy`: move a DuckDB file's history into another store (a DuckLake
store, typically), in one transaction, then check every table row by row."""

from __future__ import annotations

import re
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from rerankwatch.core.errors import StorageError
from rerankwatch.core.store_spec import is_lake
from rerankwatch.store.store import is_locked, open_store, sql_names, sql_text

# the store's own bookkeeping: the target keeps its own write turn and migration record
NOT_COPIED = frozenset({"store_writes", "store_migrations"})


def history_tables() -> list[str]:
    """The tables the migrations create, in migration order, less the bookkeeping ones."""
    names: list[str] = []
    for name in sql_names("schema"):
        for table in re.findall(r"create table if not exists (\w+)", sql_text("schema", name)):
            if table not in NOT_COPIED and table not in names:
                names.append(table)
    return names


@dataclass(frozen=True, slots=True)
class TableCopy:
    table: str
    rows: int


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class _Terminated(Exception):
    """SIGTERM arrived during a copy."""


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """SIGTERM (`kill`, `docker stop`) raises _Terminated instead of ending the process where
    it stands, so the copy's transaction rolls back and DuckLake deletes the Parquet files it
    wrote. Python runs the handler once the statement under way returns. SIGKILL cannot be
    caught: the next copy deletes what it left (copy_store)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread
        return

    def terminated(_signum, _frame):
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def copy_store(source: str | Path, target: str, data_path: str | None = None,
               progress: Callable[[str], object] | None = None) -> list[TableCopy]:
    """Copy every history table of the DuckDB file ``source`` into the store ``target`` (which
    must hold no run yet), all in one transaction, then compare each table row by row; any
    difference rolls everything back and raises StorageError. Returns what was copied.

    A failed, interrupted (Ctrl-C) or terminated (SIGTERM) copy rolls back, and DuckLake
    deletes the Parquet files it wrote. A killed one (SIGKILL, out of memory, power loss)
    leaves them in the lake's data path, listed by no snapshot: a copy first deletes such
    files of a lake that holds no run, and says so."""
    source = Path(source).expanduser()
    if is_lake(str(source)) or not source.is_file():
        raise StorageError(f"--from must be an existing DuckDB file, got {source}")
    tell = progress or (lambda _message: None)
    try:
        with _sigterm_raises():
            return _copy(source, target, data_path, tell)
    except _Terminated:
        raise StorageError("store copy interrupted by SIGTERM: rolled back, nothing "
                           "copied") from None


def _copy(source: Path, target: str, data_path: str | None,
          tell: Callable[[str], object]) -> list[TableCopy]:
    with open_store(target, data_path=data_path) as store:
        if store.query("q_run_count")["n"][0]:
            raise StorageError(f"{target} already holds runs: copy into an empty store")
        if store.lake:  # a run-less lake: any file its catalog does not list is a killed copy's
            orphans = store.execute("delete_orphaned_files").fetchall()
            if orphans:
                tell(f"deleted {len(orphans)} Parquet file(s) that no snapshot of {target} "
                     f"lists (left by an interrupted copy)")
        try:
            store.con.execute(f"attach {_quoted(str(source.resolve()))} as src (read_only)")
        except duckdb.Error as exc:
            if is_locked(exc):
                raise StorageError(f"{source} is held by another process: stop it (or wait) "
                                   f"and copy again") from None
            raise StorageError(f"cannot open {source}: {exc}") from None
        try:
            present = set(store.query("q_attached_tables", database="src")["table_name"])
            tables = [t for t in history_tables() if t in present]
            copied: list[TableCopy] = []
            with store.transaction(step="store_copy"):
                for table in tables:
                    store.con.execute(_named(sql_text("statements", "copy_table"), table))
                    check = _compare(store, table)
                    if check["missing"] or check["extra"] or (
                            check["source_rows"] != check["target_rows"]):
                        raise StorageError(
                            f"table {table}: {check['missing']} row(s) of {source} did not "
                            f"arrive and {check['extra']} differ in {target}: nothing copied")
                    copied.append(TableCopy(table, check["source_rows"]))
                    tell(f"{table}: {check['source_rows']} rows copied, checked row by row")
        finally:
            store.con.execute("detach src")  # (ATTACH/DETACH: the path cannot be a parameter)
    return copied


def _compare(store, table: str) -> dict:
    """Row-by-row comparison of the source's table with the target's, over the source's
    columns (a newer target may have more, filled with their defaults)."""
    columns = store.query("q_table_columns", database="src", table=table)["column_name"]
    listed = ", ".join(f'"{c}"' for c in columns)
    query = _named(sql_text("queries", "q_copy_mismatch"), table, listed)
    return store.sql(query).row(0, named=True)


def _named(template: str, table: str, columns: str = "*") -> str:
    """A copy statement for one table: its name (from history_tables(), never from input)
    where copied_table stands, the columns compared where copied_columns stands."""
    if table not in history_tables():
        raise ValueError(f"not a history table: {table!r}")
    return re.sub(r"\bcopied_columns\b", columns,
                  re.sub(r"\bcopied_table\b", f'"{table}"', template))
