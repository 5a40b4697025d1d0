"""The RERANKWATCH_* environment variables, read through one settings model (core/settings.py):
each variable keeps its name and the meaning it always had, and is read when asked for."""

from __future__ import annotations

from pathlib import Path

import pytest

from rerankwatch.core.home import DB_ENV, HOME_ENV, db_or_default, home_dir
from rerankwatch.core.models import CACHE_ENV, cache_dir
from rerankwatch.core.settings import DEFAULT_TORCH_PIN, Settings, settings
from rerankwatch.core.store_spec import DATA_PATH_ENV
from rerankwatch.engines.fixtures import DEMO_BUDGET_ENV
from rerankwatch.store import LOCK_WAIT_ENV
from rerankwatch.store.shared import TIMEOUT_ENV

NAMED = {HOME_ENV: "home", DB_ENV: "db", CACHE_ENV: "cache", DATA_PATH_ENV: "data_path",
         DEMO_BUDGET_ENV: "demo_budget", LOCK_WAIT_ENV: "lock_wait_s",
         TIMEOUT_ENV: "storage_timeout_s"}


def test_every_variable_the_code_names_is_a_documented_field() -> None:
    for variable, field in NAMED.items():
        assert variable == f"RERANKWATCH_{field.upper()}"
        assert variable in Settings.model_fields[field].description
    for name, field in Settings.model_fields.items():
        assert field.description.startswith(f"RERANKWATCH_{name.upper()}:"), name


def test_variables_are_read_when_asked_for(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    assert home_dir() == tmp_path / "home" and cache_dir() == tmp_path / "cache"
    monkeypatch.setenv(HOME_ENV, "~/rw")
    assert home_dir() == Path.home() / "rw"
    monkeypatch.setenv(HOME_ENV, "")  # empty: unset, as always
    assert home_dir() == Path.home() / ".rerankwatch"


def test_empty_and_blank_values_keep_their_old_meaning(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in (DB_ENV, DATA_PATH_ENV, DEMO_BUDGET_ENV, "RERANKWATCH_TORCH_PIN",
                     "RERANKWATCH_DEBUG", "RERANKWATCH_NOTIFY_BLOCK", "RERANKWATCH_WEBHOOK_URL"):
        monkeypatch.delenv(variable, raising=False)
    found = settings()
    assert (found.db, found.data_path, found.demo_budget, found.torch_pin, found.debug) == (
        None, None, "full", DEFAULT_TORCH_PIN, False)
    monkeypatch.setenv(DB_ENV, "   ")
    monkeypatch.setenv(DEMO_BUDGET_ENV, "")
    monkeypatch.setenv(DATA_PATH_ENV, "")
    monkeypatch.setenv("RERANKWATCH_NOTIFY_BLOCK", "  custom-webhook/x  ")
    found = settings()
    assert (found.db, found.data_path, found.demo_budget, found.notify_block) == (
        None, None, "full", "custom-webhook/x")
    assert db_or_default(None) == home_dir() / "rerankwatch.duckdb"
    for value, on in (("1", True), ("yes", True), ("false", True), ("0", False), (" ", False)):
        monkeypatch.setenv("RERANKWATCH_DEBUG", value)  # anything but empty or 0 is on
        assert settings().debug is on, value


def test_a_malformed_number_fails_only_where_it_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LOCK_WAIT_ENV, "soon")
    monkeypatch.setenv(TIMEOUT_ENV, "later")
    found = settings()  # every other command still runs
    assert (found.lock_wait_s, found.storage_timeout_s) == ("soon", "later")


def test_the_webhook_url_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RERANKWATCH_WEBHOOK_URL", " https://hooks.example/x?token=SECRET ")
    found = settings()
    assert "SECRET" not in repr(found) and "SECRET" not in str(found)
    assert found.webhook_url.get_secret_value() == "https://hooks.example/x?token=SECRET"
