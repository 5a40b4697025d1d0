"""Plain scoring steps the tasks wrap: samples → engine → shards → store.

Scores are committed chunk by chunk (a shard per chunk, ingested at once), so a crash keeps
every finished chunk; scoring a run again (resume) scores only what it lacks.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
from pydantic import ValidationError

from rerankwatch.core.config import EngineConfig, EnvironmentConfig, RunConfig
from rerankwatch.core.errors import ConfigError, EngineFailed, RunNotResumable, SampleSetError
from rerankwatch.core.records import Fingerprint
from rerankwatch.engines import build_engine
from rerankwatch.pipeline.progress import progress_bar
from rerankwatch.samples.loader import load_sample_sets
from rerankwatch.store import IngestReport, Store, is_locked, open_store, shards

LOG = logging.getLogger("rerankwatch.pipeline.scoring")
RELOAD_PROBE_LIMIT = 16  # determinism needs few pairs; short ones keep it cheap
SWAPPED_PROBE_LIMIT = 512  # argument_order's share needs hundreds, not every tagged pair
CHUNK_SECONDS = 5.0  # adaptive chunks: about this much scoring between two commits
MAX_CHUNK_PAIRS = 8192
INGEST_WAIT_S = 120.0  # how long a required ingest waits while another process holds the DB


@dataclass(frozen=True, slots=True)
class EngineOutcome:
    """A scored (or reused, or already complete) engine config; a failed one raises instead."""

    engine_name: str
    pairs: int = 0
    reused_from: str | None = None  # every main score was copied from this run
    scored: int = 0  # main pairs this call scored
    reused: int = 0  # main pairs this call copied from an identical fingerprint


def load_pairs(config: RunConfig) -> pl.DataFrame:
    """Validate every configured sample set; raises SampleSetError before anything is written."""
    return load_sample_sets({s.name: config.resolve_path(s.path) for s in config.sample_sets})


def begin_run(config: RunConfig, pairs: pl.DataFrame, flow_name: str,
              flow_run_id: str | None = None) -> str:
    """Store the validated pairs and open a run; returns its id. A flow run that runs again
    (a Prefect retry) reopens the run it opened. This process holds the run until end_run."""
    with _store(config.db_path, migrate=True) as store:
        store.add_pairs(pairs)
        run_id = store.run_for_flow_run(flow_run_id) if flow_run_id else None
        if run_id is None:
            run_id = store.start_run(flow_name, config.model_dump(mode="json"), flow_run_id,
                                     pair_ids=pairs["pair_id"])
            shards.hold_run_lock(shards.shard_dir(config.db_path), run_id)
            return run_id
        if set(store.run_pairs(run_id)["pair_id"]) != set(pairs["pair_id"]):
            raise RunNotResumable(f"flow run {flow_run_id} runs again, but the sample pairs "
                                  f"of its run {run_id!r} changed since: start a new flow run")
        shards.hold_run_lock(shards.shard_dir(config.db_path), run_id)
        store.reopen_run(run_id)
        LOG.info("flow run %s runs again: resuming run %s", flow_run_id, run_id)
        return run_id


def check_resumable(db: str | Path, run_id: str) -> None:
    """Raise RunNotResumable unless ``run_id`` is a failed or interrupted run in ``db``."""
    if not Path(db).is_file():
        raise RunNotResumable(f"no such database: {db}")
    with open_store(db, INGEST_WAIT_S, read_only=True) as store:
        run = store.run(run_id)
    if run is None:
        raise RunNotResumable(f"no run {run_id!r} in {db}")
    if run["status"] == "succeeded":
        raise RunNotResumable(f"run {run_id!r} already succeeded: nothing to resume")


def reopen_run(db: str | Path, run_id: str) -> tuple[RunConfig, str, pl.DataFrame]:
    """A stored run to resume: (its config with ``db``, its flow name, its pairs); marks it
    running. Raises RunNotResumable for an unknown, complete or busy run."""
    check_resumable(db, run_id)
    db_path = Path(db)
    with _store(db_path, migrate=True) as store:  # an older store gets the newer tables
        run = store.run(run_id)
        pairs = store.run_pairs(run_id)
        if pairs.is_empty():
            raise RunNotResumable(f"run {run_id!r} recorded no pairs (an older rerankwatch "
                                  f"started it): start a new run")
        try:
            config = RunConfig.model_validate({**json.loads(run["config"]), "db": str(db)})
        except ValidationError as exc:
            problems = "; ".join(err["msg"] for err in exc.errors())
            raise ConfigError(f"run {run_id!r}: its stored config is not valid now: "
                              f"{problems}") from None
        shards.hold_run_lock(shards.shard_dir(db_path), run_id)
        store.reopen_run(run_id)
    return config, run["flow_name"], pairs


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
                      engine=None, environment: EnvironmentConfig | None = None) -> tuple:
    """Score ``pairs`` (with ``engine`` if already loaded), then the probes: swapped arguments
    (cross-encoders), and a small probe scored once more by this load ("repeat") and by a
    fresh load ("reload"). Returns (fingerprint, [(variant, pair_ids, ScoreBatch)], load
    warnings)."""
    engine = engine or build_engine(engine_config, environment)
    fingerprint = engine.fingerprint()
    with progress_bar(engine_config.name, pairs.height) as advance:
        scored = [("main", pairs["pair_id"], engine.score(_texts(pairs), on_batch=advance))]
    warnings = list(engine.load_warnings)
    if probes:
        if engine.activation != "cosine":  # cross-encoders: score(doc, query) too
            probe = probe_pairs(pairs, SWAPPED_PROBE_LIMIT)
            scored.append(("swapped", probe["pair_id"], engine.score(_texts(probe, swap=True))))
        # determinism: the same probe, batched identically, before and after a fresh load
        probe = probe_pairs(pairs, RELOAD_PROBE_LIMIT)
        scored.append(("repeat", probe["pair_id"], engine.score(_texts(probe))))
        del engine  # free it before the fresh load
        reloaded = build_engine(engine_config, environment)
        scored.append(("reload", probe["pair_id"], reloaded.score(_texts(probe))))
        warnings += [w for w in reloaded.load_warnings if w not in warnings]
    return fingerprint, scored, warnings


class ChunkPlanner:
    """Chunk sizes in whole batches: fixed, or grown to about CHUNK_SECONDS of scoring."""

    def __init__(self, batch_size: int, fixed: int | None = None):
        self.batch_size, self.fixed = batch_size, fixed
        self.size = fixed or 4 * batch_size  # a quick first commit, then measured

    def record(self, pairs: int, seconds: float) -> None:
        if self.fixed or seconds <= 0:
            return
        target = min(pairs / seconds * CHUNK_SECONDS, MAX_CHUNK_PAIRS)
        self.size = max(1, int(target // self.batch_size)) * self.batch_size


def score_chunks(engine, fingerprint: Fingerprint, run_id: str, engine_name: str,
                 pairs: pl.DataFrame, directory: Path, chunk_pairs: int | None = None,
                 batch_offset: int = 0, after_chunk=None, on_batch=None) -> int:
    """Score ``pairs`` (main variant) chunk by chunk; each chunk becomes a shard as soon as it
    is scored (then ``after_chunk()``), written in the background while the next one scores.
    What was scored before a failure is still written. Returns the number of pairs scored."""
    planner = ChunkPlanner(engine.config.batch_size, chunk_pairs)
    if getattr(engine, "activation", None) != "cosine":
        # cross-encoders: longest first, so chunks cut where one call's batches would (little
        # padding); bi-encoders keep the given order, query by query, so a chunk embeds each
        # of its queries once
        pairs = pairs.sort(pl.col("query").str.len_chars() + pl.col("doc").str.len_chars(),
                           descending=True, maintain_order=True)
    sink = shards.ShardSink(directory, fingerprint, after_chunk)
    start = 0
    try:
        while start < pairs.height:
            chunk = pairs.slice(start, planner.size)
            started = time.perf_counter()
            batch = engine.score(_texts(chunk), on_batch=on_batch)
            planner.record(chunk.height, time.perf_counter() - started)
            sink.put(shards.score_table(run_id, engine_name, fingerprint.engine_id, "main",
                                        chunk["pair_id"], batch, batch_offset))
            batch_offset += len(batch.batch_seconds)
            start += chunk.height
    except BaseException:
        sink.close(quiet=True)  # keep the finished chunks; the engine's error is the one raised
        raise
    sink.close()
    return pairs.height


def score_shards(engine_config: EngineConfig, run_id: str, pairs: pl.DataFrame,
                 directory: str | Path, chunk_pairs: int | None = None,
                 environment: EnvironmentConfig | None = None) -> int:
    """A scoring worker: score ``pairs`` into shards in ``directory``, never opening the DB,
    so many can run at once on disjoint pairs; ``Store.ingest_shards`` (or the next
    score_and_store) loads them. Pairs already waiting in shards (a retried worker's first
    attempt) are skipped. Returns the number of pairs scored."""
    waiting = shards.waiting_pair_ids(directory, run_id, engine_config.name)
    todo = pairs.filter(~pl.col("pair_id").is_in(list(waiting)))
    if todo.is_empty():
        return 0
    engine = build_engine(engine_config, environment)
    return score_chunks(engine, engine.fingerprint(), run_id, engine_config.name, todo,
                        Path(directory), chunk_pairs)


def _store(db_path: str | Path, wait_s: float = INGEST_WAIT_S, migrate: bool = False) -> Store:
    return open_store(db_path, wait_s, migrate=migrate)


def ingest(db_path: str | Path, wait_s: float = 0.0) -> IngestReport | None:
    """Load the shards waiting next to the DB. While another process holds the DB, retry for
    ``wait_s`` seconds, then raise its lock error; with ``wait_s`` 0, return None at once (the
    shards wait on disk for the next ingest)."""
    try:
        with _store(db_path, wait_s) as store:
            return store.ingest_shards(shards.shard_dir(db_path))
    except Exception as exc:
        if wait_s or not is_locked(exc):
            raise
        return None


def check_lengths(engine, pairs: pl.DataFrame, policy: str) -> None:
    """With truncation = "error", the first pair longer than the engine's max_length raises
    SampleSetError naming its file, line and field, before anything is scored."""
    if policy != "error" or pairs.is_empty():
        return
    name = engine.config.name
    counter = getattr(engine, "input_tokens", None)
    counts = counter(_texts(pairs)) if counter else None
    if counts is None or not engine.max_length:
        raise ConfigError(f"engine {name!r}: truncation = 'error' needs token counts and a "
                          f"max_length, which this {engine.config.kind} engine cannot give")
    query_tokens, pass_tokens = counts
    longest = np.maximum(query_tokens, pass_tokens)
    over = np.flatnonzero(longest > engine.max_length)
    if over.size:
        first = int(over[0])
        row = pairs.row(first, named=True)
        field = "query" if query_tokens[first] > engine.max_length else "doc"
        raise SampleSetError(
            row["source_file"] or row["set_id"], row.get("line"), field,
            f"{int(longest[first])} tokens exceed max_length {engine.max_length} of "
            f"engine {name!r} with truncation = 'error' ({over.size} pair(s) too long; "
            f"truncation = 'truncate' scores them cut)")


def _cacheable(fingerprint: Fingerprint) -> bool:
    """Only weights we hashed prove two loads identical (a remote server's can change)."""
    return fingerprint.weights_sha256 not in ("", "unknown")


def _missing_probes(store: Store, run_id: str, engine_name: str, fingerprint: Fingerprint,
                    pairs: pl.DataFrame, cross_encoder: bool,
                    reuse: bool) -> list[tuple[str, pl.DataFrame]]:
    """(variant, pairs) of the probes this run still lacks, after copying those an identical
    fingerprint scored (repeat and reload only together: one load and its fresh reload)."""
    groups = [(("swapped",), probe_pairs(pairs, SWAPPED_PROBE_LIMIT))] if cross_encoder else []
    groups.append((("repeat", "reload"), probe_pairs(pairs, RELOAD_PROBE_LIMIT)))
    todo = []
    for variants, probe in groups:
        ids = probe["pair_id"].to_list()
        have = {v: store.scored_pair_ids(run_id, engine_name, v) >= set(ids) for v in variants}
        if not any(have.values()) and reuse and store.reuse_probes(
                run_id, engine_name, fingerprint.engine_id, variants, ids):
            continue
        todo += [(v, probe) for v in variants if not have[v]]
    return todo


def _write_probe(engine, fingerprint: Fingerprint, run_id: str, engine_name: str, variant: str,
                 probe: pl.DataFrame, directory: Path) -> None:
    batch = engine.score(_texts(probe, swap=variant == "swapped"))
    shards.write_shard(directory, shards.score_table(
        run_id, engine_name, fingerprint.engine_id, variant, probe["pair_id"], batch), fingerprint)


def score_and_store(config: RunConfig, engine_name: str, run_id: str, pairs: pl.DataFrame,
                    probes: bool = True, force: bool = False) -> EngineOutcome:
    """Score what one engine config still lacks in a run, committing chunk by chunk.

    Shards a killed attempt left are ingested first and pairs the run holds are kept (resume).
    Unless ``force``, scores an identical fingerprint stored in other runs are copied
    (``scores.reused_from_run``), per pair. A failure is recorded against the run (engine name
    and error) and re-raised; the chunks committed before it stay.
    """
    engine_config = config.engine(engine_name)
    environment = config.environment_for(engine_config)
    subset = pairs.filter(pl.col("set_id").is_in(config.sets_for(engine_config)))
    directory = shards.shard_dir(config.db_path)
    try:
        ingest(config.db_path, INGEST_WAIT_S)
        with _store(config.db_path) as store:
            if store.engine_status(run_id, engine_name) == "succeeded":
                return EngineOutcome(engine_name, subset.height)
        try:
            engine = build_engine(engine_config, environment)
        except OSError as exc:  # transformers' "couldn't find" messages do not name the model
            raise EngineFailed(f"engine {engine_name!r} cannot load model "
                               f"{engine_config.model!r}: {exc}") from exc
        fingerprint = engine.fingerprint()
        check_lengths(engine, subset, config.truncation_for(engine_config))
        reuse = not force and _cacheable(fingerprint)
        with _store(config.db_path) as store:
            changed = store.engine_ids_in_run(run_id, engine_name) - {fingerprint.engine_id}
            if changed:
                raise EngineFailed(f"engine {engine_name!r} changed since run {run_id} stored "
                                   f"its first scores (fingerprint {sorted(changed)[0]} → "
                                   f"{fingerprint.engine_id}: weights, dtype or package "
                                   f"versions differ); start a new run")
            store.register_engine(fingerprint)
            reused = store.reuse_pairs(run_id, engine_name, fingerprint.engine_id, "main",
                                       subset["pair_id"]) if reuse else 0
            done = store.scored_pair_ids(run_id, engine_name, "main")
            offset = store.next_batch_index(run_id, engine_name, "main")
        todo = subset.filter(~pl.col("pair_id").is_in(list(done)))
        if todo.height:
            with progress_bar(engine_name, todo.height) as advance:
                scored = score_chunks(engine, fingerprint, run_id, engine_name, todo, directory,
                                      config.chunk_pairs, offset, lambda: ingest(config.db_path),
                                      advance)
        else:
            scored = 0
            LOG.info("%s: nothing to score (%d pairs copied from an identical fingerprint)",
                     engine_name, reused)
        warnings = list(engine.load_warnings)
        if probes:
            with _store(config.db_path) as store:
                todo_probes = _missing_probes(store, run_id, engine_name, fingerprint, subset,
                                              engine.activation != "cosine", reuse)
            for variant, probe in todo_probes:
                if variant == "reload":  # a fresh load; free the first one before it
                    del engine
                    engine = build_engine(engine_config, environment)
                    warnings += [w for w in engine.load_warnings if w not in warnings]
                _write_probe(engine, fingerprint, run_id, engine_name, variant, probe, directory)
        ingest(config.db_path, INGEST_WAIT_S)
        with _store(config.db_path) as store:
            missing = set(subset["pair_id"]) - store.scored_pair_ids(run_id, engine_name, "main")
            if missing:
                raise EngineFailed(f"engine {engine_name!r}: {len(missing)} pairs still have "
                                   f"no score after scoring")
            source = store.record_engine_success(run_id, engine_name, fingerprint.engine_id,
                                                 scored, warnings)
    except Exception as exc:
        _record_failure(config, run_id, engine_name, exc)
        raise
    return EngineOutcome(engine_name, subset.height, source, scored, reused)


def _record_failure(config: RunConfig, run_id: str, engine_name: str, exc: Exception) -> None:
    error = f"{type(exc).__name__}: {exc}"
    LOG.error("engine %s failed: %s", engine_name, error)
    try:
        ingest(config.db_path, INGEST_WAIT_S)  # the chunks finished before the failure
        with _store(config.db_path) as store:
            store.record_engine_failure(run_id, engine_name, error)
    except Exception as record_exc:  # e.g. the DB is held elsewhere: the run stays "running"
        LOG.error("could not record the failure of %s: %s", engine_name, record_exc)


def end_run(config: RunConfig, run_id: str, failures: dict[str, str]) -> pl.DataFrame:
    """Mark the run succeeded or failed (naming failed engines); return its summary."""
    error = "; ".join(f"{name}: {err}" for name, err in failures.items()) or None
    with _store(config.db_path) as store:
        store.finish_run(run_id, "failed" if failures else "succeeded", error)
        summary = store.query("q_run_summary", run_id=run_id, reference=config.reference)
    shards.release_run_lock(shards.shard_dir(config.db_path), run_id)
    return summary
