"""Tasks for the judging half of a flow: run the suite, write the report, publish both."""

from __future__ import annotations

import logging

from prefect import task
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.states import Completed, Failed, State

from rerankwatch.core.config import RunConfig
from rerankwatch.core.errors import VerdictFailed
from rerankwatch.core.records import SuiteReport, Verdict
from rerankwatch.pipeline import judging
from rerankwatch.pipeline.session import RunSession
from rerankwatch.report import ci, stored as reports, terminal as views
from rerankwatch.report.summary import report_verdict_line, verdict_markdown

# where Prefect reports the exception a Failed flow state re-raises in a deployment's process
VERDICT_LOGGERS = ("prefect.flow_runs", "prefect.engine", "prefect.flow_engine")


@task(cache_policy=NO_CACHE)
def run_checks(session: RunSession, suite: str) -> SuiteReport:
    report = judging.judge_run(session.config, session.run_id, suite)
    views.print_suite_report(report)
    return report


@task(cache_policy=NO_CACHE)
def gate_config(config: RunConfig, baseline: str | dict, candidate: str | dict) -> RunConfig:
    return judging.gate_config(config, baseline, candidate)


def candidate_name(config: RunConfig) -> str:
    """A gate config's candidate: its one engine that is not the reference (the baseline)."""
    return next(e.name for e in config.engines if e.name != config.reference)


def verdict_artifact_key(suite: str) -> str:
    """The artifact holding a run's verdict as data (the ``--json`` schema), which a deployed
    gate's client reads (``rerankwatch gate --deployment``)."""
    return f"{suite}-verdict-json"


class _VerdictIsNoCrash(logging.Filter):
    """Drops Prefect's "Engine execution exited with unexpected exception" report (and its
    traceback) of a flow run that ended Failed on its verdict: a verdict is no crash."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], VerdictFailed))


def verdict_state(verdict: Verdict) -> State:
    """A flow's end from its verdict: PASS completes with the verdict as its result; BLOCKED
    and ERROR end Failed with the verdict line as the state's message (what `prefect
    deployment run --watch`, the UI and the hooks show) and a VerdictFailed holding the
    verdict as its data. No exception is raised in the flow, and the engine's report of the
    state it re-raises in a worker's process is dropped: no traceback in the worker's log (a
    crash keeps its own)."""
    if verdict.passed:
        return Completed(message=verdict.line, data=verdict)
    for name in VERDICT_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _VerdictIsNoCrash) for f in logger.filters):
            logger.addFilter(_VerdictIsNoCrash())
    return Failed(message=verdict.line, data=VerdictFailed(verdict))


@task(cache_policy=NO_CACHE)
def publish(session: RunSession, suite_report: SuiteReport, command: str) -> Verdict:
    """Write the run's HTML report where the team reads it (report/stored.py), then the
    ``<suite>-verdict`` and ``<suite>-report`` markdown artifacts (verdict, what was compared,
    each reason in words, where the report is), the ``<suite>-verdict-json`` artifact (the
    verdict as data, the ``--json`` schema) and, where the report is served over http(s), a
    ``<suite>-report-link``. Returns the run's Verdict: what the flow ends with."""
    config, run_id, suite = session.config, suite_report.run_id, suite_report.suite
    candidate = candidate_name(config) if suite == "gate" else None
    stored = reports.store_report(session.db, run_id)
    where, url = stored.where, stored.url
    views.CONSOLE.print(f"report: {where}", markup=False, emoji=False)  # a path, as written
    create_markdown_artifact(
        key=f"{suite}-verdict", description=f"{suite} verdict for run {run_id}",
        markdown=verdict_markdown(suite_report, candidate, where, url, full=False))
    create_markdown_artifact(
        key=f"{suite}-report", description=f"{suite} report of run {run_id}: {run_id}.html",
        markdown=verdict_markdown(suite_report, candidate, where, url))
    if url:
        create_link_artifact(key=f"{suite}-report-link", link=url,
                             link_text=f"rerankwatch report {run_id}")
    payload = ci.run_payload(session.db, run_id, command, suite_report.exit_code)
    create_markdown_artifact(
        key=verdict_artifact_key(suite), description=f"{suite} verdict of run {run_id} as data "
        f"({ci.SCHEMA})", markdown=ci.payload_markdown(payload))
    (run,) = payload["runs"]
    return Verdict(run_id=run_id, suite=suite, outcome=suite_report.verdict,
                   line=report_verdict_line(suite_report, candidate),
                   reasons=tuple(run["reasons"]),
                   failing_checks=tuple(suite_report.failing_checks), report=where,
                   report_url=url)
