"""Runs for the check tests, written the way production writes them.

Real engines score through the production scoring path (``rerankwatch.pipeline.scoring``:
``begin_run`` then ``score_and_store`` per engine config), so a later run of an identical
fingerprint copies the scores instead of scoring again, as any run would. Hand-built batches
(what no engine here can produce: NaN, a lost score, an inverted ladder) go through the store's
own write path: shards (``shards.score_table`` + ``write_shard``), then ``Store.ingest_shards``
and ``record_engine_success``. A suite reads the run back through ``Store.suite_frames``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from rerankwatch.checks.base import SuiteInput
from rerankwatch.core.config import EngineConfig, EnvironmentConfig, RunConfig
from rerankwatch.core.records import Fingerprint, ScoreBatch
from rerankwatch.pipeline import scoring
from rerankwatch.samples.loader import load_sample_set
from rerankwatch.store import Store, shards

Batches = Sequence[tuple[str, Sequence[str], ScoreBatch]]  # (variant, pair_ids, batch)


def golden_en(golden_dir: Path) -> pl.DataFrame:
    return load_sample_set(golden_dir / "golden_en.jsonl", expected_set_id="golden_en")


def run_config(db: str | Path, reference: str, engines: Sequence[EngineConfig],
               pairs: pl.DataFrame, environments: Sequence[EnvironmentConfig] = ()) -> RunConfig:
    """A RunConfig over ``pairs``' sets (their files are already loaded: paths are unused)."""
    sets = [{"name": name, "path": f"{name}.jsonl"} for name in pairs["set_id"].unique().sort()]
    return RunConfig.model_validate({
        "db": str(db), "reference": reference, "sample_sets": sets,
        "engines": [e.model_dump() for e in engines],
        "environments": [e.model_dump() for e in environments]})


def score_run(db: str | Path, reference: str, engines: Sequence[EngineConfig],
              pairs: pl.DataFrame, probes: bool | dict[str, bool] = True,
              environments: Sequence[EnvironmentConfig] = (), pairs_for: dict | None = None,
              loaded: dict | None = None) -> str:
    """A new run in which each engine config is scored by ``score_and_store`` (``probes`` per
    engine name, or for all; ``pairs_for`` narrows an engine's pairs; ``loaded`` hands over
    engines already loaded); a failed engine is recorded, as in a flow. Returns the run id."""
    config = run_config(db, reference, engines, pairs, environments)
    session = scoring.begin_run(config, pairs, "test")
    for engine in engines:
        wanted = probes.get(engine.name, False) if isinstance(probes, dict) else probes
        try:
            scoring.score_and_store(session, engine.name,
                                    (pairs_for or {}).get(engine.name, pairs), probes=wanted,
                                    engine=(loaded or {}).get(engine.name))
        except Exception:  # recorded in the run: the suite turns it into error rows
            pass
    return session.run_id


def write_batches(store: Store, run_id: str, engine_name: str, fingerprint: Fingerprint,
                  batches: Batches, load_warnings: Sequence[str] = ()) -> None:
    """Store hand-built batches for one engine config of a run the way scoring does: one
    shard per variant, one ingest, then the engine's success record."""
    directory = shards.shard_dir(store.path)
    for variant, pair_ids, batch in batches:
        shards.write_shard(directory, shards.score_table(
            run_id, engine_name, fingerprint.engine_id, variant, list(pair_ids), batch),
            fingerprint)
    store.ingest_shards(directory)
    store.record_engine_success(run_id, engine_name, fingerprint.engine_id,
                                list(load_warnings))


def suite_input(store: Store, run_id: str, reference: str) -> SuiteInput:
    """What a suite reads of ``run_id``."""
    return SuiteInput(run_id=run_id, reference=reference, **store.suite_frames(run_id))


def max_score_delta(store: Store, run_id: str, reference: str, other: str) -> tuple[float, int]:
    """max |Δ score| between two engine configs' main scores in a run, and over how many
    pairs."""
    found = store.sql(
        "select max(abs(a.score - b.score)) as d, count(*) as n from scores a join scores b "
        "using (pair_id) where a.run_id = $r and b.run_id = $r and a.variant = 'main' and "
        "b.variant = 'main' and a.engine_name = $a and b.engine_name = $b",
        r=run_id, a=reference, b=other)
    return found["d"][0], found["n"][0]
