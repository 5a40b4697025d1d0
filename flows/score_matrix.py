"""score-matrix: score every configured engine config on its sample sets and store it all."""

from __future__ import annotations

from prefect import flow

from rerankwatch.errors import EngineFailed
from tasks.scoring import finish_run, load_samples, read_config, score_engine, start_run


@flow(name="score-matrix")
def score_matrix(config_path: str | None = None, db: str | None = None) -> str:
    """Load → validate → score each engine config (one task each) → store; returns the run id."""
    config = read_config(config_path, db)
    pairs = load_samples(config)
    run_id = start_run(config, pairs, "score-matrix")
    states = {e.name: score_engine(config, e.name, run_id, pairs, return_state=True)
              for e in config.engines}
    failures = {name: str(state.message) for name, state in states.items() if state.is_failed()}
    finish_run(config, run_id, failures)
    if failures:
        raise EngineFailed(f"run {run_id}: engine(s) failed: {', '.join(failures)}")
    return run_id
