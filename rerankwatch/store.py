"""DuckDB store: idempotent migrations, Arrow ingest, transactional writes, named queries."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from engines.base import Fingerprint, ScoreBatch

PAIR_COLUMNS = ("pair_id", "set_id", "query_id", "query", "doc_id", "doc", "label", "tags",
                "lang", "ladder", "ladder_rank", "known_irrelevant", "source_file")


def sql_text(kind: str, name: str) -> str:
    """One statement from sql/<kind>/<name>.sql."""
    return resources.files("sql").joinpath(kind, f"{name}.sql").read_text(encoding="utf-8")


def _sql_files(kind: str) -> list[str]:
    folder = resources.files("sql").joinpath(kind)
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".sql"))


def new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


class Store:
    """A DuckDB file holding sample pairs, engine fingerprints, runs, scores and check results."""

    def __init__(self, path: str | Path, read_only: bool = False):
        self.path = str(path)
        self.read_only = read_only
        if not read_only:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.con = duckdb.connect(self.path, read_only=read_only)
        if not read_only:
            self.migrate()

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def migrate(self) -> None:
        """Create tables (sql/schema, in order) and views (sql/views); safe to re-run."""
        with self.transaction():
            for kind in ("schema", "views"):
                for name in _sql_files(kind):
                    self.con.execute(sql_text(kind, name.removesuffix(".sql")))

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """All or nothing: a failure rolls back everything written inside."""
        self.con.begin()
        try:
            yield self.con
        except BaseException:
            self.con.rollback()
            raise
        self.con.commit()

    def sql(self, query: str, **params) -> pl.DataFrame:
        return self.con.sql(query, params=params or None).pl()

    def query(self, name: str, **params) -> pl.DataFrame:
        """Run sql/queries/<name>.sql with named parameters."""
        return self.sql(sql_text("queries", name), **params)

    def _insert(self, table: str, frame: pl.DataFrame, or_ignore: bool = False) -> None:
        arrow = frame.to_arrow()  # noqa: F841 - DuckDB's replacement scan reads it by name
        verb = "insert or ignore" if or_ignore else "insert"
        self.con.execute(f"{verb} into {table} by name select * from arrow")

    def add_pairs(self, pairs: pl.DataFrame) -> None:
        """Store validated sample pairs; pairs already present (same pair_id) are kept."""
        with self.transaction():
            self._insert("sample_pairs", pairs.select(PAIR_COLUMNS), or_ignore=True)

    def start_run(self, flow_name: str, config: dict, flow_run_id: str | None = None,
                  run_id: str | None = None) -> str:
        run_id = run_id or new_run_id()
        self.con.execute(
            "insert into runs (run_id, flow_name, flow_run_id, started_at, status, config) "
            "values ($run_id, $flow, $flow_run_id, $now, 'running', $config)",
            {"run_id": run_id, "flow": flow_name, "flow_run_id": flow_run_id,
             "now": datetime.now(UTC), "config": json.dumps(config)},
        )
        return run_id

    def finish_run(self, run_id: str, status: str, error: str | None = None) -> None:
        self.con.execute(
            "update runs set status = $status, error = $error, finished_at = $now "
            "where run_id = $run_id",
            {"status": status, "error": error, "now": datetime.now(UTC), "run_id": run_id},
        )

    def _register_engine(self, fp: Fingerprint) -> None:
        self.con.execute(
            "insert or ignore into engines values ($id, $kind, $model, $sha, $dtype, $device, "
            "$pooling, $max_length, $activation, $versions, $fingerprint, current_timestamp)",
            {"id": fp.engine_id, "kind": fp.kind, "model": fp.model, "sha": fp.weights_sha256,
             "dtype": fp.dtype, "device": fp.device, "pooling": fp.pooling,
             "max_length": fp.max_length, "activation": fp.activation,
             "versions": json.dumps(fp.versions), "fingerprint": fp.to_json()},
        )

    def _record_engine(self, run_id: str, engine_name: str, engine_id: str | None, status: str,
                       error: str | None = None, pairs: int | None = None,
                       seconds: float | None = None, load_warnings: Sequence[str] = ()) -> None:
        self.con.execute(
            "insert into run_engines (run_id, engine_name, engine_id, status, error, pairs, "
            "score_seconds, load_warnings) values ($run_id, $name, $engine_id, $status, $error, "
            "$pairs, $seconds, $warnings)",
            {"run_id": run_id, "name": engine_name, "engine_id": engine_id, "status": status,
             "error": error, "pairs": pairs, "seconds": seconds,
             "warnings": list(load_warnings)},
        )

    def write_scores(self, run_id: str, engine_name: str, fingerprint: Fingerprint,
                     pair_ids: Sequence[str], batch: ScoreBatch,
                     load_warnings: Sequence[str] = ()) -> None:
        """Commit one engine config's scores, its fingerprint and its status together."""
        sizes = np.bincount(batch.batch_index, minlength=len(batch.batch_seconds))
        per_pair_ms = np.asarray(batch.batch_seconds)[batch.batch_index] * 1000.0
        frame = pl.DataFrame({
            "run_id": run_id, "engine_name": engine_name, "engine_id": fingerprint.engine_id,
            "pair_id": list(pair_ids), "logit": batch.logits, "score": batch.scores,
            "activation": batch.activation, "batch_index": batch.batch_index,
            "latency_ms": per_pair_ms / sizes[batch.batch_index],
        })
        with self.transaction():
            self._register_engine(fingerprint)
            self._insert("scores", frame)
            self._record_engine(run_id, engine_name, fingerprint.engine_id, "succeeded",
                                pairs=len(pair_ids), seconds=batch.seconds,
                                load_warnings=load_warnings)

    def record_engine_failure(self, run_id: str, engine_name: str, error: str) -> None:
        with self.transaction():
            self._record_engine(run_id, engine_name, None, "failed", error=error)
