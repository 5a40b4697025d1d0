"""Prefect settings rerankwatch needs, applied before prefect is imported (env wins), and the
terminal side of Prefect's logging for a command run without --debug."""

import logging
import os
import re
from pathlib import Path

from rerankwatch.core.errors import ConfigError
from rerankwatch.core.home import home_dir

DEFAULTS = {
    "PREFECT_HOME": str(home_dir() / "prefect"),
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
}
RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")
FAILED_STATE = re.compile(r"Finished in state (Failed|Crashed|TimedOut)\b")


def apply() -> None:
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)


def ensure_home() -> Path:
    """PREFECT_HOME, created if missing (its parent must exist, unless it is our default
    under the rerankwatch home); ConfigError naming the folder otherwise. Prefect's temporary
    server cannot start without it, and said so only after its startup timeout, in a long log
    ending "Timed out while attempting to connect to ephemeral Prefect API server"."""
    home = Path(os.environ.get("PREFECT_HOME") or DEFAULTS["PREFECT_HOME"]).expanduser()
    ours = str(home) == DEFAULTS["PREFECT_HOME"]
    try:
        home.mkdir(parents=ours, exist_ok=True)
    except FileNotFoundError:
        raise ConfigError(f"PREFECT_HOME {home} could not be created: its parent folder "
                          f"{home.parent} does not exist (create it, or point PREFECT_HOME "
                          f"elsewhere)") from None
    except OSError as exc:
        raise ConfigError(f"PREFECT_HOME {home} could not be created: "
                          f"{exc.strerror or exc}") from None
    if not os.access(home, os.W_OK | os.X_OK):
        raise ConfigError(f"PREFECT_HOME {home} is not writable")
    return home


class _KeepRunFailuresOffTheTerminal(logging.Filter):
    """Drops Prefect's reports of a failed flow or task run (the exception with its traceback,
    the final Failed state): the CLI says the error once, in its `error:` line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(RUN_LOGGERS):
            return True
        return not record.exc_info and not FAILED_STATE.match(record.getMessage())


class _WithoutTraceback(logging.Formatter):
    """Formats a record as ``inner`` does, without its traceback (the record keeps it, for
    the handlers after this one)."""

    def __init__(self, inner: logging.Formatter):
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        try:
            return self.inner.format(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved


def quiet_console(handlers: list[logging.Handler] | None = None) -> None:
    """Keep tracebacks and Prefect's failure reports off the terminal (a command run without
    --debug). Only the console handlers change (by default the ones Prefect's logging config
    put on the root logger); Prefect's API log handler still gets every record whole, so the
    Prefect UI and its logs keep the traceback."""
    if handlers is None:
        from prefect.logging.configuration import ensure_logging_setup
        from prefect.logging.handlers import PrefectConsoleHandler

        ensure_logging_setup()
        handlers = [h for h in logging.getLogger().handlers
                    if isinstance(h, PrefectConsoleHandler)]
    for handler in handlers:
        if not any(isinstance(f, _KeepRunFailuresOffTheTerminal) for f in handler.filters):
            handler.addFilter(_KeepRunFailuresOffTheTerminal())
        if not isinstance(handler.formatter, _WithoutTraceback):
            handler.setFormatter(_WithoutTraceback(handler.formatter or logging.Formatter()))
