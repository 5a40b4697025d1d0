"""Real engines score the golden set into a store; a suite reads the run back, as in a flow."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from rerankwatch.checks.base import SuiteInput
from rerankwatch.core.config import EngineConfig, EnvironmentConfig
from rerankwatch.pipeline.scoring import score_with_probes
from rerankwatch.samples.loader import load_sample_set
from rerankwatch.store import Store

Scored = tuple  # (fingerprint, [(variant, pair_ids, ScoreBatch)], load warnings)


def golden_en(golden_dir: Path) -> pl.DataFrame:
    return load_sample_set(golden_dir / "golden_en.jsonl", expected_set_id="golden_en")


def score(config: EngineConfig, pairs: pl.DataFrame, probes: bool = False,
          environment: EnvironmentConfig | None = None) -> Scored:
    return score_with_probes(config, pairs, probes=probes, environment=environment)


def suite_input(store: Store, reference: str, scored: dict[str, Scored]) -> SuiteInput:
    """A new run holding ``scored`` (engine name -> what score() returned), read back."""
    run_id = store.start_run("test", {"reference": reference})
    for name, (fingerprint, batches, warnings) in scored.items():
        store.write_scores(run_id, name, fingerprint, batches, warnings)
    return SuiteInput(run_id=run_id, reference=reference, **store.suite_frames(run_id))
