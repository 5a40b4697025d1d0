"""Score shards on real files: atomic writes, idempotent ingest, concurrent worker processes."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from rerankwatch.core.errors import RunNotResumable, ShardError
from rerankwatch.core.records import Fingerprint, ScoreBatch
from rerankwatch.store import Store, shards

FP = Fingerprint(kind="st-cross", model="m", weights_sha256="ab" * 32, dtype="float32",
                 device="cpu", pooling="n/a", max_length=512, activation="sigmoid")


def batch(n: int, seed: int = 0, batch_size: int = 8) -> ScoreBatch:
    values = np.random.default_rng(seed).random(n)
    index = np.arange(n) // batch_size
    return ScoreBatch(values, values.copy(), "sigmoid", index, (0.01,) * int(index.max() + 1))


def write(directory: Path, run_id: str, ids: list[str], engine: str = "e",
          variant: str = "main") -> Path:
    table = shards.score_table(run_id, engine, FP.engine_id, variant, ids, batch(len(ids)))
    return shards.write_shard(directory, table, FP)


def main_rows(store: Store, run_id: str) -> pl.DataFrame:
    return store.sql("select pair_id, count(*) as n from scores where run_id = $r "
                     "and variant = 'main' group by pair_id", r=run_id)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "rw.duckdb"


@pytest.fixture
def store(db: Path):
    with Store(db) as s:
        yield s


def test_shard_dir_sits_next_to_the_db(db: Path) -> None:
    assert shards.shard_dir(db) == db.parent / "rw.duckdb.shards"


def test_ingest_loads_shards_once_and_removes_them(store: Store, db: Path) -> None:
    run_id = store.start_run("f", {})
    directory = shards.shard_dir(db)
    first = write(directory, run_id, [f"p{i}" for i in range(10)])
    write(directory, run_id, [f"p{i}" for i in range(10, 25)], variant="main")
    write(directory, run_id, ["p0", "p1"], variant="reload")
    report = store.ingest_shards(directory)
    assert (report.shards, report.rows, report.skipped) == (3, 27, 0)
    assert list(directory.glob("*.parquet")) == []
    rows = main_rows(store, run_id)
    assert rows.height == 25 and set(rows["n"]) == {1}
    # the fingerprint travels in the shard: the engines row exists for the views
    assert store.sql("select engine_id, dtype from engines").rows() == [(FP.engine_id, "float32")]
    ledger = store.sql("select shard_id, variant, shard_rows from ingested_shards order by 3")
    assert ledger["shard_rows"].to_list() == [2, 10, 15]
    assert first.name.removesuffix(".parquet") in ledger["shard_id"].to_list()


def test_a_shard_ingested_twice_adds_nothing(store: Store, db: Path, tmp_path: Path) -> None:
    run_id = store.start_run("f", {})
    directory = shards.shard_dir(db)
    shard = write(directory, run_id, ["a", "b", "c"])
    copy = tmp_path / "redelivered.bin"
    copy.write_bytes(shard.read_bytes())
    assert store.ingest_shards(directory).rows == 3
    os.replace(copy, shard)  # the same shard delivered again (a retried upload, say)
    report = store.ingest_shards(directory)
    assert (report.shards, report.rows, report.skipped) == (0, 0, 1)
    assert not shard.exists()
    # a different shard holding already stored pairs (a resumed worker) adds only new ones
    write(directory, run_id, ["b", "c", "d"])
    assert store.ingest_shards(directory).rows == 1
    assert sorted(main_rows(store, run_id)["pair_id"]) == ["a", "b", "c", "d"]
    assert set(main_rows(store, run_id)["n"]) == {1}


def test_half_written_shards_are_never_read(store: Store, db: Path) -> None:
    run_id = store.start_run("f", {})
    directory = shards.shard_dir(db)
    write(directory, run_id, ["a"])
    (directory / ".e.main.deadbeef.parquet.tmp").write_bytes(b"PAR1 half a footer")
    assert store.ingest_shards(directory).rows == 1
    assert (directory / ".e.main.deadbeef.parquet.tmp").exists()  # left alone, not loaded
    assert main_rows(store, run_id).height == 1


def test_a_corrupt_shard_is_moved_aside_and_named(store: Store, db: Path) -> None:
    run_id = store.start_run("f", {})
    directory = shards.shard_dir(db)
    write(directory, run_id, ["a"])
    bad = directory / "e.main.0000.parquet"
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(ShardError, match="e.main.0000.parquet"):
        store.ingest_shards(directory)
    assert (directory / "rejected" / bad.name).is_file() and not bad.exists()
    assert store.ingest_shards(directory).rows == 1  # the good one still goes in


def test_a_failed_ingest_writes_nothing(store: Store, db: Path) -> None:
    run_id = store.start_run("f", {})
    directory = shards.shard_dir(db)
    shard = write(directory, run_id, ["a", "b"])
    table = shards.score_table(run_id, "e", FP.engine_id, "main", ["c"], batch(1))
    index = table.schema.get_field_index("activation")
    nulls = table.set_column(index, "activation", pa.nulls(1, pa.string()))
    shards.write_shard(directory, nulls, FP)  # scores.activation is NOT NULL
    with pytest.raises(duckdb.ConstraintException):
        store.ingest_shards(directory)
    assert main_rows(store, run_id).height == 0
    assert store.sql("select count(*) as n from ingested_shards")["n"][0] == 0
    assert shard.exists()  # still waiting: nothing is lost


def test_a_shard_with_other_columns_is_moved_aside(store: Store, db: Path) -> None:
    run_id = store.start_run("f", {})
    directory = shards.shard_dir(db)
    table = shards.score_table(run_id, "e", FP.engine_id, "main", ["c"], batch(1))
    odd = shards.write_shard(directory, table.drop_columns(["activation"]), FP)
    with pytest.raises(ShardError, match=r"differ from .*activation"):
        store.ingest_shards(directory)
    assert (directory / "rejected" / odd.name).is_file()


def test_write_shard_refuses_mixed_or_empty_tables(tmp_path: Path) -> None:
    one = shards.score_table("r1", "e", FP.engine_id, "main", ["a"], batch(1))
    two = shards.score_table("r2", "e", FP.engine_id, "main", ["b"], batch(1))
    with pytest.raises(ValueError, match="one run_id"):
        shards.write_shard(tmp_path, pa.concat_tables([one, two]), FP)
    with pytest.raises(ValueError, match="empty"):
        shards.write_shard(tmp_path, one.slice(0, 0), FP)
    assert list(tmp_path.iterdir()) == []


def _worker(directory: str, run_id: str, worker: int, pairs: int, shards_each: int) -> None:
    """A scoring worker process: writes shards only, never touches the DB."""
    for part in range(shards_each):
        ids = [f"w{worker}-s{part}-p{i}" for i in range(pairs)]
        table = shards.score_table(run_id, f"engine-{worker % 2}", FP.engine_id, "main", ids,
                                   batch(pairs, seed=worker * 100 + part))
        shards.write_shard(directory, table, FP)


def test_concurrent_worker_processes_then_one_ingest(db: Path) -> None:
    """Four processes write shards at once while this process holds the DB open for writing
    (so a worker that opened it would fail on DuckDB's lock); one ingest loads every row once."""
    with Store(db) as holder:
        run_id = holder.start_run("f", {})
        directory = shards.shard_dir(db)
        context = multiprocessing.get_context("spawn")
        workers = [context.Process(target=_worker, args=(str(directory), run_id, w, 500, 5))
                   for w in range(4)]
        for process in workers:
            process.start()
        for process in workers:
            process.join(120)
        assert [p.exitcode for p in workers] == [0, 0, 0, 0]
        assert len(list(directory.glob("*.parquet"))) == 20
        report = holder.ingest_shards(directory)
        assert (report.shards, report.rows) == (20, 4 * 5 * 500)
        counts = holder.sql("select engine_name, count(*) as n, count(distinct pair_id) as d "
                            "from scores group by 1 order by 1")
        assert counts.rows() == [("engine-0", 5000, 5000), ("engine-1", 5000, 5000)]
    with Store(db, read_only=True) as reader:  # the file is consistent after a reopen
        assert reader.sql("select count(*) as n from scores")["n"][0] == 10_000
        assert reader.sql("select sum(shard_rows) as n from ingested_shards")["n"][0] == 10_000


def test_a_worker_cannot_open_a_db_another_process_writes(db: Path, tmp_path: Path) -> None:
    """Why workers write shards: DuckDB gives one process the file; a second writer fails."""
    script = tmp_path / "open.py"
    script.write_text(f"import duckdb\nduckdb.connect({str(db)!r})\n")
    with Store(db):
        done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                              timeout=60)
    assert done.returncode != 0 and "lock" in done.stderr.lower()


def test_run_lock_refuses_a_second_process(tmp_path: Path) -> None:
    script = tmp_path / "lock.py"
    root = str(Path(__file__).resolve().parents[2])
    script.write_text(
        f"import sys\nsys.path.insert(0, {root!r})\nfrom rerankwatch.store import shards\n"
        f"try:\n    shards.hold_run_lock({str(tmp_path)!r}, 'run-1')\n"
        f"except Exception as exc:\n    print(type(exc).__name__, exc)\n    sys.exit(3)\n")
    shards.hold_run_lock(tmp_path, "run-1")
    try:
        busy = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                              timeout=60)
        assert busy.returncode == 3, busy.stderr
        assert RunNotResumable.__name__ in busy.stdout and f"pid {os.getpid()}" in busy.stdout
        shards.hold_run_lock(tmp_path, "run-1")  # re-entrant in the holding process
    finally:
        shards.release_run_lock(tmp_path, "run-1")
    free = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=60)
    assert free.returncode == 0, free.stdout + free.stderr


def test_hostile_run_ids_never_reach_a_path(tmp_path: Path) -> None:
    shards.hold_run_lock(tmp_path, "../../etc/passwd'; drop table runs; --")
    try:
        locks = list((tmp_path / "locks").iterdir())
        assert len(locks) == 1 and locks[0].parent == tmp_path / "locks"
        assert json.dumps(locks[0].name).isascii() and "/" not in locks[0].name
    finally:
        shards.release_run_lock(tmp_path, "../../etc/passwd'; drop table runs; --")
    assert list((tmp_path / "locks").iterdir()) == []


def test_a_shard_from_before_token_snapshots_still_ingests(store: Store, db: Path) -> None:
    run_id = store.start_run("f", {})
    directory = shards.shard_dir(db)
    old = shards.score_table(run_id, "e", FP.engine_id, "main", ["a", "b"], batch(2))
    shards.write_shard(directory, old.select(shards.LEGACY_SCHEMA.names), FP)
    write(directory, run_id, ["c"])  # a current shard beside it, in the same ingest
    assert store.ingest_shards(directory).rows == 3
    found = store.sql("select pair_id, input_tokens, token_hash from scores order by 1")
    assert found.rows() == [("a", None, None), ("b", None, None), ("c", None, None)]
    assert store.sql("select count(*) as n from token_samples")["n"][0] == 0


def test_the_sink_writes_in_order_off_the_caller_thread_and_raises_a_failure(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ShardSink: shards are written on another thread, in the order they were put; a write
    that fails is raised to the caller (at its next put, or at close), the shards before it
    are kept and none after it is written; ``quiet`` keeps the caller's own error first."""
    import threading

    written, threads = [], set()
    real = shards.write_shard

    def recording(directory, table, fingerprint):
        threads.add(threading.current_thread().name)
        if table["pair_id"][0].as_py() == "boom":
            raise OSError("disk full")
        written.append(table["pair_id"][0].as_py())
        return real(directory, table, fingerprint)

    monkeypatch.setattr(shards, "write_shard", recording)
    chunk = lambda pair: shards.score_table("r", "e", FP.engine_id, "main", [pair], batch(1))  # noqa: E731
    sink = shards.ShardSink(tmp_path, FP, depth=1)
    for pair in "abcdef":
        sink.put(chunk(pair))
    sink.close()
    assert written == list("abcdef") and threading.current_thread().name not in threads
    assert len(shards.pending(tmp_path, "r")) == 6

    written.clear()
    sink = shards.ShardSink(tmp_path / "failing", FP)
    sink.put(chunk("a"))
    sink.put(chunk("boom"))
    with pytest.raises(OSError, match="disk full"):
        for pair in "cdefgh":
            sink.put(chunk(pair))
        sink.close()
    sink.close(quiet=True)
    assert written == ["a"]
    with pytest.raises(OSError, match="disk full"):
        sink.close()
