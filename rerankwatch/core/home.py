"""Where rerankwatch keeps its data: ``$RERANKWATCH_HOME`` (default ``~/.rerankwatch``).

The store (``rerankwatch.duckdb``), its reports (``reports/``) and score shards (next to the
store) live there when neither the run config nor the command names a ``db``, so neither a
scheduled deployment nor a command run from a checkout writes into the code. Prefect's own
home defaults to ``<home>/prefect``.
"""

from __future__ import annotations

from pathlib import Path

from rerankwatch.core.settings import settings

HOME_ENV = "RERANKWATCH_HOME"
DB_ENV = "RERANKWATCH_DB"  # the store of every command that names none (a team's lake)
STORE_NAME = "rerankwatch.duckdb"
REPLAY_STORE_NAME = "replay.duckdb"


def home_dir() -> Path:
    """``$RERANKWATCH_HOME``, else ``~/.rerankwatch`` (not created here)."""
    return Path(settings().home or Path.home() / ".rerankwatch").expanduser()


def default_db() -> Path:
    """The store used when no ``db`` is given: ``<home>/rerankwatch.duckdb``."""
    return home_dir() / STORE_NAME


def default_replay_db() -> Path:
    """The replays' store when no ``--db`` is given: ``<home>/replay.duckdb``."""
    return home_dir() / REPLAY_STORE_NAME


def db_or_default(db: str | Path | None, default: Path | None = None, *,
                  config_db: str | None = None) -> Path | str:
    """The store a command uses, the one place that decides it. Precedence: ``db`` (--db) >
    ``config_db`` (the run config's ``db``) > ``$RERANKWATCH_DB`` > ``default`` (the home
    store, ``default_db()``). A command with a store of its own (``default`` given: the
    replays') does not read ``$RERANKWATCH_DB``, so replays never land in a team's lake.

    A path comes back as a Path (``~`` expanded; relative: to the working directory), a
    DuckLake spec (``ducklake:...``, core/store_spec.py) as given."""
    env = None if default is not None else settings().db
    chosen = db or config_db or env
    if chosen is not None and str(chosen).startswith("ducklake:"):
        return str(chosen)
    return Path(chosen).expanduser() if chosen else default or default_db()
