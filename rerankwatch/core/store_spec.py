"""What a ``db`` may be: a DuckDB file (the embedded default) or a DuckLake spec.

    ducklake:sqlite:<path>             one host: the catalog is a SQLite file
    ducklake:postgres:<libpq conninfo> a team: the catalog is a PostgreSQL database, e.g.
                                       ducklake:postgres:dbname=rerankwatch host=db.internal

A lake keeps its data (Parquet) under its ``data_path`` (a local path or ``s3://bucket/prefix``),
given once, when the lake is created (config ``data_path``, ``--data-path`` or
``$RERANKWATCH_DATA_PATH``); DuckLake remembers it in its catalog. Passwords and keys never
appear in a spec: PostgreSQL's come from ``PGPASSWORD`` / ``~/.pgpass``, S3's from the
environment (as for ``shards_url``), so a spec can be stored with a run, logged and shown.

Everything local to a lake (score shards waiting for their ingest, HTML reports) lives in
``$RERANKWATCH_HOME/lakes/<name>-<hash>/``, as it lives next to a DuckDB file.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from rerankwatch.core.errors import StoreSpecError
from rerankwatch.core.home import home_dir
from rerankwatch.core.redact import MASK, redact_text

LAKE_PREFIX = "ducklake:"
CATALOGS = ("sqlite", "postgres")
DATA_PATH_ENV = "RERANKWATCH_DATA_PATH"
SECRET_KEYS = re.compile(r"(?:^|\s)(password|passfile|sslpassword)\s*=", re.IGNORECASE)
SECRET_VALUES = re.compile(r"(?P<key>(?:^|[\s:])(?:password|passfile|sslpassword)\s*=\s*)"
                           r"(?:'(?:[^'\\]|\\.)*'|\S*)", re.IGNORECASE)


def is_lake(db: str | Path | None) -> bool:
    """True for a DuckLake spec (``ducklake:...``, also when wrapped in a Path), False for a
    DuckDB file."""
    return db is not None and str(db).startswith(LAKE_PREFIX)


def check_lake(spec: str) -> tuple[str, str]:
    """(catalog, target) of a DuckLake spec; StoreSpecError (a ValueError) naming what is
    wrong, never repeating the spec (it may hold a secret)."""
    catalog, _, target = spec.removeprefix(LAKE_PREFIX).partition(":")
    if catalog not in CATALOGS or not target.strip():
        raise StoreSpecError(f"a DuckLake store is ducklake:sqlite:<path> or "
                             f"ducklake:postgres:<conninfo>; got catalog {catalog[:20]!r}"
                             + ("" if target.strip() else " and nothing after it"))
    if catalog == "postgres" and SECRET_KEYS.search(target):
        raise StoreSpecError("the PostgreSQL conninfo holds a password: give it in PGPASSWORD "
                             "or ~/.pgpass, never in the db setting (it is stored with each "
                             "run)")
    if catalog == "postgres" and "://" in target:
        raise StoreSpecError("give the PostgreSQL catalog as key=value conninfo "
                             "(dbname=... host=... user=...), not as a URL")
    return catalog, target.strip()


def shown_db(db: str | Path) -> str:
    """A db as it may be printed: a conninfo's password (which check_lake refuses anyway) and
    a URL's credentials masked."""
    return redact_text(SECRET_VALUES.sub(lambda m: f"{m['key']}{MASK}", str(db)))


def store_exists(db: str | Path) -> bool:
    """A DuckDB file that exists, or a lake (whether its catalog exists is for DuckLake to
    say when it is attached)."""
    if is_lake(db):
        catalog, target = check_lake(str(db))
        return catalog == "postgres" or Path(target).expanduser().is_file()
    return Path(db).is_file()


def local_dir(db: str | Path) -> Path:
    """The folder for what belongs to a store on this host: the DuckDB file's folder, or
    ``$RERANKWATCH_HOME/lakes/<name>-<hash>`` for a lake."""
    if not is_lake(db):
        return Path(db).parent
    catalog, target = check_lake(str(db))
    digest = hashlib.sha256(str(db).encode()).hexdigest()[:10]
    name = Path(target).stem if catalog == "sqlite" else "postgres"
    return home_dir() / "lakes" / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}-{digest}"


def shard_dir(db: str | Path) -> Path:
    """Where a store's score shards wait for their ingest: ``<db>.shards`` next to a DuckDB
    file, ``<local_dir>/shards`` for a lake."""
    if is_lake(db):
        return local_dir(db) / "shards"
    path = Path(db)
    return path.with_name(path.name + ".shards")
