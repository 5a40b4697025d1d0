"""Isolated engine environments: one venv per requirement set, built once under the cache.

A venv lives in ``<cache>/envs/<name>-<key>``; the key hashes the requirements, the packages to
uninstall, the torch pin and the Python version, so a changed requirement builds a new venv and
an unchanged one is reused (across runs, and across CI steps that share the cache). pip installs
the requirements constrained to our torch pin (a local CPU wheel here), in one resolution.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import filelock

from rerankwatch.core.config import EnvironmentConfig
from rerankwatch.core.errors import RerankwatchError
from rerankwatch.core.models import cache_dir
from rerankwatch.core.settings import settings

LOG = logging.getLogger("rerankwatch.environments")
# what engines/worker.py imports, with the rerankwatch modules it loads
# (tests/contract/test_worker_requirements.py keeps this list whole)
WORKER_REQUIREMENTS = ("numpy", "pyarrow", "pydantic>=2", "pydantic-settings>=2", "filelock")
READY = ".ready"


class EnvironmentBuildError(RerankwatchError):
    """pip could not build an isolated engine environment."""


def torch_pin() -> str:
    """The torch requirement every venv is constrained to (``RERANKWATCH_TORCH_PIN`` or the
    pin in constraints.txt)."""
    return settings().torch_pin


def environment_key(env: EnvironmentConfig) -> str:
    recipe = {"requirements": env.requirements, "uninstall": env.uninstall,
              "worker": WORKER_REQUIREMENTS, "torch": torch_pin(),
              "python": f"{sys.version_info.major}.{sys.version_info.minor}"}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


def environment_dir(env: EnvironmentConfig) -> Path:
    return cache_dir() / "envs" / f"{env.name}-{environment_key(env)}"


def environment_python(env: EnvironmentConfig) -> Path:
    return environment_dir(env) / "bin" / "python"


def _locked(path: Path) -> filelock.FileLock:
    """An exclusive lock file: two processes never build the same venv at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return filelock.FileLock(path)  # blocking: waits as long as the other build takes


def _pip(python: Path, args: list[str], log: Path, env: EnvironmentConfig) -> None:
    command = [str(python), "-m", "pip", *args]
    with log.open("a") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    if result.returncode:
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-15:])
        raise EnvironmentBuildError(
            f"environment {env.name!r}: pip {args[0]} failed (exit {result.returncode}); "
            f"requirements {env.requirements}; last lines of the pip log:\n{tail}")


def ensure_environment(env: EnvironmentConfig) -> Path:
    """The venv's python, building the venv first if needed (once per machine and recipe)."""
    target = environment_dir(env)
    python = target / "bin" / "python"
    if (target / READY).exists():
        return python
    with _locked(target.with_name(target.name + ".lock")):
        if (target / READY).exists():  # another process built it while we waited
            return python
        shutil.rmtree(target, ignore_errors=True)  # a half-built venv from a crash
        started = time.perf_counter()
        LOG.warning("building environment %r in %s (pip, once per machine) ...", env.name, target)
        subprocess.run([sys.executable, "-m", "venv", str(target)], check=True)
        log = target / "install.log"
        constraints = target / "constraints.txt"
        constraints.write_text(torch_pin() + "\n")
        try:
            _pip(python, ["install", "--quiet", "-c", str(constraints), torch_pin(),
                          *env.requirements, *WORKER_REQUIREMENTS], log, env)
            if env.uninstall:
                _pip(python, ["uninstall", "--yes", *env.uninstall], log, env)
        except EnvironmentBuildError:
            shutil.copy(log, target.with_name(target.name + ".failed.log"))
            shutil.rmtree(target, ignore_errors=True)  # never half-ready
            raise
        (target / READY).write_text(json.dumps(
            {"requirements": env.requirements, "seconds": round(time.perf_counter() - started)}))
        LOG.warning("environment %r ready in %.0f s", env.name, time.perf_counter() - started)
    return python
