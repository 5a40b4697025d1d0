"""rerankwatch's environment variables, in one place: ``RERANKWATCH_<FIELD>`` sets each field.

``settings()`` reads the environment each time it is called (cheap), so a variable set after
import (a test's monkeypatch, the CLI's ``--debug``) is seen. Each field keeps the meaning the
variable always had: an empty value counts as unset where it always did. Two numbers are kept
as the text given (``lock_wait_s``, ``storage_timeout_s``): a malformed value fails only the
command that uses it, with that command's own message, never every command. Variables that are
not ours (``HF_HUB_OFFLINE``, ``PREFECT_*``, ``AWS_*``, ``PGPASSWORD``) are read where they are
used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_TORCH_PIN = "torch==2.13.0"  # constraints.txt's pin


def _unset_if_empty(value):
    return None if value == "" else value


def _stripped_or_unset(value):
    return (value.strip() or None) if isinstance(value, str) else value


def _stripped(value):
    return value.strip() if isinstance(value, str) else value


def _switch(value):  # "1", "yes", anything but "" or "0": on (as the variable always read)
    return str(value).strip() not in ("", "0") if isinstance(value, str) else value


class Settings(BaseSettings):
    """The ``RERANKWATCH_*`` environment variables (README names each where it matters)."""

    model_config = SettingsConfigDict(env_prefix="RERANKWATCH_", extra="ignore")

    home: Annotated[Path | None, BeforeValidator(_unset_if_empty)] = Field(
        None, description="RERANKWATCH_HOME: the home folder (the default store, lakes' "
                          "reports, Prefect's home); unset or empty: ~/.rerankwatch")
    db: Annotated[str | None, BeforeValidator(_stripped_or_unset)] = Field(
        None, description="RERANKWATCH_DB: the store of every command that names none (a "
                          "DuckDB path or a ducklake:... spec, e.g. a team's lake); unset or "
                          "blank: <home>/rerankwatch.duckdb")
    data_path: Annotated[str | None, BeforeValidator(_unset_if_empty)] = Field(
        None, description="RERANKWATCH_DATA_PATH: where a new DuckLake store keeps its data "
                          "(an s3:// prefix or a shared folder) when no --data-path is given")
    cache: Path = Field(
        default_factory=lambda: Path.home() / ".cache" / "rerankwatch",
        description="RERANKWATCH_CACHE: built models, engine environments and exports; "
                    "default ~/.cache/rerankwatch")
    demo_budget: Annotated[str, BeforeValidator(lambda v: v or "full")] = Field(
        "full", description="RERANKWATCH_DEMO_BUDGET: which build of the demo cross-encoder "
                            "embedded:demo-cross-encoder loads and build-demo-model builds "
                            "(full, smoke); unset or empty: full")
    torch_pin: str = Field(
        DEFAULT_TORCH_PIN, description="RERANKWATCH_TORCH_PIN: the torch requirement every "
                                       "isolated engine environment is constrained to")
    lock_wait_s: Annotated[str, BeforeValidator(_stripped)] = Field(
        "", description="RERANKWATCH_LOCK_WAIT_S: seconds (0 or more) a reader (sql, report) "
                        "waits while a writer holds a DuckDB store; unset or blank: 30. Kept "
                        "as given: store.reader_wait_s parses it and names a bad value")
    storage_timeout_s: str = Field(
        "20", description="RERANKWATCH_STORAGE_TIMEOUT_S: seconds each S3 request of the "
                          "shared storage may take (connect and request). Kept as given: "
                          "store/shared.py parses it where S3 is used")
    debug: Annotated[bool, BeforeValidator(_switch)] = Field(
        False, description="RERANKWATCH_DEBUG: anything but empty or 0 shows tracebacks "
                           "(as --debug does) and logs an engine's traceback where it failed")
    notify_block: Annotated[str, BeforeValidator(_stripped)] = Field(
        "", description="RERANKWATCH_NOTIFY_BLOCK: the Prefect notification block "
                        "('<block-type-slug>/<name>') a nightly run's failure is sent to")
    webhook_url: Annotated[SecretStr, BeforeValidator(_stripped)] = Field(
        SecretStr(""), description="RERANKWATCH_WEBHOOK_URL: an http(s) URL a nightly run's "
                                   "failure is POSTed to as JSON (no block set); never logged")
    report_url: str = Field(
        "", description="RERANKWATCH_REPORT_URL: the http(s) address of the folder that serves "
                        "stored HTML reports: a report's link is <url>/<run>.html")
    nightly_timezone: Annotated[str, BeforeValidator(lambda v: v or "UTC")] = Field(
        "UTC", description="RERANKWATCH_NIGHTLY_TIMEZONE: the IANA timezone of the deployed "
                           "nightly schedule (rerankwatch deploy --timezone wins); default UTC")


def settings() -> Settings:
    """The environment's settings, read now (a fresh model each call: tests set variables)."""
    return Settings()
