"""No process outlives the command that started it: a SIGKILLed `rerankwatch score` takes
Prefect's temporary server (uvicorn) with it instead of leaving it listening, re-parented to
PID 1, for good."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.configs import TINY_CE, UNTRAINED

SERVER_APP = "prefect.server.api.server:create_app"
COMMAND = Path(sys.executable).with_name("rerankwatch")  # the installed console script


@pytest.fixture(scope="session")
def prefect_harness():
    """Not the shared test harness: the command here starts its own Prefect server."""
    yield


def proc_stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time in clock ticks) of a live process; None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
    if fields[0] == "Z":  # a zombie holds no port and no memory: it is gone
        return None
    return int(fields[1]), int(fields[19])


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return []
    return raw.rstrip("\0").split("\0")


def descendants(root: int) -> dict[int, tuple[int, list[str]]]:
    """{pid: (start time, command line)} of every live descendant of ``root``."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := proc_stat(int(entry.name))):
            parents[int(entry.name)] = stat
    found, frontier = {}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, started) in parents.items():
            if ppid == parent and pid not in found:
                found[pid] = (started, cmdline(pid))
                frontier.append(pid)
    return found


def alive(pid: int, started: int) -> bool:
    """The same process (not a later one that reused its pid) is still alive."""
    stat = proc_stat(pid)
    return stat is not None and stat[1] == started


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


def big_set(path: Path, golden: Path, n: int) -> Path:
    """``n`` distinct pairs from the golden set's texts: scoring lasts past the kill."""
    rows = [json.loads(line) for line in golden.read_text().splitlines() if line.strip()]
    queries, docs = sorted({r["query"] for r in rows}), sorted({r["doc"] for r in rows})
    pairs = [{"set_id": "big", "query_id": f"q{i % len(queries)}",
              "query": queries[i % len(queries)], "doc_id": f"d{i}", "doc": docs[i % len(docs)],
              "label": 1, "tags": [], "lang": "en"} for i in range(n)]
    path.write_text("".join(json.dumps(p) + "\n" for p in pairs))
    return path


@pytest.mark.prefect  # the CLI's own ephemeral Prefect server
def test_sigkilled_score_leaves_no_prefect_server_behind(tmp_path, golden_dir):
    sets = big_set(tmp_path / "big.jsonl", golden_dir / "golden_en.jsonl", 20000)
    config = tmp_path / "run.toml"
    config.write_text(f'db = "{tmp_path / "rw.duckdb"}"\nreference = "tiny-ce"\n'
                      f'[[sample_sets]]\nname = "big"\npath = "{sets}"\n'
                      f'[[engines]]\nname = "tiny-ce"\nkind = "st-cross"\nmodel = "{TINY_CE}"\n'
                      f'batch_size = 4\n{UNTRAINED}')
    # the command's own ephemeral server, not the test harness's (PREFECT_API_URL unset)
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(tmp_path / "prefect")
    log_path = tmp_path / "score.log"
    log = log_path.open("w")
    cli = subprocess.Popen([str(COMMAND), "score", "-c", str(config)],
                           cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, start_new_session=True)
    seen: dict[int, tuple[int, list[str]]] = {}
    try:
        deadline = time.monotonic() + 300
        server = None
        while True:  # until its server answers and the flow has begun scoring
            assert cli.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, "the server or the flow did not start in time"
            seen.update(descendants(cli.pid))
            server = next((p for p, (_, line) in seen.items() if SERVER_APP in line), None)
            if (server is not None and "Beginning flow run" in log_path.read_text()
                    and healthy(int(seen[server][1][seen[server][1].index("--port") + 1]))):
                break
            time.sleep(0.2)
        seen.update(descendants(cli.pid))
        assert cli.poll() is None and alive(server, seen[server][0])  # killed mid-command
        os.kill(cli.pid, signal.SIGKILL)  # the command alone, as an OOM killer or `kill -9` does
        cli.wait(30)

        deadline = time.monotonic() + 20
        while (left := {p: line for p, (started, line) in seen.items() if alive(p, started)}):
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert left == {}, f"outlived the killed command: {left}"
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait(30)
        for pid, (started, _) in seen.items():  # clean up any survivor, by pid
            if alive(pid, started):
                os.kill(pid, signal.SIGKILL)
        log.close()
