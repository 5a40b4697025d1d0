"""The run sequence, written once: load samples → start the run → score every engine config
(pooled ones in children, the others here) → finish the run → judge → publish.

The three flows (nightly, score-matrix, upgrade-gate) run it with ``RunSteps`` made of their
Prefect tasks (tasks/run.py), so each step is a task run in the UI; ``run_and_judge`` runs it
with the plain functions those tasks wrap (``PLAIN``): replays and tests, no Prefect, pooled
engine configs scored by in-process children (dispatch.IN_PROCESS) through the same shared
storage, jobs and results as a deployed child.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl

from rerankwatch.core.config import RunConfig
from rerankwatch.core.records import SuiteReport
from rerankwatch.pipeline import dispatch, judging, scoring
from rerankwatch.pipeline.session import RunSession


@dataclass(frozen=True)
class RunSteps:
    """Each step of a run, as a callable: the plain functions (``PLAIN``) or the Prefect
    tasks that wrap them (tasks/run.py). ``score_engine`` returns None, or the error of an
    engine config that could not score (already recorded in the run)."""

    load_samples: Callable[[RunConfig], pl.DataFrame]
    start_run: Callable[[RunConfig, pl.DataFrame, str, bool], RunSession]
    score_engine: Callable[[RunSession, str, pl.DataFrame, bool], str | None]
    start_children: Callable[[RunSession, pl.DataFrame], tuple[list[dispatch.Child],
                                                                dict[str, str]]]
    finish_children: Callable[[RunSession, pl.DataFrame, list[dispatch.Child]],
                              dict[str, str]]
    clear_shared: Callable[[RunSession], None]
    finish_run: Callable[[RunSession, dict[str, str], bool], Any]
    judge: Callable[[RunSession, str], SuiteReport]
    publish: Callable[[RunSession, SuiteReport, str], Any]


@dataclass(frozen=True)
class RunOutcome:
    """How a run sequence ended: its session, the engine configs that failed, and (for a
    judged run) its suite report and what publishing it returned."""

    session: RunSession
    failures: dict[str, str]
    report: SuiteReport | None = None
    published: Any = None


def score_all(session: RunSession, pairs: pl.DataFrame, steps: RunSteps,
              force: bool = False) -> dict[str, str]:
    """Score every engine config; returns {engine: error} for the failed ones (each recorded
    in the run; the others still finish).

    Engine configs with a work pool score in children, started first, all at once; the others
    score here meanwhile, one score_engine each, scoring only what the run lacks and copying
    what an identical fingerprint scored unless ``force``."""
    pooled = dispatch.pooled_engines(session.config)
    children, failures = steps.start_children(session, pairs) if pooled else ([], {})
    for engine in session.config.engines:
        if engine.name not in pooled:
            error = steps.score_engine(session, engine.name, pairs, force)
            if error is not None:
                failures[engine.name] = error
    if children:
        failures.update(steps.finish_children(session, pairs, children))
    if pooled and not failures:
        steps.clear_shared(session)
    return failures


def run_sequence(config: RunConfig, flow_name: str, suite: str | None, steps: RunSteps,
                 force: bool = False, command: str | None = None) -> RunOutcome:
    """A whole run: validate the sample sets, open the run (its session), score every engine
    config, close the run, then (``suite``: a judged run) judge it and publish the verdict
    (``command``: the name the published result gives, default the suite)."""
    pairs = steps.load_samples(config)
    session = steps.start_run(config, pairs, flow_name, force)
    failures = score_all(session, pairs, steps, force)
    steps.finish_run(session, failures, suite is not None)
    if suite is None:
        return RunOutcome(session, failures)
    report = steps.judge(session, suite)
    return RunOutcome(session, failures, report, steps.publish(session, report,
                                                                command or suite))


def _score_engine(session: RunSession, engine_name: str, pairs: pl.DataFrame,
                  force: bool) -> str | None:
    try:
        scoring.score_and_store(session, engine_name, pairs, force=force)
    except Exception as exc:  # recorded in the run; the suite turns it into errors
        return str(exc)
    return None


PLAIN = RunSteps(
    load_samples=lambda config: scoring.load_pairs(config),
    start_run=lambda config, pairs, flow_name, force: scoring.begin_run(
        config, pairs, flow_name, force=force),
    score_engine=_score_engine,
    start_children=lambda session, pairs: dispatch.start_children(
        session, pairs, dispatch.IN_PROCESS),
    finish_children=lambda session, pairs, children: dispatch.finish_children(
        session, pairs, children, dispatch.IN_PROCESS),
    clear_shared=dispatch.clear_shared,
    finish_run=lambda session, failures, judged: scoring.end_run(session, failures),
    judge=lambda session, suite: judging.judge_run(session.config, session.run_id, suite),
    publish=lambda session, report, command: report,
)


def run_and_judge(config: RunConfig, flow_name: str, suite: str,
                  force: bool = False) -> tuple[str, SuiteReport]:
    """A whole run without Prefect: ``run_sequence`` with the PLAIN steps (a failed engine
    config is recorded, the others finish), judged with ``suite``. Returns (run id, report)."""
    outcome = run_sequence(config, flow_name, suite, PLAIN, force)
    return outcome.session.run_id, outcome.report
