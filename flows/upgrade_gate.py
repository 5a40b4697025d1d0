"""upgrade-gate: score baseline and candidate on the same sets; PASS, BLOCKED or ERROR, with
the same HTML report and artifacts as the nightly, and the verdict as data for CI
(`rerankwatch gate --deployment`)."""

from __future__ import annotations

from prefect import flow

from rerankwatch.tasks.checking import gate_config, publish, run_checks, verdict_state
from rerankwatch.tasks.notify import notify_failure
from rerankwatch.tasks.scoring import finish_run, load_samples, read_config, score_all, start_run


@flow(name="upgrade-gate", on_failure=[notify_failure], on_crashed=[notify_failure])
def upgrade_gate(baseline: str | dict, candidate: str | dict, config_path: str | None = None,
                 db: str | None = None):
    """Scores an identical fingerprint already stored (the baseline's, say) are copied."""
    config = gate_config(read_config(config_path, db), baseline, candidate)
    pairs = load_samples(config)
    run_id = start_run(config, pairs, "upgrade-gate")
    failures = score_all(config, run_id, pairs)
    finish_run(config, run_id, failures)
    report = run_checks(config, run_id, "gate")
    return verdict_state(publish(config, report, "gate"))
