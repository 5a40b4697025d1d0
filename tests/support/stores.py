"""Real servers behind a shared store, for tests: PostgreSQL (a DuckLake catalog) and moto's
S3 API (shards_url, a lake's data_path), each started on 127.0.0.1 and stopped by PID, every
wait bounded."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.prefect_server import free_port, log_tail, stop, wait_for

BUCKET = "rerankwatch-test"
S3_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_REGION": "us-east-1"}


@dataclass
class S3Server:
    endpoint: str
    process: subprocess.Popen
    client: object

    @property
    def env(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL_S3": self.endpoint, **S3_KEYS}


@contextlib.contextmanager
def moto_s3(folder: Path, bucket: str = BUCKET) -> Iterator[S3Server]:
    """moto's standalone S3 server on loopback with one bucket."""
    import boto3

    port, log = free_port(), folder / "moto.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p",
             str(port)], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing",
                          aws_secret_access_key="testing", region_name="us-east-1")
    try:
        def up():
            if process.poll() is not None:
                pytest.fail(f"moto_server exited with {process.returncode}: {log_tail(log)}")
            try:
                client.list_buckets()
                return True
            except Exception:
                return False

        wait_for(up, 60, "moto's S3 server", interval=0.5)
        client.create_bucket(Bucket=bucket)
        yield S3Server(endpoint, process, client)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGCONT)
        stop(process)


def postgres_binaries() -> str | None:
    """Why PostgreSQL cannot run here (None: it can)."""
    missing = [b for b in ("initdb", "postgres", "createdb") if shutil.which(b) is None]
    return f"PostgreSQL binaries missing: {missing}" if missing else None


@contextlib.contextmanager
def postgres(database: str = "lake") -> Iterator[str]:
    """A PostgreSQL server on 127.0.0.1 (trust auth, one database); yields its libpq conninfo.
    PostgreSQL refuses to run as root: as root, the cluster belongs to and runs as nobody (in
    a folder of its own under the temp dir, which nobody can reach, unlike pytest's)."""
    as_user = {"user": "nobody"} if os.geteuid() == 0 else {}
    folder = Path(tempfile.mkdtemp(prefix="rerankwatch-pg-"))
    data, log = folder / "data", folder / "postgres.log"
    if as_user:
        os.chown(folder, *_ids("nobody"))
    done = subprocess.run(["initdb", "-D", str(data), "-U", "rw", "--auth=trust",
                           "--no-sync"], capture_output=True, text=True, timeout=120, **as_user)
    if done.returncode:
        pytest.fail(f"initdb failed: {done.stderr[-2000:]}")
    port = free_port()
    with log.open("w") as out:
        if as_user:
            os.chown(log, *_ids("nobody"))
        process = subprocess.Popen(
            ["postgres", "-D", str(data), "-p", str(port), "-k", str(folder), "-c",
             "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=60"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, **as_user)
    conninfo = f"host=127.0.0.1 port={port} user=rw"
    try:
        def up():
            if process.poll() is not None:
                pytest.fail(f"postgres exited with {process.returncode}: {log_tail(log)}")
            return "ready to accept connections" in log_tail(log, 20000)

        wait_for(up, 60, "PostgreSQL", interval=0.3)
        made = subprocess.run(["createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "rw",
                               database], capture_output=True, text=True, timeout=60)
        if made.returncode:
            pytest.fail(f"createdb failed: {made.stderr}")
        yield f"dbname={database} {conninfo}"
    finally:
        stop(process)
        shutil.rmtree(folder, ignore_errors=True)


def _ids(user: str) -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid
