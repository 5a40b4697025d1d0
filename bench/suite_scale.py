"""Suite at scale: the whole nightly suite over millions of pairs x engine configs, from a store.

Run from the repo root: ``python bench/suite_scale.py [--pairs 1000000 ...] [--engines 4]``,
or ``--targets`` for issue 31's four targets (1 M x 4, 10 M x 4, 200 k x 50 and the 10 M / 1 M
ratio). Synthetic cross-encoder scores (a sigmoid over logits that follow the labels; fp16/bf16
configs add noise) are written the way scoring writes them (score shards,
``Store.ingest_shards``, then ``Store.record_engine_success``) into a DuckDB file in a temp dir,
with the probes a real run stores (swapped, repeat, reload and the batch-invariance probes),
twice: the first run is accepted, so the suite over the second also holds every engine to its
history baseline. Configs beyond the four named ones are more copies of them (``ce-st-fp16-5``).

Timed, in a child process of its own (so its peak RSS is the suite step's): what
``judging.judge_run`` does before writing, i.e. ``Store.suite_frames`` then ``run_suite``,
after the one-time imports a nightly process has already paid (the check modules with Great
Expectations, huggingface_hub). One line per size: wall seconds, CPU seconds (on a shared
machine wall time includes waiting for a core), peak RSS, and where the time went.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from rerankwatch.core.records import Fingerprint, ScoreBatch  # noqa: E402
from rerankwatch.pipeline.batch_probes import BATCH_VARIANTS, batch_probe  # noqa: E402
from rerankwatch.pipeline.scoring import RELOAD_PROBE_LIMIT, probe_pairs  # noqa: E402
from rerankwatch.store import Store, shards  # noqa: E402

# issue 31: (pairs, engine configs) -> seconds; and time(10 M x 4) / time(1 M x 4)
TARGETS = {(1_000_000, 4): 5.0, (10_000_000, 4): 30.0, (200_000, 50): 30.0}
TARGET_RATIO = 12.0
TARGET_RSS_GIB = 8.0  # peak RSS of the suite step at 10 M x 4
DOCS_PER_QUERY = 10
LADDER_EVERY = 10  # every 10th query has a 4-rung ladder; the last doc of each query is junk
# name -> (kind, dtype, noise on the reference logit)
CONFIGS = [("ce-st-fp32", "st-cross", "float32", 0.0),
           ("ce-hf-fp32", "hf-seqcls", "float32", 1e-7),
           ("ce-st-fp16", "st-cross", "float16", 1e-3),
           ("ce-st-bf16", "st-cross", "bfloat16", 4e-3)]


def configs(n: int) -> list[tuple[str, str, str, float]]:
    """The first ``n`` engine configs: the four named ones, then more copies of them."""
    return [CONFIGS[i % len(CONFIGS)] if i < len(CONFIGS) else
            (f"{CONFIGS[i % len(CONFIGS)][0]}-{i + 1}", *CONFIGS[i % len(CONFIGS)][1:])
            for i in range(n)]


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


def _rows_of(pairs: pl.DataFrame, chosen: pl.DataFrame) -> np.ndarray:
    """Where ``chosen``'s pairs sit in ``pairs`` (in ``chosen``'s order)."""
    return (chosen.select("pair_id")
            .join(pairs.select("pair_id").with_row_index("_row"), on="pair_id",
                  maintain_order="left")["_row"].to_numpy())


def write_run(store: Store, pairs: pl.DataFrame, engines: int, seed: int = 0) -> str:
    """One run with ``engines`` configs (main scores + swapped / repeat / reload probes)."""
    rng = np.random.default_rng(seed)
    rank = pairs["doc_id"].str.extract(r"-d(\d+)$").cast(pl.Float64).to_numpy()
    base = 1.5 * pairs["label"].to_numpy() - 0.2 * rank - 2.0 + rng.uniform(-0.05, 0.05, len(rank))
    swapped, repeat = probe_pairs(pairs), probe_pairs(pairs, RELOAD_PROBE_LIMIT)
    probed = batch_probe(pairs)
    swap_at, repeat_at, batch_at = (_rows_of(pairs, swapped), _rows_of(pairs, repeat),
                                    _rows_of(pairs, probed))
    swapped_ids, repeat_ids, batch_ids = (swapped["pair_id"].to_list(),
                                          repeat["pair_id"].to_list(), probed["pair_id"].to_list())
    pair_ids = pairs["pair_id"].to_list()
    del swapped, repeat, probed
    run_id = store.start_run("bench", {"reference": CONFIGS[0][0]}, pair_ids=pair_ids)
    directory = shards.shard_dir(store.path)
    for name, kind, dtype, noise in configs(engines):
        logits = base + rng.normal(0.0, noise, len(base)) if noise else base.copy()
        fingerprint = Fingerprint(kind, "bench/synthetic-ce", "0" * 64, dtype, "cpu", "n/a",
                                  512, "sigmoid")
        for variant, ids, scored in [
            ("main", pair_ids, batch(logits)),
            ("swapped", swapped_ids, batch(logits[swap_at] - 1.0)),
            ("repeat", repeat_ids, batch(logits[repeat_at])),
            ("reload", repeat_ids, batch(logits[repeat_at])),
            *[(variant, batch_ids, batch(logits[batch_at])) for variant in BATCH_VARIANTS],
        ]:
            shards.write_shard(directory, shards.score_table(
                run_id, name, fingerprint.engine_id, variant, ids, scored), fingerprint)
        store.ingest_shards(directory)
        store.record_engine_success(run_id, name, fingerprint.engine_id)
    store.finish_run(run_id, "succeeded")
    return run_id


def build(path: Path, n_pairs: int, engines: int) -> None:
    """The bench's store: the pairs, an accepted first night, the night the suite judges."""
    with Store(path) as store:
        store.con.execute("set memory_limit = '4GB'")  # the setup's, not the suite's
        pairs = synthetic_pairs(n_pairs)
        store.add_pairs(pairs)
        pairs = pairs.drop("source_file", "tags", "lang")
        accepted = write_run(store, pairs, engines)
        store.accept_run(accepted, [c[0] for c in configs(engines)], "bench",
                         "the bench's first night")
        write_run(store, pairs, engines)


def timed_checks(seconds: dict[str, float]) -> None:
    """Wrap each check's ``run`` so the suite's own run reports where its time went."""
    from rerankwatch.checks import check_class
    from rerankwatch.checks.suites import SUITES

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


def judge(path: Path) -> dict:
    """The suite step over the store at ``path`` (run in a child process): its figures."""
    from huggingface_hub import snapshot_download  # noqa: F401 - engines import it

    from rerankwatch.checks.base import SuiteInput
    from rerankwatch.checks.suites import run_suite

    per_check: dict[str, float] = defaultdict(float)
    timed_checks(per_check)  # also imports every check module (and GE)
    with Store(path) as store:
        run_id = store.sql("select max(run_id) as r from runs")["r"][0]
        before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started, cpu = time.perf_counter(), time.process_time()
        data = SuiteInput(run_id=run_id, reference=CONFIGS[0][0],
                          **store.suite_frames(run_id))
        frames_s = time.perf_counter() - started
        report = run_suite(data)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    errors = [(r.check, r.detail) for r in report.results if r.status == "error"]
    return {"seconds": seconds, "cpu": cpu, "frames": frames_s, "verdict": report.verdict,
            "rows": data.scores.height, "errors": errors,
            "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
            "imports_rss_gib": before_kib / 2**20, "checks": dict(per_check)}


def child(*args: str) -> dict:
    """Run this script with ``args`` in a fresh process; its last line, as JSON."""
    done = subprocess.run([sys.executable, __file__, *args], check=True, text=True,
                          stdout=subprocess.PIPE)
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(n_pairs: int, engines: int, db: str | None) -> dict:
    """One size: the store built (in a child process) unless ``db`` holds one, then the suite
    step timed in another child; prints its line."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(db or Path(tmp) / "suite_scale.duckdb")
        if not path.is_file():
            started = time.perf_counter()
            child("--build", str(path), "--pairs", str(n_pairs), "--engines", str(engines))
            print(f"  setup {n_pairs:,} x {engines}: {time.perf_counter() - started:.1f}s",
                  file=sys.stderr, flush=True)
        found = child("--judge", str(path))
    if found["errors"]:
        raise SystemExit(f"suite errors: {found['errors']}")
    target = TARGETS.get((n_pairs, engines))
    detail = ", ".join(f"{k} {v:.2f}s" for k, v in sorted(found["checks"].items(),
                                                            key=lambda kv: -kv[1])[:6])
    print(f"suite_scale: pairs={n_pairs:,} engines={engines} seconds={found['seconds']:.2f}"
          f"{f' (target ≤ {target:g})' if target else ''} cpu={found['cpu']:.2f}s "
          f"peak_rss={found['peak_rss_gib']:.2f}GiB "
          f"[{found['rows']:,} score rows, verdict {found['verdict']}; load "
          f"{os.getloadavg()[0]:.1f}; frames {found['frames']:.2f}s, {detail}; "
          f"RSS after imports {found['imports_rss_gib']:.2f}GiB]", flush=True)
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, nargs="+", default=[1_000_000],
                        help="pairs, one line per size (default 1 M)")
    parser.add_argument("--engines", type=int, default=4,
                        help="engine configs (default 4; more are copies of the four named)")
    parser.add_argument("--targets", action="store_true",
                        help="issue 31's sizes (1 M x 4, 10 M x 4, 200 k x 50) and its targets")
    parser.add_argument("--db", help="keep the store here instead of a temp dir (reused if set)")
    parser.add_argument("--build", help=argparse.SUPPRESS)  # child: build the store here
    parser.add_argument("--judge", help=argparse.SUPPRESS)  # child: time the suite step
    args = parser.parse_args(argv)
    if args.engines < 2:
        parser.error("--engines: at least 2")
    if args.build:
        build(Path(args.build), args.pairs[0], args.engines)
        print("{}")
        return
    if args.judge:
        print(json.dumps(judge(Path(args.judge))))
        return
    if args.db and (args.targets or len(args.pairs) > 1):
        parser.error("--db holds one store: one size")
    sizes = list(TARGETS) if args.targets else [(n, args.engines) for n in args.pairs]
    found = {size: measure(*size, args.db) for size in sizes}
    for (n_pairs, engines), target in TARGETS.items():
        if (n_pairs, engines) in found:
            seconds = found[(n_pairs, engines)]["seconds"]
            print(f"target {n_pairs:,} x {engines} ≤ {target:g}s: {seconds:.2f}s "
                  f"{'met' if seconds <= target else 'MISSED'}")
    big, small = found.get((10_000_000, 4)), found.get((1_000_000, 4))
    if big:
        print(f"target peak RSS at 10,000,000 x 4 ≤ {TARGET_RSS_GIB:g} GiB: "
              f"{big['peak_rss_gib']:.2f} GiB "
              f"{'met' if big['peak_rss_gib'] <= TARGET_RSS_GIB else 'MISSED'}")
    if big and small:
        ratio = big["seconds"] / small["seconds"]
        print(f"target time(10 M) / time(1 M) ≤ {TARGET_RATIO:g}: {ratio:.2f} "
              f"{'met' if ratio <= TARGET_RATIO else 'MISSED'}")


if __name__ == "__main__":
    main()
