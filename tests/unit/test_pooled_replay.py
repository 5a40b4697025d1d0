"""A replay runs the same run sequence as a nightly (pipeline/run.py): with its candidate on a
work pool, the candidate scores in a child (in process, without Prefect: dispatch.IN_PROCESS)
through shared storage, a job and a result, as a deployed child would, and the replay's verdict
is the one it gets without the pool."""

from __future__ import annotations

import dataclasses

from rerankwatch.pipeline import dispatch
from rerankwatch.pipeline.replay import chosen_replays, run_replay
from rerankwatch.store import open_store


def test_a_replay_through_a_pooled_engine_config_is_caught_as_without_the_pool(tmp_path,
                                                                              monkeypatch):
    (replay,) = chosen_replays(["swap_args"])
    pooled = dataclasses.replace(replay, candidate={**replay.candidate, "work_pool": "pool-a"})
    local = run_replay(replay, str(tmp_path / "local.duckdb"))
    children, child = [], dispatch.score_job
    monkeypatch.setattr(dispatch, "score_job", lambda shared, engine_name, who, staging=None: (
        children.append(engine_name), child(shared, engine_name, who, staging))[1])
    outcome = run_replay(pooled, str(tmp_path / "pooled.duckdb"))

    assert children == [replay.candidate["name"]]  # the candidate scored in its child only
    assert outcome.ok and outcome.caught_by == local.caught_by
    assert outcome.report.verdict == local.report.verdict
    name = replay.candidate["name"]
    with open_store(tmp_path / "pooled.duckdb", mode="read") as store:
        status = dict(store.sql("select engine_name, status from v_run_engine_status").rows())
        variants = set(store.sql("select distinct variant from scores where engine_name = $n",
                                 n=name)["variant"])
        pooled_main = store.sql("select pair_id, score from scores where engine_name = $n "
                                "and variant = 'main' order by pair_id", n=name)
    with open_store(tmp_path / "local.duckdb", mode="read") as store:
        local_variants = set(store.sql("select distinct variant from scores where "
                                       "engine_name = $n", n=name)["variant"])
        local_main = store.sql("select pair_id, score from scores where engine_name = $n "
                               "and variant = 'main' order by pair_id", n=name)
    assert status == {replay.reference["name"]: "succeeded", name: "succeeded"}
    assert variants == local_variants  # main and every probe, as scored here
    assert pooled_main.equals(local_main)
    # the child's job, pairs and result were cleared from shared storage once the run ended
    shared = tmp_path / "pooled.duckdb.shards" / "runs"
    assert not shared.exists() or not any(p.is_file() for p in shared.rglob("*"))
