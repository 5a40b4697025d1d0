"""Score shards: Parquet files that scoring workers write next to the DB, and the store ingests.

A worker never opens the DuckDB file: it writes each chunk of scores to ``<db>.shards/`` under a
temporary name, flushes it, then renames it, so a half-written shard is never seen. One ingest
step (``Store.ingest_shards``) loads them transactionally; its ledger makes a second ingest of the
same shard a no-op. Each shard carries its run, engine, variant and fingerprint in its metadata.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import filelock
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from rerankwatch.core import store_spec
from rerankwatch.core.errors import RunNotResumable, ShardError
from rerankwatch.core.files import atomic_path
from rerankwatch.core.records import Fingerprint, ScoreBatch

META_KEY = b"rerankwatch.shard"
CONSTANT_COLUMNS = ["run_id", "engine_name", "engine_id", "variant", "activation"]  # per shard
SCHEMA = pa.schema([
    ("run_id", pa.string()), ("engine_name", pa.string()), ("engine_id", pa.string()),
    ("pair_id", pa.string()), ("variant", pa.string()), ("logit", pa.float64()),
    ("score", pa.float64()), ("activation", pa.string()), ("batch_index", pa.int32()),
    ("latency_ms", pa.float64()), ("scored_at", pa.timestamp("us", tz="UTC")),
    ("tokens", pa.int32()),  # untruncated tokens per pair (null: the engine has no tokenizer)
])
# what the model saw per pair (null: the engine records no ids), and, for the sampled pairs
# only, the ids themselves and their token strings (token_samples; null elsewhere)
TOKEN_FIELDS = [("input_tokens", pa.int32()), ("token_hash", pa.uint64()),
                ("sample_ids", pa.list_(pa.int32())), ("sample_tokens", pa.list_(pa.string()))]
LEGACY_SCHEMA = SCHEMA  # shards written before token snapshots: still ingested as they are
SCHEMA = pa.schema([*LEGACY_SCHEMA, *TOKEN_FIELDS])


@dataclass(frozen=True, slots=True)
class ShardInfo:
    """One complete shard on disk and what its metadata says it holds."""

    path: Path
    shard_id: str
    run_id: str
    engine_name: str
    variant: str
    rows: int
    fingerprint: dict
    legacy: bool = False  # written before token snapshots (LEGACY_SCHEMA): no token columns


def shard_dir(db_path: str | Path) -> Path:
    """Where the shards of a store go: ``<db>.shards`` next to a DuckDB file (a lake's:
    core/store_spec.py)."""
    return store_spec.shard_dir(db_path)


def _token_columns(batch: ScoreBatch, n: int,
                   samples: dict[int, tuple[np.ndarray, list[str] | None]] | None) -> dict:
    """The token snapshot columns: what the model saw per pair (null where not recorded) and
    ``samples`` ({row: (ids, token strings)}) as sample_ids / sample_tokens."""
    if batch.input_tokens is None:
        counts, hashes = pa.nulls(n, pa.int32()), pa.nulls(n, pa.uint64())
    else:
        missing = np.asarray(batch.input_tokens) < 0
        counts = pa.array(np.asarray(batch.input_tokens), pa.int32(), mask=missing)
        hashes = pa.array(np.asarray(batch.token_hash, dtype=np.uint64), pa.uint64(),
                          mask=missing)
    samples = samples or {}
    ids = [samples[i][0].tolist() if i in samples else None for i in range(n)]
    words = [samples[i][1] if i in samples else None for i in range(n)]
    return {"input_tokens": counts, "token_hash": hashes,
            "sample_ids": pa.array(ids, pa.list_(pa.int32())),
            "sample_tokens": pa.array(words, pa.list_(pa.string()))}


def score_table(run_id: str, engine_name: str, engine_id: str, variant: str,
                pair_ids: Sequence[str], batch: ScoreBatch, batch_offset: int = 0,
                tokens: np.ndarray | None = None,
                samples: dict[int, tuple[np.ndarray, list[str] | None]] | None = None
                ) -> pa.Table:
    """One scored chunk as rows of ``scores``; each batch's seconds are shared by its pairs,
    ``tokens`` are the pairs' untruncated token counts (None: unknown), the batch's recorded
    ids give input_tokens / token_hash, and ``samples`` ({row: (ids, token strings or
    None)}) the rows of token_samples."""
    sizes = np.bincount(batch.batch_index, minlength=len(batch.batch_seconds))
    per_pair_ms = np.asarray(batch.batch_seconds)[batch.batch_index] * 1000.0
    n = len(pair_ids)
    return pa.table({
        "run_id": pa.array([run_id] * n, pa.string()),
        "engine_name": pa.array([engine_name] * n, pa.string()),
        "engine_id": pa.array([engine_id] * n, pa.string()),
        "pair_id": pa.array(list(pair_ids), pa.string()),
        "variant": pa.array([variant] * n, pa.string()),
        "logit": pa.array(np.asarray(batch.logits, dtype=np.float64)),
        "score": pa.array(np.asarray(batch.scores, dtype=np.float64)),
        "activation": pa.array([batch.activation] * n, pa.string()),
        "batch_index": pa.array(np.asarray(batch.batch_index) + batch_offset, pa.int32()),
        "latency_ms": pa.array(per_pair_ms / sizes[batch.batch_index]),
        "scored_at": pa.array([datetime.now(UTC)] * n, pa.timestamp("us", tz="UTC")),
        "tokens": pa.nulls(n, pa.int32()) if tokens is None else pa.array(
            np.asarray(tokens), pa.int32()),
        **_token_columns(batch, n, samples),
    }, schema=SCHEMA)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_shard(directory: str | Path, table: pa.Table, fingerprint: Fingerprint) -> Path:
    """Write ``table`` (one run, engine and variant) as a complete shard; returns its path.

    Written to a hidden temporary name, flushed to disk, then renamed: readers only ever list
    ``*.parquet``, so they see a whole shard or none.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if table.num_rows == 0:
        raise ValueError("refusing to write an empty shard")
    first = {name: table.column(name)[0].as_py() for name in ("run_id", "engine_name", "variant")}
    for name, value in first.items():
        if table.column(name).unique().to_pylist() != [value]:
            raise ValueError(f"a shard holds one {name}; got several")
    meta = {**first, "fingerprint": json.loads(fingerprint.to_json()),
            "engine_id": fingerprint.engine_id}
    if table.column("engine_id").unique().to_pylist() != [fingerprint.engine_id]:
        raise ValueError("shard rows and fingerprint disagree on the engine_id")
    name = f"{first['engine_name']}.{first['variant']}.{uuid.uuid4().hex}.parquet"
    final = directory / name
    table = table.replace_schema_metadata({META_KEY: json.dumps(meta).encode()})
    with atomic_path(final) as tmp, tmp.open("wb") as handle:
        # uncompressed: shards are transient, and writing + reading them is the hot path
        pq.write_table(table, handle, compression="none", use_dictionary=CONSTANT_COLUMNS)
        handle.flush()
        os.fsync(handle.fileno())
    _fsync_dir(directory)
    return final


class ShardSink:
    """Writes shards (then calls ``after_write``, e.g. an ingest) on a background thread, so
    scoring never waits on the disk or the DB. ``close`` waits for the last shard and re-raises
    a failure; at most ``depth`` scored chunks wait in memory behind the one being written.

    One worker writes the chunks in the order they were put; after a failure it writes no more
    (what is missing is scored again on resume), and the failure is raised to the scoring
    thread at its next ``put`` or at ``close``."""

    def __init__(self, directory: str | Path, fingerprint: Fingerprint,
                 after_write: Callable[[], object] | None = None, depth: int = 2):
        self.directory, self.fingerprint = Path(directory), fingerprint
        self.after_write = after_write
        self._depth = depth
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shard-sink")
        self._pending: deque[Future[None]] = deque()  # submitted, oldest first
        self._error: BaseException | None = None

    def _write(self, table: pa.Table) -> None:
        if self._error is not None:  # a chunk after a failed one is not written
            return
        try:
            write_shard(self.directory, table, self.fingerprint)
            if self.after_write is not None:
                self.after_write()
        except BaseException as exc:  # handed to the scoring thread
            self._error = exc

    def put(self, table: pa.Table) -> None:
        self._raise()
        while len(self._pending) > self._depth:  # depth waiting + the one being written
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(self._write, table))

    def close(self, quiet: bool = False) -> None:
        """Write what is queued; re-raise a write failure unless ``quiet``."""
        self._pool.shutdown(wait=True)
        self._pending.clear()
        if not quiet:
            self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error


def read_info(path: Path) -> ShardInfo:
    """A shard's metadata (its footer only); a foreign or corrupt file raises ShardError."""
    try:
        meta = pq.read_metadata(path)
        info = json.loads(meta.metadata[META_KEY])
        schema = meta.schema.to_arrow_schema().remove_metadata()
        legacy = schema.equals(LEGACY_SCHEMA)
        if not (legacy or schema.equals(SCHEMA)):
            raise ValueError(f"columns {meta.schema.names} differ from {SCHEMA.names}")
        return ShardInfo(path, path.name.removesuffix(".parquet"), info["run_id"],
                         info["engine_name"], info["variant"], meta.num_rows, info["fingerprint"],
                         legacy)
    except FileNotFoundError:
        raise
    except Exception as exc:  # pyarrow raises several types for a bad footer
        raise ShardError(f"{path}: not a readable rerankwatch shard "
                         f"({type(exc).__name__}: {exc})") from None


def pending(directory: str | Path, run_id: str | None = None) -> list[ShardInfo]:
    """Complete shards waiting in ``directory`` (only ``run_id``'s, when given); unreadable
    ones are moved to ``rejected/`` and raised as ShardError, never silently skipped."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    infos = []
    for path in sorted(directory.glob("*.parquet")):
        try:
            info = read_info(path)
        except FileNotFoundError:  # ingested and removed by another process meanwhile
            continue
        except ShardError:
            with contextlib.suppress(FileNotFoundError):
                (directory / "rejected").mkdir(exist_ok=True)
                os.replace(path, directory / "rejected" / path.name)
            raise
        if run_id is None or info.run_id == run_id:
            infos.append(info)
    return infos


def waiting_pair_ids(directory: str | Path, run_id: str, engine_name: str,
                     variant: str = "main") -> set[str]:
    """Pairs of one run, engine and variant already scored into shards not yet ingested."""
    found = set()
    for info in pending(directory, run_id):
        if (info.engine_name, info.variant) == (engine_name, variant):
            with contextlib.suppress(FileNotFoundError):  # ingested meanwhile: in the DB now
                found.update(pq.read_table(info.path, columns=["pair_id"])["pair_id"].to_pylist())
    return found


def remove(paths: Sequence[Path]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _lock_path(directory: Path, run_id: str) -> Path:
    # run ids may come from users (resume): never put one into a path as-is
    return directory / "locks" / f"{hashlib.sha256(run_id.encode()).hexdigest()[:24]}.lock"


_HELD: dict[Path, filelock.FileLock] = {}  # run locks this process holds, by lock file


def hold_run_lock(directory: str | Path, run_id: str) -> None:
    """Take the run's lock until ``release_run_lock`` (or this process dies: the kernel drops
    it); a run being scored by another process raises RunNotResumable. Re-entrant here."""
    path = _lock_path(Path(directory), run_id)
    if path in _HELD:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(path, thread_local=False)  # held by the process, not a thread
    try:
        lock.acquire(blocking=False)
    except filelock.Timeout:
        try:
            holder = path.read_text().strip()
        except OSError:
            holder = ""
        raise RunNotResumable(f"run {run_id!r} is being scored right now by "
                              f"{holder or 'another process'}; wait for it to end, "
                              f"or stop it first") from None
    path.write_text(f"pid {os.getpid()} on {os.uname().nodename}")  # who holds it, for others
    _HELD[path] = lock


def release_run_lock(directory: str | Path, run_id: str) -> None:
    """Drop the run's lock (and its file) if this process holds it."""
    path = _lock_path(Path(directory), run_id)
    lock = _HELD.pop(path, None)
    if lock is not None:
        remove([path])
        lock.release()
