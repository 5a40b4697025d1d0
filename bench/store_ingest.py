"""Store ingest: score rows/s through our shard path ÷ DuckDB's own CREATE TABLE AS from Arrow.

Run from the repo root: ``python bench/store_ingest.py [--rows 10000000] [--shard-rows 100000]
[--backend duckdb|ducklake]``.
Ours: the rows are written as shards (``rerankwatch.store.shards.write_shard``, as scoring
workers do), then one ``Store.ingest_shards`` loads them (ledger, de-duplication, engine registry)
and the
store is closed. Reference: ``create table as select * from <arrow table>`` into a fresh DuckDB
file, closed. Both write to the same temporary directory. Prints one line.

``--backend ducklake``: ours ingests into a DuckLake store (a SQLite catalog, Parquet data in
the same temporary directory); the reference is DuckDB's own ``create table as`` into the same
lake (another table of it).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402

from rerankwatch.core.records import Fingerprint  # noqa: E402
from rerankwatch.store import Store, shards  # noqa: E402

FINGERPRINT = Fingerprint(kind="st-cross", model="bench", weights_sha256="ab" * 32,
                          dtype="float32", device="cpu", pooling="n/a", max_length=512,
                          activation="sigmoid", versions={"torch": "2.13.0"})


def score_rows(n: int, run_id: str = "20250101T000000-bench") -> pa.Table:
    """``n`` main-variant score rows of one run and engine, as scoring writes them."""
    rng = np.random.default_rng(0)
    ids = pc.cast(pa.array(np.arange(n, dtype=np.int64)), pa.string())
    pair_ids = pc.binary_join_element_wise("pair-", ids, "")
    logits = rng.normal(size=n)

    def constant(value: str) -> pa.Array:
        return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)),
                                              pa.array([value])).cast(pa.string())

    return pa.table({
        "run_id": constant(run_id), "engine_name": constant("bench-engine"),
        "engine_id": constant(FINGERPRINT.engine_id), "pair_id": pair_ids,
        "variant": constant("main"), "logit": logits, "score": 1 / (1 + np.exp(-logits)),
        "activation": constant("sigmoid"),
        "batch_index": pa.array(np.arange(n, dtype=np.int32) // 32),
        "latency_ms": rng.random(n) * 10,
        "scored_at": pa.array(np.full(n, 1_735_689_600_000_000, dtype=np.int64)).cast(
            pa.timestamp("us", tz="UTC")),
        "tokens": pa.array(rng.integers(8, 512, n, dtype=np.int32)),  # recorded when scored
        "input_tokens": pa.array(rng.integers(8, 512, n, dtype=np.int32)),
        "token_hash": pa.array(rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64)),
        # token samples: none kept for these rows
        "sample_ids": pa.nulls(n, pa.list_(pa.int32())),
        "sample_tokens": pa.nulls(n, pa.list_(pa.string())),
    }, schema=shards.SCHEMA)


def ours(table: pa.Table, folder: Path, shard_rows: int, db: str | Path | None = None) -> float:
    db = db or folder / "ours.duckdb"
    with Store(db):  # an existing store (schema created), as in production
        pass
    started = time.perf_counter()
    for offset in range(0, table.num_rows, shard_rows):
        shards.write_shard(shards.shard_dir(db), table.slice(offset, shard_rows), FINGERPRINT)
    with Store(db, migrate=False) as store:
        report = store.ingest_shards(shards.shard_dir(db))
    seconds = time.perf_counter() - started
    if report.rows != table.num_rows:
        raise SystemExit(f"ingested {report.rows} rows, expected {table.num_rows}")
    return seconds


def reference(table: pa.Table, folder: Path, lake_spec: str | None = None) -> float:
    started = time.perf_counter()
    if lake_spec:
        from rerankwatch.store import lake

        con = lake.connect(lake_spec)
        name = "reference_scores"
    else:
        con = duckdb.connect(str(folder / "reference.duckdb"))
        name = "scores"
    con.register("arrow_scores", table)
    con.execute(f"create table {name} as select * from arrow_scores")
    con.close()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--shard-rows", type=int, default=100_000,
                        help="rows per shard (a worker's chunk; default 100000)")
    parser.add_argument("--backend", choices=["duckdb", "ducklake"], default="duckdb")
    args = parser.parse_args(argv)
    table = score_rows(args.rows)
    with tempfile.TemporaryDirectory(dir=ROOT) as tmp:  # the repo's disk, not a tmpfs
        spec = f"ducklake:sqlite:{tmp}/lake.sqlite" if args.backend == "ducklake" else None
        if spec:
            from rerankwatch.store import lake

            lake.connect(spec, data_path=f"{tmp}/lake-data").close()  # created, empty
        ref_s = reference(table, Path(tmp), spec)
        ours_s = ours(table, Path(tmp), args.shard_rows, spec)
    ours_rate, ref_rate = args.rows / ours_s, args.rows / ref_s
    print(f"store_ingest[{args.backend}]: ratio={ours_rate / ref_rate:.3f} (ours "
          f"{ours_rate:,.0f} rows/s, reference {ref_rate:,.0f} rows/s)", flush=True)


if __name__ == "__main__":
    main()
