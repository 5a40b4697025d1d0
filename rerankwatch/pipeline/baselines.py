"""Accepting a run's scores as history baselines by hand, and listing the acceptances."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from rerankwatch.core.errors import BaselineError
from rerankwatch.core.store_spec import store_exists
from rerankwatch.store import open_store, reader_wait_s

ACCEPT_WAIT_S = 120.0  # as long as scoring waits for the store


def accept(db: str | Path, run_id: str, engines: list[str] | None, accepted_by: str,
           reason: str) -> list[str]:
    """Accept (pin) engine configs of a stored run as their history baselines: an intended
    change, reviewed like a snapshot. ``engines``: these names (default every engine config
    that succeeded in the run). Returns the names accepted; BaselineError names what is wrong."""
    if not store_exists(db):
        raise BaselineError(f"no such database: {db}")
    if not reason.strip():
        raise BaselineError("--reason is required: say why this change is intended")
    with open_store(db, wait_s=ACCEPT_WAIT_S) as store:
        run = store.run(run_id)
        if run is None:
            raise BaselineError(f"no run {run_id!r} in {db}")
        status = store.query("q_run_engine_status", run_id=run_id)
        ok = status.filter(pl.col("status") == "succeeded")["engine_name"].to_list()
        wanted = engines or ok
        unknown = [n for n in wanted if n not in status["engine_name"].to_list()]
        if unknown:
            raise BaselineError(f"run {run_id!r} has no engine config {unknown[0]!r}; its "
                                f"engine configs: {status['engine_name'].to_list()}")
        failed = [n for n in wanted if n not in ok]
        if failed:
            raise BaselineError(f"engine config {failed[0]!r} did not succeed in run "
                                f"{run_id!r}: only scores it completed can be accepted")
        if not wanted:
            raise BaselineError(f"run {run_id!r} has no engine config that succeeded")
        return store.accept_run(run_id, wanted, accepted_by, reason.strip(), manual=True)


def history(db: str | Path, engine: str | None = None) -> pl.DataFrame:
    """The baseline_history view (every acceptance, newest first), for one engine name or all."""
    if not store_exists(db):
        raise BaselineError(f"no such database: {db}")
    with open_store(db, mode="read", wait_s=reader_wait_s()) as store:
        present = store.query("q_tables_present", names=["baseline_acceptances"])
        if not present["found"][0]:
            raise BaselineError(f"{db} holds no baseline yet (written by an older rerankwatch: "
                                f"a scoring command migrates it)")
        return store.query("q_baseline_history", engine=engine)
