"""Prefect's temporary server, started so that it dies with the command that started it.

Without PREFECT_API_URL, Prefect 3 runs flows against a temporary server: a `python -m uvicorn
… prefect.server.api.server:create_app` subprocess that it stops at interpreter exit (atexit).
A command killed by SIGKILL (the OOM killer, `kill -9`) or by an unhandled SIGTERM runs no
atexit, so that server stayed up, re-parented to PID 1 and listening, for good.

Only the kernel acts when a process is SIGKILLed, so `start_bound_server` asks it to: the
server starts through a tiny launcher that sets PR_SET_PDEATHSIG (SIGKILL) and then execs
uvicorn in place (same pid, so Prefect's own stop still works). The signal follows the death of
the *thread* that forked the server, so the CLI starts it from its main thread, before any flow
runs, and registers it under the key Prefect's code looks the temporary server up by
(`SubprocessASGIServer()`, the way `prefect_test_harness` registers its own): every Prefect
client in the process then uses this server instead of spawning an unbound one from whichever
worker thread asks first. A launcher that finds its parent already gone exits at once.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from typing import Any

# runs in the server's process before uvicorn: die with the parent (argv[1] is its pid)
LAUNCHER = """
import ctypes, os, signal, sys
PR_SET_PDEATHSIG = 1
if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
    sys.exit(f"prctl(PR_SET_PDEATHSIG) failed: errno {ctypes.get_errno()}")
if os.getppid() != int(sys.argv[1]):
    sys.exit(1)  # the command died before prctl ran: nobody will stop this server
os.execv(sys.executable, [sys.executable, "-m", "uvicorn", *sys.argv[2:]])
"""


@functools.cache
def _bound_server_class():
    import subprocess

    import prefect
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import get_current_settings

    class BoundServer(SubprocessASGIServer):
        """SubprocessASGIServer whose uvicorn process gets SIGKILL when this process dies."""

        def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
            # Prefect 3.9's command and environment (SubprocessASGIServer._run_uvicorn_command),
            # behind the launcher; tests/e2e/test_orphans.py fails if this stops applying
            server_env = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
                          "PREFECT__SERVER_FINAL": "1"}
            return subprocess.Popen(
                args=[sys.executable, "-c", LAUNCHER, str(os.getpid()),
                      "--app-dir", str(prefect.__module_path__.parent),
                      "--factory", "prefect.server.api.server:create_app",
                      "--host", "127.0.0.1", "--port", str(self.port),
                      "--log-level", "error", "--lifespan", "on"],
                env={**os.environ, **server_env,
                     **get_current_settings().to_environment_variables(exclude_unset=True)})

    return SubprocessASGIServer, BoundServer


def start_bound_server() -> str | None:
    """Start the temporary server bound to this process; its API URL, or None when there is
    nothing to bind (PREFECT_API_URL names a server, ephemeral mode is off) or no way to
    (not Linux, not the main thread): Prefect then does as it always does."""
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    if settings.api.url or not settings.server.ephemeral.enabled or sys.platform != "linux":
        return None
    if threading.current_thread() is not threading.main_thread():
        return None
    base, bound = _bound_server_class()
    current = base._instances.get(None)
    if current is not None and current.running:
        return current.api_url  # started earlier in this process (a second flow)
    base._instances.pop(None, None)
    server = bound()  # registers itself under None: what Prefect's clients look up
    server.start()
    return server.api_url
