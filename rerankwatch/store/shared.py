"""The storage a run's pooled engine configs share with the parent flow (``shards_url``).

A parent flow publishes the run's pairs and one job per pooled engine config; the child flow
run that scores it (on whatever worker its pool has) reads them and writes its score shards
and a result beside them; it never opens DuckDB. The parent copies the shards into the store's
shard folder, where the idempotent ingest loads them, and only then deletes them here::

    <shards_url>/runs/<run_id>/pairs.parquet
                              jobs/<engine>.json     what the parent asks of one engine config
                              results/<engine>.json  what its child did (fingerprint, host, …)
                              shards/*.parquet       its scores (shards.write_shard's format)

``shards_url`` is a local or network path, or ``s3://bucket/prefix``: the endpoint and the
credentials come from the environment (``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``, or ``~/.aws``), never from
the config, so they are never stored, logged or fingerprinted. Files go through pyarrow's
filesystems (pyarrow.fs: local and S3), with bounded timeouts
(``RERANKWATCH_STORAGE_TIMEOUT_S``, default 20 s per request).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import polars as pl
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from rerankwatch.core.errors import StorageError
from rerankwatch.core.files import atomic_write
from rerankwatch.core.settings import settings

TIMEOUT_ENV = "RERANKWATCH_STORAGE_TIMEOUT_S"


def _timeout() -> float:
    return float(settings().storage_timeout_s)


def filesystem(url: str, create_buckets: bool = False) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem and base path of ``url`` (a path, file:// or s3://);
    ``create_buckets``: creating a bucket's folder creates the bucket (`store init`)."""
    parts = urlsplit(url)
    if parts.scheme == "s3":
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        options: dict = {}
        if endpoint:
            ends = urlsplit(endpoint)
            options = {"endpoint_override": ends.netloc or endpoint,
                       "scheme": ends.scheme or "https"}
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        fs = pafs.S3FileSystem(region=region or "us-east-1", connect_timeout=_timeout(),
                               request_timeout=_timeout(),
                               retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=2),
                               allow_bucket_creation=create_buckets, **options)
        return fs, f"{parts.netloc}{parts.path}".rstrip("/")
    path = parts.path if parts.scheme == "file" else url
    return pafs.LocalFileSystem(), str(Path(path).expanduser().resolve())


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def put_whole(fs: pafs.FileSystem, path: str, data: bytes) -> None:
    """Write one file whole: on S3 a PUT is atomic; locally a temporary name, renamed, so a
    reader never sees half a file."""
    if isinstance(fs, pafs.LocalFileSystem):
        atomic_write(path, data)
        return
    with fs.open_output_stream(path) as out:  # object stores have no folders to make
        out.write(data)


def put_file(url: str, data: bytes) -> None:
    """Write ``data`` whole at ``url`` (a path, file:// or s3://); StorageError naming the URL
    when it cannot be reached."""
    try:
        fs, path = filesystem(url)
        put_whole(fs, path, data)
    except (OSError, ValueError) as exc:  # pyarrow's IO errors are OSErrors
        raise StorageError(f"storage {url}: cannot write: {_first_line(exc)}") from None


def get_file(url: str) -> bytes | None:
    """The bytes at ``url`` (a path, file:// or s3://), None when nothing is there;
    StorageError naming the URL when it cannot be reached."""
    try:
        fs, path = filesystem(url)
        if fs.get_file_info(path).type != pafs.FileType.File:
            return None
        with fs.open_input_stream(path) as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise StorageError(f"storage {url}: cannot read: {_first_line(exc)}") from None


class SharedRun:
    """One run's folder in shared storage; every failure to reach it raises StorageError
    naming the URL (never a credential: there is none in it)."""

    def __init__(self, url: str, run_id: str):
        self.url, self.run_id = url.rstrip("/"), run_id
        self.fs, base = filesystem(url)
        self.root = f"{base}/runs/{run_id}"
        self.local = isinstance(self.fs, pafs.LocalFileSystem)

    def where(self, *parts: str) -> str:
        return "/".join((self.url, "runs", self.run_id, *parts))

    @contextmanager
    def _reaching(self, what: str) -> Iterator[None]:
        try:
            yield
        except StorageError:
            raise
        except FileNotFoundError:
            raise
        except (OSError, ValueError) as exc:  # pyarrow's IO errors are OSErrors
            raise StorageError(f"shared storage {self.url}: cannot {what}: "
                               f"{_first_line(exc)}") from None

    def _put(self, rel: str, data: bytes) -> None:
        """Write one file whole: on S3 a PUT is atomic; locally a temporary name, renamed."""
        with self._reaching(f"write {self.where(rel)}"):
            put_whole(self.fs, f"{self.root}/{rel}", data)

    def _get(self, rel: str) -> bytes:
        with self._reaching(f"read {self.where(rel)}"):
            with self.fs.open_input_stream(f"{self.root}/{rel}") as handle:
                return handle.read()

    def exists(self, rel: str) -> bool:
        with self._reaching(f"list {self.where(rel)}"):
            return self.fs.get_file_info(f"{self.root}/{rel}").type != pafs.FileType.NotFound

    # the parent's side
    def publish_pairs(self, pairs: pl.DataFrame) -> None:
        import io

        buffer = io.BytesIO()
        pairs.write_parquet(buffer)
        self._put("pairs.parquet", buffer.getvalue())

    def write_job(self, engine_name: str, job: dict) -> None:
        self._put(f"jobs/{engine_name}.json", json.dumps(job).encode())

    def read_result(self, engine_name: str) -> dict | None:
        try:
            return json.loads(self._get(f"results/{engine_name}.json"))
        except FileNotFoundError:
            return None

    def shard_names(self) -> list[str]:
        with self._reaching(f"list {self.where('shards')}"):
            infos = self.fs.get_file_info(pafs.FileSelector(f"{self.root}/shards",
                                                            allow_not_found=True))
        return sorted(i.base_name for i in infos
                      if i.type == pafs.FileType.File and i.base_name.endswith(".parquet")
                      and not i.base_name.startswith("."))

    def fetch_shards(self, directory: Path) -> list[str]:
        """Copy every shard here into ``directory`` (the store's shard folder: a temporary
        name, then renamed, as the ingest expects); returns the names copied."""
        directory.mkdir(parents=True, exist_ok=True)
        names = self.shard_names()
        for name in names:
            if (directory / name).exists():
                continue
            atomic_write(directory / name, self._get(f"shards/{name}"))
        return names

    def delete_shards(self, names: list[str]) -> None:
        with self._reaching(f"delete shards in {self.where('shards')}"):
            for name in names:
                try:
                    self.fs.delete_file(f"{self.root}/shards/{name}")
                except FileNotFoundError:
                    continue

    def clear(self) -> None:
        """Remove the run's folder (the run ended and every shard is in the store)."""
        with self._reaching(f"delete {self.where()}"):
            try:
                self.fs.delete_dir(self.root)
            except FileNotFoundError:
                pass

    # the child's side
    def read_pairs(self) -> pl.DataFrame:
        import io

        return pl.read_parquet(io.BytesIO(self._get("pairs.parquet")))

    def read_job(self, engine_name: str) -> dict:
        try:
            return json.loads(self._get(f"jobs/{engine_name}.json"))
        except FileNotFoundError:
            raise StorageError(f"no job for engine {engine_name!r} at "
                               f"{self.where('jobs', engine_name + '.json')}") from None

    def write_result(self, engine_name: str, result: dict) -> None:
        self._put(f"results/{engine_name}.json", json.dumps(result).encode())

    def upload_shards(self, directory: Path) -> int:
        """Move the complete shards of a local staging folder here; returns how many."""
        moved = 0
        for path in sorted(directory.glob("*.parquet")):
            pq.read_metadata(path)  # complete (write_shard renames only whole files)
            self._put(f"shards/{path.name}", path.read_bytes())
            path.unlink()
            moved += 1
        return moved
