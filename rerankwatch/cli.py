"""The `rerankwatch` command line."""

from __future__ import annotations

from typing import Annotated

import typer

from rerankwatch import prefect_env
from rerankwatch.errors import RerankwatchError

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


@app.command()
def score(config: ConfigOpt = None, db: DbOpt = None) -> None:
    """Score every configured engine config on its sample sets and store the results."""
    from rerankwatch.config import load_config

    try:
        load_config(config)  # a bad config fails here, before Prefect starts
    except RerankwatchError as exc:
        _fail(str(exc), 2)
    from flows.score_matrix import score_matrix

    state = score_matrix(config, db, return_state=True)
    if not state.is_completed():
        _fail(state.message or "the score-matrix flow failed")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
