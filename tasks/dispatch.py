"""Pooled engine configs, the Prefect half: one child flow run of the ``score-engine/<pool>``
deployment per engine config that names a work pool, all started at once (``run_deployment``
without waiting), then waited on together, each to its ``timeout_s``. A child that fails,
crashes, is cancelled, times out or never starts (no worker polls its pool) fails its engine
config only, with an error naming the pool and the child flow run.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import polars as pl
from prefect import task
from prefect.cache_policies import NO_CACHE

from rerankwatch.core.config import RunConfig
from rerankwatch.core.errors import RerankwatchError
from rerankwatch.pipeline import dispatch
from rerankwatch.store.shared import SharedRun

LOG = logging.getLogger("rerankwatch.tasks.dispatch")
DEPLOYMENT = "score-engine"
POLL_S = 2.0
NOT_STARTED = ("SCHEDULED", "PENDING")  # state types of a flow run no worker has taken


@dataclass
class Child:
    engine_name: str
    pool: str
    flow_run_id: str
    flow_run_name: str
    timeout_s: float
    started: float  # time.monotonic() at dispatch

    def named(self) -> str:
        return f"child flow run {self.flow_run_name!r} ({self.flow_run_id}) on work pool " \
               f"{self.pool!r}"


def pooled_engines(config: RunConfig) -> list[str]:
    return [e.name for e in config.engines if config.pool_for(e)[0]]


@task(cache_policy=NO_CACHE)
def start_children(config: RunConfig, run_id: str,
                   pairs: pl.DataFrame) -> tuple[list[Child], dict[str, str]]:
    """Take in what earlier children left in shared storage, publish the run's pairs and
    a job per pooled engine config still lacking scores, and start its child flow run.
    Returns the children and {engine: error} for those that could not be started."""
    from prefect.deployments import run_deployment

    shared = SharedRun(config.shared_url, run_id)
    engines = pooled_engines(config)
    try:
        dispatch.collect(config, shared)
        shared.publish_pairs(pairs)
    except RerankwatchError as exc:
        failures = {name: str(exc) for name in engines}
        _record(config, run_id, failures)
        return [], failures
    children, failures = [], {}
    for name in engines:
        engine = config.engine(name)
        pool, variables = config.pool_for(engine)
        try:
            job = dispatch.prepare_job(config, run_id, name, pairs)
            if job is None:
                continue  # succeeded in an earlier attempt
            if (result := dispatch.finished_earlier(shared, job)) is not None:
                dispatch.finish_job(config, run_id, name, result, pairs)
                continue
            shared.write_job(name, job)
            flow_run = run_deployment(
                f"{DEPLOYMENT}/{pool}", timeout=0, job_variables=variables or None,
                parameters={"run_id": run_id, "engine_name": name,
                            "shards_url": config.shared_url},
                flow_run_name=f"score-{name}-{run_id}", tags=["rerankwatch", name])
        except Exception as exc:
            if type(exc).__name__ == "ObjectNotFound":
                exc = RerankwatchError(f"no deployment {DEPLOYMENT}/{pool} on the Prefect "
                                       f"server: run `rerankwatch deploy --config CONFIG`, "
                                       f"which registers one per work pool the config names")
            failures[name] = f"engine {name!r} (work pool {pool!r}) was not started: {exc}"
            continue
        LOG.info("engine %s: child flow run %s on work pool %s", name, flow_run.name, pool)
        children.append(Child(name, pool, str(flow_run.id), flow_run.name, engine.timeout_s,
                              time.monotonic()))
    _record(config, run_id, failures)
    return children, failures


def _record(config: RunConfig, run_id: str, failures: dict[str, str]) -> None:
    for name, error in failures.items():
        dispatch.record_failure(config, run_id, name, error)


def _stop(client, child: Child, state_type: str) -> None:
    from prefect.states import Cancelled, Cancelling

    state = Cancelling if state_type == "RUNNING" else Cancelled
    try:
        client.set_flow_run_state(child.flow_run_id, state(
            message=f"rerankwatch: timed out after {child.timeout_s:g} s"), force=True)
    except Exception as exc:  # the error the engine gets says what happened anyway
        LOG.warning("could not cancel %s: %s", child.named(), exc)


def wait_children(children: list[Child], poll_s: float = POLL_S) -> dict[str, str | None]:
    """Wait until every child ended or passed its timeout (then it is cancelled);
    {engine: None} for a completed child, {engine: error} for the others."""
    from prefect.client.orchestration import get_client

    outcome: dict[str, str | None] = {}
    waiting = list(children)
    with get_client(sync_client=True) as client:
        while waiting:
            for child in list(waiting):
                state = client.read_flow_run(child.flow_run_id).state
                kind = state.type.value if state else "SCHEDULED"
                if state is not None and state.is_final():
                    waiting.remove(child)
                    outcome[child.engine_name] = None if state.is_completed() else (
                        f"{child.named()} ended {state.name}: {state.message or 'no message'}")
                elif time.monotonic() - child.started > child.timeout_s:
                    waiting.remove(child)
                    _stop(client, child, kind)
                    why = (f"no worker took it from pool {child.pool!r}"
                           if kind in NOT_STARTED else f"it was still {state.name}")
                    outcome[child.engine_name] = (f"{child.named()} did not finish within "
                                                  f"timeout_s = {child.timeout_s:g} s ({why})")
            if waiting:
                time.sleep(poll_s)
    return outcome


@task(cache_policy=NO_CACHE)
def finish_children(config: RunConfig, run_id: str, pairs: pl.DataFrame,
                    children: list[Child]) -> dict[str, str]:
    """Wait on the children, take their shards in, record each engine config; returns
    {engine: error} for the failed ones (each recorded in the run)."""
    outcome = wait_children(children)
    shared = SharedRun(config.shared_url, run_id)
    failures = {name: error for name, error in outcome.items() if error}
    try:
        dispatch.collect(config, shared)
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
            dispatch.finish_job(config, run_id, name, result, pairs)
        except RerankwatchError as exc:
            failures[name] = str(exc)
    _record(config, run_id, failures)
    return failures


@task(cache_policy=NO_CACHE)
def clear_shared(config: RunConfig, run_id: str) -> None:
    """The run is complete: drop its pairs, jobs and results from shared storage."""
    try:
        SharedRun(config.shared_url, run_id).clear()
    except RerankwatchError as exc:
        LOG.warning("%s", exc)
