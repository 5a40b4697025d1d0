"""resume: finish a run that failed or was killed, scoring only what it lacks, then judge it."""

from __future__ import annotations

from prefect import flow

from rerankwatch.core.errors import EngineFailed, GateBlocked
from rerankwatch.tasks.checking import run_checks, write_report
from rerankwatch.tasks.notify import notify_failure
from rerankwatch.tasks.scoring import finish_run, reopen_run, score_all

SUITES = {"nightly": "nightly", "upgrade-gate": "gate"}  # flows whose runs end in a verdict


@flow(name="resume", on_failure=[notify_failure], on_crashed=[notify_failure])
def resume(run_id: str, db: str = "rerankwatch.duckdb", force: bool = False) -> dict:
    """Ingest what a killed attempt left, score the missing pairs and probes of every engine
    config, then run the suite of the flow that started the run (nightly, upgrade-gate)."""
    config, flow_name, pairs = reopen_run(db, run_id)
    failures = score_all(config, run_id, pairs, force)
    finish_run(config, run_id, failures)
    if failures:
        raise EngineFailed(f"run {run_id}: engine(s) failed: {', '.join(failures)}")
    suite = SUITES.get(flow_name)
    if suite is None:
        return {"run_id": run_id, "verdict": None}
    report = run_checks(config, run_id, suite)
    html = write_report(config, run_id) if suite == "nightly" else None
    if report.blocked:
        raise GateBlocked(f"run {run_id}: BLOCKED by {', '.join(report.failing_checks)}")
    return {"run_id": run_id, "verdict": report.verdict, "report": html}
