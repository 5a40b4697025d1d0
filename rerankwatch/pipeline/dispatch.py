"""Pooled engine configs, the plain half: what the parent asks of a child, what the child
does, and how the parent takes its scores in. How a child is started and waited on is a
``Launcher``: the Prefect one (a child flow run of the ``score-engine`` deployment per engine
config, all started at once, then waited on together) is ``rerankwatch.tasks.dispatch``;
``IN_PROCESS`` runs the child's work here, at once (runs without Prefect: replays, tests).

parent: ``start_children`` (``collect`` what earlier children left, publish the pairs, then per
engine config ``prepare_job`` from the store → job in shared storage → launch); child:
``score_job`` (never opens DuckDB: pairs and job in, shards and a result out); parent:
``finish_children`` (wait, ``collect``: shards into the store's idempotent ingest →
``finish_job``), then ``clear_shared`` once the run is complete.

A pooled engine config scores every pair its run lacks: copying an identical fingerprint's
earlier scores needs the fingerprint before scoring, and only the child loads the engine.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from rerankwatch.core.config import RunConfig
from rerankwatch.core.errors import EngineFailed, RerankwatchError
from rerankwatch.core.provenance import ScoredBy, scored_by, scoring_as
from rerankwatch.core.records import Fingerprint
from rerankwatch.core.redact import redact_config
from rerankwatch.pipeline import scoring
from rerankwatch.pipeline.session import INGEST_WAIT_S, RunSession
from rerankwatch.store.shared import SharedRun

LOG = logging.getLogger("rerankwatch.pipeline.dispatch")


def pooled_engines(config: RunConfig) -> list[str]:
    """The engine configs of a run that score on a work pool (their own, or their
    environment's), in a child."""
    return [e.name for e in config.engines if config.pool_for(e)[0]]


def prepare_job(session: RunSession, engine_name: str, pairs: pl.DataFrame) -> dict | None:
    """What one pooled engine config still has to score in a run, read from the store (after
    ``collect``); None when it already succeeded. The config goes redacted, like the run's."""
    config, run_id = session.config, session.run_id
    subset = scoring.engine_pairs(config, engine_name, pairs)
    with session.open() as store:
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


def plan_job(run_id: str, job: dict, pairs: pl.DataFrame) -> scoring.EnginePlan:
    """Step 1 in a pooled child: the plan_engine of ``job`` (what the parent read from the
    store), without the store: load the engine, enforce the length policy, refuse a
    fingerprint that changed within the run. Nothing is copied (only the child knows the
    fingerprint), so every pair the job lists is scored."""
    config = RunConfig.model_validate(job["config"])
    engine_name = job["engine_name"]
    engine_config = config.engine(engine_name)
    subset = scoring.engine_pairs(config, engine_name, pairs)
    engine = scoring.load_engine(config, engine_config)
    fingerprint = engine.fingerprint()
    scoring.check_lengths(engine, subset, config.truncation_for(engine_config))
    scoring.check_fingerprint(engine_name, run_id, set(job["engine_ids"]), fingerprint)
    todo = subset.filter(pl.col("pair_id").is_in(job["todo"]))
    return scoring.EnginePlan(config, engine_config, run_id, subset, todo, engine, fingerprint,
                              False, 0, job["batch_offset"], list(engine.load_warnings))


@dataclass
class SharedStorage:
    """The destination of a pooled child (scoring.Destination): shards staged in
    ``directory``, moved to shared storage after each chunk and probe (a killed child keeps
    what it finished), the probes its job lists, no spot check (it copied nothing), and its
    outcome written as the result the parent records (``finish_job``)."""

    shared: SharedRun
    directory: Path
    job: dict
    who: ScoredBy
    started: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def after_chunk(self) -> None:
        self.shared.upload_shards(self.directory)

    def after_probe(self) -> None:
        self.shared.upload_shards(self.directory)

    def spot_candidates(self, plan: scoring.EnginePlan) -> list[list[str]]:
        return []  # nothing was copied

    def probes_todo(self, plan: scoring.EnginePlan,
                    variants: tuple[str, ...]) -> list[tuple[str, pl.DataFrame]]:
        return [(variant, probe) for group, probe in scoring.probe_groups(plan.pairs)
                for variant in group
                if variant in variants and variant not in self.job["probes_done"]]

    def record(self, plan: scoring.EnginePlan, scored: int) -> dict:
        self.shared.upload_shards(self.directory)
        result = {"fingerprint": json.loads(plan.fingerprint.to_json()),
                  "engine_id": plan.fingerprint.engine_id,
                  "probe_variants": list(scoring.probe_variants(plan.engine)),
                  "load_warnings": plan.load_warnings, "scored": scored,
                  "scored_by": self.who.columns(), "started_at": self.started,
                  "finished_at": datetime.now(UTC).isoformat()}
        self.shared.write_result(plan.name, result)
        return result


def score_job(shared: SharedRun, engine_name: str, who: ScoredBy,
              staging: Path | None = None) -> dict:
    """A child flow run's work: read the job and the pairs, plan (plan_job), then the steps
    every engine config runs (scoring.run_engine) into shared storage; never opens DuckDB.
    Returns the result the parent records."""
    job = shared.read_job(engine_name)
    started = datetime.now(UTC).isoformat()
    plan = plan_job(shared.run_id, job, shared.read_pairs())
    with tempfile.TemporaryDirectory(prefix="rerankwatch-child-") as folder:
        where = SharedStorage(shared, staging or Path(folder), job, who, started)
        result = scoring.run_engine(plan, where)
    scoring.close_engine(plan.engine)
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


def collect(session: RunSession, shared: SharedRun) -> int:
    """Copy the shards waiting in shared storage into the session's shard folder, ingest them
    (idempotent), then delete them from shared storage; returns how many were taken in.
    Shared storage out of reach raises StorageError and leaves everything where it was."""
    names = shared.fetch_shards(session.shard_dir)
    if names:
        session.ingest(INGEST_WAIT_S)
        shared.delete_shards(names)
    return len(names)


def finish_job(session: RunSession, engine_name: str, result: dict,
               pairs: pl.DataFrame) -> scoring.EngineOutcome:
    """Record a pooled engine config's success (after ``collect``), with the host, flow run,
    pool and worker its child reported; every pair must have its main score."""
    subset = scoring.engine_pairs(session.config, engine_name, pairs)
    with scoring_as(ScoredBy(**result["scored_by"])):
        return scoring.record_success(session, engine_name, subset,
                                      Fingerprint(**result["fingerprint"]),
                                      result["load_warnings"], result["scored"], register=True,
                                      missing_means="have no score after its child flow run")


def record_failure(session: RunSession, engine_name: str, error: str) -> None:
    """A pooled engine config failed (its child, or taking its scores in): recorded in the
    run, so the suite turns it into errors."""
    scoring.record_failure(session, engine_name, EngineFailed(error))


@dataclass
class Child:
    """A started child: which engine config, on which pool, as which flow run, how long it
    may take (``timeout_s`` from ``time.monotonic()`` at ``started``); ``error``: how an
    in-process child ended (None: completed)."""

    engine_name: str
    pool: str
    flow_run_id: str
    flow_run_name: str
    timeout_s: float
    started: float
    error: str | None = None

    def named(self) -> str:
        return f"child flow run {self.flow_run_name!r} ({self.flow_run_id}) on work pool " \
               f"{self.pool!r}"


@dataclass(frozen=True)
class Launcher:
    """How children start and end: ``launch(session, engine_name, pool, job_variables)``
    starts one (a Child; raising: it was not started) once its job is in shared storage;
    ``wait(children)`` returns {engine: None} for each completed child, {engine: error} for
    the others."""

    launch: Callable[[RunSession, str, str, dict], Child]
    wait: Callable[[list[Child]], dict[str, str | None]]


def _launch_here(session: RunSession, engine_name: str, pool: str, variables: dict) -> Child:
    """A child's work in this process, at once: score_job from shared storage, as the child
    flow run would, by this host."""
    child = Child(engine_name, pool, "", f"score-{engine_name}-{session.run_id} (in process)",
                  session.config.engine(engine_name).timeout_s, time.monotonic())
    try:
        score_job(SharedRun(session.config.shared_url, session.run_id), engine_name,
                  scored_by())
    except Exception as exc:
        child.error = f"{child.named()} failed: {type(exc).__name__}: {exc}"
    return child


IN_PROCESS = Launcher(_launch_here, lambda children: {c.engine_name: c.error
                                                      for c in children})


def start_children(session: RunSession, pairs: pl.DataFrame,
                   launcher: Launcher) -> tuple[list[Child], dict[str, str]]:
    """Take in what earlier children left in shared storage, publish the run's pairs and
    a job per pooled engine config still lacking scores, and launch its child.
    Returns the children and {engine: error} for those that could not be started (each
    recorded in the run)."""
    config, run_id = session.config, session.run_id
    shared = SharedRun(config.shared_url, run_id)
    engines = pooled_engines(config)
    try:
        collect(session, shared)
        shared.publish_pairs(pairs)
    except RerankwatchError as exc:
        failures = {name: str(exc) for name in engines}
        record_failures(session, failures)
        return [], failures
    children, failures = [], {}
    for name in engines:
        pool, variables = config.pool_for(config.engine(name))
        try:
            job = prepare_job(session, name, pairs)
            if job is None:
                continue  # succeeded in an earlier attempt
            if (result := finished_earlier(shared, job)) is not None:
                finish_job(session, name, result, pairs)
                continue
            shared.write_job(name, job)
            child = launcher.launch(session, name, pool, variables)
        except Exception as exc:
            failures[name] = f"engine {name!r} (work pool {pool!r}) was not started: {exc}"
            continue
        LOG.info("engine %s: child flow run %s on work pool %s", name, child.flow_run_name,
                 pool)
        children.append(child)
    record_failures(session, failures)
    return children, failures


def finish_children(session: RunSession, pairs: pl.DataFrame, children: list[Child],
                    launcher: Launcher) -> dict[str, str]:
    """Wait on the children, take their shards in, record each engine config; returns
    {engine: error} for the failed ones (each recorded in the run)."""
    outcome = launcher.wait(children)
    run_id = session.run_id
    shared = SharedRun(session.config.shared_url, run_id)
    failures = {name: error for name, error in outcome.items() if error}
    try:
        collect(session, shared)
    except RerankwatchError as exc:  # nothing was taken in: every child's engine fails
        failures.update({name: f"{exc} (the scores stay there: `rerankwatch resume "
                               f"{run_id}` takes them in)"
                         for name in outcome if name not in failures})
    for name in outcome:
        if name in failures:
            continue
        try:
            result = shared.read_result(name)
            if result is None:
                raise RerankwatchError(f"engine {name!r}: its child completed but left no "
                                       f"result in {shared.where('results')}")
            finish_job(session, name, result, pairs)
        except RerankwatchError as exc:
            failures[name] = str(exc)
    record_failures(session, failures)
    return failures


def clear_shared(session: RunSession) -> None:
    """The run is complete: drop its pairs, jobs and results from shared storage."""
    try:
        SharedRun(session.config.shared_url, session.run_id).clear()
    except RerankwatchError as exc:
        LOG.warning("%s", exc)


def record_failures(session: RunSession, failures: dict[str, str]) -> None:
    for name, error in failures.items():
        record_failure(session, name, error)
