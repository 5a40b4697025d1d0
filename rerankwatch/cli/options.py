"""The store options every reading command shares (`sql`, `report`, `baseline`, `store`):
``--db`` and ``-c CONFIG``, resolved by ``core.home.db_or_default`` (--db > the config's db >
$RERANKWATCH_DB > the home store)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rerankwatch.cli.errors import fail
from rerankwatch.core.errors import RerankwatchError
from rerankwatch.core.home import db_or_default

StoreDbOpt = Annotated[str | None, typer.Option(
    "--db", help="DuckDB file or ducklake:... store. Default: the -c config's db, else "
                 "$RERANKWATCH_DB, else $RERANKWATCH_HOME/rerankwatch.duckdb.")]
StoreConfigOpt = Annotated[str | None, typer.Option(
    "--config", "-c", help="Run config (TOML) whose db is the store (--db overrides it).")]


def load_store_config(config: str | None):
    """The validated run config named by -c (None without one); a bad one exits 2."""
    if config is None:
        return None
    from rerankwatch.pipeline import load_config

    try:
        return load_config(config)
    except RerankwatchError as exc:
        fail(f"-c {config}: {exc}", 2, raw=True)


def store_db(db: str | None, config: str | None) -> Path | str:
    """The store a command reads or writes: --db, the -c config's db, $RERANKWATCH_DB or the
    home store (db_or_default)."""
    loaded = load_store_config(config)
    return db_or_default(db, config_db=loaded.db if loaded is not None else None)
