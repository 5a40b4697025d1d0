"""Plain scoring steps the tasks wrap: samples → engine → store."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import polars as pl

from engines import build_engine
from rerankwatch.config import RunConfig
from rerankwatch.progress import progress_bar
from rerankwatch.samples import load_sample_sets
from rerankwatch.store import Store

LOG = logging.getLogger("rerankwatch.scoring")


@dataclass(frozen=True, slots=True)
class EngineOutcome:
    engine_name: str
    status: str  # succeeded | failed
    pairs: int = 0
    error: str | None = None


def load_pairs(config: RunConfig) -> pl.DataFrame:
    """Validate every configured sample set; raises SampleSetError before anything is written."""
    return load_sample_sets({s.name: config.resolve_path(s.path) for s in config.sample_sets})


def begin_run(config: RunConfig, pairs: pl.DataFrame, flow_name: str,
              flow_run_id: str | None = None) -> str:
    """Store the validated pairs and open a run; returns its id."""
    with Store(config.db_path) as store:
        store.add_pairs(pairs)
        return store.start_run(flow_name, config.model_dump(mode="json"), flow_run_id)


def score_and_store(config: RunConfig, engine_name: str, run_id: str,
                    pairs: pl.DataFrame) -> EngineOutcome:
    """Score one engine config on its sample sets and commit the scores.

    A failure is recorded against the run (engine name and error) and re-raised.
    """
    engine_config = config.engine(engine_name)
    subset = pairs.filter(pl.col("set_id").is_in(config.sets_for(engine_config)))
    texts = list(zip(subset["query"], subset["doc"], strict=True))
    db = config.db_path
    try:
        engine = build_engine(engine_config)
        with progress_bar(f"{engine_name}", len(texts)) as advance:
            batch = engine.score(texts, on_batch=advance)
        with Store(db) as store:
            store.write_scores(run_id, engine_name, engine.fingerprint(), subset["pair_id"],
                               batch, engine.load_warnings)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        LOG.error("engine %s failed: %s", engine_name, error)
        with Store(db) as store:
            store.record_engine_failure(run_id, engine_name, error)
        raise
    return EngineOutcome(engine_name, "succeeded", len(texts))


def end_run(config: RunConfig, run_id: str, failures: dict[str, str]) -> pl.DataFrame:
    """Mark the run succeeded or failed (naming failed engines); return its summary."""
    error = "; ".join(f"{name}: {err}" for name, err in failures.items()) or None
    with Store(config.db_path) as store:
        store.finish_run(run_id, "failed" if failures else "succeeded", error)
        return store.query("q_run_summary", run_id=run_id, reference=config.reference)
