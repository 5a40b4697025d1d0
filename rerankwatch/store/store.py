"""DuckDB store: idempotent migrations, Arrow ingest, transactional writes, named queries."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import glob
import hashlib
import inspect
import json
import logging
import math
import os
import random
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import duckdb
import polars as pl
import polars.selectors as cs
import pyarrow as pa
import tenacity

from rerankwatch.core import sandbox
from rerankwatch.core.errors import ConfigError, NotAStore, StorageError, StoreBusy
from rerankwatch.core.provenance import scored_by
from rerankwatch.core.records import Fingerprint
from rerankwatch.core.settings import settings
from rerankwatch.core.store_spec import is_lake
from rerankwatch.store import lake, shards  # noqa: I001

LOG = logging.getLogger("rerankwatch.store")

PAIR_COLUMNS = ("pair_id", "set_id", "query_id", "query", "doc_id", "doc", "label", "tags",
                "lang", "ladder", "ladder_rank", "known_irrelevant", "source_file")
INSERTABLE = frozenset({"sample_pairs", "scores", "check_results", "run_pairs",
                        "ingested_shards"})  # the only table names _insert puts into SQL
# a table's key, for inserts that keep the row already stored: a DuckLake table has no
# primary key, so a row is new when an anti join on its key says so (both backends alike)
KEYS = {"sample_pairs": "pair_id", "ingested_shards": "shard_id"}
CONFLICT_RETRIES = 25  # a DuckLake write that lost to another writer is tried again this often
# ... after min(0.05 * 1.5 ** attempt, 2) s, times a random factor in [0.5, 1.5)
CONFLICT_BACKOFF = tenacity.wait_exponential(multiplier=0.05 * 1.5, exp_base=1.5, max=2.0)
LOCKED = "Could not set lock"  # DuckDB: another process holds the file
HOLDER = re.compile(r"Conflicting lock is held in (?P<exe>.*?) \(PID (?P<pid>\d+)\)")
LOCK_WAIT_ENV = "RERANKWATCH_LOCK_WAIT_S"  # how long a reader waits for a writer
READ_WAIT_S = 30.0  # ... unless that says otherwise
LOCK_BACKOFF = tenacity.wait_exponential(multiplier=0.05, max=1.0)  # between tries of a held file
CREATING = ".creating-"  # a new store's temporary name: .<name>.creating-<pid>-<random>
# Every SQL statement lives in a file of this package: schema/ (migrations, in order), views/
# (each file creates the view it is named after), queries/ (reads, q_*.sql: Store.query) and
# statements/ (writes: Store.execute). The one statement built here is _insert's bulk insert.
SQL_PACKAGE = "rerankwatch.sql"
MODES = ("write", "read", "sandboxed")  # how open_store opens the file
# q_history_score_ids' columns: the rows of one baseline in the suite's history frame
HISTORY_SCHEMA = {"pair_id": pl.String, "score": pl.Float64, "logit": pl.Float64,
                  "input_tokens": pl.Int32, "token_hash": pl.UInt64}
STREAM_ROWS = 1 << 20  # rows per batch a streamed query is read in
COMMIT_AUTHOR = "rerankwatch"  # the author of every lake snapshot rerankwatch commits


@functools.cache
def sql_text(kind: str, name: str) -> str:
    """One statement from sql/<kind>/<name>.sql."""
    return resources.files(SQL_PACKAGE).joinpath(kind, f"{name}.sql").read_text(encoding="utf-8")


def sql_names(kind: str) -> list[str]:
    """The statement names (file names without .sql) under sql/<kind>, sorted."""
    folder = resources.files(SQL_PACKAGE).joinpath(kind)
    return sorted(p.name.removesuffix(".sql") for p in folder.iterdir()
                  if p.name.endswith(".sql"))


def view_order() -> list[str]:
    """The views (named like their files) in creation order: each after the views it selects
    from, else by name. A view's text names another view: it depends on it."""
    code = {name: re.sub(r"--[^\n]*", "", sql_text("views", name)) for name in sql_names("views")}
    order: list[str] = []

    def place(name: str, chain: tuple[str, ...]) -> None:
        if name in order:
            return
        if name in chain:
            raise ValueError(f"views select from each other: {' -> '.join((*chain, name))}")
        for other in code:
            if other != name and re.search(rf"\b{other}\b", code[name], flags=re.IGNORECASE):
                place(other, (*chain, name))
        order.append(name)

    for name in code:
        place(name, ())
    return order


def engine_slices(main: pl.DataFrame) -> list[pl.DataFrame]:
    """``main``'s rows engine by engine: slices (no copy) when stored engine after engine."""
    runs = main.select(pl.col("engine_name").rle()).unnest("engine_name")
    if runs["value"].is_unique().all():  # engine after engine, as stored: slices, no copy
        starts = [0, *runs["len"].cum_sum()]
        return [main.slice(start, n) for start, n in zip(starts, runs["len"], strict=False)]
    return main.partition_by("engine_name", maintain_order=True)


def stored_runs(found: pl.DataFrame, by: list[str]) -> list[tuple[tuple, pl.DataFrame]]:
    """``found``'s rows as runs of equal ``by`` values, in order: (values, slice) each."""
    if found.is_empty():
        return []
    blocks = found.select(pl.struct(by).rle()).unnest(by[0]).unnest("value")
    starts = [0, *blocks["len"].cum_sum()]
    return [(tuple(key), found.slice(start, length)) for *key, start, length in zip(
        *[blocks[c] for c in by], starts, blocks["len"], strict=False)]


def stored_parts(found: pl.DataFrame, by: list[str]) -> dict[tuple, pl.DataFrame]:
    """``found``'s rows split by the ``by`` columns: slices (no copy) where the parts were stored
    one after another (as a run's scores are, engine after engine), else grouped (a copy)."""
    runs = stored_runs(found, by)
    if len({key for key, _ in runs}) == len(runs):
        return dict(runs)
    return found.partition_by(by, as_dict=True, maintain_order=True)


@functools.cache
def default_memory_limit() -> str:
    """DuckDB's default memory_limit on this machine, as current_setting prints it."""
    with duckdb.connect() as con:
        return con.execute("select current_setting('memory_limit')").fetchone()[0]


def trim_heap() -> None:
    """Hand the C heap's free pages back to the system (glibc's malloc_trim), where there is
    one: the Arrow batches a large read went through leave them behind."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class PartsInterleaved(Exception):
    """A query's parts were not stored one after another (Store.streamed_parts)."""


def keyed_rows(keys: pl.Series, rows: pl.DataFrame) -> pl.Series | None:
    """Where each of ``keys`` (pair keys) sits in ``rows`` (a frame with ``pair_key``), null
    where it sits nowhere; None when the keys cannot tell pairs apart (a key twice on either
    side: two pair ids of one hash, then the store reads pair ids instead)."""
    try:
        return (keys.to_frame("pair_key")
                .join(rows.select("pair_key").with_row_index("_row"), on="pair_key", how="left",
                      maintain_order="left", validate="1:1")["_row"])
    except pl.exceptions.ComputeError:
        return None


def lined_up(keys: pl.Series, rows: pl.DataFrame) -> tuple[pl.DataFrame, pl.Series] | None:
    """``rows`` (with ``pair_key``) put in the order of ``keys``: the rows, and a mask of the
    keys that have one (a key without a row is left out, a row without a key dropped). Rows
    already in that order are not copied. None when the keys cannot tell pairs apart."""
    if keys.equals(rows["pair_key"]):
        return rows, pl.repeat(True, len(keys), eager=True)
    at = keyed_rows(keys, rows)
    if at is None:
        return None
    return rows[at.drop_nulls()], at.is_not_null()


def first_order(keys: pl.Series, pairs: pl.DataFrame) -> pl.DataFrame:
    """``pairs`` (with ``pair_key``) in the order of ``keys`` (the first engine config's), the
    pairs it did not score after them in stored order: every pair stays, whoever scored it.
    ``pairs`` as stored when the keys cannot tell pairs apart."""
    lined = lined_up(keys, pairs)
    if lined is None:
        return pairs
    first = lined[0]
    if first.height == pairs.height:
        return first
    return pl.concat([first, pairs.filter(~pl.col("pair_key").is_in(first["pair_key"].implode()))])


def numbers_in_one_chunk(pairs: pl.DataFrame) -> pl.DataFrame:
    """``pairs`` with its numeric and boolean columns (label, ladder_rank, ...) in one chunk
    each: a check that reads one as a numpy array then gets a view, not a copy per engine
    config (three copies of 10 M labels stayed in SuiteInput's cache, issue 31)."""
    return pairs.with_columns(pairs[c].rechunk()
                              for c in pairs.select(cs.numeric() | cs.boolean()).columns)


def nulls_unstored(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with each column that holds only nulls as a constant null column of its
    dtype, which holds no buffer (an engine config that records no token ids had 16 bytes of
    nulls per score and 12 per history row for tokens, input_tokens and token_hash: 1 GiB at
    10 M pairs x 4, issue 31)."""
    if not frame.height:
        return frame
    empty = [c for c, n in frame.null_count().row(0, named=True).items() if n == frame.height]
    return frame.with_columns(pl.lit(None, frame.schema[c]).alias(c) for c in empty)


def beside_pairs(scores: pl.DataFrame, pairs: pl.DataFrame, name: str,
                 names: pl.Categorical | pl.DataType) -> pl.DataFrame:
    """One engine config's main scores (q_suite_scores' columns, pair_key first) with the pair
    columns of ``pairs`` (q_suite_pairs' rows in the same order: the caller's work) and the
    engine's name, as the rows of v_run_scores. No copy of the pair columns."""
    return pl.concat([scores.select(pl.lit(name, names).alias("engine_name"),
                                    pairs["pair_id"], pl.all().exclude("pair_key")),
                      pairs.drop("pair_key", "pair_id")], how="horizontal")


def writes(method):
    """A Store method that writes in its own transaction: retried when it loses to another
    writer on a lake (``Store._retried``). On a lake, its snapshot's commit message names the
    method (the step) and the run it writes for (its ``run_id`` or ``report.run_id``)."""
    signature = inspect.signature(method)

    @functools.wraps(method)
    def write(self, *args, **kwargs):
        given = signature.bind_partial(self, *args, **kwargs).arguments
        run_id = given.get("run_id") or getattr(given.get("report"), "run_id", None)
        outer, self._step = self._step, (method.__name__, [run_id] if run_id else [])
        try:
            return self._retried(method, self, *args, **kwargs)
        finally:
            self._step = outer
    return write


def schema_digest() -> str:
    """SHA-256 of every migration and view file: a store migrated by them records it."""
    digest = hashlib.sha256()
    for kind in ("schema", "views"):
        for name in sql_names(kind):
            digest.update(f"{kind}/{name}\n{sql_text(kind, name)}\n".encode())
    return digest.hexdigest()


def new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True, slots=True)
class IngestReport:
    """What one ingest step did: shards loaded, rows added, shards already in the ledger."""

    shards: int = 0
    rows: int = 0
    skipped: int = 0


def is_locked(exc: BaseException) -> bool:
    """True when the store was refused because another process holds it (StoreBusy, or
    DuckDB's own lock error)."""
    return isinstance(exc, StoreBusy) or (isinstance(exc, duckdb.IOException)
                                          and LOCKED in str(exc))


def lock_holder(exc: BaseException) -> tuple[int | None, str | None]:
    """(PID, what it runs) of the process DuckDB's lock error names; (None, None) if none."""
    found = HOLDER.search(str(exc))
    if found is None:
        return None, None
    pid = int(found["pid"])
    try:  # the command and its first arguments say more than the interpreter's path
        words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:3]
        command = " ".join(" ".join(w.decode(errors="replace").split()) for w in words if w)
    except OSError:
        command = ""
    command = command or found["exe"]
    return pid, command if len(command) <= 100 else command[:99] + "…"


def reader_wait_s() -> float:
    """How long a reader (`rerankwatch sql`, `rerankwatch report`) waits while a writer holds
    the store: $RERANKWATCH_LOCK_WAIT_S seconds, else READ_WAIT_S."""
    raw = settings().lock_wait_s
    if not raw:
        return READ_WAIT_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value < math.inf:
        raise ConfigError(f"{LOCK_WAIT_ENV} must be a number of seconds (0 or more), "
                          f"got {raw!r}")
    return value


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def create_store(path: str | Path) -> bool:
    """Create a new store atomically: created and migrated under a temporary name in its
    folder, then linked into place, so a reader finds no file or a complete store, never a
    half-written one (nor one a killed creator left half-migrated). False: the file existed,
    or another process created it first (theirs is kept)."""
    path = Path(path)
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}{CREATING}"
    for stale in path.parent.glob(glob.escape(prefix) + "*"):  # left by a killed creator
        pid = stale.name.removeprefix(prefix).split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            stale.unlink(missing_ok=True)
    tmp = path.with_name(f"{prefix}{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        with Store(tmp) as store:
            store.execute("checkpoint")  # everything in the file, no write-ahead log beside it
        try:
            os.link(tmp, path)  # never replaces a store another process created meanwhile
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links: rename (same folder: atomic)
            if path.exists():
                return False
            os.replace(tmp, path)
        return True
    finally:
        for leftover in (tmp, Path(f"{tmp}.wal")):
            leftover.unlink(missing_ok=True)


NOT_DUCKDB = "not a valid DuckDB database file"  # DuckDB's IOException for a foreign file


def check_store_path(path: str | Path) -> None:
    """NotAStore for a store path that is a directory (DuckDB fails on it only after its
    retries, and a run after its setup); a DuckLake spec is not a path."""
    if not is_lake(path) and Path(path).expanduser().is_dir():
        raise NotAStore(f"{path} is a directory: the store is a DuckDB file (e.g. "
                        f"{Path(path) / 'rerankwatch.duckdb'})")


def open_store(path: str | Path, *, mode: str = "write", wait_s: float = 0.0,
               migrate: bool | None = None,
               on_wait: Callable[[str], object] | None = None,
               data_path: str | None = None, as_of: int | str | None = None) -> Store:
    """The one way the product opens the store.

    ``mode``:
      - ``"write"``: read-write; creates the file and its folder. One process at a time.
      - ``"read"``: read-only; several readers at once, none while a writer holds the file.
      - ``"sandboxed"``: read-only, and no file access beyond the store, no extensions,
        settings locked: for queries people type (`rerankwatch sql`).

    ``migrate``: bring tables and views up to date first (idempotent). Default: True in
    ``"write"`` mode (a caller that knows the store is current, e.g. mid-run, passes False);
    the read-only modes never migrate (asking them to is a ValueError). A new file is created
    atomically (``create_store``): readers never see it half-created.

    ``wait_s``: while another process holds the file (a reader running `rerankwatch sql`,
    another run's ingest), retry up to this many seconds, then raise StoreBusy naming the
    process DuckDB says holds it; 0 (the default) raises at once. ``on_wait`` is told once,
    in words, when a wait begins (the CLI notes it on stderr).

    A DuckLake spec (``ducklake:...``, core/store_spec.py) opens the lake instead: no file
    lock, so no waiting; ``data_path`` is where a new lake keeps its data; ``as_of`` (a
    snapshot id or a timestamp, read modes only) reads the lake as it was then.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mode != "write" and migrate:
        raise ValueError(f"a store opened {mode!r} is read-only: it cannot migrate")
    if as_of is not None and (mode == "write" or not is_lake(path)):
        raise StorageError("--as-of reads a DuckLake store's history (db = \"ducklake:...\"); "
                           "a DuckDB file keeps no snapshots")
    if is_lake(path):
        return Store(str(path), read_only=mode != "write", sandboxed=mode == "sandboxed",
                     migrate=mode == "write" and migrate is not False, data_path=data_path,
                     as_of=as_of)
    check_store_path(path)
    created = mode == "write" and create_store(path)  # migrated already
    options = {"read_only": mode != "write", "sandboxed": mode == "sandboxed",
               "migrate": mode == "write" and migrate is not False and not created}

    def attempt() -> Store:
        try:
            return Store(path, **options)
        except duckdb.IOException as exc:
            if NOT_DUCKDB in str(exc):
                raise NotAStore(f"{path} is not a DuckDB database file (a store is one "
                                f"created by rerankwatch; pass the right --db)") from None
            raise

    def pause(state: tenacity.RetryCallState) -> float:  # never past the deadline
        return min(LOCK_BACKOFF(state), max(wait_s - state.seconds_since_start, 0.0))

    def note(state: tenacity.RetryCallState) -> None:
        if on_wait is not None and state.attempt_number == 1:
            pid, holder = lock_holder(state.outcome.exception())
            who = f"PID {pid} ({holder})" if pid is not None else "another process"
            on_wait(f"the store {path} is held by {who}: waiting up to {wait_s:g} s")

    held = tenacity.retry_if_exception(lambda e: isinstance(e, duckdb.IOException)
                                       and is_locked(e))  # DuckDB's lock error: retried
    retrying = tenacity.Retrying(retry=held,
                                 stop=tenacity.stop_after_delay(wait_s), wait=pause,
                                 before_sleep=note)
    try:
        return retrying(attempt)
    except tenacity.RetryError as busy:
        exc = busy.last_attempt.exception()
        pid, holder = lock_holder(exc)
        raise StoreBusy(str(path), wait_s, pid, holder) from exc


class Store:
    """A DuckDB file holding sample pairs, engine fingerprints, runs, scores and check results.

    The product opens it with ``open_store`` (modes, migration and lock waits in one place);
    tests and benches construct it directly. ``sandboxed`` (read-only use by people): no file
    access beyond the store itself, no extensions, and settings locked, so a query cannot write
    files or attach databases.
    """

    def __init__(self, path: str | Path, read_only: bool = False, migrate: bool = True,
                 sandboxed: bool = False, data_path: str | None = None,
                 as_of: int | str | None = None):
        self.path = str(path)
        self.read_only = read_only
        self.lake = is_lake(self.path)
        self._depth = 0  # open transactions (a retried write restarts only the outermost)
        self._step: tuple[str, list[str]] | None = None  # (step, runs) of the write under way
        if self.lake:
            self.con = lake.connect(self.path, read_only=read_only, data_path=data_path,
                                    snapshot=as_of, sandboxed=sandboxed)
        else:
            if not read_only:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self.con = (sandbox.connect(self.path) if sandboxed
                        else duckdb.connect(self.path, read_only=read_only))
        self._serialized = False  # store_writes exists: every write transaction takes it
        if not read_only and migrate:
            self.migrate()
        elif not read_only:
            self._serialized = self._tables_exist("store_writes")

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def migrate(self) -> None:
        """Create tables (sql/schema, in file order) and views (sql/views, each after the views
        it selects from: view_order); safe to re-run (create if not exists, create or replace).
        A store already migrated by these very files (store_migrations holds their digest) is
        left as it is: on a lake, every replaced view would be a snapshot.

        A store from before run_agreement or run_drift existed gets its finished runs
        summarized once; one from before gate_approvals gets its run_drift rows written again
        (each run is now paired with the previous run of its own flow, not a gate's).
        """
        digest = schema_digest()
        if (self._tables_exist("store_migrations", "store_writes")
                and digest in set(self.query("q_migrations")["sql_sha256"])):
            self._serialized = True
            return
        self._retried(self._migrate, digest)
        self._serialized = True

    def _migrate(self, digest: str) -> None:
        with self.transaction(step="migrate"):
            backfill = self._tables_exist("runs") and not self._tables_exist("run_agreement",
                                                                              "run_drift")
            redrift = self._tables_exist("run_drift") and not self._tables_exist(
                "gate_approvals")
            for name in sql_names("schema"):
                self.con.execute(sql_text("schema", name))
            for name in view_order():
                self.con.execute(sql_text("views", name))
            if backfill:
                for run_id in self.query("q_finished_runs")["run_id"]:
                    self.summarize_run(run_id)
            elif redrift:
                for run_id in self.query("q_finished_runs")["run_id"]:
                    self.execute("delete_run_drift", run_id=run_id)
                    self.execute("insert_run_drift", run_id=run_id)
            self.execute("insert_migration", sql_sha256=digest)
            self.execute("take_write_turn")

    def _retried(self, write: Callable[..., object], *args, **kwargs):
        """Run a write (a method that opens its own transaction); on a lake, when another writer
        committed a conflicting change first, roll back and run it again from the start (it
        reads the store anew: e.g. an ingest then skips the shards the other one loaded)."""
        def conflict(exc: BaseException) -> bool:
            return self.lake and self._depth == 0 and lake.is_conflict(exc)

        def note(state: tenacity.RetryCallState) -> None:
            LOG.warning("store: another writer committed first (%s); retrying %s, "
                        "attempt %d of %d", lake.first_line(state.outcome.exception())[:120],
                        getattr(write, "__name__", "write").lstrip("_"),
                        state.attempt_number + 1, CONFLICT_RETRIES)

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(conflict),
            stop=tenacity.stop_after_attempt(CONFLICT_RETRIES),
            wait=lambda state: CONFLICT_BACKOFF(state) * (0.5 + random.random()),  # jitter
            before_sleep=note)
        try:
            return retrying(write, *args, **kwargs)
        except tenacity.RetryError as lost:
            exc = lost.last_attempt.exception()
            raise StorageError(f"the store {self.path} stayed busy: {CONFLICT_RETRIES} "
                               f"writes lost to other writers ({lake.first_line(exc)})"
                               ) from None

    def _tables_exist(self, *names: str) -> bool:
        return self.query("q_tables_present", names=list(names))["found"][0] == len(names)

    @contextlib.contextmanager
    def transaction(self, step: str | None = None, runs: Sequence[str] = ()
                    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """All or nothing: a failure rolls back everything written inside. A write transaction
        first takes the store's write turn (one row of store_writes), so two writers whose
        reads decide what they insert (the ingest ledger, new pairs, fingerprints) never both
        commit: on a lake the second conflicts and is retried (``_retried``).

        On a lake the snapshot it commits says what wrote it: ``step`` and ``runs`` (default:
        the ``@writes`` method and its run), as commit message and JSON extra info
        (``--as-of run:RUN`` finds a run's finish_run snapshot by them)."""
        self.con.begin()
        self._depth += 1
        try:
            if self.lake and not self.read_only and self._depth == 1:
                self._commit_message(step, runs)
            if self._serialized and not self.read_only:
                self.execute("take_write_turn")
            yield self.con
        except BaseException:
            self.con.rollback()
            raise
        else:
            self.con.commit()
        finally:
            self._depth -= 1

    def _commit_message(self, step: str | None, runs: Sequence[str]) -> None:
        default_step, default_runs = self._step or ("write", [])
        step, runs = step or default_step, sorted(set(runs or default_runs))
        message = step + (f": run {', '.join(runs)}" if runs else "")
        self.execute("set_commit_message", author=COMMIT_AUTHOR, message=message,
                     extra_info=json.dumps({"step": step, "runs": runs}))

    def sql(self, query: str, **params) -> pl.DataFrame:
        """A statement's rows (none for a statement that returns none, e.g. an update).

        With parameters, through ``execute`` (a streamed result), never ``con.sql(query,
        params=...)``: on DuckDB 1.5.5 a parameterized ``sql`` runs the query at once into a
        materialized relation, and fetching that relation (``.pl()``, ``.arrow()``) rescans it
        at about 0.7 µs per value (a DOUBLE column of 4 M rows: 2.9 s instead of 0.05 s). That
        was issue 31: ``suite_frames`` spent 24 of its 25 s there (README, "Suite at scale")."""
        if not params:
            relation = self.con.sql(query)
            return relation.pl() if relation is not None else pl.DataFrame()
        cursor = self.con.execute(query, params)
        return cursor.pl() if cursor.description is not None else pl.DataFrame()

    def query(self, name: str, **params) -> pl.DataFrame:
        """Run sql/queries/<name>.sql with named parameters; its rows."""
        return self.sql(sql_text("queries", name), **params)

    def streamed_parts(self, name: str, by: list[str], **params
                       ) -> Iterator[tuple[tuple, pl.DataFrame]]:
        """sql/queries/<name>.sql's rows part by part (a part: the rows of one value of the
        ``by`` columns, stored one after another), each as one chunk, read from DuckDB in
        batches: besides what the caller keeps, only one part is in memory (issue 31: a
        suite's 40 M scores read whole were 1.8 GiB at once). Raises PartsInterleaved when a
        part's rows come back after another part's (the caller then reads them whole). No
        other query may run on this store while the parts are read."""
        reader = self.con.execute(sql_text("queries", name), params).fetch_record_batch(
            STREAM_ROWS)
        seen, key, pending = set(), None, []
        for batch in reader:
            for part_key, piece in stored_runs(pl.from_arrow(batch), by):
                if part_key != key:
                    if pending:
                        yield key, pl.concat(pending, rechunk=True)
                    if part_key in seen:
                        raise PartsInterleaved(f"{name}: {by} {part_key} comes back")
                    seen.add(part_key)
                    key, pending = part_key, []
                pending.append(piece)
        if pending:
            yield key, pl.concat(pending, rechunk=True)

    def execute(self, name: str, **params) -> duckdb.DuckDBPyConnection:
        """Run sql/statements/<name>.sql (a write) with named parameters; the cursor (an
        insert's ``fetchall()`` is its row count)."""
        return self.con.execute(sql_text("statements", name), params or None)

    @contextlib.contextmanager
    def _wanted(self, pair_ids: Sequence[str] | pl.Series) -> Iterator[None]:
        """The pair ids as the relation ``wanted`` that the reuse SQL joins, each with its
        position (``at``: reused scores are stored in that order)."""
        ids = (pair_ids.cast(pl.String).to_arrow() if isinstance(pair_ids, pl.Series)
               else pa.array(list(pair_ids), pa.string()))
        self.con.register("wanted", pa.table({"pair_id": ids,
                                              "at": pa.array(range(len(ids)), pa.int64())}))
        try:
            yield
        finally:
            self.con.unregister("wanted")

    def _insert(self, table: str, frame: pl.DataFrame, or_ignore: bool = False) -> None:
        """Bulk-insert a frame by column name. The one statement built in Python, not read from
        sql/: the table name cannot be a parameter, so it comes from the INSERTABLE allow-list."""
        if table not in INSERTABLE:
            raise ValueError(f"not an insertable table: {table!r}")
        arrow = frame.to_arrow()  # noqa: F841 - DuckDB's replacement scan reads it by name
        keep = f' anti join "{table}" using ({KEYS[table]})' if or_ignore else ""
        self.con.execute(f'insert into "{table}" by name select * from arrow{keep}')

    @writes
    def add_pairs(self, pairs: pl.DataFrame) -> None:
        """Store validated sample pairs; pairs already present (same pair_id) are kept."""
        with self.transaction():
            self._insert("sample_pairs", pairs.select(PAIR_COLUMNS), or_ignore=True)

    @writes
    def start_run(self, flow_name: str, config: dict, flow_run_id: str | None = None,
                  run_id: str | None = None, pair_ids: Sequence[str] = (),
                  force: bool = False) -> str:
        """Open a run (status running) covering ``pair_ids``; returns its id. ``force``: it
        rescores what an identical fingerprint scored before (kept when it is resumed)."""
        run_id = run_id or new_run_id()
        with self.transaction(runs=[run_id]):
            self.execute("insert_run", run_id=run_id, flow_name=flow_name,
                         flow_run_id=flow_run_id, started_at=datetime.now(UTC),
                         config=json.dumps(config), force=force)
            if len(pair_ids):
                self._insert("run_pairs", pl.DataFrame({"run_id": run_id,
                                                        "pair_id": list(pair_ids)}))
        return run_id

    def run(self, run_id: str) -> dict | None:
        """The runs row of ``run_id`` (None: no such run)."""
        found = self.query("q_run", run_id=run_id)
        return found.row(0, named=True) if found.height else None

    def run_for_flow_run(self, flow_run_id: str) -> str | None:
        """The run a Prefect flow run opened, if it opened one (a retried flow run resumes it)."""
        found = self.query("q_run_for_flow_run", flow_run_id=flow_run_id)
        return found["run_id"][0] if found.height else None

    def run_pairs(self, run_id: str) -> pl.DataFrame:
        """The stored sample pairs a run covers."""
        return self.query("q_run_pairs", run_id=run_id)

    @writes
    def reopen_run(self, run_id: str) -> None:
        """Mark a failed or interrupted run running again (resume)."""
        with self.transaction():
            self.execute("reopen_run", run_id=run_id)

    @writes
    def finish_run(self, run_id: str, status: str, error: str | None = None) -> None:
        """Close a run and (re)write its per-run agreement summary, together."""
        with self.transaction():
            self.execute("finish_run", run_id=run_id, status=status, error=error,
                         finished_at=datetime.now(UTC))
            self.summarize_run(run_id)

    def summarize_run(self, run_id: str) -> None:
        """Replace one run's rows in run_agreement and run_drift (engine_agreement_history and
        score_drift read them)."""
        self.execute("delete_run_agreement", run_id=run_id)
        self.execute("insert_run_agreement", run_id=run_id)
        self.execute("delete_run_drift", run_id=run_id)
        self.execute("insert_run_drift", run_id=run_id)

    def register_engine(self, fp: Fingerprint) -> None:
        """Store a fingerprint (one seen before keeps its first row); in the caller's
        transaction, else in its own."""
        if self._depth == 0:
            self._retried(self._register_engine_alone, fp)
        else:
            self._register_engine(fp)

    def _register_engine_alone(self, fp: Fingerprint) -> None:
        with self.transaction(step="register_engine"):
            self._register_engine(fp)

    def _register_engine(self, fp: Fingerprint) -> None:
        self.execute("insert_engine", engine_id=fp.engine_id, kind=fp.kind, model=fp.model,
                     weights_sha256=fp.weights_sha256, dtype=fp.dtype, device=fp.device,
                     pooling=fp.pooling, max_length=fp.max_length, activation=fp.activation,
                     versions=json.dumps(fp.versions), fingerprint=fp.to_json(),
                     files_sha256=fp.files_sha256, revision=fp.revision)

    def _record_engine(self, run_id: str, engine_name: str, engine_id: str | None, status: str,
                       error: str | None = None, pairs: int | None = None,
                       seconds: float | None = None, load_warnings: Sequence[str] = (),
                       reused_from_run: str | None = None, scored_pairs: int | None = None,
                       reused_pairs: int | None = None) -> None:
        self.execute("insert_run_engine", run_id=run_id, engine_name=engine_name,
                     engine_id=engine_id, status=status, error=error, pairs=pairs,
                     score_seconds=seconds, load_warnings=list(load_warnings),
                     reused_from_run=reused_from_run, scored_pairs=scored_pairs,
                     reused_pairs=reused_pairs, **scored_by().columns())

    @writes
    def ingest_shards(self, directory: str | Path, run_id: str | None = None) -> IngestReport:
        """Load every complete shard in ``directory`` (only ``run_id``'s, when given) in one
        transaction, then delete them. Runs that share a folder each ingest their own: one
        run's ingest never lists shards another run's ingest may take and delete meanwhile.

        Idempotent: the ledger (ingested_shards) skips a shard seen before, and a score already
        stored for a (run, engine, variant, pair) is kept, never duplicated. The shards of one
        ingest must not overlap (workers skip pairs that already wait in shards).
        """
        found = shards.pending(directory, run_id)
        if not found:
            return IngestReport()
        ids = [info.shard_id for info in found]
        seen = set(self.query("q_ingested_shards", shard_ids=ids)["shard_id"])
        todo = [info for info in found if info.shard_id not in seen]
        added = 0
        # Rows keep the shards' order (DuckDB's default, preserve_insertion_order): every engine
        # config stores the pairs in the order it was given them, so the suite lines engines and
        # baselines up without a join (issue 31: a parallel load that reordered 10 M rows cost
        # the suite a hash join per engine and per baseline).
        with self.transaction(runs=[info.run_id for info in todo]):
            for fingerprint in {json.dumps(i.fingerprint, sort_keys=True) for i in todo}:
                self._register_engine(Fingerprint(**json.loads(fingerprint)))
            for run_id in sorted({info.run_id for info in todo}):
                added += self._ingest_run([i for i in todo if i.run_id == run_id], run_id)
            if todo:
                self._insert("ingested_shards", pl.DataFrame(
                    [{"shard_id": i.shard_id, "run_id": i.run_id,
                      "engine_name": i.engine_name, "variant": i.variant,
                      "shard_rows": i.rows} for i in todo]))
        shards.remove([info.path for info in found])
        return IngestReport(len(todo), added, len(found) - len(todo))

    def _ingest_run(self, found: Sequence[shards.ShardInfo], run_id: str) -> int:
        """Insert one run's shards (scores, then the token samples they carry; shards from
        before token snapshots on their own); returns the score rows added."""
        added = 0
        legacy = [str(i.path) for i in found if i.legacy]
        if legacy:
            added += self.execute("ingest_legacy_scores", files=legacy,
                                  run_id=run_id).fetchall()[0][0]
        files = [str(i.path) for i in found if not i.legacy]
        if files:
            parts = sorted({f"{i.engine_name}/{i.variant}" for i in found if not i.legacy})
            stored = bool(self.query("q_parts_stored", run_id=run_id, parts=parts)["stored"][0])
            loaded = (self.execute("ingest_scores", files=files, run_id=run_id) if stored
                      else self.execute("ingest_fresh_scores", files=files))
            added += loaded.fetchall()[0][0]
            self.execute("ingest_token_samples", files=files, run_id=run_id)
        return added

    def engine_status(self, run_id: str, engine_name: str) -> str | None:
        """The latest recorded status of one engine config in a run (None: none yet)."""
        found = self.query("q_engine_status", run_id=run_id, engine_name=engine_name)
        return found["status"][0] if found.height else None

    def scored_pair_ids(self, run_id: str, engine_name: str, variant: str) -> set[str]:
        """Pairs that already have a ``variant`` score by this engine config in this run."""
        return set(self.query("q_scored_pair_ids", run_id=run_id, engine_name=engine_name,
                              variant=variant)["pair_id"])

    def engine_ids_in_run(self, run_id: str, engine_name: str) -> set[str]:
        """Fingerprints (engine_id) this engine config's stored scores in a run were made by."""
        return set(self.query("q_engine_ids_in_run", run_id=run_id,
                              engine_name=engine_name)["engine_id"])

    def next_batch_index(self, run_id: str, engine_name: str, variant: str) -> int:
        """First unused batch number, so a resumed engine's batches stay distinct."""
        found = self.query("q_next_batch_index", run_id=run_id, engine_name=engine_name,
                           variant=variant)
        return int(found["batch_index"][0])

    @writes
    def reuse_pairs(self, run_id: str, engine_name: str, engine_id: str, variant: str,
                    pair_ids: Sequence[str]) -> int:
        """Copy, per pair, the latest ``variant`` score by the same fingerprint from another run
        (``reused_from_run`` names the run that scored it), and the token samples that run
        kept of them; returns the score rows copied."""
        params = {"run_id": run_id, "engine_name": engine_name, "variant": variant}
        with self._wanted(pair_ids), self.transaction():
            copied = self.execute("reuse_scores", engine_id=engine_id,
                                  **params).fetchall()[0][0]
            self.execute("reuse_token_samples", **params)
            return copied

    @writes
    def reuse_probes(self, run_id: str, engine_name: str, engine_id: str,
                     variants: Sequence[str], pair_ids: Sequence[str]) -> str | None:
        """Copy probe variants that belong together (repeat + reload: one load and a fresh
        one) from the latest run holding all of them for every pair; returns that run."""
        params = {"run_id": run_id, "engine_id": engine_id, "variants": list(variants)}
        with self._wanted(pair_ids):
            found = self.query("q_probe_source", **params, n=len(set(pair_ids)))
            if found.is_empty():
                return None
            source = found["run_id"][0]
            with self.transaction():
                self.execute("copy_probe_scores", **params, engine_name=engine_name,
                             source=source)
        return source

    @writes
    def record_engine_success(self, run_id: str, engine_name: str, engine_id: str,
                              load_warnings: Sequence[str] = ()) -> str | None:
        """Mark an engine config done in a run, with its main-score counts and provenance;
        returns the run every main score was copied from, if they all came from one.

        The counts come from the stored scores, not from the caller: ``scored_pairs`` are the
        run's own scores (every attempt's, a killed one's committed chunks included),
        ``reused_pairs`` those copied from other runs; they add up to ``pairs``."""
        main = self.query("q_main_score_provenance", run_id=run_id,
                          engine_name=engine_name).row(0, named=True)
        one_source = main["sources"] == 1 and main["reused"] == main["pairs"]
        source = main["source"] if one_source else None
        with self.transaction():
            self._record_engine(run_id, engine_name, engine_id, "succeeded", pairs=main["pairs"],
                                seconds=main["seconds"], load_warnings=load_warnings,
                                reused_from_run=source, scored_pairs=main["scored"],
                                reused_pairs=main["reused"])
        return source

    def suite_frames(self, run_id: str,
                     history_sources: dict[str, str] | None = None) -> dict[str, pl.DataFrame]:
        """What a suite reads for one run: main scores (with the pair columns checks read),
        probe scores, engine statuses, the accepted history (``history_frames``; by
        default each engine config is held to its own name's acceptances) and the token
        samples of this run and of those accepted runs."""
        engines = self.query("q_run_engine_status", run_id=run_id)
        sources = history_sources or {name: name for name in engines["engine_name"]}
        scores, keys = self.main_frames(run_id, engines["engine_name"].to_list())
        self.release_cached_blocks()
        history = self.history_frames(run_id, sources, scores, keys)
        self.release_cached_blocks()
        runs = [run_id, *history["baselines"]["baseline_run_id"].unique().to_list()]
        frames = {
            "scores": scores,
            "probes": self.probe_frames(run_id),
            "engines": engines,
            "token_samples": self.query("q_token_samples", runs=runs),
            **history,
        }
        self.release_cached_blocks()
        return frames

    def release_cached_blocks(self) -> None:
        """Give back the table blocks DuckDB keeps cached after a read (its buffer pool keeps
        what it read until memory_limit: 2.4 GiB after the suite's reads of 10 M pairs x 4,
        none of them read again; issue 31): the limit is lowered for a moment, then reset to
        DuckDB's default.
        Best effort: blocks still in use stay; a store whose configuration is locked (a
        sandboxed one) or whose limit was set by hand (DuckDB reads it back rounded, so it
        could not be restored exactly) keeps its blocks."""
        if self.con.execute("select current_setting('memory_limit')").fetchone()[0] != \
                default_memory_limit():
            return
        try:
            self.con.execute("set memory_limit = '64MB'")
        except duckdb.Error:  # locked, or more is pinned than that (what could go, went)
            pass
        with contextlib.suppress(duckdb.Error):
            self.con.execute("reset memory_limit")
        trim_heap()

    def main_frames(self, run_id: str, names: list[str]
                    ) -> tuple[pl.DataFrame, dict[str, pl.Series]]:
        """The run's main scores, engine config after engine config (in ``names``' order), each
        beside its pairs' columns (v_run_scores' rows; ``engine_name`` categorical).

        Scores cross over with their pair keys, not their ids (issue 31), and are put in one
        order, the one the first engine config scored the pairs in, so every engine that
        scored them all shares one copy of the pair columns and its rows line up with every
        other's; pair ids are read only where two of them share a key. A scored pair missing
        from sample_pairs is dropped, as v_run_scores drops it. Also returns each engine's pair
        keys, in its rows' order (what its history is lined up with)."""
        scored = self.run_pairs_count(run_id) == 0

        def read_pairs() -> pl.DataFrame:
            return numbers_in_one_chunk(self.query("q_suite_pairs", run_id=run_id,
                                                   scored=scored))

        pairs = read_pairs()
        category, at_of = pl.Categorical, {at: name for at, name in enumerate(names, start=1)}
        frames, keys, by_ids = {}, {}, []

        def take(at: int, scores: pl.DataFrame) -> None:
            nonlocal pairs
            name = at_of[at]
            if not frames and not by_ids:  # the first engine config's order is the order
                pairs = first_order(scores["pair_key"], pairs)
            lined = lined_up(pairs["pair_key"], scores.drop("engine_at"))
            if lined is None:  # keys do not tell the pairs apart: by pair id, once read
                by_ids.append(name)
                return
            scores, scored = lined
            mine = pairs if scored.all() else pairs.filter(scored)  # the pairs it scored
            frames[name] = beside_pairs(nulls_unstored(scores.rechunk()), mine, name, category)
            keys[name] = mine["pair_key"]

        try:
            for (at,), scores in self.streamed_parts("q_suite_scores", ["engine_at"],
                                                     run_id=run_id, engines=names):
                take(at, scores)
        except PartsInterleaved:  # engine configs' rows interleaved: read whole, from the start
            frames, keys, by_ids = {}, {}, []
            pairs = read_pairs()
            for (at,), scores in stored_parts(self.query(
                    "q_suite_scores", run_id=run_id, engines=names), ["engine_at"]).items():
                take(at, scores)
        for name in by_ids:
            scores = self.query("q_suite_score_ids", run_id=run_id, engine_name=name)
            mine = scores.select("pair_id").join(pairs, on="pair_id", how="inner",
                                                 maintain_order="left")
            scores = scores.filter(pl.col("pair_id").is_in(mine["pair_id"].implode()))
            frames[name] = beside_pairs(scores.drop("pair_id").insert_column(
                0, mine["pair_key"]), mine.select(pairs.columns), name, category)
            keys[name] = mine["pair_key"]
        if not frames:
            empty = self.query("q_suite_scores", run_id=run_id, engines=[]).drop("engine_at")
            return beside_pairs(empty, pairs.clear(), "", category).clear(), keys
        return pl.concat([frames[n] for n in names if n in frames], rechunk=False), keys

    def run_pairs_count(self, run_id: str) -> int:
        """How many pairs the run recorded covering when it started (0 for runs that did not)."""
        return int(self.query("q_run_pairs_count", run_id=run_id)["pairs"][0])

    def probe_frames(self, run_id: str) -> pl.DataFrame:
        """A run's probe scores, q_probe_scores' rows with the columns checks read
        (engine_name, pair_id, variant, logit, score, copied_from): a spot re-score names the
        run its copied main score came from (``copied_from``), looked up only when the run has
        spot re-scores."""
        probes = self.query("q_suite_probes", run_id=run_id)
        if not (probes["variant"] == "spot").any():
            return probes
        copies = self.query("q_spot_copies", run_id=run_id)
        return (probes.drop("copied_from")
                .join(copies, on=["engine_name", "pair_id"], how="left", maintain_order="left")
                .with_columns(pl.when(pl.col("variant") == "spot").then(pl.col("copied_from"))
                              .alias("copied_from")))

    def history_frames(self, run_id: str, sources: dict[str, str],
                       tonight: pl.DataFrame | None = None,
                       keys: dict[str, pl.Series] | None = None) -> dict[str, pl.DataFrame]:
        """The accepted history each engine config of a run is held to: ``baselines`` (per
        engine name: its last and last pinned acceptance, with both fingerprints) and
        ``history`` (those runs' main scores, baseline after baseline in stored order, keyed by
        categorical ``baseline_run_id`` and ``source_name``). ``sources``: engine name -> the
        engine name whose acceptances count (itself; in a gate, a candidate's baseline engine).
        ``tonight`` (the run's main scores) and ``keys`` (each engine's pair keys, from
        ``main_frames``): a baseline's rows are only those of the pairs the engine held to it
        scored tonight, in tonight's order, sharing its pair ids (none read, one copy in
        memory); without them (or with two pair ids of one key), the baseline's rows with
        their pair ids as stored."""
        names = list(sources)
        baselines = self.query("q_history_baselines", run_id=run_id, engines=names,
                               sources=[sources[n] for n in names])
        mine = ({frame["engine_name"][0]: frame for frame in engine_slices(tonight)}
                if tonight is not None and tonight.height else {})
        wanted = baselines.select("baseline_run_id", "source_name").unique(maintain_order=True)
        runs, names_of = wanted["baseline_run_id"].unique(maintain_order=True).to_list(), \
            wanted["source_name"].unique(maintain_order=True).to_list()
        keys, category = keys or {}, pl.Categorical
        lean, by_ids = {}, []

        def take(run: str, source: str, part: pl.DataFrame) -> None:
            held = [n for n in names if sources[n] == source and n in mine and n in keys]
            lined = lined_up(keys[held[0]], part) if held else None
            if lined is None:  # not lined up with tonight's: the rows with their pair ids
                by_ids.append((run, source))
                return
            part, scored = lined  # tonight's pairs, in tonight's order: tonight's pair ids
            ids = mine[held[0]]["pair_id"]
            lean[(run, source)] = nulls_unstored(part.drop("run_at", "source_at", "pair_key")
                                                 .rechunk()) \
                .with_columns((ids if scored.all() else ids.filter(scored)).alias("pair_id"))

        params = {"runs": runs, "sources": names_of}
        try:
            for (r, n), part in self.streamed_parts("q_history_scores", ["run_at", "source_at"],
                                                    **params):
                take(runs[r - 1], names_of[n - 1], part)
        except PartsInterleaved:  # baselines' rows interleaved: read whole
            lean, by_ids = {}, []
            for (r, n), part in stored_parts(self.query("q_history_scores", **params),
                                             ["run_at", "source_at"]).items():
                take(runs[r - 1], names_of[n - 1], part)
        for run, source in by_ids:
            lean[(run, source)] = self.query("q_history_score_ids", run_id=run,
                                             engine_name=source)
        empty = pl.DataFrame(schema=HISTORY_SCHEMA)
        parts = [(lean.get((run, source), empty)).select(
            pl.lit(run, category).alias("baseline_run_id"),
            pl.lit(source, category).alias("source_name"), *empty.columns)
            for run, source in wanted.iter_rows()]
        if not parts:  # no baseline: the frame's columns, no rows
            parts.append(empty.select(pl.lit(None, category).alias("baseline_run_id"),
                                      pl.lit(None, category).alias("source_name"),
                                      *empty.columns))
        return {"baselines": baselines, "history": pl.concat(parts, rechunk=False)}

    @writes
    def accept_run(self, run_id: str, engine_names: Sequence[str], accepted_by: str,
                   reason: str | None = None, manual: bool = False,
                   suite: str | None = None) -> list[str]:
        """Record engine configs of a run as accepted history baselines (those that succeeded
        in it); returns the names accepted."""
        return self._insert_each("insert_acceptance", engine_names, run_id=run_id,
                                 suite=suite, manual=manual, accepted_by=accepted_by,
                                 reason=reason, accepted_at=datetime.now(UTC))

    def _insert_each(self, statement: str, engine_names: Sequence[str], **params) -> list[str]:
        """Run an insert statement that returns whether it inserted once per engine name, in
        one transaction; the names it inserted."""
        inserted = []
        with self.transaction():
            for name in engine_names:
                rows = self.execute(statement, engine_name=name, **params).fetchall()
                if rows and rows[0][0]:
                    inserted.append(name)
        return inserted

    @writes
    def approve_gate_run(self, run_id: str, candidates: Sequence[str], baseline: str | None,
                         approved_by: str, reason: str | None = None,
                         suite: str = "gate") -> list[str]:
        """Record a passing gate's candidates as approved in that run (gate_approvals), not as
        history baselines: the accepted baselines stay as they were. Those that succeeded in
        the run and were not approved in it before; returns the names recorded."""
        return self._insert_each("insert_gate_approval", candidates, run_id=run_id,
                                 baseline=baseline, suite=suite, approved_by=approved_by,
                                 reason=reason, approved_at=datetime.now(UTC))

    @writes
    def write_check_results(self, report) -> None:
        """Store a SuiteReport: one row per result plus the verdict, in one transaction."""
        frame = pl.DataFrame(
            [{"run_id": report.run_id, "check_name": r.check, "engine_name": r.engine,
              "other_engine_name": r.other_engine, "subject": r.subject, "status": r.status,
              "blocking": r.blocking, "observed": r.observed, "threshold": r.threshold,
              "detail": r.detail_json()} for r in report.results],
            schema={"run_id": pl.String, "check_name": pl.String, "engine_name": pl.String,
                    "other_engine_name": pl.String, "subject": pl.String, "status": pl.String,
                    "blocking": pl.Boolean, "observed": pl.Float64, "threshold": pl.Float64,
                    "detail": pl.String})
        candidates = sorted({r.engine for r in report.results
                             if r.engine and r.engine != report.reference})
        with self.transaction():
            self._insert("check_results", frame)
            self.execute("insert_verdict", run_id=report.run_id, suite=report.suite,
                         verdict=report.verdict, reference=report.reference,
                         candidates=candidates, failing_checks=report.failing_checks)

    @writes
    def record_engine_failure(self, run_id: str, engine_name: str, error: str) -> None:
        with self.transaction():
            self._record_engine(run_id, engine_name, None, "failed", error=error)
