"""nightly: score every engine × precision on every sample set, then run the suite."""

from __future__ import annotations

from prefect import flow

from rerankwatch.tasks.checking import verdict_state
from rerankwatch.tasks.notify import notify_failure
from rerankwatch.tasks.run import run_flow
from rerankwatch.tasks.scoring import read_config


@flow(name="nightly", on_failure=[notify_failure], on_crashed=[notify_failure])
def nightly(config_path: str | None = None, db: str | None = None, force: bool = False):
    """Ends Failed (blocking the upgrade) when the verdict is BLOCKED or ERROR, its message the
    verdict line; ``force`` rescores pairs an identical fingerprint scored before."""
    config = read_config(config_path, db)
    return verdict_state(run_flow(config, "nightly", "nightly", force).published)
