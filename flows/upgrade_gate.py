"""upgrade-gate: score baseline and candidate on the same sets; PASS, BLOCKED or ERROR, with
the same HTML report and artifacts as the nightly, and the verdict as data for CI
(`rerankwatch gate --deployment`)."""

from __future__ import annotations

from prefect import flow

from rerankwatch.tasks.checking import gate_config, verdict_state
from rerankwatch.tasks.notify import notify_failure
from rerankwatch.tasks.run import run_flow
from rerankwatch.tasks.scoring import read_config


@flow(name="upgrade-gate", on_failure=[notify_failure], on_crashed=[notify_failure])
def upgrade_gate(baseline: str | dict, candidate: str | dict, config_path: str | None = None,
                 db: str | None = None):
    """Scores an identical fingerprint already stored (the baseline's, say) are copied."""
    config = gate_config(read_config(config_path, db), baseline, candidate)
    return verdict_state(run_flow(config, "upgrade-gate", "gate").published)
