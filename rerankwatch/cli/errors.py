"""The CLI's one error path: an `error:` line on stderr, then the exit code.

Every command says a refused input or a failure the same way, through ``fail`` (or ``fail_with``
for an exception, whose traceback ``--debug`` shows first); ``say_error`` is the line alone, for
an error that does not end the command by itself.
"""

from __future__ import annotations

from typing import NoReturn

import typer

from rerankwatch.core.controls import visible

debug = False  # --debug / RERANKWATCH_DEBUG=1 (the root callback sets it): tracebacks too
last_error: str | None = None  # the last `error:` line said, for a refused command's CI report


def say_error(message: str, raw: bool = False) -> None:
    """One red `error:` line on stderr. An id, a path or a stored value in ``message`` never
    drives the terminal: its control characters are shown as escapes (``raw``: as they are)."""
    typer.secho(f"error: {message if raw else visible(message, keep=chr(10))}",
                fg=typer.colors.RED, err=True)


def fail(message: str, code: int = 1, raw: bool = False) -> NoReturn:
    """Say ``message`` (say_error), then exit ``code``."""
    global last_error
    last_error = message
    say_error(message, raw)
    raise typer.Exit(code)


def fail_with(exc: BaseException, code: int, message: str | None = None) -> NoReturn:
    """Exit ``code`` with one `error:` line (``message``, else the error's own); its traceback
    first only with --debug."""
    if debug:
        import traceback

        typer.echo("".join(traceback.format_exception(exc)).rstrip(), err=True)
    fail(message or str(exc), code)
