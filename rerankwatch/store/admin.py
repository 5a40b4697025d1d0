"""Setting up and looking after a store: `rerankwatch store init`, `check` and `maintain`.

Each returns a result object; the CLI (cli/store.py) prints it. Nothing here prints, and no
secret value is read into a result: environment variables are named, never shown.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import duckdb

from rerankwatch.core.errors import ConfigError, StorageError, StoreMissing
from rerankwatch.core.settings import settings
from rerankwatch.core.store_spec import DATA_PATH_ENV, check_lake, is_lake, shown_db
from rerankwatch.store import lake, shared
from rerankwatch.store.store import Store, create_store, open_store, schema_digest

S3_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
S3_OPTIONAL = ("AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL_S3",
               "AWS_ENDPOINT_URL")
DEFAULT_RETENTION = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class InitReport:
    """What `store init` found or did, and the environment a worker and a teammate need."""

    db: str
    created: bool
    data_path: str | None
    bucket_created: str | None  # the bucket init created (None: it existed, or no S3)
    env: list[str]  # variable names; RERANKWATCH_DB first


@dataclass(frozen=True, slots=True)
class Finding:
    """One line of `store check`: ok, or what is wrong and the fix."""

    what: str
    ok: bool
    detail: str
    fix: str | None = None


@dataclass(frozen=True, slots=True)
class MaintainReport:
    """What `store maintain` did to a lake."""

    expired: list[int] = field(default_factory=list)
    merged_files: int = 0  # data files merged into bigger ones
    deleted_files: int = 0  # files no kept snapshot reads any more, removed
    kept: int = 0
    oldest_kept: tuple[int, datetime] | None = None
    cutoff: datetime | None = None


def worker_env(db: str | Path, data_path: str | None) -> list[str]:
    """The environment variables a worker and a teammate need for this store (names)."""
    names = ["RERANKWATCH_DB"]
    if is_lake(db) and check_lake(str(db))[0] == "postgres":
        names.append("PGPASSWORD")
    if data_path and data_path.startswith("s3://"):
        names += [*S3_KEYS, "AWS_REGION"]
        names += [n for n in ("AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
                  if os.environ.get(n)]
    return names


def probe_data_path(url: str, create_bucket: bool = False) -> str | None:
    """Write, read back and delete a small object under ``url`` (a path or s3://bucket/prefix).
    With ``create_bucket``, a missing bucket is created; the bucket it created, if any.
    StorageError naming exactly what to create or fix."""
    fs, base = shared.filesystem(url, create_buckets=create_bucket)
    created = None
    if url.startswith("s3://"):
        bucket = urlsplit(url).netloc
        try:
            info = fs.get_file_info(bucket)
        except OSError as exc:
            raise StorageError(f"cannot reach the bucket {bucket} of {url}: {_why(exc)}; check "
                               f"the endpoint (AWS_ENDPOINT_URL_S3) and the credentials "
                               f"(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)") from None
        if info.type.name == "NotFound":
            if not create_bucket:
                raise StorageError(f"the bucket {bucket} does not exist: `rerankwatch store "
                                   f"init` creates it, or create it yourself (aws s3 mb "
                                   f"s3://{bucket})")
            try:
                fs.create_dir(bucket)
            except OSError as exc:
                raise StorageError(
                    f"the bucket {bucket} does not exist and these credentials cannot create "
                    f"it ({_why(exc)}): create the bucket {bucket} (aws s3 mb s3://{bucket}, "
                    f"in the region of AWS_REGION) and give the worker's credentials read, "
                    f"write and delete on s3://{bucket}/{urlsplit(url).path.strip('/')}") from None
            created = bucket
    else:
        try:
            Path(base).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the data folder {base}: {_why(exc)}") from None
    probe = f"{base}/.rerankwatch-probe-{uuid.uuid4().hex[:12]}"
    try:
        with fs.open_output_stream(probe) as out:
            out.write(b"rerankwatch")
        with fs.open_input_stream(probe) as back:
            if back.read() != b"rerankwatch":
                raise OSError("read back something else")
        fs.delete_file(probe)
    except OSError as exc:
        raise StorageError(f"the data path {url} is not readable and writable with these "
                           f"credentials ({_why(exc)}): give them read, write and delete "
                           f"there") from None
    return created


def _why(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]


def lake_exists(spec: str) -> bool:
    """Whether the lake's catalog holds a lake (StorageError: the catalog is unreachable)."""
    try:
        lake.connect(spec, read_only=True).close()
    except StoreMissing:
        return False
    return True


def lake_data_path(spec: str) -> str:
    """The data path an existing lake records in its catalog."""
    with Store(spec, read_only=True) as store:
        return str(store.query("q_lake_data_path")["data_path"][0])


def init_store(db: str | Path, data_path: str | None = None) -> InitReport:
    """Create the store (a lake: its catalog, its data path checked writable, the bucket made
    where the credentials allow), migrated; a store that exists is left as it is."""
    if not is_lake(db):
        created = create_store(db)
        with open_store(db):  # migrates a store an older rerankwatch created
            pass
        return InitReport(str(db), created, None, None, worker_env(db, None))
    spec = str(db)
    catalog, target = check_lake(spec)
    if lake_exists(spec):
        found = lake_data_path(spec)
        probe_data_path(found)
        with open_store(spec):  # migrates, if these sql/ files are newer
            pass
        return InitReport(spec, False, found, None, worker_env(spec, found))
    data_path = data_path or settings().data_path
    if data_path is None and catalog == "postgres":
        raise ConfigError("a new PostgreSQL-catalogued lake needs a data path: --data-path "
                           "s3://bucket/prefix (or a shared folder), the config's data_path "
                           f"or ${DATA_PATH_ENV}")
    if data_path is None:
        data_path = str(Path(target).expanduser().resolve()) + ".files"
    bucket = probe_data_path(data_path, create_bucket=True)
    with open_store(spec, data_path=data_path):
        pass
    return InitReport(spec, True, data_path, bucket, worker_env(spec, data_path))


def check_store(db: str | Path) -> list[Finding]:
    """One finding per thing a store needs: the versions, the catalog, the credentials, the
    data path, the schema. Never raises for what it finds (a bad spec raises StoreSpecError)."""
    found: list[Finding] = []
    if not is_lake(db):
        return _check_file(Path(db))
    spec = str(db)
    catalog, _ = check_lake(spec)
    try:
        names = ("ducklake", lake.SCANNER[catalog], "httpfs")
        paths = [lake.extension_path(n) for n in names]
        found.append(Finding("versions", True, f"duckdb {duckdb.__version__}, extensions "
                             + ", ".join(f"{n} ({Path(p).parent.name})"
                                         for n, p in zip(names, paths, strict=True))))
    except StorageError as exc:
        return [Finding("versions", False, str(exc), "pip install -c constraints.txt the "
                        "duckdb-extension-* packages of pyproject.toml")]
    if catalog == "postgres":
        have = bool(os.environ.get("PGPASSWORD")) or Path("~/.pgpass").expanduser().is_file()
        found.append(Finding(
            "catalog credentials", True,
            "PGPASSWORD or ~/.pgpass present" if have else
            "no PGPASSWORD nor ~/.pgpass: fine only where the server trusts this host"))
    try:
        store = Store(spec, read_only=True)
    except StoreMissing as exc:
        return [*found, Finding("catalog", False, "reachable, but no lake in it yet",
                                str(exc).split(": ", 1)[1])]
    except StorageError as exc:
        return [*found, Finding("catalog", False, str(exc),
                                "check the spec's host, port, dbname and user, and that the "
                                "catalog server accepts connections from this host")]
    with store:
        data_path = str(store.query("q_lake_data_path")["data_path"][0])
        snapshots = store.query("q_snapshots").height
        found.append(Finding("catalog", True, f"reachable, {snapshots} snapshots, data at "
                                              f"{data_path}"))
        migrated = _migrated(store)
    if data_path.startswith("s3://"):
        missing = [n for n in S3_KEYS if not os.environ.get(n)]
        found.append(Finding("data credentials", not missing,
                             "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY set" if not missing
                             else f"{' and '.join(missing)} not set",
                             None if not missing else
                             "export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and "
                             "AWS_ENDPOINT_URL_S3 for an endpoint other than AWS)"))
    found.append(_check_data_path(data_path))
    found.append(Finding("schema", migrated, "migrated by these sql/ files" if migrated else
                         "not migrated by this rerankwatch's sql/ files",
                         None if migrated else f"rerankwatch store init --db "
                                               f"'{shown_db(spec)}' migrates it"))
    return found


def _check_data_path(url: str) -> Finding:
    try:
        probe_data_path(url)
    except StorageError as exc:
        return Finding("data path", False, str(exc).split(": ", 1)[0] if "does not exist"
                       in str(exc) else str(exc), str(exc).split(": ", 1)[-1])
    return Finding("data path", True, f"{url} readable and writable")


def _migrated(store: Store) -> bool:
    """Whether these sql/ files migrated the store (their digest is in store_migrations)."""
    if not store._tables_exist("store_migrations"):
        return False
    return schema_digest() in set(store.query("q_migrations")["sql_sha256"])


def _check_file(path: Path) -> list[Finding]:
    found = [Finding("versions", True, f"duckdb {duckdb.__version__}")]
    if not path.is_file():
        return [*found, Finding("store", False, f"{path} does not exist",
                                f"rerankwatch store init --db {path}")]
    try:
        with Store(path, read_only=True) as store:
            migrated = _migrated(store)
    except duckdb.Error as exc:
        return [*found, Finding("store", False, f"{path}: {lake.first_line(exc)}",
                                "another process may hold it; try again when it is done")]
    found.append(Finding("store", True, f"{path} opens"))
    found.append(_check_data_path(str(path.parent)))
    found.append(Finding("schema", migrated, "migrated by these sql/ files" if migrated else
                         "not migrated by this rerankwatch's sql/ files",
                         None if migrated else f"rerankwatch store init --db {path}"))
    return found


def maintain_store(db: str | Path, retention: timedelta = DEFAULT_RETENTION) -> MaintainReport:
    """Expire the lake's snapshots older than ``retention`` (never the current one), merge
    small adjacent data files, and delete the files no kept snapshot reads. A kept snapshot
    still reads everything it read before (``--as-of``)."""
    if not is_lake(db):
        raise StorageError("a DuckDB file keeps no snapshots: nothing to maintain "
                           "(`store maintain` is for a ducklake:... store)")
    cutoff = datetime.now(UTC) - retention
    with Store(str(db), migrate=False) as store:
        old = store.query("q_expirable_snapshots", cutoff=cutoff)["snapshot_id"].to_list()
        expired = [r[0] for r in store.execute("expire_snapshots", versions=old).fetchall()
                   ] if old else []
        merged_files = sum(r[2] for r in store.execute("merge_adjacent_files").fetchall())
        deleted_files = len(store.execute("cleanup_old_files").fetchall())
        kept = store.query("q_snapshots").select("snapshot_id", "snapshot_time").rows()
    return MaintainReport(sorted(expired), merged_files, deleted_files, len(kept),
                          kept[0] if kept else None, cutoff)
