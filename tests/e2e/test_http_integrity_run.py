"""A nightly run against an http-rerank server that answers with a wrong result list: the
engine fails with the server's problem named, every check of that engine is an ERROR (never a
pass) and the suite is BLOCKED, while the in-process reference still scores."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rerankwatch.checks.suites import SUITES
from rerankwatch.cli import app as cli
from rerankwatch.core.models import resolve_model
from rerankwatch.store import Store
from tests.support.configs import TINY_CE, UNTRAINED
from tests.support.rerank_app import serve


@pytest.fixture(scope="module")
def server():
    with serve({"tiny": ("cross", resolve_model(TINY_CE))}) as app:
        yield app


def write_config(tmp: Path, golden_dir: Path, url: str, schema: str) -> Path:
    path = tmp / "http.toml"
    path.write_text(f"""db = "{tmp / 'rw.duckdb'}"
reference = "tiny-ce"

[[sample_sets]]
name = "golden_en"
path = "{golden_dir / 'golden_en.jsonl'}"

[[engines]]
name = "tiny-ce"
kind = "st-cross"
model = "{TINY_CE}"

[[engines]]
name = "tiny-http"
kind = "http-rerank"
model = "tiny"
url = "{url}"
api_schema = "{schema}"
batch_size = 8
retries = 1
timeout_s = 10
options = {{ backoff_s = 0.01 }}
""" + UNTRAINED)
    return path


CASES = [  # fault, schema, what the run's error says
    # ragflow #2575, rerankers #39: a well-formed list indexed by rank, no document echoed
    ("by_position", "tei", "results do not follow their index"),
    # a server's own top_n default: fewer results than documents sent
    ("top_n_cap", "cohere", "fewer results than top_n asked for"),
]


@pytest.mark.parametrize(("fault", "schema", "message"), CASES, ids=[c[0] for c in CASES])
def test_a_misbehaving_server_fails_its_engine_and_the_run_is_error(
        fault, schema, message, server, tmp_path, golden_dir):
    server.admin(fault=fault)
    config = write_config(tmp_path, golden_dir, server.url, schema)
    result = CliRunner().invoke(cli, ["nightly", "--config", str(config)])
    assert result.exit_code == 3, result.output  # ERROR: could not judge, not a regression
    with Store(tmp_path / "rw.duckdb", read_only=True) as store:
        (status, error), = store.sql("select status, error from runs").rows()
        engines = dict(store.sql("select engine_name, status from run_engines").rows())
        checks = store.sql("select check_name, status from check_results "
                           "where engine_name = 'tiny-http'")
        scored = store.sql("select count(*) as n from scores "
                           "where engine_name = 'tiny-http'")["n"][0]
        verdict, failing = store.sql("select verdict, failing_checks from verdicts").row(0)
    assert status == "failed"
    assert "tiny-http" in error and message in error and server.url in error
    assert "(batch 0, the request for query" in error
    assert engines == {"tiny-ce": "succeeded", "tiny-http": "failed"}
    assert scored == 0  # nothing of a wrong result list became a score
    assert set(checks["check_name"]) == set(SUITES["nightly"])
    assert set(checks["status"]) == {"not_judged"}  # never "passed"
    assert verdict == "ERROR" and not failing
