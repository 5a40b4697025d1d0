"""`rerankwatch store`: move a history between stores."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rerankwatch.core.errors import ConfigError, StorageError

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="The store itself: copy a DuckDB file's history into a DuckLake store.")


@app.command()
def copy(
    source: Annotated[Path, typer.Option("--from", help="The DuckDB file to copy from.")],
    target: Annotated[str, typer.Option(
        "--to", help="The store to copy into: ducklake:sqlite:PATH, ducklake:postgres:CONNINFO "
                     "(or another DuckDB file); it must hold no run yet.")],
    data_path: Annotated[str | None, typer.Option(
        "--data-path", help="Where a new lake keeps its data: a path or s3://bucket/prefix "
                            "(default: $RERANKWATCH_DATA_PATH; a SQLite lake: beside it).")]
    = None,
) -> None:
    """Copy every table in one transaction, then check each row by row (nothing is kept if a
    row differs). Exit 2: bad input, or the copy failed and nothing was written."""
    from rerankwatch.core.store_spec import check_lake, is_lake
    from rerankwatch.store.copy import copy_store

    try:
        if is_lake(target):
            check_lake(target)
        copied = copy_store(source, target, data_path, progress=typer.echo)
    except (StorageError, ConfigError, ValueError) as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    total = sum(t.rows for t in copied)
    typer.echo(f"copied {total} rows in {len(copied)} tables from {source} to {target}; "
               f"every row checked")
