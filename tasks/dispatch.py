"""Pooled engine configs, the Prefect half: one child flow run of the ``score-engine/<pool>``
deployment per engine config that names a work pool, all started at once (``run_deployment``
without waiting), then waited on together, each to its ``timeout_s``. A child that fails,
crashes, is cancelled, times out or never starts (no worker polls its pool) fails its engine
config only, with an error naming the pool and the child flow run.
"""

from __future__ import annotations

import logging
import time

import polars as pl
from prefect import task
from prefect.cache_policies import NO_CACHE

from rerankwatch.core.errors import RerankwatchError
from rerankwatch.pipeline import dispatch
from rerankwatch.pipeline.dispatch import Child
from rerankwatch.pipeline.session import RunSession

LOG = logging.getLogger("rerankwatch.tasks.dispatch")
DEPLOYMENT = "score-engine"
POLL_S = 2.0
NOT_STARTED = ("SCHEDULED", "PENDING")  # state types of a flow run no worker has taken


def launch_child(session: RunSession, engine_name: str, pool: str, variables: dict) -> Child:
    """Start the child flow run of one pooled engine config (its job is in shared storage),
    without waiting on it."""
    from prefect.deployments import run_deployment

    try:
        flow_run = run_deployment(
            f"{DEPLOYMENT}/{pool}", timeout=0, job_variables=variables or None,
            parameters={"run_id": session.run_id, "engine_name": engine_name,
                        "shards_url": session.config.shared_url},
            flow_run_name=f"score-{engine_name}-{session.run_id}",
            tags=["rerankwatch", engine_name])
    except Exception as exc:
        if type(exc).__name__ == "ObjectNotFound":
            raise RerankwatchError(f"no deployment {DEPLOYMENT}/{pool} on the Prefect "
                                   f"server: run `rerankwatch deploy --config CONFIG`, "
                                   f"which registers one per work pool the config names") \
                from None
        raise
    return Child(engine_name, pool, str(flow_run.id), flow_run.name,
                 session.config.engine(engine_name).timeout_s, time.monotonic())
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


DEPLOYED = dispatch.Launcher(launch_child, wait_children)


@task(cache_policy=NO_CACHE)
def start_children(session: RunSession,
                   pairs: pl.DataFrame) -> tuple[list[Child], dict[str, str]]:
    """Publish the run's pairs and a job per pooled engine config still lacking scores, and
    start its child flow run (pipeline/dispatch.start_children)."""
    return dispatch.start_children(session, pairs, DEPLOYED)


@task(cache_policy=NO_CACHE)
def finish_children(session: RunSession, pairs: pl.DataFrame,
                    children: list[Child]) -> dict[str, str]:
    """Wait on the child flow runs, take their shards in, record each engine config."""
    return dispatch.finish_children(session, pairs, children, DEPLOYED)


@task(cache_policy=NO_CACHE)
def clear_shared(session: RunSession) -> None:
    """The run is complete: drop its pairs, jobs and results from shared storage."""
    dispatch.clear_shared(session)
