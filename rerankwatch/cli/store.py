"""`rerankwatch store`: set a store up, check it, look after a lake, move a history over.

Exit codes: 0 done (check: everything ok), 2 bad input (a malformed spec, config or option),
3 the store or its storage is unreachable or broken (docs/commands.md: exit codes)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from rerankwatch.cli.errors import fail
from rerankwatch.cli.options import StoreConfigOpt, StoreDbOpt, load_store_config, store_db
from rerankwatch.core.errors import ConfigError, StorageError

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="The store itself: init, check, maintain (a lake's snapshots), copy a "
                       "DuckDB file's history into a DuckLake store.")
INFRA_EXIT = 3  # unreachable or broken storage: no judgement was possible
DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
DataPathOpt = Annotated[str | None, typer.Option(
    "--data-path", help="Where a new lake keeps its data: a path or s3://bucket/prefix "
                        "(default: the -c config's data_path, else $RERANKWATCH_DATA_PATH; a "
                        "SQLite lake: beside its catalog).")]


def _store(db: str | None, config: str | None) -> str:
    """The store, a malformed spec refused (exit 2)."""
    from rerankwatch.core.store_spec import check_lake, is_lake

    chosen = str(store_db(db, config))
    if is_lake(chosen):
        try:
            check_lake(chosen)
        except ValueError as exc:
            fail(f"--db: {exc}", 2)
    return chosen


@app.command()
def init(db: StoreDbOpt = None, config: StoreConfigOpt = None,
         data_path: DataPathOpt = None) -> None:
    """Create the store (a lake: its catalog, its data path checked writable, a missing S3
    bucket created where the credentials allow), migrated; print the environment a worker
    and a teammate need. Safe to repeat: an existing store is left as it is."""
    from rerankwatch.core.store_spec import shown_db
    from rerankwatch.store.admin import init_store

    chosen = _store(db, config)
    loaded = load_store_config(config)
    data_path = data_path or (loaded.data_path if loaded is not None else None)
    try:
        done = init_store(chosen, data_path)
    except ConfigError as exc:
        fail(str(exc), 2)
    except (StorageError, OSError) as exc:
        fail(str(exc), INFRA_EXIT)
    shown = shown_db(done.db)
    if done.created:
        typer.echo(f"created the store {shown}" + (f", data at {done.data_path}"
                                                    if done.data_path else ""))
    else:
        typer.echo(f"the store {shown} exists already (left as it is)"
                   + (f"; its data path {done.data_path} is writable" if done.data_path else ""))
    if done.bucket_created:
        typer.echo(f"created the bucket {done.bucket_created}")
    typer.echo("a worker and a teammate need this environment (set the secret ones "
               "yourself; never put them in the config):")
    for name in done.env:
        value = f"'{shown}'" if name == "RERANKWATCH_DB" else "…"
        typer.echo(f"  export {name}={value}")


@app.command()
def check(db: StoreDbOpt = None, config: StoreConfigOpt = None) -> None:
    """Check the store: versions, catalog, credentials, data path, schema; one line each.
    Exit 0 when all are ok, 3 when something is unreachable or broken, 2 for a bad spec."""
    from rerankwatch.store.admin import check_store

    findings = check_store(_store(db, config))
    for finding in findings:
        mark = typer.style("ok  ", fg=typer.colors.GREEN) if finding.ok else typer.style(
            "FAIL", fg=typer.colors.RED, bold=True)
        typer.echo(f"{mark} {finding.what}: {finding.detail}"
                   + (f"; fix: {finding.fix}" if finding.fix else ""))
    if not all(f.ok for f in findings):
        raise typer.Exit(INFRA_EXIT)


def parse_retention(value: str) -> timedelta:
    """``7d``, ``12h``, ``90m``, ``30s``, ``2w`` as a duration (typer.BadParameter: exit 2)."""
    found = DURATION.match(value)
    if found is None:
        raise typer.BadParameter(f"{value!r}: give a number and a unit, e.g. 7d, 12h, 30m")
    return timedelta(**{UNITS[found[2]]: int(found[1])})


@app.command()
def maintain(
    db: StoreDbOpt = None, config: StoreConfigOpt = None,
    retention: Annotated[str, typer.Option(
        help="Keep the snapshots younger than this (7d, 12h, 30m, 2w); --as-of reads only "
             "those (and the current one).")] = "7d",
) -> None:
    """Expire a lake's snapshots older than --retention, merge small data files, delete the
    files no kept snapshot reads. Nothing a kept snapshot reads is lost."""
    import duckdb

    from rerankwatch.store.admin import maintain_store

    keep = parse_retention(retention)
    chosen = _store(db, config)
    try:
        done = maintain_store(chosen, keep)
    except StorageError as exc:
        fail(str(exc), INFRA_EXIT if "DuckDB file" not in str(exc) else 2)
    except duckdb.Error as exc:
        fail(f"maintenance failed, nothing lost: {' '.join(str(exc).split())[:300]}; run it "
              f"again when no run is writing", INFRA_EXIT)
    if done.expired:
        ids = ", ".join(map(str, done.expired[:10])) + (", …" if len(done.expired) > 10 else "")
        typer.echo(f"expired {len(done.expired)} snapshot(s) older than {retention}: {ids}")
    else:
        typer.echo(f"no snapshot older than {retention} to expire")
    typer.echo(f"merged {done.merged_files} small data files; deleted {done.deleted_files} "
               f"files no kept snapshot reads")
    if done.oldest_kept is not None:
        snapshot, at = done.oldest_kept
        typer.echo(f"kept {done.kept} snapshots; the oldest, {snapshot}, is from "
                   f"{at:%Y-%m-%d %H:%M:%S %Z} (--as-of reads from there on)")



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
        fail(str(exc), 2, raw=True)
    total = sum(t.rows for t in copied)
    typer.echo(f"copied {total} rows in {len(copied)} tables from {source} to {target}; "
               f"every row checked")
