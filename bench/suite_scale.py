"""Suite at scale: the whole nightly suite over 1 M pairs x 4 engine configs, read from a store.

Run from the repo root: ``python bench/suite_scale.py [--pairs 1000000] [--engines 4]``.
Synthetic cross-encoder scores (a sigmoid over logits that follow the labels; fp16/bf16 configs
add noise) are written the way scoring writes them (score shards, ``Store.ingest_shards``, then
``Store.record_engine_success``) into a DuckDB file in a temp dir, with the probes a real run
stores (swapped, repeat, reload and the batch-invariance probes), twice: the first run is
accepted, so the suite over the second also holds every engine to its history baseline.
Timed: what ``judging.judge_run`` does before writing, i.e.
``Store.suite_frames`` then ``run_suite``, after the one-time imports a nightly process has
already paid (the check modules with Great Expectations, huggingface_hub). Target: ≤ 10 s on
2 CPU cores. The line also gives the process CPU time: on a shared machine wall time includes
waiting for a core.
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from rerankwatch.checks import check_class  # noqa: E402
from rerankwatch.checks.base import SuiteInput  # noqa: E402
from rerankwatch.checks.suites import SUITES, run_suite  # noqa: E402
from rerankwatch.core.records import Fingerprint, ScoreBatch  # noqa: E402
from rerankwatch.pipeline.batch_probes import BATCH_VARIANTS, batch_probe  # noqa: E402
from rerankwatch.pipeline.scoring import RELOAD_PROBE_LIMIT, probe_pairs  # noqa: E402
from rerankwatch.store import Store, shards  # noqa: E402

TARGET_S = 10.0
DOCS_PER_QUERY = 10
LADDER_EVERY = 10  # every 10th query has a 4-rung ladder; the last doc of each query is junk
# name -> (kind, dtype, noise on the reference logit)
CONFIGS = [("ce-st-fp32", "st-cross", "float32", 0.0),
           ("ce-hf-fp32", "hf-seqcls", "float32", 1e-7),
           ("ce-st-fp16", "st-cross", "float16", 1e-3),
           ("ce-st-bf16", "st-cross", "bfloat16", 4e-3)]


def synthetic_pairs(n: int) -> pl.DataFrame:
    """n sample pairs (store columns): 10 graded docs per query, ladders, known-irrelevant docs."""
    rank = pl.col("i") % DOCS_PER_QUERY
    query = pl.col("i") // DOCS_PER_QUERY
    on_ladder = ((query % LADDER_EVERY) == 0) & (rank < 4)
    irrelevant = rank == DOCS_PER_QUERY - 1
    return (
        pl.DataFrame({"i": np.arange(n, dtype=np.int64)})
        .with_columns(
            pair_id=pl.col("i").hash(7).cast(pl.String).str.zfill(20),
            set_id=pl.lit("synthetic"),
            query_id=pl.format("q{}", query),
            query=pl.format("synthetic question number {} about a topic", query),
            doc_id=pl.format("q{}-d{}", query, rank),
            doc=pl.format("a synthetic passage {} written for query {}; rank {}", pl.col("i"),
                          query, rank),
            label=pl.when(rank == 0).then(3.0).when(rank < 3).then(2.0).when(rank < 6)
            .then(1.0).otherwise(0.0),
            ladder=pl.when(on_ladder).then(pl.format("l{}", query)),
            ladder_rank=pl.when(on_ladder).then(rank + 1),
            known_irrelevant=irrelevant,
            lang=pl.lit("en"),
            source_file=pl.lit("synthetic.jsonl"),
        )
        .with_columns(tags=pl.concat_list(
            pl.when(pl.col("ladder").is_not_null())
            .then(pl.format("ladder:{}:{}", "ladder", "ladder_rank")),
            pl.when(irrelevant).then(pl.lit("known_irrelevant")),
        ).list.drop_nulls())
        .drop("i")
    )


def batch(logits: np.ndarray, size: int = 32) -> ScoreBatch:
    index = np.arange(len(logits)) // size
    return ScoreBatch(logits, 1.0 / (1.0 + np.exp(-logits)), "sigmoid", index,
                      tuple(np.full(index[-1] + 1 if len(index) else 0, 0.01)))


def write_run(store: Store, pairs: pl.DataFrame, engines: int, seed: int = 0) -> str:
    """One run with ``engines`` configs (main scores + swapped / repeat / reload probes)."""
    rng = np.random.default_rng(seed)
    rank = pairs["doc_id"].str.extract(r"-d(\d+)$").cast(pl.Float64).to_numpy()
    base = 1.5 * pairs["label"].to_numpy() - 0.2 * rank - 2.0 + rng.uniform(-0.05, 0.05, len(rank))
    swapped_ids = probe_pairs(pairs)["pair_id"]
    repeat_ids = probe_pairs(pairs, RELOAD_PROBE_LIMIT)["pair_id"]
    position = {p: i for i, p in enumerate(pairs["pair_id"])}
    swap_at = np.array([position[p] for p in swapped_ids])
    repeat_at = np.array([position[p] for p in repeat_ids])
    batch_ids = batch_probe(pairs)["pair_id"]
    batch_at = np.array([position[p] for p in batch_ids])
    run_id = store.start_run("bench", {"reference": CONFIGS[0][0]}, pair_ids=pairs["pair_id"])
    directory = shards.shard_dir(store.path)
    for name, kind, dtype, noise in CONFIGS[:engines]:
        logits = base + rng.normal(0.0, noise, len(base)) if noise else base.copy()
        fingerprint = Fingerprint(kind, "bench/synthetic-ce", "0" * 64, dtype, "cpu", "n/a",
                                  512, "sigmoid")
        for variant, pair_ids, scored in [
            ("main", pairs["pair_id"], batch(logits)),
            ("swapped", swapped_ids, batch(logits[swap_at] - 1.0)),
            ("repeat", repeat_ids, batch(logits[repeat_at])),
            ("reload", repeat_ids, batch(logits[repeat_at])),
            *[(variant, batch_ids, batch(logits[batch_at])) for variant in BATCH_VARIANTS],
        ]:
            shards.write_shard(directory, shards.score_table(
                run_id, name, fingerprint.engine_id, variant, pair_ids, scored), fingerprint)
        store.ingest_shards(directory)
        store.record_engine_success(run_id, name, fingerprint.engine_id)
    store.finish_run(run_id, "succeeded")
    return run_id


def timed_checks(seconds: dict[str, float]) -> None:
    """Wrap each check's ``run`` so the suite's own run reports where its time went."""
    for name in SUITES["nightly"]:
        cls = check_class(name)
        inner = cls.run

        @functools.wraps(inner)
        def run(self, data, params, judge, _inner=inner, _name=name):
            started = time.perf_counter()
            try:
                return _inner(self, data, params, judge)
            finally:
                seconds[_name] += time.perf_counter() - started

        cls.run = run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1_000_000, help="pairs (default 1 M)")
    parser.add_argument("--engines", type=int, default=4, choices=range(2, len(CONFIGS) + 1))
    parser.add_argument("--db", help="keep the store here instead of a temp dir (reused if set)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.db or Path(tmp) / "suite_scale.duckdb")
        reuse = path.is_file()
        with Store(path) as store:
            if reuse:
                run_id = store.sql("select max(run_id) as r from runs")["r"][0]
            else:
                started = time.perf_counter()
                pairs = synthetic_pairs(args.pairs)
                store.add_pairs(pairs)
                accepted = write_run(store, pairs, args.engines)
                store.accept_run(accepted, [c[0] for c in CONFIGS[:args.engines]], "bench",
                                 "the bench's first night")
                run_id = write_run(store, pairs, args.engines)
                print(f"  setup: {time.perf_counter() - started:.1f}s", file=sys.stderr)

            from huggingface_hub import snapshot_download  # noqa: F401 - engines import it

            per_check: dict[str, float] = defaultdict(float)
            timed_checks(per_check)  # also imports every check module (and GE)
            started, cpu = time.perf_counter(), time.process_time()
            data = SuiteInput(run_id=run_id, reference=CONFIGS[0][0], **store.suite_frames(run_id))
            frames_s = time.perf_counter() - started
            report = run_suite(data)
            total, cpu = time.perf_counter() - started, time.process_time() - cpu
        errors = [r for r in report.results if r.status == "error"]
        if errors:
            raise SystemExit(f"suite errors: {[(r.check, r.detail) for r in errors]}")
        detail = ", ".join(f"{k} {v:.2f}s" for k, v in sorted(per_check.items(),
                                                                key=lambda kv: -kv[1]))
        print(f"suite_scale: seconds={total:.2f} (target ≤ {TARGET_S:g}) "
              f"[{data.scores.height:,} score rows, {args.engines} engines, "
              f"verdict {report.verdict}; cpu {cpu:.2f}s; frames {frames_s:.2f}s, {detail}]",
              flush=True)


if __name__ == "__main__":
    main()
