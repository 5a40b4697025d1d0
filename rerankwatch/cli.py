"""The `rerankwatch` command line."""

from __future__ import annotations

from typing import Annotated

import typer

from rerankwatch import prefect_env
from rerankwatch.errors import RerankwatchError
from rerankwatch.sql_cli import sql

prefect_env.apply()
app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)

ConfigOpt = Annotated[str | None, typer.Option("--config", "-c",
                      help="Run config (TOML). Default: the embedded all-MiniLM-L6-v2 config.")]
DbOpt = Annotated[str | None, typer.Option("--db", help="DuckDB file (overrides the config).")]


@app.callback()
def _root() -> None:
    """Batch scoring and regression monitoring for reranker engines."""


def _fail(message: str, code: int = 1) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _check_config(config: str | None) -> None:
    from rerankwatch.config import load_config

    try:
        load_config(config)  # a bad config fails here, before Prefect starts
    except RerankwatchError as exc:
        _fail(str(exc), 2)


def _finish(state, what: str) -> None:
    if not state.is_completed():
        _fail(state.message or f"the {what} flow failed")


@app.command()
def score(config: ConfigOpt = None, db: DbOpt = None) -> None:
    """Score every configured engine config on its sample sets and store the results."""
    _check_config(config)
    from flows.score_matrix import score_matrix

    _finish(score_matrix(config, db, return_state=True), "score-matrix")


@app.command()
def nightly(config: ConfigOpt = None, db: DbOpt = None) -> None:
    """Score everything, run the suite; exit 1 when a blocking check fails."""
    _check_config(config)
    from flows.nightly import nightly as nightly_flow

    _finish(nightly_flow(config, db, return_state=True), "nightly")


@app.command()
def gate(
    baseline: Annotated[str, typer.Option(help="Engine name in the config (the reference).")],
    candidate: Annotated[str, typer.Option(help="Engine name in the config to judge.")],
    config: ConfigOpt = None, db: DbOpt = None,
) -> None:
    """Judge a candidate engine against a baseline: exit 0 on PASS, 1 on BLOCKED."""
    _check_config(config)
    from rerankwatch.config import load_config
    from rerankwatch.judging import gate_config

    try:
        gate_config(load_config(config), baseline, candidate)
    except RerankwatchError as exc:
        _fail(str(exc), 2)
    from flows.upgrade_gate import upgrade_gate

    _finish(upgrade_gate(baseline, candidate, config, db, return_state=True), "upgrade-gate")
    typer.secho("PASS", fg=typer.colors.GREEN, bold=True)


@app.command()
def replay(
    db: Annotated[str, typer.Option(help="DuckDB file for the replay runs.")] = "replay.duckdb",
    only: Annotated[list[str] | None, typer.Option(help="Run only these replays.")] = None,
) -> None:
    """Replay every known incident against the embedded default and the fixture cross-encoder."""
    from rerankwatch import views
    from rerankwatch.replay import run_replays

    try:
        outcomes = run_replays(db, only)
    except ValueError as exc:
        _fail(str(exc), 2)
    views.print_replays(outcomes)
    if not all(o.ok for o in outcomes):
        _fail("a replay was not caught, or a clean control was blocked")


@app.command()
def report(
    run: Annotated[str, typer.Option(help="Run id, or 'latest' judged run.")] = "latest",
    db: Annotated[str, typer.Option(help="DuckDB file.")] = "rerankwatch.duckdb",
    out: Annotated[str | None, typer.Option(help="HTML file (default: reports/<run>.html "
                                                 "next to the DB).")] = None,
    nights: Annotated[int, typer.Option(help="Runs shown in the agreement trend.")] = 14,
) -> None:
    """Write one self-contained HTML report: verdict, check table and plots."""
    from rerankwatch.report import write_report

    try:
        path = write_report(db, run, out, nights)
    except RerankwatchError as exc:
        _fail(str(exc), 2)
    typer.echo(f"report written: {path}")


app.command("sql")(sql)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
