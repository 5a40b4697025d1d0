"""Plain scoring steps the tasks wrap: samples → engine → shards → store.

Scores are committed chunk by chunk (a shard per chunk, ingested at once), so a crash keeps
every finished chunk; scoring a run again (resume) scores only what it lacks.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import polars as pl
from pydantic import ValidationError

from rerankwatch.core.config import EngineConfig, EnvironmentConfig, RunConfig
from rerankwatch.core.errors import ConfigError, EngineFailed, RunNotResumable, SampleSetError
from rerankwatch.core.records import Fingerprint
from rerankwatch.core.redact import redact_config
from rerankwatch.core.store_spec import store_exists
from rerankwatch.engines import build_engine
from rerankwatch.pipeline.batch_probes import BATCH_VARIANTS, batch_probe, score_variant
from rerankwatch.pipeline.long_probes import LONG_VARIANTS, long_probe, long_texts, score_long
from rerankwatch.pipeline.progress import progress_bar
from rerankwatch.pipeline.session import INGEST_WAIT_S, RunSession, open_db
from rerankwatch.samples.loader import load_sample_sets
from rerankwatch.store import Store, open_store, shards

LOG = logging.getLogger("rerankwatch.pipeline.scoring")
SPOT_CHECK_PAIRS = 8  # at least this many copied main scores re-scored afresh (whole batches)
RELOAD_PROBE_LIMIT = 16  # determinism needs few pairs; short ones keep it cheap
SWAPPED_PROBE_LIMIT = 512  # argument_order's share needs hundreds, not every tagged pair
CHUNK_SECONDS = 5.0  # adaptive chunks: about this much scoring between two commits
MAX_CHUNK_PAIRS = 8192
TOKEN_SAMPLE_PAIRS = 512  # token_samples: every pair of a subset this size, else about this many


@dataclass(frozen=True, slots=True)
class EngineOutcome:
    """A scored (or reused, or already complete) engine config; a failed one raises instead."""

    engine_name: str
    pairs: int = 0
    reused_from: str | None = None  # every main score was copied from this run
    scored: int = 0  # main pairs this call scored (run_engines.scored_pairs: every attempt's)
    reused: int = 0  # main pairs this call copied from an identical fingerprint


def load_pairs(config: RunConfig) -> pl.DataFrame:
    """Validate every configured sample set; raises SampleSetError before anything is written."""
    return load_sample_sets({s.name: config.resolve_path(s.path) for s in config.sample_sets})


def begin_run(config: RunConfig, pairs: pl.DataFrame, flow_name: str,
              flow_run_id: str | None = None, force: bool = False) -> RunSession:
    """Store the validated pairs and open a run; returns its session (config, store, shard
    folder, run id), which every later step of the run takes. A flow run that runs again
    (a Prefect retry) reopens the run it opened. This process holds the run until end_run.
    The run's config is stored redacted (``rerankwatch.core.redact.redact_config``)."""
    with open_db(config.db_path, migrate=True, data_path=config.data_path) as store:
        store.add_pairs(pairs)
        run_id = store.run_for_flow_run(flow_run_id) if flow_run_id else None
        if run_id is None:
            run_id = store.start_run(flow_name, redact_config(config.model_dump(mode="json")),
                                     flow_run_id, pair_ids=pairs["pair_id"], force=force)
            session = RunSession(config, run_id)
            shards.hold_run_lock(session.shard_dir, run_id)
            return session
        if set(store.run_pairs(run_id)["pair_id"]) != set(pairs["pair_id"]):
            raise RunNotResumable(f"flow run {flow_run_id} runs again, but the sample pairs "
                                  f"of its run {run_id!r} changed since: start a new flow run")
        session = RunSession(config, run_id)
        shards.hold_run_lock(session.shard_dir, run_id)
        store.reopen_run(run_id)
        LOG.info("flow run %s runs again: resuming run %s", flow_run_id, run_id)
        return session


JUDGED_FLOWS = ("nightly", "upgrade-gate")  # flows whose runs end in a verdict


def check_resumable(db: str | Path, run_id: str) -> None:
    """Raise RunNotResumable unless ``run_id`` is a failed or interrupted run in ``db``, or a
    run of a judged flow that finished scoring but was never judged (killed before its
    suite: resume judges it)."""
    if not store_exists(db):
        raise RunNotResumable(f"no such database: {db}")
    with open_store(db, mode="read", wait_s=INGEST_WAIT_S, on_wait=LOG.warning) as store:
        run = store.run(run_id)
        judged = run is not None and not store.query("q_run_verdicts", run_id=run_id).is_empty()
    if run is None:
        raise RunNotResumable(f"no run {run_id!r} in {db}")
    if run["status"] == "succeeded" and (judged or run["flow_name"] not in JUDGED_FLOWS):
        raise RunNotResumable(f"run {run_id!r} already succeeded"
                              + (" and was judged" if judged else "") + ": nothing to resume")


def run_forced(db: str | Path, run_id: str) -> bool:
    """Whether ``run_id`` was started with --force (its resume rescores as it did)."""
    with open_store(db, mode="read", wait_s=INGEST_WAIT_S, on_wait=LOG.warning) as store:
        run = store.run(run_id)
    return bool(run and run.get("force"))


def reopen_run(db: str | Path, run_id: str) -> tuple[RunSession, str, pl.DataFrame]:
    """A stored run to resume: (its session, with its stored config and ``db``, its flow
    name, its pairs); marks it running. Raises RunNotResumable for an unknown, complete or
    busy run."""
    check_resumable(db, run_id)
    db_path = Path(db)
    with open_db(db_path, migrate=True) as store:  # an older store gets the newer tables
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
        session = RunSession(config, run_id)
        shards.hold_run_lock(session.shard_dir, run_id)
        store.reopen_run(run_id)
    return session, run["flow_name"], pairs


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


def token_sampled(pair_ids: pl.Series, subset_pairs: int) -> np.ndarray:
    """Which pairs keep their ids in token_samples: all of a subset of at most
    TOKEN_SAMPLE_PAIRS pairs, else those whose stable hash (blake2b of the pair_id) falls
    under TOKEN_SAMPLE_PAIRS / subset_pairs, so every engine and every night samples the same
    pairs (an engine of a smaller subset samples a superset of a larger one's)."""
    if subset_pairs <= TOKEN_SAMPLE_PAIRS:
        return np.ones(len(pair_ids), dtype=bool)
    cut = TOKEN_SAMPLE_PAIRS / subset_pairs * 2.0**64
    return np.fromiter((int.from_bytes(hashlib.blake2b(p.encode(), digest_size=8).digest(),
                                       "little") < cut for p in pair_ids), bool, len(pair_ids))


def token_samples(engine, pair_ids: pl.Series, batch, subset_pairs: int) -> dict | None:
    """{row: (ids, token strings)} of the sampled pairs (token_sampled) whose ids the engine
    recorded; token strings None where the engine has no tokenizer here."""
    if batch.token_ids is None:
        return None
    words = getattr(engine, "id_tokens", None)
    chosen = {}
    for row in np.flatnonzero(token_sampled(pair_ids, subset_pairs)):
        ids = batch.token_ids[row]
        if ids is not None:
            chosen[int(row)] = (ids, words(ids) if words else None)
    return chosen


def score_chunks(engine, fingerprint: Fingerprint, run_id: str, engine_name: str,
                 pairs: pl.DataFrame, directory: Path, chunk_pairs: int | None = None,
                 batch_offset: int = 0, after_chunk=None, on_batch=None,
                 subset_pairs: int | None = None) -> int:
    """Score ``pairs`` (main variant) chunk by chunk; each chunk becomes a shard as soon as it
    is scored (then ``after_chunk()``), written in the background while the next one scores.
    What was scored before a failure is still written. Returns the number of pairs scored.
    ``subset_pairs``: how many pairs the engine config covers in the run (default: these),
    which sets the share of them kept in token_samples."""
    subset_pairs = subset_pairs or pairs.height
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
            texts = _texts(chunk)
            batch = engine.score(texts, on_batch=on_batch)
            planner.record(chunk.height, time.perf_counter() - started)
            sink.put(shards.score_table(run_id, engine_name, fingerprint.engine_id, "main",
                                        chunk["pair_id"], batch, batch_offset,
                                        token_counts(engine, texts),
                                        token_samples(engine, chunk["pair_id"], batch,
                                                      subset_pairs)))
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


def token_counts(engine, texts: list[tuple[str, str]]) -> np.ndarray | None:
    """Untruncated tokens one forward pass sees per pair (query + doc for a cross-encoder, the
    longer text for a bi-encoder), stored as ``scores.tokens``; None without a tokenizer."""
    counter = getattr(engine, "pass_tokens", None)
    return counter(texts) if counter else None


def probe_groups(pairs: pl.DataFrame) -> list[tuple[tuple[str, ...], pl.DataFrame]]:
    """The probes, as (variants scored on the same pairs, those pairs)."""
    return [(("swapped",), probe_pairs(pairs, SWAPPED_PROBE_LIMIT)),
            (("repeat", "reload"), probe_pairs(pairs, RELOAD_PROBE_LIMIT)),
            (BATCH_VARIANTS, batch_probe(pairs)),
            (LONG_VARIANTS, long_probe(pairs))]


def engine_pairs(config: RunConfig, engine_name: str, pairs: pl.DataFrame) -> pl.DataFrame:
    """The pairs of a run one engine config is held to: those of its sample sets."""
    return pairs.filter(pl.col("set_id").is_in(config.sets_for(config.engine(engine_name))))


def missing_probes(store: Store, run_id: str, engine_name: str, fingerprint: Fingerprint,
                   pairs: pl.DataFrame, variants: tuple[str, ...],
                   reuse: bool) -> list[tuple[str, pl.DataFrame]]:
    """(variant, pairs) of the probes this run still lacks, after copying those an identical
    fingerprint scored (repeat and reload only together: one load and its fresh reload)."""
    todo = []
    for group, probe in probe_groups(pairs):
        group = tuple(v for v in group if v in variants)
        if not group:
            continue
        ids = probe["pair_id"].to_list()
        have = {v: store.scored_pair_ids(run_id, engine_name, v) >= set(ids) for v in group}
        if not any(have.values()) and reuse and store.reuse_probes(
                run_id, engine_name, fingerprint.engine_id, group, ids):
            continue
        todo += [(v, probe) for v in group if not have[v]]
    return todo


@dataclass
class EnginePlan:
    """What one engine config still has to do in a run, carried through the steps: its loaded
    engine, fingerprint, the pairs it covers and those left to score. Planned from the store
    in this process (plan_engine), or from its job in a pooled child (dispatch.plan_job)."""

    config: RunConfig
    engine_config: EngineConfig
    run_id: str
    pairs: pl.DataFrame  # every pair of the run this engine config is held to
    todo: pl.DataFrame  # the main pairs no score covers yet (after copying)
    engine: object
    fingerprint: Fingerprint
    reuse: bool  # copy what an identical fingerprint scored
    reused: int  # main pairs copied
    batch_offset: int  # first unused batch number
    load_warnings: list[str]

    @property
    def name(self) -> str:
        return self.engine_config.name


class Destination(Protocol):
    """Where an engine config's steps send their shards and their record: this process's
    store (``InStore``), or a pooled child's shared storage (``dispatch.SharedStorage``).
    The steps themselves (``run_engine``) are the same for both."""

    directory: Path  # where the shards are written

    def after_chunk(self) -> None:
        """A chunk of main scores is in ``directory``."""

    def after_probe(self) -> None:
        """A probe's shard is in ``directory``."""

    def spot_candidates(self, plan: EnginePlan) -> list[list[str]]:
        """Batches of copied main pairs to score again (``spot_batches``)."""

    def probes_todo(self, plan: EnginePlan,
                    variants: tuple[str, ...]) -> list[tuple[str, pl.DataFrame]]:
        """(variant, pairs) of the probes among ``variants`` the run still lacks."""

    def record(self, plan: EnginePlan, scored: int):
        """Every shard is written: record the engine config's outcome."""


def load_engine(config: RunConfig, engine_config: EngineConfig):
    """Load an engine config (in its isolated environment, if it names one)."""
    try:
        return build_engine(engine_config, config.environment_for(engine_config))
    except OSError as exc:  # transformers' "couldn't find" messages do not name the model
        raise EngineFailed(f"engine {engine_config.name!r} cannot load model "
                           f"{engine_config.model!r}: {exc}") from exc


def check_fingerprint(engine_name: str, run_id: str, stored: set[str],
                      fingerprint: Fingerprint) -> None:
    """Refuse a fingerprint that changed within the run: ``stored`` are the engine ids the
    run holds scores of for this engine config."""
    changed = set(stored) - {fingerprint.engine_id}
    if changed:
        raise EngineFailed(f"engine {engine_name!r} changed since run {run_id} stored "
                           f"its first scores (fingerprint {sorted(changed)[0]} → "
                           f"{fingerprint.engine_id}: weights, dtype or package "
                           f"versions differ); start a new run")


def plan_engine(session: RunSession, engine_name: str, pairs: pl.DataFrame,
                force: bool = False, engine=None) -> EnginePlan | None:
    """Step 1, in this process: load the engine (unless ``engine`` is given, already
    loaded), enforce the length policy, refuse a fingerprint that changed within the run, copy
    what an identical fingerprint scored in other runs (unless ``force``) and list what is
    left. None: this engine config already succeeded in the run."""
    config, run_id = session.config, session.run_id
    engine_config = config.engine(engine_name)
    subset = engine_pairs(config, engine_name, pairs)
    session.ingest(INGEST_WAIT_S)  # shards a killed attempt left
    with session.open() as store:
        if store.engine_status(run_id, engine_name) == "succeeded":
            return None
    engine = engine or load_engine(config, engine_config)
    fingerprint = engine.fingerprint()
    check_lengths(engine, subset, config.truncation_for(engine_config))
    reuse = not force and fingerprint.cacheable
    with session.open() as store:
        check_fingerprint(engine_name, run_id, store.engine_ids_in_run(run_id, engine_name),
                          fingerprint)
        store.register_engine(fingerprint)
        reused = store.reuse_pairs(run_id, engine_name, fingerprint.engine_id, "main",
                                   subset["pair_id"]) if reuse else 0
        done = store.scored_pair_ids(run_id, engine_name, "main")
        offset = store.next_batch_index(run_id, engine_name, "main")
    todo = subset.filter(~pl.col("pair_id").is_in(list(done)))
    return EnginePlan(config, engine_config, run_id, subset, todo, engine, fingerprint, reuse,
                      reused, offset, list(engine.load_warnings))


def score_main(plan: EnginePlan, where: Destination) -> int:
    """Step 2: score the main pairs left, chunk by chunk, each chunk a shard as it is done
    (then ``where.after_chunk()``); returns the pairs scored."""
    if plan.todo.is_empty():
        LOG.info("%s: nothing to score (%d pairs copied from an identical fingerprint)",
                 plan.name, plan.reused)
        return 0
    with progress_bar(plan.name, plan.todo.height) as advance:
        return score_chunks(plan.engine, plan.fingerprint, plan.run_id, plan.name, plan.todo,
                            where.directory, plan.config.chunk_pairs, plan.batch_offset,
                            where.after_chunk, advance, plan.pairs.height)


def probe_variants(engine) -> tuple[str, ...]:
    """The probes that judge an engine: swapped arguments (cross-encoders only), a small
    probe scored again by the same load (repeat) and by a fresh load (reload), and the batch
    invariance probes (pipeline/batch_probes.py: single, shuffled, mixed) and the long-input
    probes (pipeline/long_probes.py: long_single, long_batch)."""
    swapped = ("swapped",) if engine.activation != "cosine" else ()
    return (*swapped, "repeat", "reload", *BATCH_VARIANTS, *LONG_VARIANTS)


def score_probes(plan: EnginePlan, where: Destination,
                 variants: tuple[str, ...] | None = None) -> None:
    """Step 3: score the probes the run lacks (``variants``, default all of probe_variants)
    into ``where.directory`` (then ``where.after_probe()`` each); a reload loads the engine
    afresh."""
    wanted = set(probe_variants(plan.engine) if variants is None else variants)
    todo = where.probes_todo(plan, tuple(v for v in probe_variants(plan.engine) if v in wanted))
    for variant, probe in todo:
        tokens = None
        if variant == "reload":  # a fresh load; free the first one before it
            close_engine(plan.engine)
            plan.engine = load_engine(plan.config, plan.engine_config)
            plan.load_warnings += [w for w in plan.engine.load_warnings
                                   if w not in plan.load_warnings]
        if variant in LONG_VARIANTS:
            if probe.is_empty():
                continue
            texts = long_texts(plan.engine, probe)
            batch, tokens = score_long(plan.engine, variant, texts), token_counts(
                plan.engine, texts)
        elif variant in BATCH_VARIANTS:
            batch = score_variant(plan.engine, variant, probe, plan.pairs)
        else:
            batch = plan.engine.score(_texts(probe, swap=variant == "swapped"))
        # the long pairs scored alone keep their ids: where truncation cuts (tokenization's
        # answer cue reads them)
        sampled = token_samples(plan.engine, probe["pair_id"], batch, 0) \
            if variant == "long_single" else None
        shards.write_shard(where.directory, shards.score_table(
            plan.run_id, plan.name, plan.fingerprint.engine_id, variant, probe["pair_id"],
            batch, tokens=tokens, samples=sampled), plan.fingerprint)
        where.after_probe()


def spot_batches(copied: pl.DataFrame, run_id: str,
                 limit: int = SPOT_CHECK_PAIRS) -> list[list[str]]:
    """Batches of copied pairs to score again (q_spot_candidates), each as the run that
    scored it batched it, until they hold at least ``limit`` pairs. Whole batches first (met
    again by the same company, even a batch-dependent engine reproduces its scores); the
    order is seeded by the run id: a resume draws the same batches, another night others."""
    groups = copied.group_by("reused_from_run", "batch_index").agg(
        pl.col("pair_id").sort(), pl.col("whole").all()).sort("reused_from_run", "batch_index")
    order = list(range(groups.height))
    random.Random(run_id).shuffle(order)
    order.sort(key=lambda i: not groups["whole"][i])  # stable: whole batches first
    chosen: list[list[str]] = []
    for i in order:
        if sum(map(len, chosen)) >= limit:
            break
        chosen.append(groups["pair_id"][i].to_list())
    return chosen


def score_spot(plan: EnginePlan, where: Destination) -> int:
    """Step 2b: when main scores were copied from an identical fingerprint, score a seeded
    sample of them afresh (variant "spot", never itself copied), batch by batch as they were
    scored, so that a fingerprint that misses what changed a score (cache_spot_check) cannot
    pass copied scores off as tonight's. Returns the pairs scored."""
    scored = 0
    for pair_ids in where.spot_candidates(plan):
        spot = plan.pairs.filter(pl.col("pair_id").is_in(pair_ids))
        batch = plan.engine.score(_texts(spot))  # one call per batch: its company only
        shards.write_shard(where.directory, shards.score_table(
            plan.run_id, plan.name, plan.fingerprint.engine_id, "spot", spot["pair_id"],
            batch), plan.fingerprint)
        scored += spot.height
    return scored


def run_engine(plan: EnginePlan, where: Destination, probes: bool | tuple[str, ...] = True):
    """The steps of one engine config, the same in this process and in a pooled child:
    (planned) → main → spot → probes → record. ``where`` says where the shards go and how the
    outcome is recorded; ``probes``: every probe, none, or these variants."""
    scored = score_main(plan, where)
    score_spot(plan, where)
    if probes:
        score_probes(plan, where, None if probes is True else tuple(probes))
    return where.record(plan, scored)


def record_success(session: RunSession, engine_name: str, pairs: pl.DataFrame,
                   fingerprint: Fingerprint, load_warnings: list[str], scored: int,
                   reused: int = 0, register: bool = False,
                   missing_means: str = "still have no score after scoring") -> EngineOutcome:
    """Make sure every pair of ``pairs`` has a main score, then record the engine config's
    success with its load report and its counts, taken from the store (every attempt's
    scores, not only this call's ``scored``); ``register``: store the fingerprint first."""
    with session.open() as store:
        if register:
            store.register_engine(fingerprint)
        missing = set(pairs["pair_id"]) - store.scored_pair_ids(session.run_id, engine_name,
                                                                 "main")
        if missing:
            raise EngineFailed(f"engine {engine_name!r}: {len(missing)} pairs {missing_means}")
        source = store.record_engine_success(session.run_id, engine_name,
                                             fingerprint.engine_id, load_warnings)
    return EngineOutcome(engine_name, pairs.height, source, scored, reused)


@dataclass
class InStore:
    """The destination of an engine config scored in this process: shards into the session's
    shard folder, each main chunk ingested at once when the store is free; what the run lacks
    read from the store, and the outcome recorded there (step 4)."""

    session: RunSession

    @property
    def directory(self) -> Path:
        return self.session.shard_dir

    def after_chunk(self) -> None:
        self.session.ingest()

    def after_probe(self) -> None:
        pass  # ingested with the rest in record

    def spot_candidates(self, plan: EnginePlan) -> list[list[str]]:
        with self.session.open() as store:
            copied = store.query("q_spot_candidates", run_id=plan.run_id,
                                 engine_name=plan.name, engine_id=plan.fingerprint.engine_id)
            done = store.scored_pair_ids(plan.run_id, plan.name, "spot")
        return [] if copied.is_empty() or done else spot_batches(copied, plan.run_id)

    def probes_todo(self, plan: EnginePlan,
                    variants: tuple[str, ...]) -> list[tuple[str, pl.DataFrame]]:
        with self.session.open() as store:
            return missing_probes(store, plan.run_id, plan.name, plan.fingerprint,
                                  plan.pairs, variants, plan.reuse)

    def record(self, plan: EnginePlan, scored: int) -> EngineOutcome:
        """Step 4: ingest what waits in shards, then ``record_success``."""
        self.session.ingest(INGEST_WAIT_S)
        return record_success(self.session, plan.name, plan.pairs, plan.fingerprint,
                              plan.load_warnings, scored, plan.reused)


def close_engine(engine) -> None:
    """Free what an engine holds (an isolated worker holds a process)."""
    close = getattr(engine, "close", None)
    if close:
        close()


def score_and_store(session: RunSession, engine_name: str, pairs: pl.DataFrame,
                    probes: bool | tuple[str, ...] = True, force: bool = False,
                    engine=None) -> EngineOutcome:
    """Score what one engine config still lacks in a run, in this process: plan_engine, then
    run_engine into the store. The engine path of flows, the CLI, replays and tests (a pooled
    engine config's child runs the same run_engine: pipeline/dispatch.py).

    Shards a killed attempt left are ingested first and pairs the run holds are kept (resume).
    Unless ``force``, scores an identical fingerprint stored in other runs are copied
    (``scores.reused_from_run``), per pair. ``probes``: every probe, none, or these variants.
    ``engine``: an engine already loaded for this config (a fresh one is loaded otherwise).
    A failure is recorded against the run (engine name and error) and re-raised; the chunks
    committed before it stay.
    """
    try:
        plan = plan_engine(session, engine_name, pairs, force, engine)
        if plan is None:
            return EngineOutcome(engine_name,
                                 engine_pairs(session.config, engine_name, pairs).height)
        return run_engine(plan, InStore(session), probes)
    except Exception as exc:
        record_failure(session, engine_name, exc)
        raise


def record_failure(session: RunSession, engine_name: str, exc: Exception) -> None:
    """An engine config failed: ingest the chunks it finished, record its error in the run
    (the suite turns it into errors). Never raises: a store out of reach is logged, and the
    engine config stays "running"."""
    error = f"{type(exc).__name__}: {exc}"
    LOG.error("engine %s failed: %s", engine_name, error)
    try:
        session.ingest(INGEST_WAIT_S)  # the chunks finished before the failure
        with session.open() as store:
            store.record_engine_failure(session.run_id, engine_name, error)
    except Exception as record_exc:  # e.g. the DB is held elsewhere: the run stays "running"
        LOG.error("could not record the failure of %s: %s", engine_name, record_exc)


def end_run(session: RunSession, failures: dict[str, str]) -> pl.DataFrame:
    """Mark the run succeeded or failed (naming failed engines); return its summary."""
    error = "; ".join(f"{name}: {err}" for name, err in failures.items()) or None
    with session.open() as store:
        store.finish_run(session.run_id, "failed" if failures else "succeeded", error)
        summary = store.query("q_run_summary", run_id=session.run_id,
                              reference=session.config.reference)
    shards.release_run_lock(session.shard_dir, session.run_id)
    return summary
