"""Tasks for the scoring half of a flow: config, samples, engines, store."""

from __future__ import annotations

import logging
import os

import polars as pl
from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed

from rerankwatch.core.config import RunConfig
from rerankwatch.core.provenance import ScoredBy, scored_by, scoring_as
from rerankwatch.core.settings import settings
from rerankwatch.pipeline import scoring
from rerankwatch.pipeline.config import load_config
from rerankwatch.report import terminal as views
from rerankwatch.tasks import dispatch

DEBUG_ENV = "RERANKWATCH_DEBUG"  # --debug: an engine's traceback is logged where it failed


@task(cache_policy=NO_CACHE)
def read_config(config_path: str | None, db: str | None) -> RunConfig:
    config = load_config(config_path)
    return config.model_copy(update={"db": db}) if db else config


@task(cache_policy=NO_CACHE)
def load_samples(config: RunConfig) -> pl.DataFrame:
    return scoring.load_pairs(config)


@task(cache_policy=NO_CACHE)
def start_run(config: RunConfig, pairs: pl.DataFrame, flow_name: str,
              force: bool = False) -> str:
    from prefect.runtime import flow_run

    return scoring.begin_run(config, pairs, flow_name, flow_run.get_id(), force)


@task(cache_policy=NO_CACHE)
def reopen_run(db: str, run_id: str) -> tuple[RunConfig, str, pl.DataFrame, bool]:
    """The run to resume: its config, flow name, pairs and whether it was started --force."""
    return (*scoring.reopen_run(db, run_id), scoring.run_forced(db, run_id))


def flow_run_provenance() -> ScoredBy:
    """This host, and the flow run this runs in: its id, its work pool and the worker that
    started it (a deployment's run; none when a command runs the flow itself)."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    flow_run = context.flow_run if context else None
    return ScoredBy(host=scored_by().host,
                    flow_run_id=str(flow_run.id) if flow_run else None,
                    work_pool=getattr(flow_run, "work_pool_name", None),
                    worker=os.environ.get("PREFECT__WORKER_NAME"))


@task(cache_policy=NO_CACHE, task_run_name="score-{engine_name}")
def score_engine(config: RunConfig, engine_name: str, run_id: str, pairs: pl.DataFrame,
                 force: bool = False):
    """One engine config's scoring. An engine that cannot score is recorded against the run
    (pipeline/scoring logs its one line) and ends this task Failed with that error as the
    message, not as an exception: the run's verdict (ERROR) says it, once, without a
    traceback in the worker's log (--debug or a DEBUG log level shows it)."""
    with scoring_as(flow_run_provenance()):
        try:
            return scoring.score_and_store(config, engine_name, run_id, pairs, force=force)
        except Exception as exc:
            debug = settings().debug
            logging.getLogger(__name__).log(logging.ERROR if debug else logging.DEBUG,
                                            "engine %s could not score", engine_name,
                                            exc_info=True)
            return Failed(message=f"{type(exc).__name__}: {exc}")


def score_all(config: RunConfig, run_id: str, pairs: pl.DataFrame,
              force: bool = False) -> dict[str, str]:
    """Score every engine config; returns {engine: error} for the failed ones.

    Engine configs with a work pool score in child flow runs (tasks/dispatch.py), started
    first, all at once; the others score here meanwhile, one score_engine task each, scoring
    only what the run lacks and copying what an identical fingerprint scored unless ``force``."""
    pooled = dispatch.pooled_engines(config)
    children, failures = dispatch.start_children(config, run_id, pairs) if pooled else ([], {})
    states = {e.name: score_engine(config, e.name, run_id, pairs, force=force,
                                   return_state=True)
              for e in config.engines if e.name not in pooled}
    failures.update({name: str(state.message) for name, state in states.items()
                     if state.is_failed()})
    if children:
        failures.update(dispatch.finish_children(config, run_id, pairs, children))
    if pooled and not failures:
        dispatch.clear_shared(config, run_id)
    return failures


@task(cache_policy=NO_CACHE, task_run_name="score-{engine_name}")
def score_job(run_id: str, engine_name: str, shards_url: str) -> dict:
    """A child flow run's scoring of one pooled engine config (pipeline/dispatch.score_job)."""
    from rerankwatch.pipeline.dispatch import score_job as score
    from rerankwatch.store.shared import SharedRun

    return score(SharedRun(shards_url, run_id), engine_name, flow_run_provenance())


@task(cache_policy=NO_CACHE)
def finish_run(config: RunConfig, run_id: str, failures: dict[str, str],
               judged: bool = True) -> pl.DataFrame:
    """Close the run and print its summary (the errors only for a run no verdict follows)."""
    summary = scoring.end_run(config, run_id, failures)
    views.print_run_summary(run_id, config.reference, summary, errors=not judged)
    return summary
