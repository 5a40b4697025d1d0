"""deploy/prefect.yaml against a real `prefect server start` on 127.0.0.1.

`rerankwatch deploy` registers the three deployments (and the process pool), the nightly cron
produces scheduled runs, and `prefect deployment run` + a `process` worker (`--run-once`)
carries an upgrade-gate run to Completed. Every wait is bounded; the server is stopped by its
PID (its process group) even when a test fails.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from tests.configs import TINY_CE, run_config

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parents[2]
PREFECT_FILE = ROOT / "deploy" / "prefect.yaml"
TEMPLATES = ROOT / "deploy" / "gpu-job-templates"
POOL = "rerankwatch-process"
SERVER_START_S = 120
COMMAND_S = 180
WORKER_S = 300



@dataclass
class Server:
    api_url: str
    env: dict[str, str]  # for client processes: PREFECT_API_URL points here
    home: Path
    process: subprocess.Popen


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition, timeout: float, what: str, interval: float = 1.0):
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def log_tail(path: Path, chars: int = 4000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""


def stop(process: subprocess.Popen) -> None:
    """SIGTERM the server's process group (its PID), then SIGKILL if it lingers."""
    for sig, grace in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        if process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue


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


def run(command: list[str], env: dict[str, str], timeout: float = COMMAND_S,
        cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run a client command; on timeout kill its whole process group (a worker's flow runs)."""
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                               start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(process)
        stdout, stderr = process.communicate(timeout=10)
        pytest.fail(f"{command[1:5]} did not finish in {timeout} s:\n{stdout[-3000:]}\n"
                    f"{stderr[-3000:]}")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def quiet_timezone() -> str:
    """A timezone where it is nowhere near 02:00, so no nightly run comes due mid-test."""
    for name in ("Europe/Berlin", "Asia/Tokyo", "America/New_York"):
        if datetime.now(ZoneInfo(name)).hour >= 4:
            return name
    raise AssertionError("unreachable: these timezones are 6+ hours apart")


@pytest.fixture(scope="module")
def deployed(server, tmp_path_factory):
    """`rerankwatch deploy`, run as users run it (outside the repo, API from the env)."""
    timezone = quiet_timezone()
    result = run([str(Path(sys.executable).parent / "rerankwatch"), "deploy",
                  "--timezone", timezone], server.env, cwd=tmp_path_factory.mktemp("elsewhere"))
    assert result.returncode == 0, result.stdout + result.stderr
    return timezone, result.stdout


def test_deploy_registers_three_deployments_and_the_process_pool(deployed, client):
    _, output = deployed
    assert f"created work pool {POOL!r}" in output
    pool = client.read_work_pool(POOL)
    assert pool.type == "process"
    nightly, gate, matrix = (client.read_deployment_by_name(name) for name in (
        "nightly/nightly", "upgrade-gate/upgrade-gate", "score-matrix/score-matrix"))
    for deployment in (nightly, gate, matrix):
        assert deployment.work_pool_name == POOL
        assert deployment.entrypoint.startswith("flows/")
        # workers run the flows from the repository root
        assert deployment.pull_steps == [{"prefect.deployments.steps.set_working_directory": {
            "directory": str(ROOT)}}]
    assert gate.schedules == [] and matrix.schedules == []
    schema = gate.parameter_openapi_schema
    assert {"baseline", "candidate"} <= set(schema["properties"])
    assert set(schema["required"]) == {"baseline", "candidate"}


def test_nightly_cron_has_a_timezone_and_produces_scheduled_runs(deployed, client):
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    timezone, _ = deployed
    nightly = client.read_deployment_by_name("nightly/nightly")
    [schedule] = nightly.schedules
    assert schedule.active and schedule.slug == "nightly-0200"
    assert schedule.schedule.cron == "0 2 * * *"
    assert schedule.schedule.timezone == timezone

    runs_filter = FlowRunFilter(
        deployment_id=FlowRunFilterDeploymentId(any_=[nightly.id]),
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])))
    # the server's scheduler picks a freshly changed deployment up within seconds
    runs = wait_for(lambda: client.read_flow_runs(flow_run_filter=runs_filter), 90,
                    "the scheduler to create nightly runs", interval=2)
    starts = sorted(run.expected_start_time.astimezone(ZoneInfo(timezone)) for run in runs)
    assert all((start.hour, start.minute) == (2, 0) for start in starts), starts
    assert starts[0] > datetime.now(ZoneInfo(timezone))
    if len(starts) > 1:
        assert starts[1] - starts[0] in (timedelta(hours=23), timedelta(hours=24),
                                          timedelta(hours=25))  # DST days included
    assert all(run.auto_scheduled for run in runs)


def test_upgrade_gate_runs_with_parameters_on_a_process_worker(deployed, server, client,
                                                               tmp_path, golden_dir):
    from rerankwatch.store import Store

    config = tmp_path / "gate.toml"
    db = tmp_path / "gate.duckdb"
    config.write_text(run_config(db, golden_dir / "golden_en.jsonl", "tiny-ce", [
        ("tiny-ce", "st-cross", TINY_CE), ("tiny-ce-hf", "hf-seqcls", TINY_CE)]))
    parameters = {"baseline": "tiny-ce", "candidate": "tiny-ce-hf", "config_path": str(config)}
    prefect = [sys.executable, "-m", "prefect"]
    created = run(prefect + ["deployment", "run", "upgrade-gate/upgrade-gate",
                             *(arg for key, value in parameters.items()
                               for arg in ("--param", f"{key}={value}"))],
                  server.env)
    assert created.returncode == 0, created.stdout + created.stderr
    flow_run_id = re.search(r"UUID: ([0-9a-f-]{36})", created.stdout).group(1)

    worker_env = {**server.env, "RERANKWATCH_CACHE": str(tmp_path / "cache")}
    worker = run(prefect + ["worker", "start", "--pool", POOL, "--run-once", "--limit", "1"],
                 worker_env, timeout=WORKER_S, cwd=tmp_path)
    assert worker.returncode == 0, worker.stdout[-4000:] + worker.stderr[-4000:]

    output = worker.stdout[-4000:] + worker.stderr[-4000:]
    flow_run = wait_for(lambda: (fr := client.read_flow_run(flow_run_id)).state.is_final() and fr,
                        30, f"a final state of flow run {flow_run_id}\n{output}")
    assert flow_run.state.is_completed(), f"{flow_run.state}\n{output}"
    assert flow_run.parameters == parameters
    assert flow_run.work_pool_name == POOL
    with Store(db, read_only=True) as store:
        verdicts = store.sql("select verdict, candidates from verdicts").rows()
    assert verdicts == [("PASS", ["tiny-ce-hf"])]


def test_gpu_templates_create_pools_and_fit_the_yaml_job_variables(server, client):
    import jsonschema
    from prefect.client.schemas.actions import WorkPoolCreate

    definitions = yaml.safe_load(PREFECT_FILE.read_text())["definitions"]["work_pools"]
    for kind, template_file, example in (
            ("docker", "docker-gpu.json", "gpu_docker_example"),
            ("kubernetes", "kubernetes-gpu.json", "gpu_kubernetes_example")):
        template = json.loads((TEMPLATES / template_file).read_text())
        name = f"rerankwatch-test-{kind}"
        # the server validates the template: every placeholder must be a declared variable
        client.create_work_pool(WorkPoolCreate(name=name, type=kind,
                                               base_job_template=template))
        assert client.read_work_pool(name).base_job_template == template
        job_variables = definitions[example]["job_variables"]
        jsonschema.validate(job_variables, template["variables"])
        assert {"image", "gpu_count"} <= set(job_variables)
    assert definitions["process"]["name"] == POOL


def test_deploy_refuses_without_a_server(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(tmp_path), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               DO_NOT_TRACK="1")
    result = run([str(Path(sys.executable).parent / "rerankwatch"), "deploy"], env, timeout=60)
    assert result.returncode == 2
    assert "PREFECT_API_URL" in result.stderr
