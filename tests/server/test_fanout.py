"""Engine configs scored on many workers at once, with real components only: a `prefect server
start` on 127.0.0.1, `prefect worker start` process workers on two pools (pool-b's engine runs
in the isolated st-5 environment), and moto's standalone S3 server as the shared storage
(`shards_url = "s3://…"`), every one started by the test and stopped by PID.

- a nightly whose two engine configs score on the two workers at the same time: their child
  flow runs overlap, run_engines names each one's pool, worker, flow run and host, the shards
  went through the bucket into one ingest, and the verdict is stored;
- a child's flow-run process SIGKILLed mid-engine: that engine fails naming its pool and
  child flow run, the other finishes; `rerankwatch resume` completes it, every pair once;
- the object store stopped (SIGSTOP) before the parent's ingest, and a pool no worker polls:
  both engines fail, clearly (the storage, the pool and its timeout); with the store back and
  a worker on the pool, `rerankwatch resume` takes the waiting shards in without scoring them
  again and scores the other.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.support.configs import MINILM, ST5_REQUIREMENTS
from tests.support.prefect_server import log_tail, run, stop, wait_for
from tests.support.stores import moto_s3

RW = str(Path(sys.executable).parent / "rerankwatch")
BUCKET = "rerankwatch-test"
NIGHTLY_S = 600  # the first use of the st-5 environment may build it (cached afterwards)


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """moto's S3 server on loopback with one bucket; yields (endpoint, process, client)."""
    with moto_s3(tmp_path_factory.mktemp("moto"), BUCKET) as server:
        yield server.endpoint, server.process, server.client


@pytest.fixture(scope="module")
def fleet(server, s3, tmp_path_factory):
    """The environment of every command (API, S3 endpoint and keys, a short storage timeout),
    deployments for the config's pools, and one worker on pool-a and one on pool-b."""
    endpoint, _, _ = s3
    home = tmp_path_factory.mktemp("rw-home")
    env = {**server.env, "RERANKWATCH_HOME": str(home), "AWS_ENDPOINT_URL_S3": endpoint,
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_REGION": "us-east-1", "RERANKWATCH_STORAGE_TIMEOUT_S": "3",
           "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "5",
           "OMP_NUM_THREADS": "1"}
    config = write_config(home / "pooled.toml", home, {"bi-a": "pool-a", "bi-b": "pool-b"})
    deployed = run([RW, "deploy", "--config", str(config), "--db", str(home / "rw.duckdb")],
                   env)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    workers = [start_worker(env, home, pool, name)
               for pool, name in (("pool-a", "worker-a"), ("pool-b", "worker-b"))]
    try:
        yield env, home, workers
    finally:
        for process in workers:
            stop(process)


def start_worker(env: dict, home: Path, pool: str, name: str) -> subprocess.Popen:
    log = (home / f"{name}.log").open("w")
    return subprocess.Popen([sys.executable, "-m", "prefect", "worker", "start", "--pool",
                             pool, "--name", name], env=env, stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)


def start_nightly(config: Path, env: dict, home: Path) -> tuple[subprocess.Popen, Path]:
    """`rerankwatch nightly` in the background, its output to a file (a pipe nobody reads
    would fill up and stop it)."""
    log = home / f"{config.stem}.log"
    with log.open("w") as out:
        process = subprocess.Popen([RW, "nightly", "--config", str(config)], env=env,
                                   stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    return process, log


def pairs_file(home: Path, copies: int) -> Path:
    """golden_en, and ``copies`` × every query with every other query's documents (labelled 0,
    distinct texts): more scoring per engine config, so a test can act mid-engine."""
    golden = [json.loads(line) for line in
              (Path(__file__).parents[2] / "samples" / "golden_en.jsonl").read_text().splitlines()]
    rows = list(golden)
    queries = {r["query_id"]: r["query"] for r in golden}
    for copy in range(copies):
        for qid, query in queries.items():
            for other in golden:
                if other["query_id"] != qid:
                    rows.append({"set_id": "golden_en", "query_id": qid, "query": query,
                                 "doc_id": f"{other['doc_id']}-{qid}-{copy}",
                                 "doc": f"{other['doc']} ({copy})", "label": 0, "tags": [],
                                 "lang": "en"})
    path = home / f"pairs-{copies}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def write_config(path: Path, home: Path, pools: dict[str, str], copies: int = 0,
                 timeout_s: float = 600) -> Path:
    """Engine configs of MiniLM, each on its pool; bi-b in the isolated st-5 environment."""
    engines = "".join(
        f'[[engines]]\nname = "{name}"\nkind = "st-bi"\nmodel = "{MINILM}"\n'
        f'work_pool = "{pool}"\ntimeout_s = {timeout_s}\nbatch_size = 8\n'
        + ('environment = "st-5"\n' if name == "bi-b" else "") + "\n"
        for name, pool in pools.items())
    path.write_text(
        f'db = "{home / "rw.duckdb"}"\nreference = "bi-a"\n'
        f'shards_url = "s3://{BUCKET}/shards"\nchunk_pairs = 16\n\n'
        f'[[sample_sets]]\nname = "golden_en"\npath = "{pairs_file(home, copies)}"\n\n'
        f'[[environments]]\nname = "st-5"\nrequirements = {json.dumps(ST5_REQUIREMENTS)}\n\n'
        + engines
        # the copies repeat golden documents: near-equal scores by construction, not a fault
        + ('[checks.saturation]\nblocking = false\n' if copies else ""))
    return path


def query(home: Path, sql: str, *params) -> list[tuple]:
    with duckdb.connect(str(home / "rw.duckdb"), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def latest_run(home: Path) -> str:
    return query(home, "select run_id from runs order by started_at desc limit 1")[0][0]


def child_runs(client, engine: str) -> list:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

    return client.read_flow_runs(flow_run_filter=FlowRunFilter(
        tags=FlowRunFilterTags(all_=["rerankwatch", engine])))


def main_counts(home: Path, run_id: str, engine: str) -> tuple[int, int]:
    """(main scores, distinct pairs among them) of one engine config in a run."""
    return query(home, "select count(*), count(distinct pair_id) from scores where run_id = ? "
                       "and engine_name = ? and variant = 'main'", run_id, engine)[0]


def bucket_keys(client, prefix: str = "shards/") -> list[str]:
    found = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return [item["Key"] for item in found.get("Contents", [])
            if not item["Key"].endswith("/")]  # folder markers


def test_two_engine_configs_score_on_two_workers_at_once(fleet, client, s3):
    env, home, _ = fleet
    config = home / "pooled.toml"
    done = run([RW, "nightly", "--config", str(config)], env, timeout=NIGHTLY_S)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run_id = latest_run(home)
    engines = {row[0]: row[1:] for row in query(
        home, "select engine_name, status, work_pool, worker, flow_run_id, host "
              "from v_run_engine_status where run_id = ?", run_id)}
    assert engines["bi-a"][:3] == ("succeeded", "pool-a", "worker-a")
    assert engines["bi-b"][:3] == ("succeeded", "pool-b", "worker-b")
    assert engines["bi-a"][4] == engines["bi-b"][4] == os.uname().nodename
    # each child flow run scored its engine config, and the two ran at the same time
    [child_a], [child_b] = child_runs(client, "bi-a"), child_runs(client, "bi-b")
    assert {str(child_a.id), str(child_b.id)} == {engines["bi-a"][3], engines["bi-b"][3]}
    assert child_a.work_pool_name == "pool-a" and child_b.work_pool_name == "pool-b"
    assert max(child_a.start_time, child_b.start_time) < min(child_a.end_time,
                                                             child_b.end_time)
    # the scores went through the bucket, into the store's one ingest; the bucket is empty now
    pairs = query(home, "select count(*) from run_pairs where run_id = ?", run_id)[0][0]
    for engine in ("bi-a", "bi-b"):
        assert main_counts(home, run_id, engine) == (pairs, pairs)
        shards = query(home, "select count(*) from ingested_shards where run_id = ? and "
                             "engine_name = ?", run_id, engine)[0][0]
        assert shards >= 2
    assert bucket_keys(s3[2]) == []
    [(verdict,)] = query(home, "select verdict from verdicts where run_id = ?", run_id)
    assert verdict == "PASS"


def pid_of_flow_run(flow_run_id: str) -> int | None:
    """The process a process worker started for this flow run (its environment names it)."""
    needle = f"PREFECT__FLOW_RUN_ID={flow_run_id}".encode()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if needle in (proc / "environ").read_bytes().split(b"\0"):
                    return int(proc.name)
    return None


def test_a_child_killed_mid_engine_fails_only_its_engine_and_resume_completes(
        fleet, client, s3):
    env, home, _ = fleet
    config = write_config(home / "kill.toml", home, {"bi-a": "pool-a", "bi-b": "pool-b"},
                          copies=3)
    before = {str(r.id) for r in child_runs(client, "bi-a")}
    nightly, log = start_nightly(config, env, home)
    try:
        def child_mid_engine():
            if nightly.poll() is not None:
                pytest.fail(f"the nightly ended before the kill:\n{log_tail(log)}")
            runs = [r for r in child_runs(client, "bi-a") if str(r.id) not in before]
            if runs and any(".main." in k for k in bucket_keys(s3[2]) if "/bi-a." in k):
                return runs[0]
            return None

        child = wait_for(child_mid_engine, 180, "bi-a's first shard in the bucket", 0.2)
        pid = wait_for(lambda: pid_of_flow_run(str(child.id)), 30, "the child's process", 0.2)
        os.kill(pid, signal.SIGKILL)
        nightly.wait(timeout=NIGHTLY_S)
    finally:
        stop(nightly)
    assert nightly.returncode == 3, log_tail(log)  # ERROR: an engine could not score
    run_id = latest_run(home)
    status = dict(query(home, "select engine_name, status from v_run_engine_status "
                              "where run_id = ?", run_id))
    assert status == {"bi-a": "failed", "bi-b": "succeeded"}
    [(error,)] = query(home, "select error from v_run_engine_status where run_id = ? and "
                             "engine_name = 'bi-a'", run_id)
    assert "pool-a" in error and str(child.id) in error and "Crashed" in error, error
    kept = main_counts(home, run_id, "bi-a")[0]
    pairs = query(home, "select count(*) from run_pairs where run_id = ?", run_id)[0][0]
    assert 0 < kept < pairs  # the chunks finished before the kill were kept

    resumed = run([RW, "resume", run_id, "--db", str(home / "rw.duckdb")], env,
                  timeout=NIGHTLY_S)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert main_counts(home, run_id, "bi-a") == (pairs, pairs)  # none lost, none twice
    assert main_counts(home, run_id, "bi-b") == (pairs, pairs)
    [(scored,)] = query(home, "select scored_pairs from v_run_engine_status where run_id = ? "
                              "and engine_name = 'bi-a'", run_id)
    assert scored == pairs


def test_object_store_stopped_and_a_pool_without_worker(fleet, client, s3, server):
    env, home, workers = fleet
    _, moto, bucket = s3
    config = write_config(home / "faults.toml", home, {"bi-a": "pool-a", "bi-c": "pool-c"},
                          timeout_s=40)
    deployed = run([RW, "deploy", "--config", str(config), "--db", str(home / "rw.duckdb")],
                   env)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    before = {str(r.id) for r in child_runs(client, "bi-a")}
    nightly, log = start_nightly(config, env, home)
    try:
        def child_a_done():
            return any(r.state and r.state.is_completed() for r in child_runs(client, "bi-a")
                       if str(r.id) not in before)

        wait_for(child_a_done, 300, "bi-a's child flow run to complete", 0.2)
        os.kill(moto.pid, signal.SIGSTOP)  # the object store stops answering
        nightly.wait(timeout=NIGHTLY_S)
    finally:
        os.kill(moto.pid, signal.SIGCONT)
        stop(nightly)
    assert nightly.returncode == 3, log_tail(log)  # ERROR: an engine could not score
    run_id = latest_run(home)
    errors = dict(query(home, "select engine_name, error from v_run_engine_status "
                              "where run_id = ?", run_id))
    assert f"s3://{BUCKET}/shards" in errors["bi-a"], errors
    assert f"rerankwatch resume {run_id}" in errors["bi-a"], errors
    assert "pool 'pool-c'" in errors["bi-c"] and "timeout_s = 40" in errors["bi-c"], errors
    assert "no worker took it" in errors["bi-c"], errors
    assert main_counts(home, run_id, "bi-a")[0] == 0  # nothing taken in: all still waits
    assert any("/bi-a.main." in k for k in bucket_keys(bucket))

    worker_c = start_worker(env, home, "pool-c", "worker-c")
    try:
        resumed = run([RW, "resume", run_id, "--db", str(home / "rw.duckdb")], env,
                      timeout=NIGHTLY_S)
    finally:
        stop(worker_c)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    pairs = query(home, "select count(*) from run_pairs where run_id = ?", run_id)[0][0]
    assert main_counts(home, run_id, "bi-a") == (pairs, pairs)
    assert main_counts(home, run_id, "bi-c") == (pairs, pairs)
    # bi-a's waiting shards were taken in: no second child flow run scored it
    assert len([r for r in child_runs(client, "bi-a") if str(r.id) not in before]) == 1
    [(worker,)] = query(home, "select worker from v_run_engine_status where run_id = ? and "
                              "engine_name = 'bi-c'", run_id)
    assert worker == "worker-c"
