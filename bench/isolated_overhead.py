"""Isolated engines: the same engine config scored in this process and through the isolated
worker (its own venv, pairs and scores as Arrow IPC files, ``engines/isolated.py``).

Run from the repo root: ``python bench/isolated_overhead.py [--pairs 2000] [--model ...]``.
The ratio is pairs/s through the worker ÷ pairs/s in-process, on a real model (default the
embedded MiniLM-L6 bi-encoder); target ≥ 0.95 (issue 31). The venv holds this venv's versions
of sentence-transformers and transformers, so both sides run the same library code; it is
built once per machine (``engines/environments.py``: pip, minutes the first time) and reused
from the cache. Each side loads once; rounds alternate the two sides (a warm-up batch, then
the pairs) and the best of each counts; CPU seconds are this process's (the worker's are its
own).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from importlib.metadata import version
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rerankwatch.core.config import EngineConfig, EnvironmentConfig  # noqa: E402
from rerankwatch.engines import build_engine  # noqa: E402
from rerankwatch.samples.loader import load_sample_set  # noqa: E402

TARGET = 0.95
MINILM = "embedded:all-MiniLM-L6-v2"


def make_pairs(n: int) -> list[tuple[str, str]]:
    """n deterministic (query, doc) pairs: golden_en's queries x docs, interleaved."""
    frame = load_sample_set(ROOT / "samples" / "golden_en.jsonl")
    queries = frame["query"].unique(maintain_order=True).to_list()
    docs = frame["doc"].unique(maintain_order=True).to_list()
    nq, nd = len(queries), len(docs)
    return [(queries[(i % nd + i // nd) % nq], docs[i % nd]) for i in range(n)]


def timed(engine, pairs: list[tuple[str, str]]) -> tuple[float, float]:
    """(wall, CPU) seconds of scoring ``pairs`` after a warm-up batch."""
    engine.score(pairs[:32])
    started, cpu = time.perf_counter(), time.process_time()
    engine.score(pairs)
    return time.perf_counter() - started, time.process_time() - cpu


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--kind", default="st-bi")
    parser.add_argument("--model", default=MINILM)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (best of)")
    args = parser.parse_args(argv)
    config = EngineConfig(name="bench", kind=args.kind, model=args.model,
                          batch_size=args.batch_size)
    environment = EnvironmentConfig(name="bench-isolated", requirements=[
        f"sentence-transformers=={version('sentence-transformers')}",
        f"transformers=={version('transformers')}"])
    pairs = make_pairs(args.pairs)

    started = time.perf_counter()
    isolated = build_engine(config.model_copy(update={"environment": environment.name}),
                            environment)
    print(f"  isolated worker ready in {time.perf_counter() - started:.1f}s (venv build "
          f"included the first time)", file=sys.stderr, flush=True)
    engine = build_engine(config)
    worker, local = [], []
    try:
        for _ in range(args.rounds):  # interleaved, so that both sides see the same load
            worker.append(timed(isolated, pairs))
            local.append(timed(engine, pairs))
    finally:
        isolated.close()
    (worker_s, worker_cpu), (local_s, local_cpu) = min(worker), min(local)
    ratio = local_s / worker_s
    print(f"isolated_overhead: ratio={ratio:.3f} (target ≥ {TARGET:g}) [{args.pairs} pairs, "
          f"{args.kind} {args.model}; in-process {local_s:.2f}s (CPU {local_cpu:.2f}s), "
          f"isolated worker {worker_s:.2f}s (this process's CPU {worker_cpu:.2f}s); best of "
          f"{args.rounds}; load "
          f"{os.getloadavg()[0]:.1f}]", flush=True)


if __name__ == "__main__":
    main()
