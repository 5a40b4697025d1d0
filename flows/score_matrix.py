"""score-matrix: score every configured engine config on its sample sets and store it all."""

from __future__ import annotations

from prefect import flow

from rerankwatch.core.errors import EngineFailed
from rerankwatch.tasks.run import run_flow
from rerankwatch.tasks.scoring import read_config


@flow(name="score-matrix")
def score_matrix(config_path: str | None = None, db: str | None = None,
                 force: bool = False) -> str:
    """Load → validate → score each engine config (one task each) → store; returns the run id.

    Pairs an identical fingerprint scored before are copied, unless ``force``."""
    config = read_config(config_path, db)
    outcome = run_flow(config, "score-matrix", None, force)
    run_id = outcome.session.run_id
    if outcome.failures:
        raise EngineFailed(f"run {run_id}: engine(s) failed: {', '.join(outcome.failures)}")
    return run_id
