"""http-rerank in whole flows: a failing server fails the run and errors its checks; the API
key comes from a Prefect Secret block; the key never reaches logs, the store or the report."""

from __future__ import annotations

import contextlib
import logging
import secrets
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rerankwatch.checks.suites import SUITES
from rerankwatch.cli import app as cli
from rerankwatch.core.config import EngineConfig
from rerankwatch.core.models import resolve_model
from rerankwatch.engines.http_rerank import HttpRerankEngine, HttpRerankError
from rerankwatch.flows.nightly import nightly
from rerankwatch.store import Store
from tests.support.configs import TINY_CE, UNTRAINED
from tests.support.rerank_app import free_port, serve

KEY_ENV = "RERANKWATCH_TEST_HTTP_KEY"
VERBOSE_LOGGERS = ("rerankwatch", "httpx", "httpcore", "prefect")
HTTP_ENGINE = """
[[engines]]
name = "{name}"
kind = "http-rerank"
model = "tiny"
url = "{url}"
api_schema = "vllm-rerank"
batch_size = 8
retries = 1
timeout_s = 10
api_key_env = "{key_env}"
options = {{ backoff_s = 0.01 }}
"""


@pytest.fixture(scope="module")
def server():
    with serve({"tiny": ("cross", resolve_model(TINY_CE))}) as app:
        yield app


def write_config(tmp: Path, golden_dir: Path, http_engines: dict[str, str]) -> Path:
    """The in-process reference tiny-ce plus http-rerank engines given as {name: url}."""
    body = [f'db = "{tmp / "rw.duckdb"}"', 'reference = "tiny-ce"',
            f'[[sample_sets]]\nname = "golden_en"\npath = "{golden_dir / "golden_en.jsonl"}"',
            f'[[engines]]\nname = "tiny-ce"\nkind = "st-cross"\nmodel = "{TINY_CE}"']
    body += [HTTP_ENGINE.format(name=name, url=url, key_env=KEY_ENV)
             for name, url in http_engines.items()]
    path = tmp / "http.toml"
    path.write_text("\n".join(body) + UNTRAINED)
    return path


def test_a_5xx_server_fails_the_run_and_errors_every_check_of_its_engine(
        server, tmp_path, golden_dir, monkeypatch):
    server.admin(fault="5xx")
    monkeypatch.setenv(KEY_ENV, "sk-some-key")
    config = write_config(tmp_path, golden_dir, {"tiny-http": server.url})
    result = CliRunner().invoke(cli, ["nightly", "--config", str(config)])
    assert result.exit_code == 3, result.output  # ERROR: could not judge, not a regression
    assert server.requests() == 2  # retries = 1: two attempts at the first request, then stop
    with Store(tmp_path / "rw.duckdb", read_only=True) as store:
        (status, error), = store.sql("select status, error from runs").rows()
        engines = dict(store.sql("select engine_name, status from run_engines").rows())
        checks = store.sql("select check_name, status from check_results "
                           "where engine_name = 'tiny-http'")
        verdict, failing = store.sql("select verdict, failing_checks from verdicts").row(0)
    assert status == "failed"
    assert "tiny-http" in error and "HTTP 503" in error and "failed after 2 attempt(s)" in error
    assert engines == {"tiny-ce": "succeeded", "tiny-http": "failed"}
    assert set(checks["check_name"]) == set(SUITES["nightly"])
    assert set(checks["status"]) == {"not_judged"}  # never "passed"
    assert verdict == "ERROR" and not failing


def test_the_api_key_comes_from_a_prefect_secret_block(server):
    from prefect.blocks.system import Secret

    key, block = "sk-block-" + secrets.token_hex(8), f"rerank-key-{uuid.uuid4().hex[:8]}"
    Secret(value=key).save(block)
    server.admin(api_key=key)
    config = EngineConfig(name="tiny-http", kind="http-rerank", model="tiny", url=server.url,
                          api_schema="cohere", api_key_secret=block)
    batch = HttpRerankEngine(config).score([("capital of France", "Paris"), ("a", "b")])
    assert batch.scores.shape == (2,) and server.requests() == 2  # one per query
    missing = config.model_copy(update={"api_key_secret": "no-such-block"})
    with pytest.raises(HttpRerankError, match="cannot load Prefect Secret block 'no-such-block'"):
        HttpRerankEngine(missing)


def _prefect_log_messages(flow_run_id) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)  # logs are sent in the background
    with get_client(sync_client=True) as client:
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
    return [log.message for log in logs]


def rows_holding(store: Store, relation: str, text: str) -> int:
    """Rows of a table or view with ``text`` anywhere in any column."""
    return store.sql(f'select count(*) as n from "{relation}" as r '
                     f"where strpos(cast(r as varchar), $text) > 0", text=text)["n"][0]


def test_the_api_key_never_reaches_logs_store_or_report(server, tmp_path, golden_dir,
                                                       monkeypatch, caplog, capfd):
    key = "rwk-" + secrets.token_hex(20)
    monkeypatch.setenv(KEY_ENV, key)
    server.admin(api_key=key, fault="fail_first", fault_count=1)  # one retry gets logged
    config = write_config(tmp_path, golden_dir, {
        "tiny-http": server.url, "tiny-http-down": f"http://127.0.0.1:{free_port()}"})
    with contextlib.ExitStack() as stack:  # DEBUG where requests and errors are logged
        for name in (None, *VERBOSE_LOGGERS):
            stack.enter_context(caplog.at_level(logging.DEBUG if name else logging.INFO, name))
        state = nightly(str(config), return_state=True)
    output = capfd.readouterr()
    # tiny-http-down could not score: ERROR (not BLOCKED), its cause in the state's message
    assert state.is_failed() and state.message.startswith(
        "ERROR: engine tiny-http-down could not score: ")
    assert server.requests() > 1  # the key was sent, and accepted
    assert "retry 1 of 1" in caplog.text and "ConnectError" in caplog.text

    prefect_logs = _prefect_log_messages(state.state_details.flow_run_id)
    assert any("tiny-http-down" in message for message in prefect_logs)
    for where, text in [("caplog", caplog.text), ("stdout", output.out), ("stderr", output.err),
                        ("Prefect logs", "\n".join(prefect_logs))]:
        assert key not in text, f"the API key leaked into {where}"

    with Store(tmp_path / "rw.duckdb", read_only=True) as store:
        relations = store.sql("select table_name from information_schema.tables "
                              "where table_schema = 'main'")["table_name"].to_list()
        assert {"runs", "run_engines", "engines", "scores", "check_results"} <= set(relations)
        for relation in relations:
            assert rows_holding(store, relation, key) == 0, f"the API key is stored in {relation}"
        assert rows_holding(store, "runs", KEY_ENV) == 1  # the scan does see the key's name

    (report,) = (tmp_path / "reports").glob("*.html")
    page = report.read_text()
    assert "tiny-http-down" in page and key not in page


def test_a_server_upgraded_behind_its_url_is_caught_by_history(tmp_path):
    """The engine's fingerprint (kind, model name, URL, schema) cannot change when the model
    behind a URL does: only the accepted history can tell, and says so."""
    from rerankwatch.checks.history_baseline import SAME_FINGERPRINT
    from rerankwatch.core.config import RunConfig
    from rerankwatch.engines.fixtures import build_tiny_cross_encoder
    from rerankwatch.pipeline import run as sequence

    v1 = resolve_model(TINY_CE)
    v2 = str(build_tiny_cross_encoder(tmp_path / "tiny-v2", seed=1))
    with serve({"tiny": ("cross", v1), "tiny-v2": ("cross", v2)}) as app:
        config = RunConfig.model_validate({
            "db": str(tmp_path / "upgrade.duckdb"), "reference": "remote",
            "sample_sets": [{"name": "golden_en", "path": "pkg:samples/golden_en.jsonl"}],
            "engines": [{"name": "remote", "kind": "http-rerank", "model": "tiny",
                         "url": app.url, "api_schema": "cohere", "batch_size": 8}],
            "checks": {"monotonic_relevance": {"blocking": False},
                       "irrelevant_ceiling": {"blocking": False}}})
        _, first = sequence.run_and_judge(config, "test", "nightly")
        _, same = sequence.run_and_judge(config, "test", "nightly")
        app.admin(serve_as={"tiny": "tiny-v2"})
        _, upgraded = sequence.run_and_judge(config, "test", "nightly")
    assert not first.blocked and not same.blocked
    history = [r for r in upgraded.results if r.check == "history_baseline"
               and r.subject == "last_accepted"]
    assert history[0].status == "failed" and SAME_FINGERPRINT in history[0].detail["message"]
    assert history[0].detail["fingerprint_changed"] == {}
    assert "history_baseline" in upgraded.failing_checks
