"""Fixtures of the server tests: one real Prefect server per module, a client of it, and per
module moto's S3 server (``s3``) and a PostgreSQL server (``catalog``, its conninfo)."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request

import pytest

from tests.support.prefect_server import SERVER_START_S, Server, free_port, log_tail, stop, wait_for
from tests.support.stores import moto_s3, postgres


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Server:
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    base.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false",
                DO_NOT_TRACK="1", PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="90",
                HF_HUB_OFFLINE="1", PREFECT_SERVER_UI_ENABLED="false", COLUMNS="200")
    server_log = home / "server.log"
    with server_log.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
             "--port", str(port)],
            env=base, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stop() reaches every child
        )
    api_url = f"http://127.0.0.1:{port}/api"
    try:
        def healthy():
            if process.poll() is not None:
                pytest.fail(f"prefect server exited with {process.returncode}:\n"
                            f"{log_tail(server_log)}")
            try:
                with urllib.request.urlopen(f"{api_url}/health", timeout=5) as response:
                    return response.status == 200
            except OSError:
                return False

        wait_for(healthy, SERVER_START_S, "prefect server /api/health")
        yield Server(api_url, {**base, "PREFECT_API_URL": api_url}, home, process)
    finally:
        stop(process)


@pytest.fixture
def client(server):
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
        with get_client(sync_client=True) as prefect_client:
            yield prefect_client




@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with moto_s3(tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture(scope="module")
def catalog():
    with postgres() as conninfo:
        yield conninfo
