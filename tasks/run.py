"""The run sequence (pipeline/run.py) with each step a Prefect task, so a flow's run shows
read-config, load-samples, start-run, score-<engine> (and the pooled engines' children),
finish-run, run-checks and publish in the UI, as it always did."""

from __future__ import annotations

import polars as pl

from rerankwatch.core.config import RunConfig
from rerankwatch.pipeline.run import RunOutcome, RunSteps, run_sequence
from rerankwatch.pipeline.session import RunSession
from rerankwatch.tasks import dispatch
from rerankwatch.tasks.checking import publish, run_checks
from rerankwatch.tasks.scoring import finish_run, load_samples, score_engine, start_run


def _score_engine(session: RunSession, engine_name: str, pairs: pl.DataFrame,
                  force: bool) -> str | None:
    """One score_engine task run; its Failed state's message is the engine's error."""
    state = score_engine(session, engine_name, pairs, force=force, return_state=True)
    return str(state.message) if state.is_failed() else None


TASKS = RunSteps(
    load_samples=load_samples,
    start_run=start_run,
    score_engine=_score_engine,
    start_children=dispatch.start_children,
    finish_children=dispatch.finish_children,
    clear_shared=dispatch.clear_shared,
    finish_run=lambda session, failures, judged: finish_run(session, failures, judged),
    judge=run_checks,
    publish=publish,
)


def run_flow(config: RunConfig, flow_name: str, suite: str | None, force: bool = False,
             command: str | None = None) -> RunOutcome:
    """The body of a flow: the run sequence, each step a task of this flow run."""
    return run_sequence(config, flow_name, suite, TASKS, force, command)
