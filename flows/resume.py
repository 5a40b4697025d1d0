"""resume: finish a run that failed or was killed, scoring only what it lacks, then judge it."""

from __future__ import annotations

from prefect import flow

from rerankwatch.core.errors import EngineFailed, GateBlocked
from rerankwatch.core.home import db_or_default
from rerankwatch.report.summary import blocked_message
from rerankwatch.tasks.checking import candidate_name, publish, run_checks
from rerankwatch.tasks.notify import notify_failure
from rerankwatch.tasks.scoring import finish_run, reopen_run, score_all

SUITES = {"nightly": "nightly", "upgrade-gate": "gate"}  # flows whose runs end in a verdict


@flow(name="resume", on_failure=[notify_failure], on_crashed=[notify_failure])
def resume(run_id: str, db: str | None = None, force: bool = False) -> dict:
    """Ingest what a killed attempt left, score the missing pairs and probes of every engine
    config, then run the suite of the flow that started the run (nightly, upgrade-gate)."""
    config, flow_name, pairs = reopen_run(str(db_or_default(db)), run_id)
    failures = score_all(config, run_id, pairs, force)
    finish_run(config, run_id, failures)
    if failures:
        raise EngineFailed(f"run {run_id}: engine(s) failed: {', '.join(failures)}")
    suite = SUITES.get(flow_name)
    if suite is None:
        return {"run_id": run_id, "verdict": None}
    report = run_checks(config, run_id, suite)
    candidate = candidate_name(config) if suite == "gate" else None
    html = publish(config, report, candidate)
    if report.blocked:
        raise GateBlocked(blocked_message(report, html, candidate))
    return {"run_id": run_id, "verdict": report.verdict, "report": html}
