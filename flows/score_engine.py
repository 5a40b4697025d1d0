"""score-engine: one pooled engine config of a run, on a worker of its pool (a child flow run
that nightly, upgrade-gate, score-matrix and resume start per engine config naming a
work_pool). It reads the run's pairs and its job from shared storage and writes its shards
there; it never opens the store: the parent takes the shards in and judges."""

from __future__ import annotations

from prefect import flow

from rerankwatch.tasks.scoring import score_job


@flow(name="score-engine")
def score_engine(run_id: str, engine_name: str, shards_url: str) -> dict:
    result = score_job(run_id, engine_name, shards_url)
    return {"engine_name": engine_name, "scored": result["scored"],
            "engine_id": result["engine_id"]}
