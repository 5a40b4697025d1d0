"""A team runs rerankwatch: real PostgreSQL (the lake's catalog), moto's S3 server (its data),
a `prefect server start` and a process worker, each started by the test on 127.0.0.1 and
stopped by PID, every wait bounded.

The admin sets the store up (`store init`, which creates the bucket), a first nightly accepts
the production engine, `rerankwatch deploy` registers the config, and CI then judges three
candidates with `rerankwatch gate --deployment`, on a machine that has only the Prefect API
(no models, no store credentials):

- a swapped-argument candidate: exit 1, JUnit failures whose messages hold the reasons;
- a candidate at a closed port: exit 3, one JUnit `<error>` naming the engine and "connection
  refused" once, the flow run's state message is the verdict line, no traceback on the worker;
- a healthy candidate: exit 0, and the production engine's accepted baseline is unchanged
  (`baseline history` shows the candidate approved in the gate, nothing new for the reference).

A teammate with only `RERANKWATCH_DB` (and the bucket's credentials) set fetches that gate's
report from the lake and runs every SQL example of README.md and docs/.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from junitparser import Error, Failure, JUnitXml

from tests.server.test_deployments import quiet_timezone
from tests.server.test_ducklake import fresh_lake
from tests.support.configs import TINY_CE, UNTRAINED
from tests.support.prefect_server import free_port, log_tail, run, stop, wait_for
from tests.support.stores import moto_s3, postgres, postgres_binaries

pytestmark = [pytest.mark.skipif(
    postgres_binaries() is not None and not os.environ.get("RERANKWATCH_REQUIRE_POSTGRES"),
    reason=postgres_binaries() or "")]

ROOT = Path(__file__).resolve().parents[2]
RW = str(Path(sys.executable).parent / "rerankwatch")
POOL = "rerankwatch-process"
GATE_S = 600
BUCKET = "team-lake"  # store init creates it


def engines_toml(engines: dict[str, str]) -> str:
    return "".join(f'[[engines]]\nname = "{name}"\n{body}\n' for name, body in engines.items())


def config_text(db: str, engines: dict[str, str]) -> str:
    golden = ROOT / "samples" / "golden_en.jsonl"
    return (f"db = {json.dumps(db)}\nreference = \"prod\"\n\n"
            f'[[sample_sets]]\nname = "golden_en"\npath = "{golden}"\n\n'
            + engines_toml(engines) + UNTRAINED)


@pytest.fixture(scope="module")
def team(server, tmp_path_factory):
    """The store set up, a nightly of the production engine, the deployments and a worker;
    yields (spec, environments by role, the worker's log, a closed port's URL)."""
    folder = tmp_path_factory.mktemp("team")
    with moto_s3(folder) as s3, postgres() as catalog:
        spec = fresh_lake(catalog, "team")
        homes = {role: folder / role for role in ("admin", "worker", "ci", "teammate")}
        for home in homes.values():
            home.mkdir()
        base = {k: v for k, v in server.env.items()
                if not k.startswith(("AWS_", "RERANKWATCH_DB", "RERANKWATCH_HOME", "PG"))}
        envs = {
            "admin": {**base, **s3.env, "RERANKWATCH_HOME": str(homes["admin"])},
            "worker": {**base, **s3.env, "RERANKWATCH_HOME": str(homes["worker"]),
                       "PREFECT_WORKER_QUERY_SECONDS": "1",
                       "PREFECT_WORKER_PREFETCH_SECONDS": "5", "OMP_NUM_THREADS": "1"},
            # CI has the Prefect API and nothing else: no store, no bucket keys, no models
            "ci": {**base, "RERANKWATCH_HOME": str(homes["ci"])},
            "teammate": {**base, **s3.env, "RERANKWATCH_HOME": str(homes["teammate"]),
                         "RERANKWATCH_DB": spec},
        }
        made = run([RW, "store", "init", "--db", spec, "--data-path",
                    f"s3://{BUCKET}/rerankwatch"], envs["admin"])
        assert made.returncode == 0, made.stdout + made.stderr
        assert f"created the bucket {BUCKET}" in made.stdout, made.stdout

        closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        nightly_config = folder / "nightly.toml"
        nightly_config.write_text(config_text(spec, {
            "prod": f'kind = "st-cross"\nmodel = "{TINY_CE}"'}))
        night = run([RW, "nightly", "-c", str(nightly_config)], envs["admin"], timeout=GATE_S)
        assert night.returncode == 0, night.stdout[-3000:] + night.stderr[-3000:]

        config = folder / "team.toml"
        config.write_text(config_text(spec, {
            "prod": f'kind = "st-cross"\nmodel = "{TINY_CE}"',
            "next": f'kind = "st-cross"\nmodel = "{TINY_CE}"',
            "next-swapped": f'kind = "replay-swap-args"\nmodel = "{TINY_CE}"',
            "next-down": (f'kind = "http-rerank"\nmodel = "tiny"\nurl = "{closed}"\n'
                          f'api_schema = "cohere"\nretries = 1\ntimeout_s = 5\n'
                          f'options = {{ backoff_s = 0.01 }}'),
        }))
        deployed = run([RW, "deploy", "-c", str(config), "--timezone", quiet_timezone()],
                       envs["admin"])
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        worker_log = homes["worker"] / "worker.log"
        with worker_log.open("w") as out:
            worker = subprocess.Popen(
                [sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL, "--name",
                 "team-worker"], env=envs["worker"], cwd=homes["worker"], stdout=out,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_for(lambda: "started" in log_tail(worker_log).lower()
                     or worker.poll() is not None, 120, "the worker to start")
            assert worker.poll() is None, log_tail(worker_log)
            yield spec, envs, worker_log, closed
        finally:
            stop(worker)


def deployed_gate(team, candidate: str, out: Path) -> tuple[subprocess.CompletedProcess, dict,
                                                            JUnitXml]:
    _, envs, _, _ = team
    out.mkdir(parents=True, exist_ok=True)
    done = run([RW, "gate", "--deployment", "--baseline", "prod", "--candidate", candidate,
                "--junit", str(out / "junit.xml"), "--json", str(out / "ci.json"),
                "--timeout", str(GATE_S - 60)], envs["ci"], timeout=GATE_S)
    data = json.loads((out / "ci.json").read_text())
    return done, data, JUnitXml.fromfile(str(out / "junit.xml"))


def flow_run_id(done: subprocess.CompletedProcess) -> str:
    found = re.search(r"flow run \S+ \(([0-9a-f-]{36})\) scheduled", done.stderr)
    assert found, done.stderr
    return found.group(1)


def results(xml: JUnitXml) -> dict[str, list]:
    return {case.name: list(case.result) for suite in xml for case in suite}


def test_a_swapped_argument_candidate_is_blocked_with_its_reasons(team, tmp_path):
    done, data, xml = deployed_gate(team, "next-swapped", tmp_path)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert data["verdict"] == "BLOCKED" and "argument_order" in data["failing_checks"]
    (run_,) = data["runs"]
    assert run_["verdict_line"] in done.stdout  # said as the local gate says it
    failures = [r for rs in results(xml).values() for r in rs if isinstance(r, Failure)]
    assert failures, (tmp_path / "junit.xml").read_text()
    swapped = [f for f in failures if "swapped" in f.message]
    assert swapped and all("must be" in f.message for f in swapped)


def test_a_candidate_at_a_closed_port_is_error_said_once(team, tmp_path, client):
    _, _, worker_log, closed = team
    done, data, xml = deployed_gate(team, "next-down", tmp_path)
    assert done.returncode == 3, done.stdout[-3000:] + done.stderr[-3000:]
    assert data["verdict"] == "ERROR" and data["failing_checks"] == []
    (engine_error,) = results(xml)["scoring[next-down]"]
    assert isinstance(engine_error, Error)
    assert engine_error.message.startswith("engine next-down could not score: ")
    assert closed in engine_error.message
    text = (tmp_path / "junit.xml").read_text()
    assert text.lower().count("connection refused") == 1, text
    not_judged = [r for name, rs in results(xml).items() if name.endswith("[next-down|*]")
                  for r in rs]
    assert not_judged and {r.type for r in not_judged} == {"rerankwatch.NotJudged"}
    (run_,) = data["runs"]
    state = client.read_flow_run(flow_run_id(done)).state
    assert state.is_failed() and state.message == run_["verdict_line"]
    assert state.message.startswith("ERROR: engine next-down could not score")
    assert "Traceback" not in log_tail(worker_log, 10**7)


def test_a_healthy_candidate_passes_and_leaves_the_baselines_alone(team, tmp_path):
    _, envs, worker_log, _ = team
    before = run([RW, "baseline", "history", "--engine", "prod"], envs["teammate"])
    assert before.returncode == 0, before.stdout + before.stderr
    done, data, xml = deployed_gate(team, "next", tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert data["verdict"] == "PASS" and not any(
        isinstance(r, Failure | Error) for rs in results(xml).values() for r in rs)
    (gate_run,) = data["run_ids"]
    after = run([RW, "baseline", "history", "--engine", "prod"], envs["teammate"])
    assert after.stdout == before.stdout  # nothing new for the production engine
    approved = run([RW, "baseline", "history", "--engine", "next"], envs["teammate"])
    assert f"approved in gate run {gate_run}" in approved.stdout, approved.stdout
    assert "Traceback" not in log_tail(worker_log, 10**7)

    # a teammate, with RERANKWATCH_DB and the bucket's keys only, reads the stored report
    report = run([RW, "report", "--run", gate_run], envs["teammate"])
    assert report.returncode == 0, report.stdout + report.stderr
    assert "report fetched" in report.stdout and f"s3://{BUCKET}/" in report.stdout
    fetched = Path(report.stdout.split("report fetched: ", 1)[1].split(" (stored", 1)[0])
    assert 'class="verdict PASS"' in fetched.read_text()
    # and every SQL example of README.md and docs/ answers on the team's lake
    sys.path.insert(0, str(ROOT / "bench"))
    from history_queries import readme_examples

    for name, sql in readme_examples().items():
        answered = run([RW, "sql", sql], envs["teammate"])
        assert answered.returncode == 0, f"{name}: {answered.stdout}{answered.stderr}"
