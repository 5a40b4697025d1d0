"""Store on real DuckDB files: migrations, idempotent pairs, transactional writes, SQL views.

Scores are written the way production writes them: shards (``shards.score_table`` +
``write_shard``), ``Store.ingest_shards`` (engines, scores and the shard ledger in one
transaction), then ``Store.record_engine_success`` (the run_engines row)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from rerankwatch.core.errors import ConfigError, StoreBusy
from rerankwatch.core.records import Fingerprint, ScoreBatch
from rerankwatch.samples.loader import load_sample_set, pair_id
from rerankwatch.store import (
    LOCK_WAIT_ENV,
    Store,
    create_store,
    is_locked,
    new_run_id,
    open_store,
    reader_wait_s,
    shards,
)
from rerankwatch.store.store import lock_holder, nulls_unstored, view_order
from tests.support.suite_runs import write_batches

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
CORE_TABLES = {"sample_pairs", "engines", "runs", "run_engines", "scores", "check_results"}


def declared(kind: str, pattern: str) -> set[str]:
    """Names the migration files under sql/<kind> create."""
    names = set()
    for path in (SQL_DIR / kind).glob("*.sql"):
        names |= set(re.findall(pattern, path.read_text(), flags=re.IGNORECASE))
    return names


TABLES = declared("schema", r"create table if not exists (\w+)")
VIEWS = declared("views", r"create or replace view (\w+)")


def fingerprint(dtype: str = "float32", kind: str = "st-bi") -> Fingerprint:
    return Fingerprint(kind=kind, model="embedded:all-MiniLM-L6-v2", weights_sha256="ab" * 32,
                       dtype=dtype, device="cpu", pooling="mean", max_length=256,
                       activation="cosine", versions={"torch": "9.9.9"})


def batch(scores: list[float], batch_index: list[int], seconds: tuple[float, ...],
          activation: str = "cosine") -> ScoreBatch:
    values = np.asarray(scores, dtype=np.float64)
    return ScoreBatch(values, values.copy(), activation, np.asarray(batch_index, dtype=np.int64),
                      seconds)


def write(store: Store, run_id: str, engine_name: str, fp: Fingerprint, pair_ids, sb: ScoreBatch,
          load_warnings=()) -> None:
    """Main-variant scores through the production write path: a shard, its ingest, then the
    engine's success record."""
    write_batches(store, run_id, engine_name, fp, [("main", list(pair_ids), sb)], load_warnings)


def count(store: Store, table: str) -> int:
    return store.con.execute(f"select count(*) from {table}").fetchall()[0][0]


def waiting(store: Store) -> list[shards.ShardInfo]:
    """Shards next to the store not ingested yet."""
    return shards.pending(shards.shard_dir(store.path))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "rw.duckdb"


@pytest.fixture
def store(db_path: Path):
    with Store(db_path) as s:
        yield s


@pytest.fixture
def pairs(tmp_path: Path) -> pl.DataFrame:
    path = tmp_path / "s1.jsonl"
    rows = [
        {"set_id": "s1", "query_id": "q1", "query": "How do I sell my shirt?", "doc_id": f"d{i}",
         "doc": doc, "label": label, "tags": tags, "lang": "en"}
        for i, (doc, label, tags) in enumerate([
            ("List it on a resale marketplace.", 3, ["ladder:shirt:1"]),
            ("Sell clothes online.", 2, ["ladder:shirt:2"]),
            ("Ketchup is made from tomatoes.", 0, ["ladder:shirt:3", "known_irrelevant"]),
        ], start=1)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return load_sample_set(path, expected_set_id="s1")


# --------------------------------------------------------------------------- migrations


def test_migrations_create_tables_and_view(store: Store, db_path: Path) -> None:
    assert db_path.is_file()  # parent folder created
    tables = store.sql("select table_name, table_type from information_schema.tables")
    base = tables.filter(pl.col("table_type") == "BASE TABLE")["table_name"].to_list()
    views = tables.filter(pl.col("table_type") == "VIEW")["table_name"].to_list()
    assert CORE_TABLES <= TABLES and "v_run_scores" in VIEWS
    assert sorted(base) == sorted(TABLES)
    assert sorted(views) == sorted(VIEWS)


def test_migrations_are_idempotent(db_path: Path, pairs: pl.DataFrame) -> None:
    with Store(db_path) as first:
        first.add_pairs(pairs)
        first.migrate()  # re-running on an open store is fine too
    with Store(db_path) as second:
        second.migrate()
        names = second.sql("select table_name from information_schema.tables")["table_name"]
        assert names.len() == len(TABLES) + len(VIEWS)
        assert names.n_unique() == names.len()  # every table/view exists exactly once
        assert count(second, "sample_pairs") == 3  # data survives re-migration


# --------------------------------------------------------------------------- sample pairs


def test_add_pairs_is_idempotent_on_pair_id(store: Store, pairs: pl.DataFrame) -> None:
    store.add_pairs(pairs)
    store.add_pairs(pairs)
    assert count(store, "sample_pairs") == 3
    stored = store.sql("select * from sample_pairs order by doc_id")
    assert stored["pair_id"].to_list() == pairs.sort("doc_id")["pair_id"].to_list()
    assert stored["tags"].to_list()[2] == ["ladder:shirt:3", "known_irrelevant"]
    assert stored["known_irrelevant"].to_list() == [False, False, True]
    assert stored["ladder_rank"].to_list() == [1, 2, 3]
    assert stored["first_loaded_at"].null_count() == 0

    # an edited text is a new pair id: stored next to the old one, which is kept unchanged
    edited = pairs.with_columns(
        pl.when(pl.col("doc_id") == "d1").then(pl.lit("Edited doc.")).otherwise(pl.col("doc"))
        .alias("doc")
    ).head(1)
    edited = edited.with_columns(pl.lit(pair_id("s1", "q1", "d1", "How do I sell my shirt?",
                                                 "Edited doc.")).alias("pair_id"))
    store.add_pairs(pl.concat([pairs, edited]))
    assert count(store, "sample_pairs") == 4
    docs = store.sql("select doc from sample_pairs where doc_id = 'd1' order by doc")["doc"]
    assert docs.to_list() == ["Edited doc.", "List it on a resale marketplace."]


# --------------------------------------------------------------------------- runs


def test_start_and_finish_run(store: Store) -> None:
    run_id = store.start_run("score-matrix", {"reference": "a"}, flow_run_id="fr-1")
    row = store.sql("select * from runs where run_id = $r", r=run_id).row(0, named=True)
    assert row["status"] == "running" and row["finished_at"] is None
    assert row["flow_name"] == "score-matrix" and row["flow_run_id"] == "fr-1"
    assert json.loads(row["config"]) == {"reference": "a"}

    store.finish_run(run_id, "failed", error="engine b failed")
    row = store.sql("select * from runs where run_id = $r", r=run_id).row(0, named=True)
    assert row["status"] == "failed" and row["error"] == "engine b failed"
    assert row["finished_at"] is not None and row["finished_at"] >= row["started_at"]

    other = store.start_run("score-matrix", {}, run_id="fixed-id")
    store.finish_run(other, "succeeded")
    statuses = dict(store.sql("select run_id, status from runs").iter_rows())
    assert statuses == {run_id: "failed", "fixed-id": "succeeded"}


def test_an_engine_status_records_where_it_was_scored(store: Store) -> None:
    """The host alone outside a flow; what the orchestration layer says inside one."""
    import socket

    from rerankwatch.core.provenance import ScoredBy, scoring_as

    run_id = store.start_run("score-matrix", {"reference": "a"})
    store.record_engine_failure(run_id, "plain", "boom")
    with scoring_as(ScoredBy(host="gpu-7", flow_run_id="fr-2", work_pool="gpu-pool",
                             worker="ProcessWorker w1")):
        store.record_engine_failure(run_id, "pooled", "boom")
    rows = store.sql("select engine_name, host, flow_run_id, work_pool, worker from "
                     "v_run_engine_status where run_id = $r order by engine_name", r=run_id)
    assert rows.rows() == [("plain", socket.gethostname(), None, None, None),
                           ("pooled", "gpu-7", "fr-2", "gpu-pool", "ProcessWorker w1")]


def test_new_run_ids_are_unique() -> None:
    ids = {new_run_id() for _ in range(50)}
    assert len(ids) == 50


# --------------------------------------------------------------------------- writing scores


def test_shard_ingest_and_engine_success_commit_scores_engine_and_run_engine(
        store: Store, pairs: pl.DataFrame) -> None:
    store.add_pairs(pairs)
    run_id = store.start_run("f", {})
    fp = fingerprint()
    ids = pairs["pair_id"].to_list()
    sb = batch([0.9, 0.5, 0.1], [1, 0, 0], (0.2, 0.3))
    directory = shards.shard_dir(store.path)
    shards.write_shard(directory, shards.score_table(run_id, "st-bi-fp32", fp.engine_id, "main",
                                                     ids, sb), fp)
    assert count(store, "scores") == 0 and len(waiting(store)) == 1  # a shard, not the DB yet
    report = store.ingest_shards(directory)
    assert (report.shards, report.rows, report.skipped) == (1, 3, 0)
    assert waiting(store) == [] and count(store, "ingested_shards") == 1
    # scores and engine are committed by the ingest; the engine's status by its success record
    assert count(store, "scores") == 3 and count(store, "engines") == 1
    assert count(store, "run_engines") == 0
    store.record_engine_success(run_id, "st-bi-fp32", fp.engine_id, ["w1", "w2"])

    scores = store.sql("select * from scores order by pair_id")
    assert scores.height == 3
    expected = dict(zip(ids, [0.9, 0.5, 0.1], strict=True))
    assert dict(scores.select("pair_id", "score").iter_rows()) == expected
    assert set(scores["engine_id"]) == {fp.engine_id}
    assert set(scores["activation"]) == {"cosine"}
    # latency: each batch's seconds shared by the pairs in that batch
    latency = dict(scores.select("pair_id", "latency_ms").iter_rows())
    assert latency[ids[0]] == pytest.approx(300.0)
    assert latency[ids[1]] == pytest.approx(100.0) and latency[ids[2]] == pytest.approx(100.0)
    assert dict(scores.select("pair_id", "batch_index").iter_rows())[ids[0]] == 1

    engine = store.sql("select * from engines").row(0, named=True)
    assert engine["engine_id"] == fp.engine_id and engine["dtype"] == "float32"
    assert json.loads(engine["fingerprint"]) == json.loads(fp.to_json())
    assert json.loads(engine["versions"]) == {"torch": "9.9.9"}

    run_engine = store.sql("select * from run_engines").row(0, named=True)
    assert run_engine["status"] == "succeeded" and run_engine["pairs"] == 3
    assert (run_engine["scored_pairs"], run_engine["reused_pairs"]) == (3, 0)  # from the store
    assert run_engine["score_seconds"] == pytest.approx(0.5)
    assert run_engine["load_warnings"] == ["w1", "w2"]
    assert run_engine["engine_id"] == fp.engine_id

    # the same fingerprint in a later run does not duplicate the engines row
    write(store, store.start_run("f", {}), "st-bi-fp32", fp, ids, sb)
    assert count(store, "engines") == 1 and count(store, "scores") == 6


def test_shards_keep_probe_variants_apart(store: Store, pairs: pl.DataFrame) -> None:
    """Probe re-scores are stored with their variant; views and summary read main only."""
    store.add_pairs(pairs)
    run_id = store.start_run("f", {})
    ids = pairs["pair_id"].to_list()
    main = batch([0.9, 0.5, 0.1], [0, 0, 1], (0.2, 0.2))
    reload = batch([0.8, 0.5, 0.3], [0, 0, 0], (0.5,))
    swapped = batch([0.7], [0], (0.1,))
    write_batches(store, run_id, "ref", fingerprint(),
                  [("main", ids, main), ("reload", ids, reload), ("swapped", ids[:1], swapped)])
    variants = dict(store.sql("select variant, count(*) as n from scores group by variant")
                    .iter_rows())
    assert variants == {"main": 3, "reload": 3, "swapped": 1}
    run_engine = store.sql("select pairs, score_seconds from run_engines").row(0)
    assert run_engine == (3, pytest.approx(0.4))  # from the main batch only
    view = store.sql("select pair_id, score from v_run_scores")
    assert dict(view.iter_rows()) == dict(zip(ids, [0.9, 0.5, 0.1], strict=True))
    probes = store.sql("select variant, pair_id, score from v_probe_scores order by variant, score")
    assert probes["variant"].to_list() == ["reload"] * 3 + ["swapped"]
    summary = store.query("q_run_summary", run_id=run_id, reference="ref").row(0, named=True)
    assert summary["pairs"] == 3 and summary["mean_score"] == pytest.approx(0.5)


def assert_nothing_written(store: Store) -> None:
    assert count(store, "scores") == 0
    assert count(store, "engines") == 0
    assert count(store, "run_engines") == 0


@pytest.mark.parametrize(("pair_ids", "scores"), [
    (["p1", "p2"], [0.1, 0.2, 0.3]),  # more scores than pair ids
    (["p1", "p2", "p3"], [0.1, 0.2]),  # fewer
])
def test_score_table_wrong_length_writes_nothing(store: Store, pair_ids: list[str],
                                                 scores: list[float]) -> None:
    """A batch whose length differs from its pair ids never becomes a shard (pyarrow refuses
    the table: every column must have the pair ids' length), so nothing reaches the store."""
    run_id = store.start_run("f", {})
    sb = batch(scores, [0] * len(scores), (0.1,))
    with pytest.raises(pa.ArrowInvalid, match="expected length"):
        write(store, run_id, "e", fingerprint(), pair_ids, sb)
    assert waiting(store) == []  # no shard was written
    assert_nothing_written(store)


def test_failed_scores_insert_rolls_back_engine_row(store: Store) -> None:
    """The ingest inserts the engines row first; a failing scores insert must take it back
    out (and the shard waits on disk for the next ingest, unrecorded in the ledger)."""
    run_id = store.start_run("f", {})
    bad = batch([0.1, 0.2], [0, 0], (0.1,), activation=None)  # scores.activation is NOT NULL
    with pytest.raises(duckdb.ConstraintException):
        write(store, run_id, "e", fingerprint(), ["p1", "p2"], bad)
    assert_nothing_written(store)
    assert count(store, "ingested_shards") == 0 and len(waiting(store)) == 1


def test_failed_ledger_insert_rolls_back_engine_row_and_scores(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ingest's last statement (the shard ledger) fails: the engines row and the scores
    written before it vanish, and the shard stays for the next ingest."""
    run_id = store.start_run("f", {})
    fp = fingerprint()
    good = batch([0.1, 0.2], [0, 0], (0.1,))
    insert = store._insert

    def ledger_fails(table: str, frame: pl.DataFrame, or_ignore: bool = False) -> None:
        if table == "ingested_shards":
            raise duckdb.ConstraintException("ledger insert failed")
        insert(table, frame, or_ignore)

    monkeypatch.setattr(store, "_insert", ledger_fails)
    with pytest.raises(duckdb.ConstraintException, match="ledger"):
        write(store, run_id, "e", fp, ["p1", "p2"], good)
    assert_nothing_written(store)
    assert count(store, "ingested_shards") == 0 and len(waiting(store)) == 1
    # the connection is usable after the rollback, and the run itself was not touched: the
    # next ingest loads the waiting shard, then the engine's success is recorded
    monkeypatch.setattr(store, "_insert", insert)
    assert store.ingest_shards(shards.shard_dir(store.path)).shards == 1
    store.record_engine_success(run_id, "e", fp.engine_id)
    assert count(store, "scores") == 2 and count(store, "run_engines") == 1
    assert waiting(store) == [] and count(store, "ingested_shards") == 1
    assert store.sql("select status from runs")["status"].to_list() == ["running"]


def test_failed_run_engine_insert_rolls_back_the_success_record(store: Store) -> None:
    """The success record fails: no run_engines row. The ingest before it committed the scores
    and engines row (a resumed run keeps them), and recording again succeeds once."""
    run_id = store.start_run("f", {})
    fp = fingerprint()
    good = batch([0.1, 0.2], [0, 0], (0.1,))
    with pytest.raises(duckdb.Error):
        write(store, run_id, "e", fp, ["p1", "p2"], good,
              load_warnings=[object()])  # not convertible to varchar[]
    assert count(store, "run_engines") == 0
    assert count(store, "scores") == 2 and count(store, "engines") == 1
    # the connection is usable after the rollback, and the run itself was not touched
    write(store, run_id, "e", fp, ["p1", "p2"], good)
    assert count(store, "scores") == 2 and count(store, "run_engines") == 1  # not duplicated
    assert store.sql("select status from runs")["status"].to_list() == ["running"]


def test_record_engine_failure(store: Store) -> None:
    run_id = store.start_run("f", {})
    store.record_engine_failure(run_id, "hf-bi-fp16", "PrecisionUnsupportedError: no fp16")
    row = store.sql("select * from run_engines").row(0, named=True)
    assert row["status"] == "failed" and row["engine_id"] is None
    assert row["error"] == "PrecisionUnsupportedError: no fp16"
    assert count(store, "scores") == 0


# --------------------------------------------------------------------------- queries and views


def test_q_run_summary_mean_abs_delta(store: Store) -> None:
    run_id = store.start_run("f", {})
    ids = ["p1", "p2", "p3", "p4"]
    ref = [0.10, 0.50, 0.90, 0.30]
    alt = [0.20, 0.45, 0.60, 0.30]
    low = [0.05, 0.55, 0.95, 0.00]
    ref_seconds, alt_seconds, low_seconds = (0.5, 0.5), (0.1, 0.3), (2.0,)
    write(store, run_id, "ref", fingerprint("float32"), ids,
                       batch(ref, [0, 0, 1, 1], ref_seconds))
    write(store, run_id, "alt", fingerprint("bfloat16"), ids,
                       batch(alt, [0, 1, 1, 1], alt_seconds))
    write(store, run_id, "low", fingerprint("float16"), ids[:3] + ["p-extra"],
                       batch(low, [0, 0, 0, 0], low_seconds))
    store.record_engine_failure(run_id, "broken", "boom")
    # another run's scores must not leak into this run's summary
    other = store.start_run("f", {})
    write(store, other, "alt", fingerprint("bfloat16"), ids, batch([9, 9, 9, 9],
                       [0, 0, 0, 0], (1.0,)))

    summary = store.query("q_run_summary", run_id=run_id, reference="ref")
    assert summary["engine"].to_list() == ["ref", "alt", "broken", "low"]  # reference first
    rows = {r["engine"]: r for r in summary.iter_rows(named=True)}

    def mean_abs(a, b):
        return float(np.mean(np.abs(np.asarray(a) - np.asarray(b))))

    assert rows["ref"]["mean_abs_delta"] == pytest.approx(0.0)
    assert rows["alt"]["mean_abs_delta"] == pytest.approx(mean_abs(alt, ref))  # 0.1
    # p-extra has no reference score: it is left out of the mean
    assert rows["low"]["mean_abs_delta"] == pytest.approx(mean_abs(low[:3], ref[:3]))
    assert rows["alt"]["mean_score"] == pytest.approx(np.mean(alt))
    assert rows["ref"]["pairs"] == rows["alt"]["pairs"] == rows["low"]["pairs"] == 4
    # pairs/s = pairs / total batch seconds
    assert rows["ref"]["pairs_per_s"] == pytest.approx(4 / sum(ref_seconds))
    assert rows["alt"]["pairs_per_s"] == pytest.approx(4 / sum(alt_seconds))
    assert rows["low"]["pairs_per_s"] == pytest.approx(4 / sum(low_seconds))
    assert rows["broken"]["status"] == "failed" and rows["broken"]["pairs"] == 0
    assert rows["broken"]["mean_abs_delta"] is None and rows["broken"]["error"] == "boom"
    assert {rows[e]["status"] for e in ("ref", "alt", "low")} == {"succeeded"}


def test_v_run_scores_joins_pairs_and_engines(store: Store, pairs: pl.DataFrame) -> None:
    store.add_pairs(pairs)
    run_id = store.start_run("f", {})
    fp = fingerprint("bfloat16", kind="hf-bi")
    ids = pairs["pair_id"].to_list()
    write(store, run_id, "hf-bi-bf16", fp, ids, batch([0.7, 0.6, 0.05], [0, 0, 1],
                                                            (0.1, 0.1)))
    view = store.sql("select * from v_run_scores where run_id = $r order by ladder_rank",
                     r=run_id)
    assert view.height == 3
    assert view["pair_id"].to_list() == pairs.sort("ladder_rank")["pair_id"].to_list()
    assert view["score"].to_list() == pytest.approx([0.7, 0.6, 0.05])
    assert view["doc"].to_list() == pairs.sort("ladder_rank")["doc"].to_list()
    assert view["label"].to_list() == [3.0, 2.0, 0.0]
    assert view["known_irrelevant"].to_list() == [False, False, True]
    assert set(view["query"]) == {"How do I sell my shirt?"}
    assert set(view["kind"]) == {"hf-bi"} and set(view["dtype"]) == {"bfloat16"}
    assert set(view["engine_name"]) == {"hf-bi-bf16"}
    assert set(view["weights_sha256"]) == {fp.weights_sha256}
    assert set(view["max_length"]) == {256}


def test_v_run_scores_drops_scores_without_a_stored_pair(store: Store,
                                                         pairs: pl.DataFrame) -> None:
    store.add_pairs(pairs.head(1))
    run_id = store.start_run("f", {})
    ids = pairs["pair_id"].to_list()
    write(store, run_id, "e", fingerprint(), ids, batch([0.1, 0.2, 0.3], [0, 0, 0], (1.0,)))
    assert count(store, "scores") == 3
    assert store.sql("select pair_id from v_run_scores")["pair_id"].to_list() == ids[:1]


@pytest.mark.parametrize("recorded", [True, False], ids=["run-pairs", "scored-pairs"])
@pytest.mark.parametrize("interleaved", [True, False], ids=["interleaved", "one-after-another"])
def test_suite_frames_keep_every_scored_pair_whoever_scored_first(
        store: Store, pairs: pl.DataFrame, recorded: bool, interleaved: bool) -> None:
    """The suite reads each engine config's main scores as v_run_scores holds them, when the
    first engine config scored only some pairs (an engine failed part way) and when engine
    configs' shards were ingested in turns (workers of a fan-out, a resume): no pair of another
    engine is lost to the first one's order (the fan-out nightly once judged 29 of 45)."""
    store.add_pairs(pairs)
    ids = pairs["pair_id"].to_list()
    run_id = store.start_run("f", {}, pair_ids=ids if recorded else ())
    fp = fingerprint()
    write(store, run_id, "a", fp, ids[:1], batch([0.9], [0], (0.1,)))
    if interleaved:
        write(store, run_id, "b", fp, ids[:2], batch([0.8, 0.7], [0, 0], (0.1,)))
        write(store, run_id, "a", fp, ids[1:2], batch([0.6], [0], (0.1,)))
        write(store, run_id, "b", fp, ids[2:], batch([0.5], [0], (0.1,)))
    else:
        write(store, run_id, "b", fp, ids, batch([0.8, 0.7, 0.5], [0, 0, 0], (0.1,)))
    frame = store.suite_frames(run_id)["scores"]
    expected = store.sql("select engine_name, pair_id, score, label from v_run_scores "
                         "where run_id = $r", r=run_id)
    got = frame.select(pl.col("engine_name").cast(pl.String), "pair_id", "score", "label")
    assert got.height == expected.height == (5 if interleaved else 4)
    assert sorted(got.iter_rows()) == sorted(expected.iter_rows())


def test_all_null_columns_keep_their_dtype_and_rows() -> None:
    """A column of nulls only (no token ids recorded) becomes a constant null of its dtype:
    the frame reads the same; a column with one value stays as it is."""
    frame = pl.DataFrame({"score": [0.1, 0.2, 0.3], "token_hash": [None, None, None],
                          "tokens": [None, 4, None]},
                         schema={"score": pl.Float64, "token_hash": pl.UInt64,
                                 "tokens": pl.Int32})
    kept = nulls_unstored(frame)
    assert kept.schema == frame.schema and kept.equals(frame)
    assert kept.slice(1).equals(frame.slice(1)) and nulls_unstored(frame.clear()).is_empty()


def test_scores_are_stored_in_the_order_the_engine_was_given_the_pairs(
        store: Store, pairs: pl.DataFrame) -> None:
    """A shard's rows are stored as it holds them, whether its engine config is new to the run
    (loaded as they are) or resumed (an anti join keeps what is stored), and a reused score
    takes the place of its pair in the order asked for: the suite lines engines up without a
    join where they are stored alike (issue 31)."""
    store.add_pairs(pairs)
    ids = pairs["pair_id"].to_list()[::-1]
    run_id = store.start_run("f", {}, pair_ids=ids)
    write(store, run_id, "fresh", fingerprint(), ids, batch([0.1, 0.2, 0.3], [0, 0, 0], (0.1,)))
    write(store, run_id, "resumed", fingerprint(), ids[1:2], batch([0.2], [0], (0.1,)))
    write(store, run_id, "resumed", fingerprint(), [ids[2], ids[0]],
          batch([0.3, 0.1], [0, 0], (0.1,)))

    def stored(run: str, engine: str) -> list[str]:
        return store.sql("select pair_id from scores where run_id = $r and engine_name = $e",
                         r=run, e=engine)["pair_id"].to_list()

    assert stored(run_id, "fresh") == ids
    assert stored(run_id, "resumed") == [ids[1], ids[2], ids[0]]
    later = store.start_run("f", {}, pair_ids=ids[::-1])
    fp = fingerprint()
    assert store.reuse_pairs(later, "fresh", fp.engine_id, "main", ids[::-1]) == 3
    assert stored(later, "fresh") == ids[::-1]


def test_releasing_cached_blocks_keeps_the_limit_and_spares_a_locked_store(
        db_path: Path, pairs: pl.DataFrame) -> None:
    """After the suite's reads the store gives DuckDB's cached blocks back and restores the
    memory limit it had (a user's setting included); a sandboxed store, whose configuration is
    locked, keeps its blocks and reads on."""
    def limit(store: Store) -> str:
        return store.con.execute("select current_setting('memory_limit')").fetchone()[0]

    with Store(db_path) as store:
        store.add_pairs(pairs)
        before = limit(store)  # DuckDB's default
        store.sql("select * from sample_pairs")
        store.release_cached_blocks()
        store.release_cached_blocks()
        assert limit(store) == before
        store.con.execute("set memory_limit = '3GB'")
        mine = limit(store)
        store.release_cached_blocks()
        assert limit(store) == mine
    with open_store(db_path, mode="sandboxed") as locked:
        before = limit(locked)
        locked.release_cached_blocks()
        assert limit(locked) == before
        assert locked.sql("select count(*) as n from sample_pairs")["n"][0] == pairs.height


# --------------------------------------------------------------------------- read-only


def test_read_only_store_reads_but_cannot_write(db_path: Path, pairs: pl.DataFrame) -> None:
    with Store(db_path) as writer:
        writer.add_pairs(pairs)
        run_id = writer.start_run("f", {})
    with Store(db_path, read_only=True) as reader:
        assert reader.read_only
        assert count(reader, "sample_pairs") == 3
        assert reader.sql("select run_id from runs")["run_id"].to_list() == [run_id]
        with pytest.raises(duckdb.Error, match="read-only"):
            reader.start_run("f", {})
        with pytest.raises(duckdb.Error, match="read-only"):
            reader.add_pairs(pairs)
        with pytest.raises(duckdb.Error, match="read-only"):
            write(reader, run_id, "e", fingerprint(), ["p1"], batch([0.5], [0], (0.1,)))
        assert count(reader, "scores") == 0 and count(reader, "runs") == 1


# --------------------------------------------------------------------------- creation and locks


def _finished_pid() -> int:
    """The PID of a process that has exited (as a killed store creator's)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(60)
    return process.pid


def test_open_store_creates_a_new_store_whole_or_not_at_all(tmp_path: Path) -> None:
    """A new store is created and migrated under a temporary name, then linked into place;
    what a killed creator left is removed, another live creator's file is not."""
    path = tmp_path / "rw.duckdb"
    stale = tmp_path / f".rw.duckdb.creating-{_finished_pid()}-0badf00d"
    live = tmp_path / f".rw.duckdb.creating-{os.getpid()}-0badf00d"
    stale.write_bytes(b"")
    live.write_bytes(b"")
    with open_store(path) as store:
        assert TABLES <= set(store.sql("select table_name from information_schema.tables")
                             ["table_name"])
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name, "rw.duckdb"]
    assert create_store(path) is False  # it exists: kept as it is
    with Store(path, read_only=True) as reader:
        assert count(reader, "runs") == 0


def test_reader_wait_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(LOCK_WAIT_ENV, raising=False)
    assert reader_wait_s() == 30.0
    monkeypatch.setenv(LOCK_WAIT_ENV, "2.5")
    assert reader_wait_s() == 2.5
    for bad in ("soon", "-1", "inf", "nan"):
        monkeypatch.setenv(LOCK_WAIT_ENV, bad)
        with pytest.raises(ConfigError, match=LOCK_WAIT_ENV):
            reader_wait_s()


def test_the_lock_error_names_its_holder() -> None:
    pid = _finished_pid()  # no /proc entry: the executable DuckDB named is what is known
    error = duckdb.IOException(f'IO Error: Could not set lock on file "/x/rw.duckdb": Conflicting '
                               f"lock is held in /usr/bin/python3.11 (PID {pid}). See also …")
    assert is_locked(error) and lock_holder(error) == (pid, "/usr/bin/python3.11")
    busy = StoreBusy("/x/rw.duckdb", 30, pid, "/usr/bin/python3.11")
    assert is_locked(busy) and f"PID {pid} (/usr/bin/python3.11)" in str(busy)
    assert lock_holder(duckdb.IOException("IO Error: disk full")) == (None, None)
    assert not is_locked(duckdb.IOException("IO Error: disk full"))


# --------------------------------------------------------------------------- SQL files


def test_every_sql_file_is_named_for_what_it_does_and_used() -> None:
    """Each sql/views file creates exactly the view it is named after (after the views it reads:
    view_order); each sql/queries and sql/statements file is named somewhere in the package's
    Python source (Store.query / Store.execute), so no SQL file is dead."""
    order = view_order()
    views = sorted(path.stem for path in (SQL_DIR / "views").glob("*.sql"))
    assert sorted(order) == views
    for name in views:
        code = re.sub(r"--[^\n]*", "", (SQL_DIR / "views" / f"{name}.sql").read_text())
        assert re.findall(r"create\s+(?:or\s+replace\s+)?view\s+(\w+)", code, re.I) == [name]
        assert len(duckdb.extract_statements(code)) == 1, name
        for other in views:
            if other != name and re.search(rf"\b{other}\b", code, re.I):
                assert order.index(other) < order.index(name), (other, name)
    root = SQL_DIR.parent
    setuptools = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {"rerankwatch", *setuptools["package-dir"].values()} - {"sql"}
    source = "\n".join(path.read_text(encoding="utf-8") for folder in sorted(folders)
                       for path in (root / folder).rglob("*.py"))
    for kind in ("queries", "statements"):
        names = sorted(path.stem for path in (SQL_DIR / kind).glob("*.sql"))
        assert names, kind
        for name in names:
            code = (SQL_DIR / kind / f"{name}.sql").read_text()
            assert len(duckdb.extract_statements(code)) == 1, name
            assert f'"{name}"' in source, f"sql/{kind}/{name}.sql: no code runs it"
