"""Durable scoring: pairs/s of chunked scoring that commits every chunk ÷ one ``engine.score``.

Run from the repo root: ``python bench/score_durability.py [--pairs 4000] [--chunk-pairs N]``.
Ours: ``rerankwatch.pipeline.scoring.score_chunks`` as ``score_and_store`` runs it (chunks of
~5 s, or ``--chunk-pairs``; each written as a shard and ingested into a DuckDB store
in the background).
Reference: the same loaded engine scoring every pair in one call, nothing stored. Best of
``--repeat``, alternating which goes first. Prints one line; a ratio near 1.0 means committing
as we go costs little.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import polars as pl  # noqa: E402
from score_overhead import make_pairs  # noqa: E402

from rerankwatch.core.config import EngineConfig  # noqa: E402
from rerankwatch.engines import build_engine  # noqa: E402
from rerankwatch.engines.fixtures import build_tiny_cross_encoder  # noqa: E402
from rerankwatch.pipeline import scoring  # noqa: E402
from rerankwatch.pipeline.session import ingest_shards  # noqa: E402
from rerankwatch.store import Store, shards  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--chunk-pairs", type=int, default=None, help="default: ~5 s chunks")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    texts = make_pairs(args.pairs)
    frame = pl.DataFrame({"pair_id": [f"p{i}" for i in range(len(texts))],
                          "query": [q for q, _ in texts], "doc": [d for _, d in texts]})
    with tempfile.TemporaryDirectory(dir=ROOT) as tmp:
        model = build_tiny_cross_encoder(Path(tmp) / "tiny-ce")
        engine = build_engine(EngineConfig(name="bench", kind="st-cross", model=str(model),
                                           batch_size=args.batch_size))
        fingerprint = engine.fingerprint()
        engine.score(texts[:256])  # warm-up
        best = {"ours": float("inf"), "reference": float("inf")}
        for repeat in range(args.repeat):
            db = Path(tmp) / f"run{repeat}.duckdb"
            with Store(db) as store:
                run_id = store.start_run("bench", {})

            def ours(db=db, run_id=run_id):
                directory = shards.shard_dir(db)
                scoring.score_chunks(engine, fingerprint, run_id, "bench", frame,
                                     directory, args.chunk_pairs,
                                     after_chunk=lambda: ingest_shards(db, directory, run_id))
                ingest_shards(db, directory, run_id, wait_s=60)

            order = [("ours", ours), ("reference", lambda: engine.score(texts))]
            for name, fn in order if repeat % 2 == 0 else order[::-1]:
                started = time.perf_counter()
                fn()
                best[name] = min(best[name], time.perf_counter() - started)
            with Store(db, read_only=True) as store:
                stored = store.sql("select count(*) as n from scores")["n"][0]
            if stored != len(texts):
                raise SystemExit(f"stored {stored} scores, expected {len(texts)}")
    ours_rate, ref_rate = len(texts) / best["ours"], len(texts) / best["reference"]
    print(f"score_durability: ratio={ours_rate / ref_rate:.3f} (ours {ours_rate:.1f} pairs/s, "
          f"reference {ref_rate:.1f} pairs/s)", flush=True)


if __name__ == "__main__":
    main()
