"""Pooled engine configs, the plain half: what the parent asks of a child flow run, what the
child does, and how the parent takes its scores in. The Prefect half (starting child flow runs
of the ``score-engine`` deployment and waiting on them) is ``rerankwatch.tasks.dispatch``.

parent: ``prepare_job`` (from the store: what the engine config still lacks) → job in shared
storage; child: ``score_job`` (never opens DuckDB: pairs and job in, shards and a result out);
parent: ``collect`` (shards into the store's idempotent ingest) → ``finish_job``.

A pooled engine config scores every pair its run lacks: copying an identical fingerprint's
earlier scores needs the fingerprint before scoring, and only the child loads the engine.
"""

from __future__ import annotations

import json
import logging
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from rerankwatch.core.config import RunConfig
from rerankwatch.core.errors import EngineFailed
from rerankwatch.core.provenance import ScoredBy, scoring_as
from rerankwatch.core.records import Fingerprint
from rerankwatch.core.redact import redact_config
from rerankwatch.pipeline import scoring
from rerankwatch.pipeline.progress import progress_bar
from rerankwatch.store import shards
from rerankwatch.store.shared import SharedRun

LOG = logging.getLogger("rerankwatch.pipeline.dispatch")


def engine_pairs(config: RunConfig, engine_name: str, pairs: pl.DataFrame) -> pl.DataFrame:
    return pairs.filter(pl.col("set_id").is_in(config.sets_for(config.engine(engine_name))))


def prepare_job(config: RunConfig, run_id: str, engine_name: str,
                pairs: pl.DataFrame) -> dict | None:
    """What one pooled engine config still has to score in a run, read from the store (after
    ``collect``); None when it already succeeded. The config goes redacted, like the run's."""
    subset = engine_pairs(config, engine_name, pairs)
    with scoring._store(config.db_path) as store:
        if store.engine_status(run_id, engine_name) == "succeeded":
            return None
        done = store.scored_pair_ids(run_id, engine_name, "main")
        probes_done = [variant for group, probe in scoring.probe_groups(subset)
                       for variant in group
                       if store.scored_pair_ids(run_id, engine_name, variant)
                       >= set(probe["pair_id"])]
        return {"config": redact_config(config.model_dump(mode="json")),
                "engine_name": engine_name,
                "todo": sorted(set(subset["pair_id"]) - done),
                "probes_done": probes_done,
                "batch_offset": store.next_batch_index(run_id, engine_name, "main"),
                "engine_ids": sorted(store.engine_ids_in_run(run_id, engine_name))}


def score_job(shared: SharedRun, engine_name: str, who: ScoredBy,
              staging: Path | None = None) -> dict:
    """A child flow run's work: read the job and the pairs, load the engine, score the main
    pairs and probes the job lists into shards (moved to shared storage chunk by chunk, so a
    killed child keeps what it finished), then write the result the parent records."""
    job = shared.read_job(engine_name)
    config = RunConfig.model_validate(job["config"])
    engine_config = config.engine(engine_name)
    subset = engine_pairs(config, engine_name, shared.read_pairs())
    todo = subset.filter(pl.col("pair_id").is_in(job["todo"]))
    started = datetime.now(UTC).isoformat()
    engine = scoring.load_engine(config, engine_config)
    fingerprint = engine.fingerprint()
    changed = set(job["engine_ids"]) - {fingerprint.engine_id}
    if changed:
        raise EngineFailed(f"engine {engine_name!r} changed since run {shared.run_id} stored "
                           f"its first scores (fingerprint {sorted(changed)[0]} → "
                           f"{fingerprint.engine_id}); start a new run")
    scoring.check_lengths(engine, subset, config.truncation_for(engine_config))
    plan = scoring.EnginePlan(config, engine_config, shared.run_id, subset, todo, engine,
                              fingerprint, False, 0, job["batch_offset"],
                              list(engine.load_warnings))
    with tempfile.TemporaryDirectory(prefix="rerankwatch-child-") as folder:
        staging = staging or Path(folder)

        def upload() -> None:
            shared.upload_shards(staging)

        scored = 0
        if todo.height:
            with progress_bar(engine_name, todo.height) as advance:
                scored = scoring.score_chunks(engine, fingerprint, shared.run_id, engine_name,
                                              todo, staging, config.chunk_pairs,
                                              job["batch_offset"], upload, advance,
                                              subset.height)
        probes = [(variant, probe) for group, probe in scoring.probe_groups(subset)
                  for variant in group if variant in scoring.probe_variants(engine)
                  and variant not in job["probes_done"]]
        scoring.score_probe_list(plan, probes, staging, upload)
        upload()
    result = {"fingerprint": json.loads(fingerprint.to_json()),
              "engine_id": fingerprint.engine_id,
              "probe_variants": list(scoring.probe_variants(engine)),
              "load_warnings": plan.load_warnings, "scored": scored,
              "scored_by": who.columns(), "started_at": started,
              "finished_at": datetime.now(UTC).isoformat()}
    shared.write_result(engine_name, result)
    scoring._close(plan.engine)
    return result


def finished_earlier(shared: SharedRun, job: dict) -> dict | None:
    """The result of an earlier child of this engine config whose scores are all in the store
    now (it completed, but taking its shards in failed): nothing left to dispatch."""
    result = shared.read_result(job["engine_name"])
    if result is None or job["todo"]:
        return None
    if result["engine_id"] not in job["engine_ids"]:
        return None
    return result if set(result["probe_variants"]) <= set(job["probes_done"]) else None


def collect(config: RunConfig, shared: SharedRun) -> int:
    """Copy the shards waiting in shared storage into the store's shard folder, ingest them
    (idempotent), then delete them from shared storage; returns how many were taken in.
    Shared storage out of reach raises StorageError and leaves everything where it was."""
    names = shared.fetch_shards(shards.shard_dir(config.db_path))
    if names:
        scoring.ingest(config.db_path, shared.run_id, scoring.INGEST_WAIT_S)
        shared.delete_shards(names)
    return len(names)


def finish_job(config: RunConfig, run_id: str, engine_name: str, result: dict,
               pairs: pl.DataFrame) -> scoring.EngineOutcome:
    """Record a pooled engine config's success (after ``collect``), with the host, flow run,
    pool and worker its child reported; every pair must have its main score."""
    fingerprint = Fingerprint(**result["fingerprint"])
    subset = engine_pairs(config, engine_name, pairs)
    with scoring_as(ScoredBy(**result["scored_by"])), scoring._store(config.db_path) as store:
        store.register_engine(fingerprint)
        missing = set(subset["pair_id"]) - store.scored_pair_ids(run_id, engine_name, "main")
        if missing:
            raise EngineFailed(f"engine {engine_name!r}: {len(missing)} pairs have no score "
                               f"after its child flow run")
        source = store.record_engine_success(run_id, engine_name, fingerprint.engine_id,
                                             result["load_warnings"])
    return scoring.EngineOutcome(engine_name, subset.height, source, result["scored"])


def record_failure(config: RunConfig, run_id: str, engine_name: str, error: str) -> None:
    """A pooled engine config failed (its child, or taking its scores in): recorded in the
    run, so the suite turns it into errors."""
    scoring._record_failure(config, run_id, engine_name, EngineFailed(error))
