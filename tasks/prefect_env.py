"""Prefect settings rerankwatch needs, applied before prefect is imported (env wins)."""

import os
from pathlib import Path

DEFAULTS = {
    "PREFECT_HOME": str(Path.home() / ".rerankwatch" / "prefect"),
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
}


def apply() -> None:
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)
