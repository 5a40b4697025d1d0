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
from rerankwatch.pipeline.session import RunSession
from rerankwatch.report import terminal as views

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
              force: bool = False) -> RunSession:
    """Open the run (a Prefect retry of the flow run reopens its run): its session."""
    from prefect.runtime import flow_run

    return scoring.begin_run(config, pairs, flow_name, flow_run.get_id(), force)


@task(cache_policy=NO_CACHE)
def reopen_run(db: str, run_id: str) -> tuple[RunSession, str, pl.DataFrame, bool]:
    """The run to resume: its session, flow name, pairs and whether it was started --force."""
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
def score_engine(session: RunSession, engine_name: str, pairs: pl.DataFrame,
                 force: bool = False):
    """One engine config's scoring. An engine that cannot score is recorded against the run
    (pipeline/scoring logs its one line) and ends this task Failed with that error as the
    message, not as an exception: the run's verdict (ERROR) says it, once, without a
    traceback in the worker's log (--debug or a DEBUG log level shows it)."""
    with scoring_as(flow_run_provenance()):
        try:
            return scoring.score_and_store(session, engine_name, pairs, force=force)
        except Exception as exc:
            debug = settings().debug
            logging.getLogger(__name__).log(logging.ERROR if debug else logging.DEBUG,
                                            "engine %s could not score", engine_name,
                                            exc_info=True)
            return Failed(message=f"{type(exc).__name__}: {exc}")


@task(cache_policy=NO_CACHE, task_run_name="score-{engine_name}")
def score_job(run_id: str, engine_name: str, shards_url: str) -> dict:
    """A child flow run's scoring of one pooled engine config (pipeline/dispatch.score_job)."""
    from rerankwatch.pipeline.dispatch import score_job as score
    from rerankwatch.store.shared import SharedRun

    return score(SharedRun(shards_url, run_id), engine_name, flow_run_provenance())


@task(cache_policy=NO_CACHE)
def finish_run(session: RunSession, failures: dict[str, str],
               judged: bool = True) -> pl.DataFrame:
    """Close the run and print its summary (the errors only for a run no verdict follows)."""
    summary = scoring.end_run(session, failures)
    views.print_run_summary(session.run_id, session.config.reference, summary,
                            errors=not judged)
    return summary
