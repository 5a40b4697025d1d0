"""nightly: score every engine × precision on every sample set, then run the suite."""

from __future__ import annotations

from prefect import flow

from rerankwatch.tasks.checking import publish, run_checks, verdict_state
from rerankwatch.tasks.notify import notify_failure
from rerankwatch.tasks.scoring import finish_run, load_samples, read_config, score_all, start_run


@flow(name="nightly", on_failure=[notify_failure], on_crashed=[notify_failure])
def nightly(config_path: str | None = None, db: str | None = None, force: bool = False):
    """Ends Failed (blocking the upgrade) when the verdict is BLOCKED or ERROR, its message the
    verdict line; ``force`` rescores pairs an identical fingerprint scored before."""
    config = read_config(config_path, db)
    pairs = load_samples(config)
    run_id = start_run(config, pairs, "nightly", force)
    failures = score_all(config, run_id, pairs, force)
    finish_run(config, run_id, failures)
    report = run_checks(config, run_id, "nightly")
    return verdict_state(publish(config, report, "nightly"))
