"""Fan-out: wall time of N equal engine configs scored on N process workers at once ÷ the same
configs scored one after another in one process. Target: ≤ 0.6 for 2 on 2 workers (2 cores).

Run from the repo root: ``python bench/fanout.py [--engines 2] [--pairs 6000] [--threads 1]``.
Both sides run ``rerankwatch score`` (score-matrix: scores and probes, no suite) on the same
sample set with MiniLM (st-bi), each engine config with ``--threads`` torch threads
(OMP_NUM_THREADS), into a fresh store each (nothing copied from an earlier run).
Ours: every engine config names its own work pool (``pool-1`` …), a `prefect server start`
on 127.0.0.1 and one `prefect worker start` per pool run the child flow runs; the shards go
through a shared folder (``shards_url``). Reference: the same configs without pools, scored
in the command's own process against the same server. The server and the workers start (and
are warmed by one run) before anything is timed; what is timed includes starting the child
flow runs, their processes and model loads, and the parent's ingest. Prints the cores, the
torch threads per engine config and the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MINILM = "embedded:all-MiniLM-L6-v2"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(command: list[str], env: dict, log: Path) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    for sig, grace in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        if process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=grace)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            continue


def write_pairs(path: Path, pairs: int) -> None:
    """golden_en's queries against its documents, each with a numbered variant: distinct texts,
    so every pair costs a forward pass."""
    golden = [json.loads(line) for line in
              (ROOT / "samples" / "golden_en.jsonl").read_text().splitlines()]
    queries = sorted({(r["query_id"], r["query"]) for r in golden})
    rows, n = [], 0
    while len(rows) < pairs:
        for qid, query in queries:
            doc = golden[n % len(golden)]
            rows.append({"set_id": "bench", "query_id": qid, "query": query,
                         "doc_id": f"d{n}", "doc": f"{doc['doc']} (variant {n})",
                         "label": 0, "tags": [], "lang": "en"})
            n += 1
    path.write_text("".join(json.dumps(r) + "\n" for r in rows[:pairs]))


def write_config(path: Path, folder: Path, engines: int, pooled: bool) -> Path:
    blocks = [f'db = "{folder / (path.stem + ".duckdb")}"', 'reference = "e1"',
              f'shards_url = "{folder / "shared"}"', "[checks.saturation]\nblocking = false",
              f'[[sample_sets]]\nname = "bench"\npath = "{folder / "pairs.jsonl"}"']
    for i in range(1, engines + 1):
        pool = f'\nwork_pool = "pool-{i}"' if pooled else ""
        blocks.append(f'[[engines]]\nname = "e{i}"\nkind = "st-bi"\nmodel = "{MINILM}"{pool}')
    path.write_text("\n\n".join(blocks) + "\n")
    return path


def timed(command: list[str], env: dict, log: Path) -> float:
    started = time.perf_counter()
    with log.open("w") as out:
        done = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                              timeout=3600, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(command[1:3])} exited {done.returncode}; see {log}")
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", type=int, default=2)
    parser.add_argument("--pairs", type=int, default=6000)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per engine")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rerankwatch-fanout-") as tmp:
        folder = Path(tmp)
        write_pairs(folder / "pairs.jsonl", args.pairs)
        port = free_port()
        api = f"http://127.0.0.1:{port}/api"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env.update(PREFECT_HOME=str(folder / "prefect"), PREFECT_API_URL=api,
                   PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1",
                   PREFECT_SERVER_UI_ENABLED="false", HF_HUB_OFFLINE="1",
                   RERANKWATCH_HOME=str(folder / "home"), OMP_NUM_THREADS=str(args.threads),
                   PREFECT_WORKER_QUERY_SECONDS="1", PREFECT_WORKER_PREFETCH_SECONDS="5")
        processes = [start([sys.executable, "-m", "prefect", "server", "start", "--host",
                            "127.0.0.1", "--port", str(port)], env, folder / "server.log")]
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    with urllib.request.urlopen(f"{api}/health", timeout=5):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        sys.exit(f"the Prefect server did not start; see {folder}/server.log")
                    time.sleep(1)
            rw = str(BIN / "rerankwatch")
            warm = write_config(folder / "warm.toml", folder, args.engines, pooled=True)
            subprocess.run([rw, "deploy", "--config", str(warm)], env=env, check=True,
                           stdout=subprocess.DEVNULL, timeout=600)
            for i in range(1, args.engines + 1):
                processes.append(start([sys.executable, "-m", "prefect", "worker", "start",
                                        "--pool", f"pool-{i}", "--name", f"worker-{i}"],
                                       env, folder / f"worker-{i}.log"))
            timed([rw, "score", "--config", str(warm)], env, folder / "warm.log")
            pooled = timed([rw, "score", "--config", str(write_config(
                folder / "pooled.toml", folder, args.engines, pooled=True))], env,
                folder / "pooled.log")
            local = timed([rw, "score", "--config", str(write_config(
                folder / "local.toml", folder, args.engines, pooled=False))], env,
                folder / "local.log")
        finally:
            for process in reversed(processes):
                stop(process)
    print(f"fanout: {args.engines} engine configs × {args.pairs} pairs (MiniLM st-bi), "
          f"{os.cpu_count()} cores, {args.threads} torch thread(s) per engine config: "
          f"{args.engines} workers {pooled:.1f} s, one process {local:.1f} s, "
          f"ratio {pooled / local:.3f} (target ≤ 0.6)")


if __name__ == "__main__":
    main()
