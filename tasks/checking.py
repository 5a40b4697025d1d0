"""Tasks for the judging half of a flow: run the suite, write the report, publish both."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from rerankwatch.core.config import RunConfig
from rerankwatch.core.records import SuiteReport
from rerankwatch.pipeline import judging
from rerankwatch.report import stored as reports, terminal as views
from rerankwatch.report.summary import verdict_markdown


@task(cache_policy=NO_CACHE)
def run_checks(config: RunConfig, run_id: str, suite: str) -> SuiteReport:
    report = judging.judge_run(config, run_id, suite)
    views.print_suite_report(report)
    return report


@task(cache_policy=NO_CACHE)
def gate_config(config: RunConfig, baseline: str | dict, candidate: str | dict) -> RunConfig:
    return judging.gate_config(config, baseline, candidate)


def candidate_name(config: RunConfig) -> str:
    """A gate config's candidate: its one engine that is not the reference (the baseline)."""
    return next(e.name for e in config.engines if e.name != config.reference)


@task(cache_policy=NO_CACHE)
def publish(config: RunConfig, suite_report: SuiteReport, candidate: str | None = None) -> str:
    """Write the run's HTML report where the team reads it (report/stored.py), then the
    ``<suite>-verdict`` and ``<suite>-report`` markdown artifacts (verdict, what was compared,
    each blocking failure in words, where the report is) and, where the report is served over
    http(s), a ``<suite>-report-link``."""
    run_id, suite = suite_report.run_id, suite_report.suite
    stored = reports.store_report(config.db_path, run_id)
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
    return where
