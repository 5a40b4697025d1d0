"""score-matrix: score every configured engine config on its sample sets and store it all."""

from __future__ import annotations

from prefect import flow

from rerankwatch.core.errors import EngineFailed
from rerankwatch.tasks.scoring import finish_run, load_samples, read_config, score_all, start_run


@flow(name="score-matrix")
def score_matrix(config_path: str | None = None, db: str | None = None,
                 force: bool = False) -> str:
    """Load → validate → score each engine config (one task each) → store; returns the run id.

    Pairs an identical fingerprint scored before are copied, unless ``force``."""
    config = read_config(config_path, db)
    pairs = load_samples(config)
    run_id = start_run(config, pairs, "score-matrix", force)
    failures = score_all(config, run_id, pairs, force)
    finish_run(config, run_id, failures, judged=False)
    if failures:
        raise EngineFailed(f"run {run_id}: engine(s) failed: {', '.join(failures)}")
    return run_id
