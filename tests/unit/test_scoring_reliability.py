"""Durable, resumable, cached scoring on real engines and DuckDB files (no Prefect)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from rerankwatch.core.config import RunConfig
from rerankwatch.core.errors import EngineFailed, RunNotResumable, SampleSetError
from rerankwatch.core.records import Fingerprint
from rerankwatch.pipeline import scoring
from rerankwatch.pipeline.batch_probes import BATCH_VARIANTS
from rerankwatch.pipeline.long_probes import LONG_VARIANTS
from rerankwatch.pipeline.scoring import ChunkPlanner
from rerankwatch.store import Store, shards

GOLDEN = 45  # pairs in samples/golden_en.jsonl


def make_config(tmp_path: Path, golden_dir: Path, engines: list[dict], **top) -> RunConfig:
    return RunConfig.model_validate({
        "db": str(tmp_path / "rw.duckdb"), "reference": engines[0]["name"],
        "sample_sets": [{"name": "golden_en", "path": str(golden_dir / "golden_en.jsonl")}],
        "engines": engines, **top})


def ce(name: str, model: str, **extra) -> dict:
    return {"name": name, "kind": "st-cross", "model": model, "batch_size": 4, **extra}


def run_once(config: RunConfig, pairs: pl.DataFrame | None = None, probes: bool = True,
             force: bool = False) -> tuple[str, dict]:
    """Open a run, score every engine config, close it; (run id, {engine: outcome})."""
    pairs = scoring.load_pairs(config) if pairs is None else pairs
    session = scoring.begin_run(config, pairs, "test")
    outcomes = {e.name: scoring.score_and_store(session, e.name, pairs, probes, force)
                for e in config.engines}
    scoring.end_run(session, {})
    return session.run_id, outcomes


def rows(config: RunConfig, query: str, **params) -> pl.DataFrame:
    with Store(config.db_path, read_only=True) as store:
        return store.sql(query, **params)


def engine_row(config: RunConfig, run_id: str, name: str) -> dict:
    return rows(config, "select * from v_run_engine_status where run_id = $r and "
                "engine_name = $n", r=run_id, n=name).row(0, named=True)


# --------------------------------------------------------------------------- chunks


def test_chunk_planner_uses_whole_batches() -> None:
    fixed = ChunkPlanner(batch_size=32, fixed=100)
    fixed.record(100, 50.0)
    assert fixed.size == 100  # a configured size is kept as given
    adaptive = ChunkPlanner(batch_size=32)
    assert adaptive.size == 128  # a quick first commit
    adaptive.record(128, 0.5)  # 256 pairs/s -> about 5 s is 1280 pairs
    assert adaptive.size == 1280 and adaptive.size % 32 == 0
    adaptive.record(1280, 0.001)
    assert adaptive.size == scoring.MAX_CHUNK_PAIRS
    adaptive.record(32, 100.0)  # very slow: never below one batch
    assert adaptive.size == 32


def test_chunks_are_committed_as_they_finish(tmp_path, golden_dir, tiny_cross_encoder) -> None:
    config = make_config(tmp_path, golden_dir, [ce("ce", tiny_cross_encoder)], chunk_pairs=8)
    run_id, outcomes = run_once(config, probes=False)
    assert outcomes["ce"].scored == GOLDEN
    ledger = rows(config, "select variant, shard_rows from ingested_shards where run_id = $r",
                  r=run_id)
    assert sorted(ledger["shard_rows"]) == [5] + [8] * 5  # one shard per chunk
    batches = rows(config, "select count(distinct batch_index) as b from scores")["b"][0]
    assert batches == 12  # batch numbers continue across chunks (45 pairs / 4)
    assert list(shards.shard_dir(config.db_path).glob("*.parquet")) == []


# --------------------------------------------------------------------------- crash + resume


def test_a_crash_keeps_finished_chunks_and_resume_scores_the_rest(tmp_path, golden_dir,
                                                                  tiny_cross_encoder) -> None:
    crashy = ce("crashy-resume", tiny_cross_encoder, kind="replay-crash", wraps="st-cross",
                options={"crash_after_pairs": 20, "crashes": 1})
    config = make_config(tmp_path, golden_dir, [crashy], chunk_pairs=8)
    pairs = scoring.load_pairs(config)
    session = scoring.begin_run(config, pairs, "test")
    run_id = session.run_id
    with pytest.raises(RuntimeError, match="injected crash after 20 pairs"):
        scoring.score_and_store(session, "crashy-resume", pairs)
    scoring.end_run(session, {"crashy-resume": "RuntimeError: injected crash"})
    # chunks 1-2 (16 pairs) were committed; chunk 3 died with the engine
    assert rows(config, "select count(*) as n from scores")["n"][0] == 16
    run = rows(config, "select status, error from runs").row(0, named=True)
    assert run["status"] == "failed" and "crashy-resume" in run["error"]
    failed = engine_row(config, run_id, "crashy-resume")
    assert failed["status"] == "failed" and "CUDA out of memory" in failed["error"]

    resumed, flow_name, stored_pairs = scoring.reopen_run(config.db_path, run_id)
    assert flow_name == "test" and stored_pairs.height == GOLDEN
    outcome = scoring.score_and_store(resumed, "crashy-resume", stored_pairs)
    scoring.end_run(resumed, {})
    assert outcome.scored == GOLDEN - 16  # this call's share
    main = rows(config, "select count(*) as n, count(distinct pair_id) as d from scores "
                "where variant = 'main'").row(0)
    assert main == (GOLDEN, GOLDEN)
    done = engine_row(config, run_id, "crashy-resume")
    assert done["status"] == "succeeded"  # the run's own scores: both attempts'
    assert (done["pairs"], done["scored_pairs"], done["reused_pairs"]) == (GOLDEN, GOLDEN, 0)
    assert rows(config, "select status from runs")["status"].to_list() == ["succeeded"]
    probes = rows(config, "select distinct variant from scores order by 1")["variant"]
    assert probes.to_list() == ["long_batch", "long_single", "main", "mixed", "reload",
                                "repeat", "shuffled", "single", "swapped"]
    with pytest.raises(RunNotResumable, match="already succeeded"):
        scoring.reopen_run(config.db_path, run_id)


def test_counts_add_up_after_crashes_resumes_and_copies(tmp_path, golden_dir,
                                                       tiny_cross_encoder) -> None:
    """A run that copies 8 pairs from an earlier run, crashes twice (8 pairs committed each
    time) and is resumed twice: its engine row counts every pair the run holds, scored by
    any attempt or copied, never only the last attempt's share."""
    crashy = ce("crashy-counts", tiny_cross_encoder, kind="replay-crash", wraps="st-cross",
                options={"crash_after_pairs": 12, "crashes": 2})
    config = make_config(tmp_path, golden_dir, [crashy], chunk_pairs=8)
    pairs = scoring.load_pairs(config)
    earlier, _ = run_once(config, pairs.head(8), probes=False)  # 8 pairs, under the crash
    session = scoring.begin_run(config, pairs, "test")
    run_id = session.run_id
    for attempt in range(3):  # crash, crash, then the transient fault is past
        if attempt:
            session, _, pairs = scoring.reopen_run(config.db_path, run_id)
        if attempt < 2:
            with pytest.raises(RuntimeError, match="injected crash"):
                scoring.score_and_store(session, "crashy-counts", pairs)
            scoring.end_run(session, {"crashy-counts": "crash"})
        else:
            outcome = scoring.score_and_store(session, "crashy-counts", pairs)
            scoring.end_run(session, {})
    assert (outcome.scored, outcome.reused) == (GOLDEN - 8 - 16, 0)  # this call's share
    main = rows(config, "select count(*) as n, count(distinct pair_id) as d, "
                "count(*) filter (reused_from_run is null) as fresh, "
                "count(*) filter (reused_from_run = $e) as copied from scores "
                "where run_id = $r and variant = 'main'", r=run_id, e=earlier).row(0)
    assert main == (GOLDEN, GOLDEN, GOLDEN - 8, 8)
    engine_rows = rows(config, "select run_id, status, pairs, scored_pairs, reused_pairs "
                       "from run_engines order by recorded_at")
    assert engine_rows["status"].to_list() == ["succeeded", "failed", "failed", "succeeded"]
    for row in engine_rows.iter_rows(named=True):
        if row["status"] == "succeeded":
            assert row["scored_pairs"] + row["reused_pairs"] == row["pairs"], row
        else:  # a failed attempt claims no counts
            assert (row["pairs"], row["scored_pairs"], row["reused_pairs"]) == (None,) * 3
    done = engine_row(config, run_id, "crashy-counts")
    assert (done["pairs"], done["scored_pairs"], done["reused_pairs"]) == (
        GOLDEN, GOLDEN - 8, 8)
    first = engine_row(config, earlier, "crashy-counts")
    assert (first["pairs"], first["scored_pairs"], first["reused_pairs"]) == (8, 8, 0)


def test_resume_refuses_an_engine_that_changed_since(tmp_path, golden_dir,
                                                     tiny_cross_encoder) -> None:
    model = tmp_path / "model"
    shutil.copytree(tiny_cross_encoder, model)
    crashy = ce("crashy-changed", str(model), kind="replay-crash", wraps="st-cross",
                options={"crash_after_pairs": 8, "crashes": 1})
    config = make_config(tmp_path, golden_dir, [crashy], chunk_pairs=8)
    pairs = scoring.load_pairs(config)
    session = scoring.begin_run(config, pairs, "test")
    run_id = session.run_id
    with pytest.raises(RuntimeError):
        scoring.score_and_store(session, "crashy-changed", pairs)
    scoring.end_run(session, {"crashy-changed": "crash"})
    change_weights(model)
    resumed, _, stored = scoring.reopen_run(config.db_path, run_id)
    with pytest.raises(EngineFailed, match="changed since run"):
        scoring.score_and_store(resumed, "crashy-changed", stored)
    assert rows(config, "select count(*) as n from scores")["n"][0] == 8  # nothing mixed in
    scoring.end_run(resumed, {"crashy-changed": "changed"})


def test_a_flow_run_that_runs_again_reopens_its_run(tmp_path, golden_dir,
                                                    tiny_cross_encoder) -> None:
    config = make_config(tmp_path, golden_dir, [ce("ce", tiny_cross_encoder)])
    pairs = scoring.load_pairs(config)
    first = scoring.begin_run(config, pairs, "test", flow_run_id="flow-run-1")
    scoring.end_run(first, {"ce": "killed"})
    again = scoring.begin_run(config, pairs, "test", flow_run_id="flow-run-1")
    assert again.run_id == first.run_id
    assert rows(config, "select status from runs")["status"].to_list() == ["running"]
    scoring.end_run(first, {})
    with pytest.raises(RunNotResumable, match="sample pairs"):
        scoring.begin_run(config, pairs.head(10), "test", flow_run_id="flow-run-1")
    other = scoring.begin_run(config, pairs, "test", flow_run_id="flow-run-2")
    assert other.run_id != first.run_id
    scoring.end_run(other, {})


def test_reopen_names_what_cannot_be_resumed(tmp_path) -> None:
    with pytest.raises(RunNotResumable, match="no such database"):
        scoring.reopen_run(tmp_path / "absent.duckdb", "r1")
    assert not (tmp_path / "absent.duckdb").exists()
    with Store(tmp_path / "rw.duckdb") as store:
        store.start_run("f", {}, run_id="r1")
    hostile = "r1' or 1=1; drop table runs; --"
    with pytest.raises(RunNotResumable, match="no run"):
        scoring.reopen_run(tmp_path / "rw.duckdb", hostile)
    with pytest.raises(RunNotResumable, match="recorded no pairs"):
        scoring.reopen_run(tmp_path / "rw.duckdb", "r1")
    with Store(tmp_path / "rw.duckdb", read_only=True) as store:
        assert store.sql("select run_id from runs")["run_id"].to_list() == ["r1"]


# --------------------------------------------------------------------------- caching


def test_a_second_run_copies_every_score_with_provenance(tmp_path, golden_dir,
                                                         tiny_cross_encoder) -> None:
    config = make_config(tmp_path, golden_dir, [ce("ce", tiny_cross_encoder)])
    first, _ = run_once(config)
    second, outcomes = run_once(config)
    assert (outcomes["ce"].scored, outcomes["ce"].reused) == (0, GOLDEN)
    assert outcomes["ce"].reused_from == first
    row = engine_row(config, second, "ce")
    assert (row["scored_pairs"], row["reused_pairs"], row["reused_from_run"]) == (0, GOLDEN, first)
    copied = rows(config, "select b.variant, b.reused_from_run, a.scored_at = b.scored_at as same_"
                  "time, a.batch_index = b.batch_index as same_batch, a.score = b.score as same "
                  "from scores a join scores b using (engine_id, pair_id, variant) "
                  "where a.run_id = $f and b.run_id = $s", f=first, s=second)
    assert set(copied["variant"]) == {"main", "swapped", "repeat", "reload",
                                      *BATCH_VARIANTS, *LONG_VARIANTS}
    assert set(copied["reused_from_run"]) == {first}
    assert copied["same_time"].all() and copied["same_batch"].all() and copied["same"].all()
    # the engine scored nothing but the spot check's fresh re-scores of a few copies
    fresh = rows(config, "select distinct variant from scores where run_id = $s and "
                 "reused_from_run is null", s=second)["variant"]
    assert fresh.to_list() == ["spot"]


def test_force_rescores(tmp_path, golden_dir, tiny_cross_encoder) -> None:
    config = make_config(tmp_path, golden_dir, [ce("ce", tiny_cross_encoder)])
    run_once(config, probes=False)
    second, outcomes = run_once(config, probes=False, force=True)
    assert (outcomes["ce"].scored, outcomes["ce"].reused) == (GOLDEN, 0)
    assert rows(config, "select count(reused_from_run) as n from scores where run_id = $s",
                s=second)["n"][0] == 0


def test_pairs_are_copied_per_pair(tmp_path, golden_dir, tiny_cross_encoder) -> None:
    config = make_config(tmp_path, golden_dir, [ce("ce", tiny_cross_encoder)])
    pairs = scoring.load_pairs(config)
    first, _ = run_once(config, pairs.head(20), probes=False)
    _, outcomes = run_once(config, pairs, probes=False)
    assert (outcomes["ce"].scored, outcomes["ce"].reused) == (GOLDEN - 20, 20)
    assert outcomes["ce"].reused_from is None  # not every pair came from one run


def test_a_changed_dtype_rescores(tmp_path, golden_dir, tiny_cross_encoder) -> None:
    fp32 = make_config(tmp_path, golden_dir, [ce("ce", tiny_cross_encoder)])
    run_once(fp32, probes=False)
    bf16 = make_config(tmp_path, golden_dir, [ce("ce", tiny_cross_encoder, precision="bf16")])
    _, outcomes = run_once(bf16, probes=False)
    assert (outcomes["ce"].scored, outcomes["ce"].reused) == (GOLDEN, 0)
    assert rows(fp32, "select dtype from engines order by 1")["dtype"].to_list() == [
        "bfloat16", "float32"]


def change_weights(model: Path) -> None:
    """Nudge one tensor of a saved model in place (same path, same size)."""
    from safetensors.torch import load_file, save_file

    path = model / "model.safetensors"
    tensors = load_file(path)
    name = next(n for n in sorted(tensors) if "classifier.bias" in n)
    tensors[name] = tensors[name] + 0.5
    save_file(tensors, path, metadata={"format": "pt"})


def test_modified_weights_rescore(tmp_path, golden_dir, tiny_cross_encoder) -> None:
    model = tmp_path / "model"
    shutil.copytree(tiny_cross_encoder, model)
    config = make_config(tmp_path, golden_dir, [ce("ce", str(model))])
    first, _ = run_once(config, probes=False)
    change_weights(model)
    second, outcomes = run_once(config, probes=False)
    assert (outcomes["ce"].scored, outcomes["ce"].reused) == (GOLDEN, 0)
    engines = rows(config, "select engine_id, weights_sha256, fingerprint from engines")
    assert engines.height == 2 and engines["weights_sha256"].n_unique() == 2
    a, b = (json.loads(f) for f in engines["fingerprint"])
    assert {k for k in a if a[k] != b[k]} == {"weights_sha256"}


def test_a_package_version_changes_the_fingerprint() -> None:
    fp = Fingerprint(kind="st-cross", model="m", weights_sha256="ab", dtype="float32",
                     device="cpu", pooling="n/a", max_length=512, activation="sigmoid",
                     versions={"torch": "2.13.0", "transformers": "4.57.1"})
    bumped = dataclasses.replace(fp, versions={**fp.versions, "transformers": "4.57.2"})
    assert fp.engine_id != bumped.engine_id


# --------------------------------------------------------------------------- truncation


def long_set(tmp_path: Path, long_field: str) -> Path:
    rows_ = [{"set_id": "long", "query_id": "q1", "query": "how do I sell a shirt",
              "doc_id": f"d{i}", "doc": "a short document about shirts", "label": 1,
              "tags": [], "lang": "en"} for i in range(3)]
    rows_[2][long_field] = " ".join(["shirt"] * 300)
    path = tmp_path / "long.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows_))
    return path


@pytest.mark.parametrize("field", ["doc", "query"])
def test_truncation_error_names_file_line_and_field(tmp_path, tiny_cross_encoder,
                                                     field) -> None:
    path = long_set(tmp_path, field)
    config = RunConfig.model_validate({
        "db": str(tmp_path / "rw.duckdb"), "reference": "ce", "truncation": "error",
        "sample_sets": [{"name": "long", "path": str(path)}],
        "engines": [ce("ce", tiny_cross_encoder, max_length=128)]})
    pairs = scoring.load_pairs(config)
    session = scoring.begin_run(config, pairs, "test")
    run_id = session.run_id
    with pytest.raises(SampleSetError) as exc:
        scoring.score_and_store(session, "ce", pairs)
    assert (exc.value.file, exc.value.line, exc.value.field) == (str(path), 3, field)
    assert "exceed max_length 128" in str(exc.value) and "'ce'" in str(exc.value)
    scoring.end_run(session, {"ce": str(exc.value)})
    assert rows(config, "select count(*) as n from scores")["n"][0] == 0  # before scoring
    assert engine_row(config, run_id, "ce")["error"].startswith("SampleSetError")


def test_truncate_is_the_default_and_an_engine_may_override_the_run(tmp_path,
                                                                    tiny_cross_encoder) -> None:
    path = long_set(tmp_path, "doc")
    base = {"db": str(tmp_path / "rw.duckdb"), "reference": "cut",
            "sample_sets": [{"name": "long", "path": str(path)}]}
    config = RunConfig.model_validate({**base, "truncation": "error", "engines": [
        ce("cut", tiny_cross_encoder, max_length=128, truncation="truncate")]})
    _, outcomes = run_once(config, probes=False)
    assert outcomes["cut"].scored == 3
    default = RunConfig.model_validate({**base, "engines": [ce("cut", tiny_cross_encoder)]})
    assert default.truncation_for(default.engines[0]) == "truncate"


# --------------------------------------------------------------------------- hostile names


def test_hostile_sample_set_names_are_data_not_sql(tmp_path, tiny_cross_encoder) -> None:
    name = "o'brien\"; drop table scores; --"
    row = {"set_id": name, "query_id": "q'1", "query": "q", "doc_id": "d\"1", "doc": "d",
           "label": 1, "tags": [], "lang": "en"}
    path = tmp_path / "hostile.jsonl"
    path.write_text(json.dumps(row) + "\n")
    config = RunConfig.model_validate({
        "db": str(tmp_path / "rw.duckdb"), "reference": "ce",
        "sample_sets": [{"name": name, "path": str(path)}],
        "engines": [ce("ce", tiny_cross_encoder)]})
    run_id, outcomes = run_once(config)
    assert outcomes["ce"].scored == 1
    stored = rows(config, "select set_id, query_id, doc_id from v_run_scores where run_id = $r",
                  r=run_id)
    assert stored.rows() == [(name, "q'1", 'd"1')]
    tables = rows(config, "select table_name from information_schema.tables")["table_name"]
    assert {"scores", "runs", "sample_pairs"} <= set(tables)


# --------------------------------------------------------------------------- worker processes


def _score_partition(config: RunConfig, run_id: str, pairs: pl.DataFrame) -> int:
    return scoring.score_shards(config.engines[0], run_id, pairs,
                                shards.shard_dir(config.db_path), config.chunk_pairs)


@pytest.mark.slow
def test_worker_processes_score_into_shards_then_one_ingest(tmp_path, golden_dir,
                                                            tiny_cross_encoder) -> None:
    """Three processes score disjoint pairs at once while this process holds the DB open for
    writing (a worker opening it would fail on DuckDB's lock); a retried worker scores nothing
    that already waits in shards; then score_and_store ingests, adds the probes and finishes."""
    import multiprocessing

    config = make_config(tmp_path, golden_dir, [ce("ce", tiny_cross_encoder)], chunk_pairs=4)
    pairs = scoring.load_pairs(config)
    session = scoring.begin_run(config, pairs, "test")
    run_id = session.run_id
    parts = [pairs[i::3] for i in range(3)]
    with Store(config.db_path, migrate=False):
        with multiprocessing.get_context("spawn").Pool(3) as pool:
            scored = pool.starmap(_score_partition, [(config, run_id, p) for p in parts])
        assert scored == [15, 15, 15]
        assert _score_partition(config, run_id, parts[0]) == 0  # a retry: all still waiting
    assert len(list(shards.shard_dir(config.db_path).glob("*.parquet"))) == 3 * 4
    outcome = scoring.score_and_store(session, "ce", pairs)
    scoring.end_run(session, {})
    assert (outcome.pairs, outcome.scored) == (GOLDEN, 0)  # the workers scored every pair
    main = rows(config, "select count(*) as n, count(distinct pair_id) as d from scores "
                "where variant = 'main'").row(0)
    assert main == (GOLDEN, GOLDEN)
    assert engine_row(config, run_id, "ce")["status"] == "succeeded"
    assert set(rows(config, "select variant from scores")["variant"]) == {
        "main", "swapped", "repeat", "reload", *BATCH_VARIANTS, *LONG_VARIANTS}
