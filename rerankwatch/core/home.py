"""Where rerankwatch keeps its data: ``$RERANKWATCH_HOME`` (default ``~/.rerankwatch``).

The store (``rerankwatch.duckdb``), its reports (``reports/``) and score shards (next to the
store) live there when neither the run config nor the command names a ``db``, so neither a
scheduled deployment nor a command run from a checkout writes into the code. Prefect's own
home defaults to ``<home>/prefect``.
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "RERANKWATCH_HOME"
STORE_NAME = "rerankwatch.duckdb"
REPLAY_STORE_NAME = "replay.duckdb"


def home_dir() -> Path:
    """``$RERANKWATCH_HOME``, else ``~/.rerankwatch`` (not created here)."""
    return Path(os.environ.get(HOME_ENV) or Path.home() / ".rerankwatch").expanduser()


def default_db() -> Path:
    """The store used when no ``db`` is given: ``<home>/rerankwatch.duckdb``."""
    return home_dir() / STORE_NAME


def default_replay_db() -> Path:
    """The replays' store when no ``--db`` is given: ``<home>/replay.duckdb``."""
    return home_dir() / REPLAY_STORE_NAME


def db_or_default(db: str | Path | None, default: Path | None = None) -> Path | str:
    """``db`` as a path (``~`` expanded; relative: to the working directory), a DuckLake spec
    (``ducklake:...``, core/store_spec.py) as given, or ``default`` (the store,
    ``default_db()``, unless given)."""
    if db is not None and str(db).startswith("ducklake:"):
        return str(db)
    return Path(db).expanduser() if db else default or default_db()
