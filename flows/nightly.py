"""nightly: score every engine × precision on every sample set, then run the suite."""

from __future__ import annotations

from prefect import flow

from rerankwatch.core.errors import GateBlocked
from rerankwatch.report.summary import blocked_message
from rerankwatch.tasks.checking import publish, run_checks
from rerankwatch.tasks.notify import notify_failure
from rerankwatch.tasks.scoring import finish_run, load_samples, read_config, score_all, start_run


@flow(name="nightly", on_failure=[notify_failure], on_crashed=[notify_failure])
def nightly(config_path: str | None = None, db: str | None = None, force: bool = False) -> dict:
    """Fails (blocking the upgrade) when any blocking check fails or errors; ``force`` rescores
    pairs an identical fingerprint scored before."""
    config = read_config(config_path, db)
    pairs = load_samples(config)
    run_id = start_run(config, pairs, "nightly")
    failures = score_all(config, run_id, pairs, force)
    finish_run(config, run_id, failures)
    report = run_checks(config, run_id, "nightly")
    html = publish(config, report)
    if report.blocked:
        raise GateBlocked(blocked_message(report, html))
    return {"run_id": run_id, "verdict": report.verdict, "report": html}
