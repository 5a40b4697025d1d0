"""A pooled engine config under Prefect with no `score-engine/<pool>` deployment on the
server: its engine fails, named, with what to run; the engine config without a pool scores."""

from __future__ import annotations

import pytest

from rerankwatch.store import open_store
from tests.support.configs import pooled_config


def test_a_pooled_engine_without_its_deployment_fails_named_and_the_rest_scores(
        tmp_path, golden_dir):
    from rerankwatch.flows.score_matrix import score_matrix

    config = pooled_config(tmp_path, golden_dir)
    with pytest.raises(Exception, match="engine"):
        score_matrix(str(config))
    with open_store(tmp_path / "rw.duckdb", mode="read") as store:
        status = dict(store.sql("select engine_name, status from v_run_engine_status").rows())
        [error] = store.sql("select error from v_run_engine_status where engine_name = "
                            "'pooled'")["error"]
    assert status == {"local": "succeeded", "pooled": "failed"}
    assert "no deployment score-engine/pool-a" in error and "rerankwatch deploy" in error
