"""`rerankwatch baseline`: accept a run's scores as history baselines by hand, list them."""

from __future__ import annotations

import getpass
import os
from typing import Annotated

import typer

from rerankwatch.cli.errors import fail
from rerankwatch.cli.options import StoreConfigOpt, StoreDbOpt, store_db
from rerankwatch.cli.sql import fail_busy
from rerankwatch.core.errors import RerankwatchError, StoreBusy

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="History baselines: accept an intended change, list acceptances.")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container): the uid
        return f"uid {os.getuid()}"


@app.command()
def accept(
    run: Annotated[str, typer.Argument(help="Run id whose scores become the baseline.")],
    reason: Annotated[str, typer.Option(help="Why this change is intended (recorded).")],
    engine: Annotated[list[str] | None, typer.Option(
        help="Only this engine config (repeatable; default: every one that succeeded; in a "
             "gate run, its candidate).")] = None,
    by: Annotated[str | None, typer.Option(help="Who accepts (default: the login name).")]
    = None,
    db: StoreDbOpt = None,
    config: StoreConfigOpt = None,
) -> None:
    """Accept a run as the pinned history baseline of its engine configs (an intended change,
    like reviewing a snapshot): later runs are held to it. Given a gate run, this promotes its
    candidate (a passing gate only records it as approved)."""
    from rerankwatch.pipeline import baselines

    try:
        done = baselines.accept(store_db(db, config), run, engine, by or _user(), reason)
    except StoreBusy as exc:
        fail_busy(exc)
    except RerankwatchError as exc:  # BaselineError, a file that is no store
        fail(str(exc), 2, raw=True)
    for standing in done.already:  # accepted twice: recorded once (exit 0)
        typer.echo(f"run {run}: {standing.engine_name} already accepted by "
                   f"{standing.accepted_by} at {standing.accepted_at:%Y-%m-%d %H:%M:%S} "
                   f"(nothing recorded)")
    if done.accepted:
        typer.echo(f"accepted run {run} as the pinned baseline of: {', '.join(done.accepted)}")


@app.command()
def history(
    engine: Annotated[str | None, typer.Option(help="Only this engine config.")] = None,
    db: StoreDbOpt = None,
    config: StoreConfigOpt = None,
) -> None:
    """Every acceptance and gate approval, newest first (the baseline_history view), with the
    run's flow."""
    from rerankwatch.pipeline import baselines

    try:
        frame = baselines.history(store_db(db, config), engine)
    except StoreBusy as exc:
        fail_busy(exc)
    except RerankwatchError as exc:  # BaselineError, a file that is no store
        fail(str(exc), 2, raw=True)
    if frame.is_empty():
        typer.echo("no acceptance yet" + (f" of {engine!r}" if engine else ""))
        return
    for row in frame.iter_rows(named=True):
        pinned = " pinned" if row["pinned"] else ""
        typer.echo(f"{row['accepted_at']:%Y-%m-%d %H:%M:%S}  {row['engine_name']}  "
                   f"{row['run_id']} ({row['flow']})  {row['how']}{pinned}  "
                   f"by {row['accepted_by']}"
                   + (f": {row['reason']}" if row["reason"] else ""))
