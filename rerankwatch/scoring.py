"""Plain scoring steps the tasks wrap: samples → engine → store."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import polars as pl

from engines import build_engine
from rerankwatch.config import EngineConfig, RunConfig
from rerankwatch.progress import progress_bar
from rerankwatch.samples import load_sample_sets
from rerankwatch.store import Store

LOG = logging.getLogger("rerankwatch.scoring")
RELOAD_PROBE_LIMIT = 16  # determinism needs few pairs; short ones keep it cheap


@dataclass(frozen=True, slots=True)
class EngineOutcome:
    """A scored (or reused) engine config; a failed one raises instead."""

    engine_name: str
    pairs: int = 0
    reused_from: str | None = None


def load_pairs(config: RunConfig) -> pl.DataFrame:
    """Validate every configured sample set; raises SampleSetError before anything is written."""
    return load_sample_sets({s.name: config.resolve_path(s.path) for s in config.sample_sets})


def begin_run(config: RunConfig, pairs: pl.DataFrame, flow_name: str,
              flow_run_id: str | None = None) -> str:
    """Store the validated pairs and open a run; returns its id."""
    with Store(config.db_path) as store:
        store.add_pairs(pairs)
        return store.start_run(flow_name, config.model_dump(mode="json"), flow_run_id)


def probe_pairs(pairs: pl.DataFrame, limit: int | None = None) -> pl.DataFrame:
    """Pairs re-scored to judge an engine: ladders and known-irrelevant (else all), shortest
    first, at most ``limit``."""
    tagged = pairs.filter(pl.col("ladder").is_not_null() | pl.col("known_irrelevant"))
    chosen = (tagged if tagged.height else pairs).with_columns(
        (pl.col("query").str.len_chars() + pl.col("doc").str.len_chars()).alias("_length"))
    return chosen.sort("_length", "pair_id").head(limit or chosen.height).drop("_length")


def _texts(frame: pl.DataFrame, swap: bool = False) -> list[tuple[str, str]]:
    first, second = ("doc", "query") if swap else ("query", "doc")
    return list(zip(frame[first], frame[second], strict=True))


def score_with_probes(engine_config: EngineConfig, pairs: pl.DataFrame, probes: bool = True,
                      engine=None) -> tuple:
    """Score ``pairs`` (with ``engine`` if already loaded), then the probes: swapped arguments
    (cross-encoders), and a small probe scored once more by this load ("repeat") and by a
    fresh load ("reload"). Returns (fingerprint, [(variant, pair_ids, ScoreBatch)], load
    warnings)."""
    engine = engine or build_engine(engine_config)
    fingerprint = engine.fingerprint()
    with progress_bar(engine_config.name, pairs.height) as advance:
        scored = [("main", pairs["pair_id"], engine.score(_texts(pairs), on_batch=advance))]
    warnings = list(engine.load_warnings)
    if probes:
        if engine.activation != "cosine":  # cross-encoders: score(doc, query) too
            probe = probe_pairs(pairs)
            scored.append(("swapped", probe["pair_id"], engine.score(_texts(probe, swap=True))))
        # determinism: the same probe, batched identically, before and after a fresh load
        probe = probe_pairs(pairs, RELOAD_PROBE_LIMIT)
        scored.append(("repeat", probe["pair_id"], engine.score(_texts(probe))))
        del engine  # free it before the fresh load
        reloaded = build_engine(engine_config)
        scored.append(("reload", probe["pair_id"], reloaded.score(_texts(probe))))
        warnings += [w for w in reloaded.load_warnings if w not in warnings]
    return fingerprint, scored, warnings


def score_and_store(config: RunConfig, engine_name: str, run_id: str, pairs: pl.DataFrame,
                    probes: bool = True, reuse: bool = False) -> EngineOutcome:
    """Score one engine config on its sample sets and commit the scores.

    With ``reuse``, scores stored earlier by an identical fingerprint are copied, not re-scored.
    A failure is recorded against the run (engine name and error) and re-raised.
    """
    engine_config = config.engine(engine_name)
    subset = pairs.filter(pl.col("set_id").is_in(config.sets_for(engine_config)))
    try:
        engine = build_engine(engine_config)
        fingerprint = engine.fingerprint()
        with Store(config.db_path) as store:
            source = store.reusable_run(fingerprint.engine_id, subset["pair_id"]) if reuse else None
            if source:
                LOG.info("%s: reusing the scores of run %s (same fingerprint)", engine_name, source)
                store.reuse_scores(source, run_id, engine_name, fingerprint.engine_id,
                                   subset["pair_id"])
                return EngineOutcome(engine_name, subset.height, reused_from=source)
        _, scored, warnings = score_with_probes(engine_config, subset, probes, engine)
        with Store(config.db_path) as store:
            store.write_scores(run_id, engine_name, fingerprint, scored, warnings)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        LOG.error("engine %s failed: %s", engine_name, error)
        with Store(config.db_path) as store:
            store.record_engine_failure(run_id, engine_name, error)
        raise
    return EngineOutcome(engine_name, subset.height)


def end_run(config: RunConfig, run_id: str, failures: dict[str, str]) -> pl.DataFrame:
    """Mark the run succeeded or failed (naming failed engines); return its summary."""
    error = "; ".join(f"{name}: {err}" for name, err in failures.items()) or None
    with Store(config.db_path) as store:
        store.finish_run(run_id, "failed" if failures else "succeeded", error)
        return store.query("q_run_summary", run_id=run_id, reference=config.reference)
