"""Tasks for the judging half of a flow: run the suite, publish the verdict."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from rerankwatch.core.config import RunConfig
from rerankwatch.core.records import SuiteReport
from rerankwatch.pipeline import judging
from rerankwatch.report import html as report, terminal as views


@task(cache_policy=NO_CACHE)
def run_checks(config: RunConfig, run_id: str, suite: str) -> SuiteReport:
    report = judging.judge_run(config, run_id, suite)
    views.print_suite_report(report)
    create_markdown_artifact(key=f"{suite}-verdict", markdown=views.suite_markdown(report),
                             description=f"{suite} verdict for run {run_id}")
    return report


@task(cache_policy=NO_CACHE)
def gate_config(config: RunConfig, baseline: str | dict, candidate: str | dict) -> RunConfig:
    return judging.gate_config(config, baseline, candidate)


@task(cache_policy=NO_CACHE)
def write_report(config: RunConfig, run_id: str) -> str:
    path = report.write_report(config.db_path, run_id)
    views.CONSOLE.print(f"report: {path}", markup=False, emoji=False)  # a path, as written
    create_link_artifact(key="nightly-report", link=path.resolve().as_uri(),
                         link_text=f"rerankwatch report {run_id}")
    return str(path)
