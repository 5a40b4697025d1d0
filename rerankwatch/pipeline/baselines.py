"""Accepting a run's scores as history baselines (a passing nightly, or by hand), recording a
passing gate's approval, and listing both."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl

from rerankwatch.core.errors import BaselineError
from rerankwatch.core.store_spec import store_exists
from rerankwatch.store import Store, open_store, reader_wait_s

ACCEPT_WAIT_S = 120.0  # as long as scoring waits for the store
GATE_SUITE = "gate"  # its pass approves the candidate; it accepts no baseline


def record_pass(store: Store, run_id: str, suite: str, engine_names: Sequence[str],
                reference: str | None, by: str) -> list[str]:
    """What a passing suite records. A gate's: its candidates approved in this gate run
    (gate_approvals), nothing for its reference, so the accepted baselines of the nightly
    engines stay as they were (`rerankwatch baseline accept` promotes a candidate). Any other
    suite's: each engine config's scores become its history baseline. Returns the names."""
    reason = f"{suite} suite passed"
    if suite == GATE_SUITE:
        candidates = [name for name in engine_names if name != reference]
        return store.approve_gate_run(run_id, candidates, reference, by, reason, suite=suite)
    return store.accept_run(run_id, engine_names, by, reason, manual=False, suite=suite)


@dataclass(frozen=True, slots=True)
class Standing:
    """An engine config whose newest pinned acceptance already is the run accepted again."""

    engine_name: str
    accepted_by: str
    accepted_at: datetime


@dataclass(frozen=True, slots=True)
class Accepted:
    """What `baseline accept` did: the engine configs it pinned, and those it left as they
    were because the run already is their newest pinned baseline (a repeated accept)."""

    accepted: list[str]
    already: list[Standing]


def accept(db: str | Path, run_id: str, engines: list[str] | None, accepted_by: str,
           reason: str) -> Accepted:
    """Accept (pin) engine configs of a stored run as their history baselines: an intended
    change, reviewed like a snapshot. ``engines``: these names (default every engine config
    that succeeded in the run; in a gate run, every one but its reference: the candidate is
    promoted). An engine config whose newest pinned acceptance already is this run is left
    alone (accepting twice records once). BaselineError names what is wrong."""
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
        gate = store.query("q_gate_run_reference", run_id=run_id)
        wanted = engines or ([n for n in ok if n != gate["reference"][0]] if gate.height
                             else ok)
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
        standing = store.query("q_standing_acceptances", run_id=run_id, engines=wanted)
        already = [Standing(**row) for row in standing.iter_rows(named=True)]
        rest = [n for n in wanted if n not in set(standing["engine_name"].to_list())]
        accepted = (store.accept_run(run_id, rest, accepted_by, reason.strip(), manual=True)
                    if rest else [])
        return Accepted(accepted, already)


def history(db: str | Path, engine: str | None = None) -> pl.DataFrame:
    """The baseline_history view (every acceptance and gate approval, newest first), for one
    engine name or all."""
    if not store_exists(db):
        raise BaselineError(f"no such database: {db}")
    with open_store(db, mode="read", wait_s=reader_wait_s()) as store:
        present = store.query("q_tables_present",
                              names=["baseline_acceptances", "gate_approvals"])
        if present["found"][0] < 2:
            raise BaselineError(f"{db} holds no baseline yet (written by an older rerankwatch: "
                                f"a scoring command migrates it)")
        return store.query("q_baseline_history", engine=engine)
