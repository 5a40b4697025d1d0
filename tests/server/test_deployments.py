"""deploy/prefect.yaml against a real `prefect server start` on 127.0.0.1.

The quickstart of docs/team-setup.md is run as written, block by block in bash (only the port and
the home folder differ): server, `rerankwatch deploy --config --db`, a worker, a gate that
passes and one that blocks (`--watch` exits 0 and 1), the nightly, the verdicts, the stop.
Apart from it, `rerankwatch deploy` registers the four deployments (and the process pool) and
the nightly cron produces scheduled runs in its timezone. Every wait is bounded; servers and
workers are stopped by their process groups even when a test fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from rerankwatch.core.records import BLOCKED, PASS
from tests.support.prefect_server import free_port, log_tail, run, stop, wait_for

ROOT = Path(__file__).resolve().parents[2]
PREFECT_FILE = ROOT / "deploy" / "prefect.yaml"
TEMPLATES = ROOT / "deploy" / "gpu-job-templates"
POOL = "rerankwatch-process"
WORKER_S = 300
QUICKSTART = ROOT / "docs" / "team-setup.md"
QUICKSTART_PORT, QUICKSTART_HOME = "4200", "~/.rerankwatch"  # replaced in the test's copy
BLOCK_S = {2: 150, 4: 300, 8: 1500}  # the nightly may build vLLM's venv
BLOCKS = 10



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


def test_deploy_registers_four_deployments_and_the_process_pool(deployed, client):
    _, output = deployed
    assert f"created work pool {POOL!r}" in output
    pool = client.read_work_pool(POOL)
    assert pool.type == "process"
    nightly, gate, matrix, child = (client.read_deployment_by_name(name) for name in (
        "nightly/nightly", "upgrade-gate/upgrade-gate", "score-matrix/score-matrix",
        f"score-engine/{POOL}"))  # the child flow run of engine configs on this pool
    assert child.entrypoint == "flows/score_engine.py:score_engine"
    assert set(child.parameter_openapi_schema["required"]) == {
        "run_id", "engine_name", "shards_url"}
    for deployment in (nightly, gate, matrix, child):
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


def test_deploy_adds_a_score_engine_deployment_per_pool_of_the_config(server, client,
                                                                     tmp_path):
    from prefect.client.schemas.actions import WorkPoolCreate

    from tests.support.configs import pooled_config

    template = json.loads((TEMPLATES / "docker-gpu.json").read_text())
    client.create_work_pool(WorkPoolCreate(name="gpu-docker", type="docker",
                                           base_job_template=template))
    config = pooled_config(tmp_path, ROOT / "samples", extra=(
        '\n[[engines]]\nname = "on-gpu"\nkind = "st-bi"\n'
        'model = "embedded:all-MiniLM-L6-v2"\nwork_pool = "gpu-docker"\n'))
    result = run([str(Path(sys.executable).parent / "rerankwatch"), "deploy", "--config",
                  str(config), "--timezone", quiet_timezone()], server.env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "created work pool 'pool-a' (type process" in result.stdout
    assert "work pool 'gpu-docker' exists (type docker)" in result.stdout
    process_child = client.read_deployment_by_name("score-engine/pool-a")
    gpu_child = client.read_deployment_by_name("score-engine/gpu-docker")
    assert process_child.work_pool_name == "pool-a" and gpu_child.work_pool_name == "gpu-docker"
    assert process_child.pull_steps == [{"prefect.deployments.steps.set_working_directory": {
        "directory": str(ROOT)}}]
    # a container runs the repository its image carries
    assert gpu_child.pull_steps == [{"prefect.deployments.steps.set_working_directory": {
        "directory": "/opt/rerankwatch"}}]
    assert process_child.parameters == {}  # the parent gives them per child flow run


def test_deploy_refuses_an_invalid_config_before_anything(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(tmp_path), PREFECT_API_URL="http://127.0.0.1:9/api")
    config = tmp_path / "run.toml"
    config.write_text('reference = "a"\n[[sample_sets]]\nname = "s"\npath = "s.jsonl"\n')
    result = run([str(Path(sys.executable).parent / "rerankwatch"), "deploy", "--config",
                  str(config)], env, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert str(config) in result.stderr and "engines" in result.stderr, result.stderr
    assert "deploying" not in result.stdout


def test_deploy_refuses_without_a_server(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(tmp_path), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               DO_NOT_TRACK="1")
    result = run([str(Path(sys.executable).parent / "rerankwatch"), "deploy"], env, timeout=60)
    assert result.returncode == 2
    assert "PREFECT_API_URL" in result.stderr


def quickstart_blocks() -> list[str]:
    """The ```bash blocks of docs/team-setup.md's quickstart section, in order."""
    section = QUICKSTART.read_text().split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", section, re.S)


@dataclass
class Quickstart:
    home: Path
    port: int
    results: dict[int, subprocess.CompletedProcess]
    deployments: dict[str, object]
    logs: str
    stopped: bool  # the server and worker PIDs of the pid files have exited after the last block

    def output(self, block: int) -> str:
        done = self.results[block]
        return f"{done.stdout}\n{done.stderr}\n--- server and worker logs ---\n{self.logs}"


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory) -> Quickstart:
    """Every block of the quickstart in order, each in bash after block 1 (the quickstart's
    "one shell"), with a free port and a home folder of this test; the stop block last, and
    the server and worker groups killed whatever happened."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    blocks = quickstart_blocks()
    assert len(blocks) == BLOCKS, blocks
    home, port = tmp_path_factory.mktemp("quickstart") / "rw-home", free_port()

    def ours(block: str) -> str:
        return block.replace(QUICKSTART_PORT, str(port)).replace(QUICKSTART_HOME, str(home))

    setup = ours(blocks[0])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "RERANKWATCH_H"))}
    env.update(COLUMNS="200", PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1",
               PREFECT_SERVER_UI_ENABLED="false")
    groups: list[subprocess.Popen] = []  # blocks that leave a process in the background

    def block(number: int) -> subprocess.CompletedProcess:
        # set -m: job control, as in the interactive shell the blocks are pasted into. Without
        # it bash starts background jobs with SIGINT ignored, and a Prefect worker, which
        # turns SIGTERM into SIGINT, would not stop on `kill` (step 9)
        script = "set -meuo pipefail\n" + setup + (
            "" if number == 1 else ours(blocks[number - 1]))
        process = subprocess.Popen(["bash", "-c", script], cwd=ROOT, env=env, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
        groups.append(process)
        try:
            stdout, stderr = process.communicate(timeout=BLOCK_S.get(number, WORKER_S))
        except subprocess.TimeoutExpired:
            stop(process)
            stdout, stderr = process.communicate(timeout=10)
            stderr += f"\n(block {number} timed out after {BLOCK_S.get(number, WORKER_S)} s)"
        return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)

    results: dict[int, subprocess.CompletedProcess] = {}
    deployments: dict[str, object] = {}
    try:
        for number in range(1, BLOCKS):
            results[number] = block(number)
            if number == 4 and results[4].returncode == 0:
                api = f"http://127.0.0.1:{port}/api"
                with temporary_settings(updates={PREFECT_API_URL: api}), \
                        get_client(sync_client=True) as client:
                    deployments = {name: client.read_deployment_by_name(name) for name in (
                        "nightly/nightly", "upgrade-gate/upgrade-gate",
                        "score-matrix/score-matrix")}
            if number <= 5 and results[number].returncode != 0:
                break  # no server, store, deployments or worker: the rest cannot run
    finally:
        logs = "\n".join(f"{name}: {log_tail(home / name, 3000)}"
                          for name in ("server.log", "worker.log"))
        results[BLOCKS] = block(BLOCKS)
        pids = [int((home / f"{name}.pid").read_text()) for name in ("server", "worker")
                if (home / f"{name}.pid").exists()]
        deadline = time.monotonic() + 60
        while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.5)
        stopped = not any(_alive(pid) for pid in pids)
        for pid in pids:  # background jobs have process groups of their own (set -m)
            for group in (pid, os.getpgid(pid) if _alive(pid) else pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(group, signal.SIGKILL)
        for process in groups:  # whatever is left in a block's process group
            stop(process)
    yield Quickstart(home, port, results, deployments, logs, stopped)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie has exited
        return stat.read().split()[2] != "Z"


def lake(quickstart: Quickstart) -> str:
    return f"ducklake:sqlite:{quickstart.home}/lake/catalog.sqlite"


def test_quickstart_starts_a_server_a_team_store_the_deployments_and_a_worker(quickstart):
    for number in (1, 2, 3, 4, 5):
        assert quickstart.results[number].returncode == 0, quickstart.output(number)
    init = quickstart.results[3].stdout
    assert "export RERANKWATCH_DB=" in init and "FAIL" not in init, quickstart.output(3)
    assert (quickstart.home / "lake" / "data").is_dir()
    config = str(ROOT / "rerankwatch" / "default.toml")
    assert f"config_path={config}, db={lake(quickstart)}" in quickstart.results[4].stdout
    for name, deployment in quickstart.deployments.items():
        assert deployment.parameters == {"config_path": config, "db": lake(quickstart)}, name
        assert deployment.work_pool_name == POOL
        assert deployment.pull_steps == [{"prefect.deployments.steps.set_working_directory": {
            "directory": str(ROOT)}}]
    [schedule] = quickstart.deployments["nightly/nightly"].schedules
    assert schedule.schedule.cron == "0 2 * * *" and schedule.schedule.timezone == "UTC"


def test_quickstart_gates_from_ci_exit_0_on_pass_and_1_when_blocked(quickstart):
    passed, blocked = quickstart.results[6], quickstart.results[7]
    assert passed.returncode == 0, quickstart.output(6)
    assert "PASS: candidate hf-bi-fp32 vs baseline st-bi-fp32" in passed.stdout, \
        quickstart.output(6)
    data = json.loads((quickstart.home / "ci" / "gate.json").read_text())
    assert data["verdict"] == "PASS" and (quickstart.home / "ci" / "gate.xml").is_file()
    assert blocked.returncode == 1, quickstart.output(7)
    assert "BLOCKED: candidate minilm-cls vs baseline st-bi-fp32" in blocked.stdout, \
        quickstart.output(7)


def test_the_deployed_nightly_runs_only_its_config_into_the_team_store(quickstart):
    from rerankwatch.store import open_store

    assert quickstart.results[8].returncode == 0, quickstart.output(8)
    with open_store(lake(quickstart), mode="read") as store:
        scored = store.sql("select distinct e.flow_run_id = r.flow_run_id as same_run, "
                           "e.work_pool, e.worker like 'ProcessWorker %' as by_worker, e.host "
                           "from v_run_engine_status e join runs r using (run_id)").rows()
        runs = store.sql("select r.flow_name, v.verdict, list_sort(list(e.engine_name)) as "
                         "engines from runs r join verdicts v using (run_id) join run_engines e "
                         "using (run_id) group by all order by min(r.started_at)").rows()
    assert runs == [
        ("upgrade-gate", "PASS", ["hf-bi-fp32", "st-bi-fp32"]),
        ("upgrade-gate", "BLOCKED", ["minilm-cls", "st-bi-fp32"]),
        ("nightly", "PASS", ["hf-bi-fp16", "hf-bi-fp32", "st-bi-bf16", "st-bi-fp32",
                             "vllm-fp32"])], runs  # default.toml only: no demo cross-encoder
    # each engine config names the flow run, the pool and the worker that scored it
    assert scored == [(True, POOL, True, socket.gethostname())], scored


def test_a_teammate_reads_verdicts_and_reports_from_the_lake_and_everything_stops(quickstart):
    teammate = quickstart.results[9]
    assert teammate.returncode == 0, quickstart.output(9)
    decisions = teammate.stdout.split("gate-verdict")[0]
    assert PASS in decisions and BLOCKED in decisions and "hf-bi-fp32" in decisions, \
        quickstart.output(9)
    assert "approved in gate run" in decisions  # the passing gate moved no baseline
    artifacts = teammate.stdout[len(decisions):]
    assert BLOCKED in artifacts and "minilm-cls" in artifacts, quickstart.output(9)
    assert "nightly-verdict" in artifacts
    reports = sorted(p.name for p in (quickstart.home / "lake" / "data" / "reports")
                     .glob("*.html"))
    assert len(reports) == 3, reports  # beside the lake's data, where the team reads them
    assert "report fetched" in teammate.stdout, quickstart.output(9)  # not built again
    assert any(name in teammate.stdout for name in reports), quickstart.output(9)
    assert quickstart.results[BLOCKS].returncode == 0, quickstart.output(BLOCKS)
    assert quickstart.stopped, "the worker or the server still runs after the last block"
    with socket.socket() as sock:  # nothing listens on the server's port any more
        assert sock.connect_ex(("127.0.0.1", quickstart.port)) != 0
