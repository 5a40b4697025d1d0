"""resume: finish a run that failed or was killed, scoring only what it lacks, then judge it."""

from __future__ import annotations

from prefect import flow

from rerankwatch.core.errors import EngineFailed
from rerankwatch.core.home import db_or_default
from rerankwatch.pipeline.run import score_all
from rerankwatch.tasks.checking import publish, run_checks, verdict_state
from rerankwatch.tasks.notify import notify_failure
from rerankwatch.tasks.run import TASKS
from rerankwatch.tasks.scoring import finish_run, reopen_run

SUITES = {"nightly": "nightly", "upgrade-gate": "gate"}  # flows whose runs end in a verdict


@flow(name="resume", on_failure=[notify_failure], on_crashed=[notify_failure])
def resume(run_id: str, db: str | None = None, force: bool = False):
    """Ingest what a killed attempt left, score the missing pairs and probes of every engine
    config, then run the suite of the flow that started the run (nightly, upgrade-gate): an
    engine config that still cannot score makes the verdict ERROR, unless a check BLOCKS."""
    session, flow_name, pairs, forced = reopen_run(str(db_or_default(db)), run_id)
    failures = score_all(session, pairs, TASKS, force or forced)  # a --force run stays so
    finish_run(session, failures, judged=flow_name in SUITES)
    suite = SUITES.get(flow_name)
    if suite is None:
        if failures:
            raise EngineFailed(f"run {run_id}: engine(s) failed: {', '.join(failures)}")
        return run_id  # a score-matrix run: scored, not judged (as score-matrix returns)
    report = run_checks(session, suite)
    return verdict_state(publish(session, report, "resume"))
