"""Pooled engine configs without Prefect: the config keys, shared storage on a local path, and
the plain steps a parent and a child flow run take (prepare_job → score_job → collect →
finish_job) on the real MiniLM and a real store. tests/server/test_fanout.py runs the same
steps through a real Prefect server, process workers and an S3 server."""

from __future__ import annotations

import socket

import polars as pl
import pytest

from rerankwatch.core.errors import ConfigError, StorageError
from rerankwatch.core.provenance import ScoredBy
from rerankwatch.pipeline import dispatch, scoring
from rerankwatch.pipeline.config import load_config
from rerankwatch.store import open_store, shards
from rerankwatch.store.shared import SharedRun
from tests.support.configs import MINILM, pooled_config


@pytest.mark.parametrize(("url", "message"), [
    ("ftp://host/x", "unsupported scheme 'ftp'"),
    ("s3://AKIAKEY:hunter2@bucket/x", "credentials"),
    ("s3://bucket/x?token=hunter2", "credentials"),
    ("s3:///x", "needs a bucket"),
])
def test_shards_url_refuses_what_it_cannot_use_without_repeating_it(tmp_path, golden_dir,
                                                                   url, message):
    with pytest.raises(ConfigError) as caught:
        load_config(pooled_config(tmp_path, golden_dir, url))
    assert "shards_url" in str(caught.value) and message in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_pool_comes_from_the_engine_else_its_environment(tmp_path, golden_dir):
    config = load_config(pooled_config(
        tmp_path, golden_dir, extra='\n[[engines]]\nname = "in-env"\nkind = "st-bi"\n'
                                    f'model = "{MINILM}"\nenvironment = "gpu-env"\n'))
    assert config.pool_for(config.engine("local")) == (None, {})
    assert config.pool_for(config.engine("pooled")) == ("pool-a", {"image": "img"})
    assert config.pool_for(config.engine("in-env")) == (
        "env-pool", {"image": "env-image", "gpu_count": 1})
    # no shards_url: the store's shard folder
    assert config.shared_url == str(shards.shard_dir(tmp_path / "rw.duckdb").resolve())


def test_shared_storage_out_of_reach_is_one_clear_error(monkeypatch):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "hunter2")
    monkeypatch.setenv("RERANKWATCH_STORAGE_TIMEOUT_S", "1")
    shared = SharedRun("s3://bucket/prefix", "run-1")
    with pytest.raises(StorageError) as caught:
        shared.publish_pairs(pl.DataFrame({"pair_id": ["p"]}))
    text = str(caught.value)
    assert text.startswith("shared storage s3://bucket/prefix: cannot write "
                           "s3://bucket/prefix/runs/run-1/pairs.parquet"), text
    assert "hunter2" not in text and "AKIAEXAMPLE" not in text


def test_a_child_scores_from_shared_storage_and_the_parent_takes_it_in(tmp_path, golden_dir):
    config = load_config(pooled_config(tmp_path, golden_dir, str(tmp_path / "shared")))
    pairs = scoring.load_pairs(config)
    session = scoring.begin_run(config, pairs, "nightly")
    run_id = session.run_id
    shared = SharedRun(config.shared_url, run_id)
    shared.publish_pairs(pairs)
    job = dispatch.prepare_job(session, "pooled", pairs)
    assert len(job["todo"]) == pairs.height and job["probes_done"] == []
    shared.write_job("pooled", job)

    who = ScoredBy(host="gpu-host-7", flow_run_id="child-run", work_pool="pool-a",
                   worker="worker-a")
    result = dispatch.score_job(SharedRun(config.shared_url, run_id), "pooled", who)
    assert result["scored"] == pairs.height and len(shared.shard_names()) >= 2
    with open_store(config.db_path, mode="read") as store:  # the child wrote no score
        assert store.scored_pair_ids(run_id, "pooled", "main") == set()

    waiting = shared.shard_names()
    assert dispatch.collect(session, shared) == len(waiting)
    assert shared.shard_names() == []  # taken in, then deleted
    outcome = dispatch.finish_job(session, "pooled", result, pairs)
    assert outcome.pairs == pairs.height
    with open_store(config.db_path, mode="read") as store:
        row = store.sql("select status, host, flow_run_id, work_pool, worker, scored_pairs "
                        "from v_run_engine_status where run_id = $r and engine_name = "
                        "'pooled'", r=run_id).row(0)
        variants = set(store.sql("select distinct variant from scores where run_id = $r and "
                                 "engine_name = 'pooled'", r=run_id)["variant"])
    assert row == ("succeeded", "gpu-host-7", "child-run", "pool-a", "worker-a", pairs.height)
    assert {"main", "repeat", "reload", "single", "shuffled", "mixed"} <= variants
    assert dispatch.prepare_job(session, "pooled", pairs) is None  # nothing left


def test_a_finished_childs_shards_are_taken_in_once_without_a_second_child(tmp_path,
                                                                            golden_dir):
    config = load_config(pooled_config(tmp_path, golden_dir, str(tmp_path / "shared")))
    pairs = scoring.load_pairs(config)
    session = scoring.begin_run(config, pairs, "nightly")
    run_id = session.run_id
    shared = SharedRun(config.shared_url, run_id)
    shared.publish_pairs(pairs)
    shared.write_job("pooled", dispatch.prepare_job(session, "pooled", pairs))
    dispatch.score_job(shared, "pooled", ScoredBy(host="h"))
    job = dispatch.prepare_job(session, "pooled", pairs)
    assert dispatch.finished_earlier(shared, job) is None  # its shards still wait: score
    first = dispatch.collect(session, shared)
    assert first > 0 and dispatch.collect(session, shared) == 0
    job = dispatch.prepare_job(session, "pooled", pairs)
    assert job["todo"] == [] and dispatch.finished_earlier(shared, job) is not None
