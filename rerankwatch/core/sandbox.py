"""The one sandbox for SQL that people type: `rerankwatch sql` over the store (a DuckDB file or
a DuckLake) and `rerankwatch samples import sql` over a source file.

Two layers, both needed:

1. ``read_only_statement``: exactly one SELECT (or EXPLAIN of one), whose table functions are
   all on ``TABLE_FUNCTIONS``. It reads DuckDB's own parse tree (``json_serialize_sql``), not
   the text. The allowlist exists because DuckDB's settings do not reach every reader: the
   SQLite and PostgreSQL scanners open files and servers through their own clients, not
   DuckDB's file system, so ``sqlite_scan('/any/file.sqlite', …)`` ignores
   ``enable_external_access``; ``query()`` and ``json_execute_serialized_sql`` would run SQL
   this check never saw.
2. The connection (``connect`` / ``lock_down``): read-only, ``enable_external_access = false``
   (no COPY, ATTACH, INSTALL/LOAD; DuckDB's own file readers such as ``read_csv`` and
   ``read_parquet`` see only ``allowed_directories``), no extension autoloading, settings
   locked. It refuses whatever got past the first layer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator

from rerankwatch.core.errors import QueryRefused

READ_STATEMENTS = ("SELECT", "EXPLAIN")
SETTINGS = {"enable_external_access": False, "autoinstall_known_extensions": False,
            "autoload_known_extensions": False, "lock_configuration": True}
# Table functions a query may call. DuckDB's own file readers are here because the connection
# confines them to the allowed directories (none, or a lake's data path); every scanner an
# extension brings (sqlite_*, postgres_*, the ducklake functions that write) is not.
TABLE_FUNCTIONS = frozenset({
    # rows made up from arguments
    "range", "generate_series", "unnest", "repeat", "repeat_row", "json_each", "json_tree",
    # the catalog
    "duckdb_columns", "duckdb_constraints", "duckdb_databases", "duckdb_dependencies",
    "duckdb_functions", "duckdb_indexes", "duckdb_keywords", "duckdb_schemas",
    "duckdb_sequences", "duckdb_settings", "duckdb_tables", "duckdb_types", "duckdb_views",
    "pragma_table_info", "pragma_version",
    # a lake's history, read-only
    "ducklake_snapshots", "ducklake_current_snapshot", "ducklake_last_committed_snapshot",
    "ducklake_table_info", "ducklake_table_insertions", "ducklake_table_deletions",
    "ducklake_table_changes", "ducklake_list_files", "ducklake_options", "ducklake_settings",
    # files, as far as enable_external_access and allowed_directories let them
    "read_parquet", "parquet_scan", "parquet_metadata", "parquet_schema", "read_csv",
    "read_csv_auto", "read_json", "read_json_auto", "read_ndjson", "read_text", "read_blob",
    "glob",
})
EXPLAIN = re.compile(r"^\s*explain(\s+analyze)?\s+", re.IGNORECASE)


def read_only_statement(sql: str) -> str:
    """The query, if it is exactly one SELECT (or EXPLAIN) that calls only allowed table
    functions; else QueryRefused saying why."""
    import duckdb

    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryRefused(f"invalid SQL: {first_line(exc)}") from None
    if not statements:
        raise QueryRefused("no SQL statement given")
    if len(statements) > 1:
        raise QueryRefused(f"only SELECT statements, one at a time: got {len(statements)} "
                           f"statements (queries run read-only)")
    kind = statements[0].type.name
    if kind not in READ_STATEMENTS:
        raise QueryRefused(f"only SELECT statements are allowed, got {kind} (queries run "
                           f"read-only)")
    select = EXPLAIN.sub("", sql, count=1) if kind == "EXPLAIN" else sql
    refused = sorted(set(table_functions(select)) - TABLE_FUNCTIONS)
    if refused:
        raise QueryRefused(f"table function {', '.join(refused)} is not allowed here (the "
                           f"sandbox reads the store or the given source, nothing else)")
    return sql


def table_functions(select: str) -> Iterator[str]:
    """The table functions a SELECT calls, at any depth (lowercased); QueryRefused when
    DuckDB cannot serialize it (then it is no plain SELECT)."""
    import duckdb

    with duckdb.connect(config=SETTINGS) as con:
        tree = json.loads(con.execute("select json_serialize_sql($q)", {"q": select})
                          .fetchone()[0])
    if tree.get("error"):
        raise QueryRefused(f"only a plain SELECT is allowed: {tree.get('error_message')}")
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("type") == "TABLE_FUNCTION":
                yield str((node.get("function") or {}).get("function_name", "")).lower()
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def connect(path: str | None = None):
    """A sandboxed DuckDB connection: the file at ``path`` read-only, or in memory."""
    import duckdb

    if path is None:
        return duckdb.connect(config=SETTINGS)
    return duckdb.connect(path, read_only=True, config=SETTINGS)


def lock_down(con, directories: Iterable[str] = ()) -> None:
    """Sandbox a connection that had to load extensions and attach first (a lake): from now
    on no files but those under ``directories``, no extensions, settings locked."""
    con.execute("set allowed_directories = $dirs", {"dirs": list(directories)})
    for setting, value in SETTINGS.items():
        if setting != "lock_configuration":
            con.execute(f"set {setting} = {'true' if value else 'false'}")
    con.execute("set lock_configuration = true")  # last: it freezes the others


def first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
