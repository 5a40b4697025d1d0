"""Failure notifications: a blocked flow posts to a webhook or a Prefect block, never leaks it."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rerankwatch.core.records import BLOCKED
from rerankwatch.flows.nightly import nightly
from rerankwatch.flows.upgrade_gate import upgrade_gate
from rerankwatch.tasks import channels as notify
from tests.support.configs import TINY_CE, run_config

SECRET = "s3cr3t-token"


class Receiver:
    """An HTTP server on 127.0.0.1:<free port> that records every request it gets."""

    def __init__(self, status: int = 200):
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self):
                length = int(self.headers.get("Content-Length") or 0)
                receiver.requests.append({
                    "method": self.command, "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": self.rfile.read(length).decode("utf-8"),
                })
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_GET = do_PUT = _record

            def log_message(self, *args):  # keep the test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def no_channel(monkeypatch):
    monkeypatch.delenv(notify.BLOCK_ENV, raising=False)
    monkeypatch.delenv(notify.WEBHOOK_ENV, raising=False)


@pytest.fixture(scope="module")
def blocked_config(tmp_path_factory, golden_dir) -> Path:
    tmp = tmp_path_factory.mktemp("notify")
    config = tmp / "blocked.toml"
    config.write_text(run_config(tmp / "notify.duckdb", golden_dir / "golden_en.jsonl", "tiny-ce", [
        ("tiny-ce", "st-cross", TINY_CE), ("tiny-ce-swapped", "replay-swap-args", TINY_CE)]))
    return config


def test_blocked_nightly_posts_to_the_webhook(blocked_config, receiver, no_channel, monkeypatch,
                                              caplog):
    monkeypatch.setenv(notify.WEBHOOK_ENV, f"{receiver.url}/hooks/nightly?token={SECRET}")
    with caplog.at_level(logging.DEBUG):
        state = nightly(str(blocked_config), return_state=True)
    assert state.is_failed() and state.result(raise_on_failure=False).verdict.outcome == BLOCKED
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert request["method"] == "POST" and request["path"].startswith("/hooks/nightly")
    assert request["headers"]["content-type"] == "application/json"
    payload = json.loads(request["body"])
    assert payload["title"] == "rerankwatch: nightly BLOCKED"
    assert state.message in payload["text"] and "argument_order" in payload["text"]
    assert "**nightly** run" in payload["text"]
    assert SECRET not in caplog.text


def test_blocked_gate_notifies_through_a_saved_block(blocked_config, receiver, no_channel,
                                                     monkeypatch, caplog):
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    name = f"rerankwatch-test-{uuid.uuid4().hex[:8]}"
    CustomWebhookNotificationBlock(
        name="rerankwatch", url=receiver.url + "/hooks/block?token={{token}}",
        json_data={"title": "{{subject}}", "text": "{{body}}"}, secrets={"token": SECRET},
    ).save(name)
    monkeypatch.setenv(notify.BLOCK_ENV, f"custom-webhook/{name}")
    # the block wins over a webhook URL that is also set
    monkeypatch.setenv(notify.WEBHOOK_ENV, receiver.url + "/hooks/plain")
    with caplog.at_level(logging.DEBUG):
        state = upgrade_gate("tiny-ce", "tiny-ce-swapped", str(blocked_config),
                             return_state=True)
    assert state.is_failed() and state.result(raise_on_failure=False).verdict.outcome == BLOCKED
    assert [r["path"] for r in receiver.requests] == [f"/hooks/block?token={SECRET}"]
    assert SECRET not in caplog.text  # httpx logs request URLs at INFO
    payload = json.loads(receiver.requests[0]["body"])
    assert payload["title"] == "rerankwatch: upgrade-gate BLOCKED"
    assert state.message in payload["text"] and "argument_order" in payload["text"]
    assert "tiny-ce-swapped" in payload["text"]  # the parameters say what was judged


def test_nothing_configured_sends_nothing_and_the_flow_fails_only_for_its_verdict(
        blocked_config, receiver, no_channel, caplog):
    with caplog.at_level(logging.INFO):
        state = nightly(str(blocked_config), return_state=True)
    assert state.is_failed() and state.result(raise_on_failure=False).verdict.outcome == BLOCKED
    assert receiver.requests == []
    assert "Hook 'notify_failure' finished running successfully" in caplog.text
    assert "error was encountered while running hook" not in caplog.text
    assert notify.send("title", "body") is False


def test_a_failing_webhook_is_reported_without_its_url(no_channel, monkeypatch, caplog):
    failing = Receiver(status=500)
    try:
        monkeypatch.setenv(notify.WEBHOOK_ENV, f"{failing.url}/hook?token={SECRET}")
        with caplog.at_level(logging.DEBUG, logger="rerankwatch.notify"):
            assert notify.send("t", "b") is False
        assert len(failing.requests) == 1
        assert "HTTPError (HTTP 500)" in caplog.text
        assert SECRET not in caplog.text and failing.url not in caplog.text
    finally:
        failing.close()


def test_an_unknown_block_is_reported_not_raised(no_channel, monkeypatch, caplog):
    monkeypatch.setenv(notify.BLOCK_ENV, "custom-webhook/no-such-block")
    with caplog.at_level(logging.WARNING, logger="rerankwatch.notify"):
        assert notify.send("t", "b") is False
    assert "no-such-block" in caplog.text
