"""A real `prefect server start` on 127.0.0.1 for the server tests, and the helpers they share:
bounded waits, commands run in their own process group, stops by process group."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

SERVER_START_S = 120
COMMAND_S = 180


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


