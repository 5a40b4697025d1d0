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
                       seconds: float | None = None, load_warnings: Sequence[str] = (),
                       reused_from_run: str | None = None) -> None:
        self.con.execute(
            "insert into run_engines (run_id, engine_name, engine_id, status, error, pairs, "
            "score_seconds, load_warnings, reused_from_run) values ($run_id, $name, $engine_id, "
            "$status, $error, $pairs, $seconds, $warnings, $reused_from_run)",
            {"run_id": run_id, "name": engine_name, "engine_id": engine_id, "status": status,
             "error": error, "pairs": pairs, "seconds": seconds,
             "warnings": list(load_warnings), "reused_from_run": reused_from_run},
        )

    def write_scores(self, run_id: str, engine_name: str, fingerprint: Fingerprint,
                     scored: Sequence[tuple[str, Sequence[str], ScoreBatch]],
                     load_warnings: Sequence[str] = ()) -> None:
        """Commit one engine config's scores (main + probes), fingerprint and status together.

        ``scored`` holds (variant, pair_ids, batch) with variant main, reload or swapped.
        """
        frames = []
        for variant, pair_ids, batch in scored:
            sizes = np.bincount(batch.batch_index, minlength=len(batch.batch_seconds))
            per_pair_ms = np.asarray(batch.batch_seconds)[batch.batch_index] * 1000.0
            frames.append(pl.DataFrame({
                "run_id": run_id, "engine_name": engine_name,
                "engine_id": fingerprint.engine_id, "pair_id": list(pair_ids),
                "variant": variant, "logit": batch.logits, "score": batch.scores,
                "activation": batch.activation, "batch_index": batch.batch_index,
                "latency_ms": per_pair_ms / sizes[batch.batch_index],
            }))
        main = next(b for v, _, b in scored if v == "main")
        with self.transaction():
            self._register_engine(fingerprint)
            self._insert("scores", pl.concat(frames))
            self._record_engine(run_id, engine_name, fingerprint.engine_id, "succeeded",
                                pairs=len(main.scores), seconds=main.seconds,
                                load_warnings=load_warnings)

    def reusable_run(self, engine_id: str, pair_ids: Sequence[str]) -> str | None:
        """The latest run whose main scores by this exact fingerprint cover every pair."""
        found = self.sql(sql_text("queries", "q_reusable_run"), engine_id=engine_id,
                         pair_ids=list(pair_ids), n=len(set(pair_ids)))
        return found["run_id"][0] if found.height else None

    def reuse_scores(self, source_run: str, run_id: str, engine_name: str, engine_id: str,
                     pair_ids: Sequence[str]) -> None:
        """Copy stored scores (main + probes) of an identical fingerprint into this run."""
        with self.transaction():
            self.con.execute(
                "insert into scores by name select $run_id as run_id, $name as engine_name, "
                "engine_id, pair_id, variant, logit, score, activation, batch_index, latency_ms, "
                "scored_at from scores where run_id = $source and engine_id = $engine_id "
                "and list_contains($pair_ids, pair_id)",
                {"run_id": run_id, "name": engine_name, "source": source_run,
                 "engine_id": engine_id, "pair_ids": list(pair_ids)})
            previous = self.sql("select load_warnings, score_seconds from run_engines "
                                "where run_id = $r and engine_id = $e and status = 'succeeded' "
                                "limit 1", r=source_run, e=engine_id)
            self._record_engine(run_id, engine_name, engine_id, "succeeded",
                                pairs=len(set(pair_ids)), seconds=previous["score_seconds"][0],
                                load_warnings=previous["load_warnings"].to_list()[0] or [],
                                reused_from_run=source_run)

    def suite_frames(self, run_id: str) -> dict[str, pl.DataFrame]:
        """What a suite reads for one run: main scores, probe scores, engine statuses."""
        return {
            "scores": self.sql("select * from v_run_scores where run_id = $r", r=run_id),
            "probes": self.sql("select * from v_probe_scores where run_id = $r", r=run_id),
            "engines": self.sql("select * from v_run_engine_status where run_id = $r "
                                "order by engine_name", r=run_id),
        }

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
            self.con.execute(
                "insert into verdicts (run_id, suite, verdict, reference, candidates, "
                "failing_checks) values ($run_id, $suite, $verdict, $reference, $candidates, "
                "$failing)",
                {"run_id": report.run_id, "suite": report.suite, "verdict": report.verdict,
                 "reference": report.reference, "candidates": candidates,
                 "failing": report.failing_checks})

    def record_engine_failure(self, run_id: str, engine_name: str, error: str) -> None:
        with self.transaction():
            self._record_engine(run_id, engine_name, None, "failed", error=error)
