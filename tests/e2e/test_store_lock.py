"""Readers and a writer of one store, in real processes: a reader waits a bounded time for the
writer, then fails with exit 3 naming the process that holds the store; a new store appears
complete or not at all. Every process started here is stopped by its PID, every wait bounded."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from rerankwatch.cli.sql import run_query
from rerankwatch.core.errors import QueryRefused, StoreBusy
from rerankwatch.store import Store, open_store

RERANKWATCH = [sys.executable, "-c", "from rerankwatch.cli import main; main()"]
BUSY = 3  # README: exit codes
# a writer that opens the store, says so by creating a marker file, then holds it
HOLD = ("import sys, time\n"
        "from rerankwatch.store import Store\n"
        "store = Store(sys.argv[1], migrate=False)\n"
        "open(sys.argv[2], 'w').close()\n"
        "time.sleep(float(sys.argv[3]))\n"
        "store.close()\n")


def rerankwatch(*args: str, wait_s: float, timeout: float = 120) -> tuple[
        subprocess.CompletedProcess, float]:
    """Run the `rerankwatch` command in its own process; (its result, seconds it took)."""
    env = {**os.environ, "RERANKWATCH_LOCK_WAIT_S": str(wait_s)}
    started = time.monotonic()
    done = subprocess.run([*RERANKWATCH, *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    return done, time.monotonic() - started


@contextlib.contextmanager
def holder(db: Path, seconds: float):
    """A process holding ``db`` open for writing for ``seconds``, once it holds it."""
    marker = db.with_suffix(".held")
    writer = subprocess.Popen([sys.executable, "-c", HOLD, str(db), str(marker), str(seconds)])
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert writer.poll() is None, f"the writer exited with {writer.returncode}"
            assert time.monotonic() < deadline, "the writer did not open the store in time"
            time.sleep(0.02)
        yield writer
    finally:
        if writer.poll() is None:
            os.kill(writer.pid, signal.SIGKILL)
        writer.wait(30)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "rw.duckdb"
    with Store(path) as store:
        store.start_run("test", {}, run_id="r1")
    return path


def test_a_reader_waits_for_a_writer_that_lets_go(db: Path) -> None:
    with holder(db, 3.0) as writer:
        done, _ = rerankwatch("sql", "select run_id from runs", "--db", str(db), wait_s=60)
        assert writer.wait(30) == 0  # it let go by itself
    assert done.returncode == 0, done.stderr
    assert "r1" in done.stdout
    assert f"PID {writer.pid}" in done.stderr and "waiting up to 60 s" in done.stderr


def test_a_reader_gives_up_with_the_busy_code_naming_the_holder(db: Path) -> None:
    with holder(db, 300.0) as writer:
        query, took = rerankwatch("sql", "select run_id from runs", "--db", str(db), wait_s=1)
        report, _ = rerankwatch("report", "--db", str(db), wait_s=1)
        still_held = writer.poll() is None
    assert still_held
    assert query.returncode == BUSY, query.stdout + query.stderr
    assert f"PID {writer.pid}" in query.stderr and "busy" in query.stderr
    assert "RERANKWATCH_LOCK_WAIT_S" in query.stderr
    assert took < 60  # it gave up after about a second (plus the command's start)
    assert report.returncode == BUSY, report.stdout + report.stderr
    assert f"PID {writer.pid}" in report.stderr
    # a refused query is still 2: busy is its own code
    refused, _ = rerankwatch("sql", "delete from runs", "--db", str(db), wait_s=1)
    assert refused.returncode == 2


def test_the_store_raises_store_busy_with_the_holder(db: Path) -> None:
    notes: list[str] = []
    with holder(db, 300.0) as writer:
        with pytest.raises(StoreBusy) as busy:
            open_store(db, mode="read", wait_s=0.3, on_wait=notes.append)
    assert busy.value.pid == writer.pid and f"PID {writer.pid}" in str(busy.value)
    assert len(notes) == 1 and f"PID {writer.pid}" in notes[0]  # noted once, when it waited


def test_a_creation_killed_half_way_leaves_no_half_store(tmp_path: Path) -> None:
    """The writer is killed the moment the store's file appears: a reader finds a complete,
    migrated store (today's non-atomic creation left an empty or unmigrated file)."""
    db = tmp_path / "new.duckdb"
    code = "import sys, time\nfrom rerankwatch.store import open_store\n" \
           "open_store(sys.argv[1])\ntime.sleep(300)\n"
    writer = subprocess.Popen([sys.executable, "-c", code, str(db)])
    try:
        deadline = time.monotonic() + 120
        while not db.exists():
            assert writer.poll() is None, f"the writer exited with {writer.returncode}"
            assert time.monotonic() < deadline, "the store was not created in time"
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        if writer.poll() is None:
            os.kill(writer.pid, signal.SIGKILL)
        writer.wait(30)
    assert run_query(db, "select count(*) as n from runs")["n"].to_list() == [0]
    done, _ = rerankwatch("sql", "select count(*) as n from runs", "--db", str(db), wait_s=5)
    assert done.returncode == 0, done.stderr


def test_a_reader_polling_during_creation_never_sees_a_half_store(tmp_path: Path) -> None:
    """A writer creates (and removes) the store again and again; a reader polling through
    `rerankwatch sql`'s query path sees no file, a busy store, or a complete one (the writer
    waits, as the product's writers do, when the reader got in first)."""
    db = tmp_path / "new.duckdb"
    code = ("import os, sys\nfrom rerankwatch.store import open_store\n"
            "for _ in range(int(sys.argv[2])):\n"
            "    open_store(sys.argv[1], wait_s=30).close()\n"  # as begin_run: it waits
            "    os.remove(sys.argv[1])\n")
    writer = subprocess.Popen([sys.executable, "-c", code, str(db), "12"])
    seen: Counter[str] = Counter()
    try:
        deadline = time.monotonic() + 120
        while writer.poll() is None:
            assert time.monotonic() < deadline, "the writer did not finish in time"
            try:
                run_query(db, "select count(*) from runs")
                seen["complete"] += 1
            except StoreBusy:
                seen["busy"] += 1
            except QueryRefused as exc:
                message = str(exc)
                absent = "no such database" in message or "database does not exist" in message
                assert absent, message  # never "not a valid DuckDB database file", nor a
                seen["absent"] += 1  # store without its tables
    finally:
        if writer.poll() is None:
            os.kill(writer.pid, signal.SIGKILL)
        writer.wait(30)
    assert writer.returncode == 0
    assert seen["absent"] > 0  # the reader did poll while there was no store
    assert [p.name for p in tmp_path.iterdir()] == []  # no temporary file left behind
