"""A DuckLake store: DuckDB attached to a DuckLake catalog (SQLite or PostgreSQL), its data as
Parquet under the lake's data path (a local path or ``s3://``).

DuckDB extensions cannot be downloaded on every host (nor on ours), so the four this needs
are loaded by path from their PyPI packages (``duckdb-extension-ducklake``, ``-sqlite-scanner``,
``-postgres-scanner``, ``-httpfs``). Those packages ship builds for one DuckDB version, which
is why pyproject pins ``duckdb`` to it (docs/team-store.md).

Secrets stay out of the spec: PostgreSQL reads ``PGPASSWORD`` / ``~/.pgpass`` itself; S3 keys
and endpoint come from the environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_SESSION_TOKEN``, ``AWS_REGION``, ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``) into a
temporary DuckDB secret that lives as long as the connection and is never logged.
"""

from __future__ import annotations

import importlib.util
import os
import re
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import duckdb

from rerankwatch.core import sandbox
from rerankwatch.core.errors import StorageError, StoreMissing
from rerankwatch.core.settings import settings
from rerankwatch.core.store_spec import check_lake, shown_db

ALIAS = "lake"  # the attached catalog; `use lake` makes every sql/ file run unchanged
RUN_PREFIX = "run:"  # --as-of run:RUN: the lake as that run's finish left it
SCANNER = {"sqlite": "sqlite_scanner", "postgres": "postgres_scanner"}
# DuckLake retries a commit that does not conflict by itself; these make it patient with a
# busy catalog (defaults: 10 tries, 100 ms, x1.5)
RETRY_SETTINGS = {"ducklake_max_retry_count": 30, "ducklake_retry_wait_ms": 50,
                  "ducklake_retry_backoff": 1.5}
NOT_CREATED = re.compile(r"creating a new DuckLake is explicitly disabled", re.IGNORECASE)
CONFLICT = re.compile(r"conflict|database is locked|could not serialize|deadlock|"
                      r"Duplicate key .*snapshot", re.IGNORECASE)


def extension_path(name: str) -> str:
    """The extension file the PyPI package ``duckdb-extension-<name>`` ships for this DuckDB."""
    package = f"duckdb_extension_{name}"
    spec = importlib.util.find_spec(package)
    wanted = f"v{duckdb.__version__}"
    if spec is None or not spec.submodule_search_locations:
        raise StorageError(f"a DuckLake store needs the package duckdb-extension-"
                           f"{name.replace('_', '-')}=={duckdb.__version__} (pip install it)")
    root = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(root.rglob(f"{name}.duckdb_extension"))
    for path in found:
        if path.parent.name == wanted:
            return str(path)
    have = ", ".join(p.parent.name for p in found) or "none"
    raise StorageError(f"duckdb-extension-{name.replace('_', '-')} ships builds for {have}, "
                       f"not DuckDB {duckdb.__version__}: install the matching version")


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _s3_secret(con: duckdb.DuckDBPyConnection) -> None:
    """A temporary S3 secret from the environment (nothing when no key is set)."""
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not (key and secret):
        return
    fields = {"TYPE": "s3", "KEY_ID": key, "SECRET": secret,
              "REGION": os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
              or "us-east-1"}
    if os.environ.get("AWS_SESSION_TOKEN"):
        fields["SESSION_TOKEN"] = os.environ["AWS_SESSION_TOKEN"]
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        fields |= {"ENDPOINT": parts.netloc, "URL_STYLE": "path",
                   "USE_SSL": "true" if parts.scheme == "https" else "false"}
    body = ", ".join(f"{k} {v if k in ('TYPE', 'USE_SSL') else _literal(v)}"
                     for k, v in fields.items())
    # the one statement built here: secret values cannot be bound as parameters
    con.execute(f"create or replace temporary secret rerankwatch_s3 ({body})")


def connect(spec: str, *, read_only: bool = False, data_path: str | None = None,
            snapshot: int | str | None = None, sandboxed: bool = False
            ) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the lake attached as ``lake`` and in use.

    ``data_path``: where a new lake keeps its data (else ``$RERANKWATCH_DATA_PATH``; an existing
    lake remembers its own). ``snapshot``: read the lake as of a snapshot id (int) or a
    timestamp (str), read-only. ``sandboxed``: after attaching, no file access beyond the lake
    and settings locked (for queries people type)."""
    catalog, target = check_lake(spec)
    read_only = read_only or snapshot is not None
    if catalog == "sqlite" and read_only and not Path(target).expanduser().is_file():
        raise StoreMissing(missing(spec))
    con = duckdb.connect(config={"autoinstall_known_extensions": False,
                                 "autoload_known_extensions": False})
    try:
        for name in ("ducklake", SCANNER[catalog], "httpfs"):
            con.execute(f"load {_literal(extension_path(name))}")
        _s3_secret(con)
        data_path = data_path or settings().data_path
        options = []
        if catalog == "sqlite":
            Path(target).expanduser().parent.mkdir(parents=True, exist_ok=True)
            target = str(Path(target).expanduser().resolve())
            if not Path(target).exists() and not data_path:
                data_path = f"{target}.files"  # a new one-host lake: its data beside it
        if data_path:
            if "://" not in data_path:
                data_path = str(Path(data_path).expanduser().resolve())
                Path(data_path).mkdir(parents=True, exist_ok=True)
            options.append(f"data_path {_literal(data_path.rstrip('/') + '/')}")
        if read_only:
            options.append("read_only")
        attach = _literal(f"ducklake:{catalog}:{target}")
        if isinstance(snapshot, str) and snapshot.startswith(RUN_PREFIX):
            con.execute(f"attach {attach} as {ALIAS} ({', '.join(options)})")
            snapshot = run_snapshot(con, snapshot.removeprefix(RUN_PREFIX))
            con.execute(f"detach {ALIAS}")
        if isinstance(snapshot, int):
            options.append(f"snapshot_version {int(snapshot)}")
        elif snapshot is not None:
            options.append(f"snapshot_time {_literal(snapshot)}")
        con.execute(f"attach {attach} as {ALIAS}"
                    + (f" ({', '.join(options)})" if options else ""))
        con.execute(f"use {ALIAS}")
        for setting, value in RETRY_SETTINGS.items():
            con.execute(f"set {setting} = {value}")
        if sandboxed:  # the lake's own data files stay readable, nothing else
            data_dir = con.sql(_query("q_lake_data_path")).fetchone()[0]
            sandbox.lock_down(con, [data_dir])
    except duckdb.Error as exc:
        con.close()
        if NOT_CREATED.search(str(exc)):
            raise StoreMissing(missing(spec)) from None
        raise StorageError(f"cannot open the DuckLake store {spec}: {first_line(exc)}") from None
    except StorageError:
        con.close()
        raise
    return con


def missing(spec: str) -> str:
    """Why a lake cannot be read yet, and what creates it."""
    return (f"the DuckLake store {shown_db(spec)} does not exist yet: create it with "
            f"rerankwatch store init --db '{shown_db(spec)}' [--data-path ...] (a first "
            f"nightly also creates it)")


def _query(name: str) -> str:
    return resources.files("rerankwatch.sql").joinpath("queries", f"{name}.sql").read_text(
        encoding="utf-8")


def run_snapshot(con: duckdb.DuckDBPyConnection, run_id: str) -> int:
    """The snapshot the lake was in when ``run_id`` finished: the one its finish_run step
    committed (the commit messages of store/store.py); StorageError when none is kept."""
    found = con.execute(_query("q_run_snapshot"), {"run_id": run_id}).fetchone()[0]
    if found is None:
        raise StorageError(
            f"no snapshot of this lake records the finish of run {run_id!r}: it has not "
            f"finished, it finished before rerankwatch named its commits, or `rerankwatch "
            f"store maintain` expired it; list the snapshots with rerankwatch sql "
            f"\"select * from snapshots()\" and use --as-of SNAPSHOT_ID")
    return int(found)


def first_line(exc: BaseException) -> str:
    return " ".join(str(exc).split("\n")[:2]).strip()


def is_conflict(exc: BaseException) -> bool:
    """A commit another writer won (DuckLake's conflict, a busy SQLite catalog): retry it."""
    return isinstance(exc, duckdb.Error) and bool(CONFLICT.search(str(exc)))
