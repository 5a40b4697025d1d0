"""History views (sql/views) and `rerankwatch sql` on a real DuckDB file with two hand-made runs."""

from __future__ import annotations

import importlib
import json
import time
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from rerankwatch.checks.base import CheckResult
from rerankwatch.cli import app
from rerankwatch.core.records import Fingerprint, ScoreBatch, SuiteReport
from rerankwatch.samples.loader import load_sample_set
from rerankwatch.store import Store
from tests.support.suite_runs import write_batches

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
# the module, not the command function `rerankwatch.cli` re-exports under the same name
sql_cli = importlib.import_module("rerankwatch.cli.sql")
OLD, NEW = "b-older", "a-newer"  # run_id order opposite to started_at: "latest" means by time
OLD_AT = datetime(2025, 1, 1, 2, 0, tzinfo=UTC)
NEW_AT = datetime(2025, 1, 2, 2, 30, tzinfo=UTC)

# main scores per (run, engine name), in pair order d1..d4; cand scores only d1..d3 in NEW
REF_OLD = [0.9, 0.6, 0.1, 0.5]
CAND_OLD = [0.8, 0.6, 0.3, 0.5]
REF_NEW = [0.85, 0.6, 0.1, 0.55]
CAND_NEW = [0.7, 0.5, 0.2]
RELOAD_NEW = [0.0, 0.0, 0.0, 0.0]  # a probe variant: every view must ignore it


def fingerprint(dtype: str) -> Fingerprint:
    return Fingerprint(kind="st-cross", model="tiny/ce", weights_sha256="cd" * 32, dtype=dtype,
                       device="cpu", pooling="cls", max_length=128, activation="sigmoid",
                       versions={"torch": "9.9.9"})


FP_REF, FP_CAND_OLD, FP_CAND_NEW = fingerprint("float32"), fingerprint("float16"), \
    fingerprint("bfloat16")


def batch(scores: list[float]) -> ScoreBatch:
    values = np.asarray(scores, dtype=np.float64)
    return ScoreBatch(values * 10, values, "sigmoid", np.zeros(len(values), dtype=np.int64),
                      (0.1,))


def result(check: str, engine: str | None, subject: str, status: str, observed: float,
           threshold: float, other: str | None = None) -> CheckResult:
    return CheckResult(check=check, engine=engine, subject=subject, status=status,
                       blocking=True, observed=observed, threshold=threshold,
                       detail={"note": "hand-built"}, other_engine=other)


def build_store(tmp_path: Path, new_flow: str) -> Path:
    """Two runs with reference "ref" (a nightly, then a ``new_flow`` run); "cand" changes
    fingerprint between them."""
    rows = [{"set_id": "s1", "query_id": "q1", "query": "How do I sell my shirt?",
             "doc_id": f"d{i}", "doc": doc, "label": label, "tags": tags, "lang": "en"}
            for i, (doc, label, tags) in enumerate([
                ("List it on a resale marketplace.", 3, ["ladder:shirt:1"]),
                ("Sell clothes online.", 2, ["ladder:shirt:2"]),
                ("Ketchup is made from tomatoes.", 0, ["ladder:shirt:3", "known_irrelevant"]),
                ("Shirts come in many sizes.", 1, []),
            ], start=1)]
    sample = tmp_path / "s1.jsonl"
    sample.write_text("".join(json.dumps(r) + "\n" for r in rows))
    pairs = load_sample_set(sample, expected_set_id="s1").sort("doc_id")
    ids = pairs["pair_id"].to_list()

    path = tmp_path / ("history.duckdb" if new_flow == "upgrade-gate"
                       else f"history-{new_flow}.duckdb")
    with Store(path) as store:
        store.add_pairs(pairs)
        old = store.start_run("nightly", {"reference": "ref"}, run_id=OLD)
        write_batches(store, old, "ref", FP_REF, [("main", ids, batch(REF_OLD))])
        write_batches(store, old, "cand", FP_CAND_OLD, [("main", ids, batch(CAND_OLD))])
        store.finish_run(old, "succeeded")
        store.write_check_results(SuiteReport(old, "nightly", "ref", (
            result("engine_agreement", "cand", "score_max_abs_delta", "passed", 0.2, 0.25,
                   other="ref"),
        )))
        store.write_check_results(SuiteReport(old, "gate", "ref", (  # no candidate judged
            result("finite", "ref", "scores", "passed", 0.0, 0.0),
        )))

        new = store.start_run(new_flow, {"reference": "ref"}, run_id=NEW)
        write_batches(store, new, "ref", FP_REF, [("main", ids, batch(REF_NEW)),
                                                ("reload", ids, batch(RELOAD_NEW))])
        write_batches(store, new, "cand", FP_CAND_NEW, [("main", ids[:3], batch(CAND_NEW))])
        store.record_engine_failure(new, "broken", "boom")
        store.finish_run(new, "failed", error="engine broken failed")
        store.write_check_results(SuiteReport(new, "gate", "ref", (
            result("engine_agreement", "cand", "score_max_abs_delta", "failed", 0.15, 0.02,
                   other="ref"),
            result("finite", "cand", "scores", "passed", 0.0, 0.0),
        )))
        for run_id, at in ((OLD, OLD_AT), (NEW, NEW_AT)):  # fixed times: nights are testable
            store.con.execute("update runs set started_at = $at where run_id = $r",
                              {"at": at, "r": run_id})
    return path


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A nightly run, then a gate run (upgrade-gate) of the same config."""
    return build_store(tmp_path, "upgrade-gate")


@pytest.fixture
def store(db_path: Path):
    with Store(db_path, read_only=True) as s:
        yield s


@pytest.fixture
def nightly_db_path(tmp_path: Path) -> Path:
    """The same two runs, both nightly: what the nightly-only views read."""
    return build_store(tmp_path, "nightly")


@pytest.fixture
def nightly_store(nightly_db_path: Path):
    with Store(nightly_db_path, read_only=True) as s:
        yield s


def doc_ids(frame: pl.DataFrame) -> list[str]:
    return frame["doc_id"].to_list()


# --------------------------------------------------------------------------- view files


def test_view_files_are_one_statement_each() -> None:
    for path in sorted((SQL_DIR / "views").glob("*.sql")):
        statements = duckdb.extract_statements(path.read_text())
        assert [s.type.name for s in statements] == ["CREATE"], path.name


def test_migrate_twice_keeps_history_views(db_path: Path) -> None:
    with Store(db_path) as again:
        again.migrate()
        views = set(again.sql("select view_name from duckdb_views() where not internal")
                    ["view_name"])
    assert {"latest_scores", "score_drift", "engine_agreement_history", "check_history",
            "upgrade_decisions"} <= views


# --------------------------------------------------------------------------- latest_scores


def test_latest_scores_takes_each_fingerprints_latest_successful_run(
        nightly_store: Store) -> None:
    latest = nightly_store.sql("select * from latest_scores order by engine_id, doc_id")
    assert latest.height == 4 + 4 + 3  # ref (new run), cand fp16 (old run), cand bf16 (new run)
    by_engine = latest.partition_by("engine_id", as_dict=True)

    ref = by_engine[(FP_REF.engine_id,)]
    assert set(ref["run_id"]) == {NEW}  # the later started_at, though its run_id sorts first
    assert ref["score"].to_list() == pytest.approx(REF_NEW)  # main only, not the reload probe
    assert set(ref["engine_name"]) == {"ref"}

    cand_old = by_engine[(FP_CAND_OLD.engine_id,)]
    assert set(cand_old["run_id"]) == {OLD}  # this fingerprint last succeeded in the old run
    assert cand_old["score"].to_list() == pytest.approx(CAND_OLD)
    assert set(cand_old["dtype"]) == {"float16"}

    cand_new = by_engine[(FP_CAND_NEW.engine_id,)]
    assert set(cand_new["run_id"]) == {NEW} and doc_ids(cand_new) == ["d1", "d2", "d3"]
    assert cand_new["score"].to_list() == pytest.approx(CAND_NEW)
    assert cand_new["logit"].to_list() == pytest.approx([s * 10 for s in CAND_NEW])

    # pair and engine columns come along
    assert doc_ids(ref) == ["d1", "d2", "d3", "d4"]
    assert ref["label"].to_list() == [3.0, 2.0, 0.0, 1.0]
    assert ref["known_irrelevant"].to_list() == [False, False, True, False]
    assert ref["ladder"].to_list() == ["shirt", "shirt", "shirt", None]
    assert ref["ladder_rank"].to_list() == [1, 2, 3, None]
    assert set(ref["set_id"]) == {"s1"} and set(ref["query_id"]) == {"q1"}
    assert set(latest["kind"]) == {"st-cross"} and set(latest["model"]) == {"tiny/ce"}
    assert set(ref["started_at"]) == {NEW_AT}
    assert set(latest["flow"]) == {"nightly"}


def test_latest_scores_reads_nightly_runs_only(store: Store) -> None:
    """A gate's candidate (here a rejected one) is not "what X scores today"."""
    latest = store.sql("select * from latest_scores order by engine_id, doc_id")
    assert latest.height == 4 + 4  # ref and cand fp16, both from the nightly run
    assert set(latest["run_id"]) == {OLD} and set(latest["flow"]) == {"nightly"}
    assert FP_CAND_NEW.engine_id not in set(latest["engine_id"])
    ref = latest.filter(pl.col("engine_id") == FP_REF.engine_id)
    assert ref["score"].to_list() == pytest.approx(REF_OLD)

    every = store.sql("select * from latest_scores_all_flows")
    assert every.group_by("flow", "run_id").len().sort("flow").rows() == [
        ("gate", NEW, 4 + 3), ("nightly", OLD, 4 + 4)]  # the latest run of each flow
    gate = every.filter(pl.col("engine_id") == FP_CAND_NEW.engine_id)
    assert set(gate["flow"]) == {"gate"} and gate["score"].to_list() == pytest.approx(CAND_NEW)


# --------------------------------------------------------------------------- score_drift


def test_score_drift_delta_prev_and_delta_reference(nightly_store: Store) -> None:
    drift = nightly_store.sql("select * from score_drift")
    assert drift.height == 4 + 4 + 4 + 3  # main scores only

    def rows(engine: str, run_id: str) -> pl.DataFrame:
        return drift.filter(pl.col("engine_name") == engine, pl.col("run_id") == run_id) \
            .sort("doc_id")

    old_ref, new_ref = rows("ref", OLD), rows("ref", NEW)
    old_cand, new_cand = rows("cand", OLD), rows("cand", NEW)
    assert old_ref["delta_prev"].null_count() == 4 and old_ref["previous_run_id"].null_count() == 4
    assert new_ref["delta_prev"].to_list() == pytest.approx(
        [n - o for n, o in zip(REF_NEW, REF_OLD, strict=True)])  # [-0.05, 0, 0, 0.05]
    assert set(new_ref["previous_run_id"]) == {OLD}
    assert new_cand["delta_prev"].to_list() == pytest.approx(
        [n - o for n, o in zip(CAND_NEW, CAND_OLD, strict=False)])  # [-0.1, -0.1, -0.1]
    assert new_cand["previous_score"].to_list() == pytest.approx(CAND_OLD[:3])
    assert new_cand["fingerprint_changed"].to_list() == [True] * 3
    assert new_ref["fingerprint_changed"].to_list() == [False] * 4

    assert old_cand["delta_reference"].to_list() == pytest.approx(
        [c - r for c, r in zip(CAND_OLD, REF_OLD, strict=True)])  # [-0.1, 0, 0.2, 0]
    assert new_cand["delta_reference"].to_list() == pytest.approx(
        [c - r for c, r in zip(CAND_NEW, REF_NEW, strict=False)])  # [-0.15, -0.1, 0.1]
    assert new_cand["reference_score"].to_list() == pytest.approx(REF_NEW[:3])
    assert set(drift["reference"]) == {"ref"}
    assert old_ref["delta_reference"].to_list() == pytest.approx([0.0] * 4)
    assert set(new_ref["started_at"]) == {NEW_AT} and doc_ids(new_ref) == ["d1", "d2", "d3", "d4"]
    assert set(drift["flow"]) == {"nightly"}


def test_score_drift_reads_nightly_runs_and_pairs_each_run_with_its_own_flow(
        store: Store) -> None:
    drift = store.sql("select * from score_drift")
    assert set(drift["run_id"]) == {OLD} and drift.height == 4 + 4
    every = store.sql("select * from score_drift_all_flows where run_id = $r", r=NEW)
    assert set(every["flow"]) == {"gate"} and every.height == 4 + 3
    # the gate run is not compared with the nightly before it: no earlier gate run
    assert every["previous_run_id"].null_count() == every.height
    assert every["delta_prev"].null_count() == every.height
    cand = every.filter(pl.col("engine_name") == "cand").sort("doc_id")
    assert cand["delta_reference"].to_list() == pytest.approx(
        [c - r for c, r in zip(CAND_NEW, REF_NEW, strict=False)])


# --------------------------------------------------------------------------- agreement


def test_engine_agreement_history_per_night(nightly_store: Store) -> None:
    history = nightly_store.sql("select * from engine_agreement_history order by night")
    assert history["engine_name"].to_list() == ["cand", "cand"]  # never the reference itself
    assert history["night"].to_list() == [date(2025, 1, 1), date(2025, 1, 2)]
    assert history["run_id"].to_list() == [OLD, NEW]
    assert history["reference"].to_list() == ["ref", "ref"]
    assert history["shared_pairs"].to_list() == [4, 3]  # cand scored 3 pairs in the new run
    old_delta = np.abs(np.subtract(CAND_OLD, REF_OLD))
    new_delta = np.abs(np.subtract(CAND_NEW, REF_NEW[:3]))
    assert history["max_abs_delta"].to_list() == pytest.approx([0.2, 0.15])
    assert history["p99_abs_delta"].to_list() == pytest.approx(
        [np.quantile(old_delta, 0.99), np.quantile(new_delta, 0.99)])  # 0.197, 0.149
    assert history["flow"].to_list() == ["nightly", "nightly"]


def test_engine_agreement_history_reads_nightly_runs_only(store: Store) -> None:
    history = store.sql("select run_id, flow from engine_agreement_history")
    assert history.rows() == [(OLD, "nightly")]
    every = store.sql("select run_id, flow, max_abs_delta from engine_agreement_history_all_flows "
                      "order by night")
    assert every.select("run_id", "flow").rows() == [(OLD, "nightly"), (NEW, "gate")]
    assert every["max_abs_delta"].to_list() == pytest.approx([0.2, 0.15])


def test_agreement_history_shows_a_run_once_it_finishes_and_follows_a_resume(
        db_path: Path) -> None:
    with Store(db_path) as store:
        ids = store.sql("select pair_id from sample_pairs order by doc_id")["pair_id"].to_list()
        run = store.start_run("nightly", {"reference": "ref"}, run_id="c-running")
        write_batches(store, run, "ref", FP_REF, [("main", ids, batch(REF_NEW))])
        write_batches(store, run, "cand", FP_CAND_NEW, [("main", ids[:1], batch([0.5]))])
        history = "select * from engine_agreement_history where run_id = 'c-running'"
        assert store.sql(history).is_empty()  # running: not summarized yet
        store.finish_run(run, "failed", error="killed")
        assert store.sql(history)["shared_pairs"].to_list() == [1]
        assert store.sql(history)["max_abs_delta"].to_list() == pytest.approx([0.35])

        store.reopen_run(run)  # resume scores the missing pairs, then finishes again
        write_batches(store, run, "cand", FP_CAND_NEW,
                      [("main", ids[1:], batch([0.6, 0.1, 0.5]))])
        store.finish_run(run, "succeeded")
        resumed = store.sql(history)
        assert resumed["shared_pairs"].to_list() == [4]  # replaced, not appended
        assert resumed["max_abs_delta"].to_list() == pytest.approx([0.35])


def test_a_store_from_before_run_agreement_is_summarized_once(db_path: Path) -> None:
    with Store(db_path) as store:
        expected = store.sql("select * from engine_agreement_history_all_flows "
                             "order by run_id")
        store.con.execute("drop view engine_agreement_history")
        store.con.execute("drop view engine_agreement_history_all_flows")
        store.con.execute("drop table run_agreement")
        store.con.execute("drop table store_migrations")  # older still: no migration record
    with Store(db_path) as store:  # migrate: creates the table and backfills finished runs
        backfilled = store.sql("select * from engine_agreement_history_all_flows "
                               "order by run_id")
    assert backfilled.height == 2
    assert backfilled.equals(expected)


# --------------------------------------------------------------------------- checks, verdicts


def test_check_history_joins_runs_and_tracks_previous_status(store: Store) -> None:
    history = store.sql("select * from check_history")
    assert history.height == 4
    agreement = history.filter(pl.col("check_name") == "engine_agreement").sort("started_at")
    assert agreement["run_id"].to_list() == [OLD, NEW]
    assert agreement["flow_name"].to_list() == ["nightly", "upgrade-gate"]
    assert agreement["flow"].to_list() == ["nightly", "gate"]
    assert agreement["started_at"].to_list() == [OLD_AT, NEW_AT]
    assert agreement["status"].to_list() == ["passed", "failed"]
    assert agreement["previous_status"].to_list() == [None, "passed"]
    assert agreement["observed"].to_list() == pytest.approx([0.2, 0.15])
    assert agreement["threshold"].to_list() == pytest.approx([0.25, 0.02])
    assert agreement["blocking"].to_list() == [True, True]
    assert set(agreement["subject"]) == {"score_max_abs_delta"}
    assert set(agreement["other_engine_name"]) == {"ref"}
    finite = history.filter(pl.col("check_name") == "finite").sort("engine_name")
    assert finite.select("engine_name", "run_id", "previous_status").rows() == [
        ("cand", NEW, None), ("ref", OLD, None)]  # another engine is another history


def test_upgrade_decisions_lists_gate_verdicts_only(store: Store) -> None:
    decisions = store.sql("select * from upgrade_decisions order by run_id")
    assert decisions.columns == ["run_id", "decided_at", "baseline", "candidate", "verdict",
                                 "failing_checks", "flow"]
    assert decisions.select("run_id", "baseline", "candidate", "verdict").rows() == [
        (NEW, "ref", "cand", "BLOCKED"),
        (OLD, "ref", None, "PASS"),  # a gate report that judged no candidate
    ]
    assert decisions["failing_checks"].to_list() == [["engine_agreement"], []]
    assert decisions["decided_at"].null_count() == 0
    assert decisions["flow"].to_list() == ["gate", "nightly"]  # the run's flow, not the suite


def test_the_report_trend_holds_runs_of_the_same_flow_config_and_reference(store: Store):
    """A gate's candidate never shows in the nightly's trend, nor the nightly's in the gate's."""
    for run_id, kept in ((NEW, [(NEW, "cand", 0.15)]), (OLD, [(OLD, "cand", 0.2)])):
        trend = store.query("q_agreement_trend", run_id=run_id, nights=14)
        assert trend.select("run_id", "engine_name", "observed").rows() == kept


def test_the_nights_of_a_replay_are_one_flow_in_the_report_trend(tmp_path: Path) -> None:
    path = build_store(tmp_path, "replay:nights:2")
    with Store(path) as store:
        store.con.execute("update runs set flow_name = 'replay:nights:1' where run_id = $r",
                          {"r": OLD})
        trend = store.query("q_agreement_trend", run_id=NEW, nights=14)
        flows = store.sql("select flow from v_runs order by started_at")["flow"].to_list()
    assert trend.select("run_id", "observed").rows() == [(OLD, 0.2), (NEW, 0.15)]
    assert flows == ["replay", "replay"]


def test_run_flows_in_short(db_path: Path) -> None:
    with Store(db_path) as store:
        for run_id, name in (("x1", "score-matrix"), ("x2", "replay:swap-args"), ("x3", "race")):
            store.start_run(name, {}, run_id=run_id)
        flows = dict(store.sql("select run_id, flow from v_runs").rows())
    assert flows == {OLD: "nightly", NEW: "gate", "x1": "score", "x2": "replay", "x3": "race"}


# --------------------------------------------------------------------------- migration


def test_a_store_from_before_gate_approvals_migrates(db_path: Path) -> None:
    """An older store (no gate_approvals, no flow in its views, run_drift paired across flows)
    gets the new table and views, and its drift rows written again per flow."""
    with Store(db_path) as store:
        for view in ("latest_scores", "score_drift", "engine_agreement_history",
                     "baseline_history", "check_history", "upgrade_decisions",
                     "latest_scores_all_flows", "score_drift_all_flows",
                     "engine_agreement_history_all_flows", "v_runs"):
            store.con.execute(f"drop view {view}")
        store.con.execute("drop table gate_approvals")
        store.con.execute("drop table store_migrations")
        # as the older statement wrote it: the gate run paired with the nightly before it
        store.con.execute("update run_drift set previous_run_id = $old where run_id = $new",
                          {"old": OLD, "new": NEW})
        store.con.execute("create view latest_scores as select 1 as old_view")
    with Store(db_path) as store:  # migrate
        present = store.query("q_tables_present", names=["gate_approvals", "store_migrations"])
        latest = store.sql("select distinct run_id, flow from latest_scores")
        paired = store.sql("select count(previous_run_id) as n from score_drift_all_flows "
                           "where run_id = $r", r=NEW)["n"][0]
        history = store.sql("select * from baseline_history")
    assert present["found"][0] == 2
    assert latest.rows() == [(OLD, "nightly")]
    assert paired == 0
    assert {"flow", "record", "how", "is_baseline"} <= set(history.columns)


# --------------------------------------------------------------------------- baselines


def test_a_gate_acceptance_from_before_gate_approvals_is_no_baseline(db_path: Path) -> None:
    """Older stores hold a passing gate's acceptance of both engines: listed, never a
    baseline; a nightly acceptance and a manual accept of the gate run still are."""
    with Store(db_path) as store:
        store.accept_run(OLD, ["ref", "cand"], "rerankwatch", "nightly suite passed",
                         suite="nightly")
        store.accept_run(NEW, ["ref", "cand"], "rerankwatch", "gate suite passed",
                         suite="gate")
        later = store.start_run("nightly", {"reference": "ref"}, run_id="z-later")
        baselines = store.query("q_history_baselines", run_id=later, engines=["ref", "cand"],
                                sources=["ref", "cand"])
        history = store.sql("select engine_name, run_id, flow, how, is_baseline "
                            "from baseline_history where run_id = $r order by engine_name",
                            r=NEW)
        assert set(baselines["baseline_run_id"]) == {OLD}
        store.accept_run(NEW, ["cand"], "ana", "reviewed", manual=True)
        promoted = store.query("q_history_baselines", run_id=later, engines=["cand"],
                               sources=["cand"])
    assert history.rows() == [
        ("cand", NEW, "gate", "gate suite passed (not a baseline)", False),
        ("ref", NEW, "gate", "gate suite passed (not a baseline)", False)]
    assert set(promoted["baseline_run_id"]) == {NEW}


def test_a_gate_approval_is_recorded_once_and_is_no_baseline(db_path: Path) -> None:
    with Store(db_path) as store:
        assert store.approve_gate_run(NEW, ["cand"], "ref", "rerankwatch", "gate suite passed") \
            == ["cand"]
        assert store.approve_gate_run(NEW, ["cand"], "ref", "rerankwatch", "again") == []
        later = store.start_run("nightly", {"reference": "ref"}, run_id="z-later")
        baselines = store.query("q_history_baselines", run_id=later, engines=["cand"],
                                sources=["cand"])
        history = store.query("q_baseline_history", engine=None)
    assert baselines.is_empty()
    assert history.select("engine_name", "run_id", "flow", "record", "how", "is_baseline",
                          "pinned").rows() == [
        ("cand", NEW, "gate", "gate-approval", f"approved in gate run {NEW}", False, False)]


# --------------------------------------------------------------------------- rerankwatch sql

runner = CliRunner()


def cli(*args: str):
    return runner.invoke(app, ["sql", *args])


def scores_count(db_path: Path) -> int:
    with Store(db_path, read_only=True) as s:
        return s.sql("select count(*) as n from scores")["n"][0]


def test_cli_prints_a_table(db_path: Path) -> None:
    got = cli("select engine_name, dtype, score from latest_scores_all_flows "
              "where engine_name = 'cand' order by score desc", "--db", str(db_path))
    assert got.exit_code == 0, got.output
    assert "engine_name" in got.output and "bfloat16" in got.output
    assert "0.8000" in got.output and "0.2000" in got.output
    assert "7 rows" in got.output


def test_cli_caps_the_printed_table(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sql_cli, "MAX_SHOWN", 2)
    got = cli("select range as n from range(5)", "--db", str(db_path))
    assert got.exit_code == 0, got.output
    assert "the first 2 of 5 rows" in got.output and "--out" in got.output


def test_cli_writes_csv(db_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "exports" / "decisions.csv"
    got = cli("select * from upgrade_decisions order by run_id", "--db", str(db_path),
              "--out", str(out))
    assert got.exit_code == 0, got.output
    assert "wrote 2 rows" in got.output
    frame = pl.read_csv(out)
    assert frame.select("run_id", "baseline", "candidate", "verdict").rows() == [
        (NEW, "ref", "cand", "BLOCKED"), (OLD, "ref", None, "PASS")]
    # list columns become JSON text in a CSV
    assert [json.loads(v) for v in frame["failing_checks"]] == [["engine_agreement"], []]


def test_cli_writes_parquet(nightly_db_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "drift.parquet"
    got = cli("select engine_name, run_id, doc_id, delta_prev from score_drift "
              "where engine_name = 'cand' and delta_prev is not null order by doc_id",
              "--db", str(nightly_db_path), "--out", str(out))
    assert got.exit_code == 0, got.output
    frame = pl.read_parquet(out)
    assert frame["doc_id"].to_list() == ["d1", "d2", "d3"]
    assert set(frame["run_id"]) == {NEW}
    assert frame["delta_prev"].to_list() == pytest.approx([-0.1, -0.1, -0.1])


def test_cli_reads_the_query_from_a_file(nightly_db_path: Path, tmp_path: Path) -> None:
    query = tmp_path / "agreement.sql"
    query.write_text("-- agreement trend\nselect night, engine_name, max_abs_delta\n"
                     "from engine_agreement_history\norder by night;\n")
    out = tmp_path / "agreement.csv"
    got = cli("--file", str(query), "--db", str(nightly_db_path), "--out", str(out))
    assert got.exit_code == 0, got.output
    frame = pl.read_csv(out, try_parse_dates=True)
    assert frame["night"].to_list() == [date(2025, 1, 1), date(2025, 1, 2)]
    assert frame["max_abs_delta"].to_list() == pytest.approx([0.2, 0.15])
    shown = cli("--file", str(query), "--db", str(nightly_db_path))
    assert shown.exit_code == 0 and "2025-01-02" in shown.output


@pytest.mark.parametrize("query", [
    "insert into runs (run_id, flow_name, started_at, status, config) "
    "values ('x', 'f', now(), 'running', '{}')",
    "drop table scores",
    "delete from scores",
    "select 1; delete from scores",
    "update runs set status = 'succeeded'",
    "create table t as select 1",
    "attach 'other.duckdb'",
    "copy scores to 'scores.csv'",
    "copy (select * from scores) to 'scores.parquet' (format parquet)",
    "pragma profiling_output = '{out}/profile.json'",  # (enable_profiling alone is allowed)
    "set threads = 1",
    "export database 'dump'",
    "install httpfs",
    "checkpoint",
])
def test_cli_refuses_writes(db_path: Path, query: str) -> None:
    got = cli(query, "--db", str(db_path))
    assert got.exit_code == 2, got.output
    assert "only SELECT" in got.output or "read-only" in got.output
    assert scores_count(db_path) == 15 + 4  # main + the reload probe, untouched


def test_read_only_store_is_the_second_line_of_defence(db_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sql_cli, "read_only_statement", lambda sql: sql)  # let a write through
    got = cli("delete from scores", "--db", str(db_path))
    assert got.exit_code == 2, got.output
    assert "read-only" in got.output and "Traceback" not in got.output
    assert scores_count(db_path) == 19


@pytest.mark.parametrize("query", [
    "insert into runs (run_id, flow_name, started_at, status, config) "
    "values ('x', 'f', now(), 'running', '{}')",
    "create table t as select 1",
    "copy scores to '{out}/scores.csv'",
    "explain analyze copy (select 1) to '{out}/explained.csv'",  # an EXPLAIN that writes
    "export database '{out}/dump'",
    "attach '{other}' as other",
    "select * from read_csv('{other}')",
    "pragma profiling_output = '{out}/profile.json'",  # (enable_profiling alone is allowed)
    "set enable_external_access = true",
    "load httpfs",
])
def test_the_sandboxed_connection_refuses_what_got_past_the_check(
        db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, query: str) -> None:
    """The connection itself (read-only, no file access, settings locked) refuses writes."""
    out = tmp_path / "out"
    out.mkdir()
    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).close()
    monkeypatch.setattr(sql_cli, "read_only_statement", lambda sql: sql)  # let it through
    got = cli(query.replace("{out}", str(out)).replace("{other}", str(other)),
              "--db", str(db_path))
    assert got.exit_code == 2, got.output
    assert "Traceback" not in got.output
    assert list(out.iterdir()) == []  # no file was written
    assert scores_count(db_path) == 19


def test_cli_missing_database(tmp_path: Path) -> None:
    missing = tmp_path / "nope.duckdb"
    got = cli("select 1", "--db", str(missing))
    assert got.exit_code == 2
    assert "no such database" in got.output
    assert not missing.exists()  # a read-only open never creates one


@pytest.mark.parametrize(("args", "message"), [
    (["selec 1"], "invalid SQL"),
    (["select * from no_such_view"], "no_such_view"),
    ([], "exactly one of"),
    (["select 1", "--file", "q.sql"], "exactly one of"),
    (["--file", "missing.sql"], "no such SQL file"),
    (["select 1", "--out", "rows.json"], "--out must end in"),
    (["  -- nothing\n"], "no SQL statement"),
])
def test_cli_invalid_usage_exits_2(db_path: Path, args: list[str], message: str) -> None:
    got = cli(*args, "--db", str(db_path))
    assert got.exit_code == 2, got.output
    assert message in got.output


# --------------------------------------------------------------------------- literal output

LINK = "[link=https://evil.example]click[/link]"


@pytest.fixture
def markup_db(tmp_path: Path) -> Path:
    """A store whose documents look like rich markup (an instruction-tuned prompt, a link)."""
    rows = [{"set_id": "s1", "query_id": "q1", "query": "[b]query", "doc_id": f"d{i}",
             "doc": doc, "label": 1, "tags": [], "lang": "en"}
            for i, doc in enumerate(["<s>[INST] Summarize. [/INST]", LINK, "[/x]"])]
    sample = tmp_path / "s1.jsonl"
    sample.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    path = tmp_path / "markup.duckdb"
    with Store(path) as store:
        store.add_pairs(load_sample_set(sample, expected_set_id="s1"))
    return path


@pytest.mark.parametrize(("query", "shown"), [
    ("select '[/x]' as v", ["[/x]"]),
    ("select doc from sample_pairs order by doc_id",
     ["<s>[INST] Summarize. [/INST]", LINK, "[/x]"]),
    (f"select '{LINK}' as v", [LINK]),
    ('select 1 as "[/x]", 2 as "[bold]h[/bold]", query from sample_pairs limit 1',
     ["[/x]", "[bold]h[/bold]", "[b]query"]),
])
def test_cli_prints_markup_like_values_and_names_literally(markup_db: Path, query: str,
                                                           shown: list[str]) -> None:
    got = cli(query, "--db", str(markup_db))
    assert got.exit_code == 0, got.output
    for literal in shown:
        assert literal in got.output


def test_cli_error_lines_are_literal(markup_db: Path) -> None:
    got = cli('select * from "[/x][link=https://evil.example]t[/link]"', "--db", str(markup_db))
    assert got.exit_code == 2, got.output
    assert "[/x][link=https://evil.example]t[/link]" in got.output


# --------------------------------------------------------------------------- large results

BIG_ROWS = 5_000_000
MAX_EXTRA_MB = 250  # over the command's own footprint; the 5 M rows take ~600 MB in a frame


@pytest.fixture(scope="module")
def big_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real store with a table of BIG_ROWS rows (an id, a text, a list, a float)."""
    path = tmp_path_factory.mktemp("big") / "big.duckdb"
    Store(path).close()
    con = duckdb.connect(str(path))
    con.execute(f"create table big as select range as n, 'pair-' || range || ' a document "
                f"of some words' as doc, [range % 7, range % 11] as ids, range * 0.5 as score "
                f"from range({BIG_ROWS})")
    con.close()
    return path


# Runs a command and prints its peak RSS in KB. Measured from this small process, not from
# pytest: Linux counts the RSS a child had before its exec, i.e. pytest's own, in ru_maxrss.
MEASURE = """
import resource, subprocess, sys
with open(sys.argv[1], "w") as log:
    done = subprocess.run(sys.argv[2:], stdout=log, stderr=subprocess.STDOUT)
print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def peak_mb(tmp_path: Path, *args: str) -> tuple[float, str]:
    """(peak RSS in MB, output) of the real `rerankwatch sql` in a process of its own."""
    import os
    import subprocess
    import sys

    command = Path(sys.executable).with_name("rerankwatch")  # the installed console script
    log = tmp_path / "sql.log"
    measured = subprocess.run([sys.executable, "-c", MEASURE, str(log), str(command), "sql",
                               *args], capture_output=True, text=True, check=True,
                              env={**os.environ, "COLUMNS": "120"})
    code, peak_kb = map(int, measured.stdout.split())
    text = log.read_text()
    assert code == 0, text
    return peak_kb / 1024, text


def test_cli_fetches_only_what_it_prints_or_streams_to_out(big_db: Path,
                                                           tmp_path: Path) -> None:
    own, _ = peak_mb(tmp_path, "select 1", "--db", str(big_db))

    printed, text = peak_mb(tmp_path, "select * from big", "--db", str(big_db))
    assert f"the first 1000 of {BIG_ROWS} rows" in text and "pair-999 " in text
    assert printed - own < MAX_EXTRA_MB, f"printing 1000 rows took {printed - own:.0f} MB"

    parquet = tmp_path / "big.parquet"
    written, text = peak_mb(tmp_path, "select * from big", "--db", str(big_db),
                            "--out", str(parquet))
    assert f"wrote {BIG_ROWS} rows" in text
    assert written - own < MAX_EXTRA_MB, f"--out .parquet took {written - own:.0f} MB"
    rows = pl.scan_parquet(parquet).select(pl.len(), pl.col("n").sum().alias("sum"),
                                           pl.col("n").n_unique()).collect().row(0)
    assert rows == (BIG_ROWS, BIG_ROWS * (BIG_ROWS - 1) // 2, BIG_ROWS)  # every row, once
    assert pl.read_parquet(parquet, n_rows=1)["ids"].to_list() == [[0, 0]]

    csv = tmp_path / "big.csv"
    written, text = peak_mb(tmp_path, "select n, doc from big", "--db", str(big_db),
                            "--out", str(csv))
    assert f"wrote {BIG_ROWS} rows" in text
    assert written - own < MAX_EXTRA_MB, f"--out .csv took {written - own:.0f} MB"
    rows = pl.scan_csv(csv).select(pl.len(), pl.col("n").sum()).collect().row(0)
    assert rows == (BIG_ROWS, BIG_ROWS * (BIG_ROWS - 1) // 2)


def test_cli_out_of_an_empty_result_keeps_the_columns(db_path: Path, tmp_path: Path) -> None:
    for name in ("empty.csv", "empty.parquet"):
        out = tmp_path / name
        got = cli("select run_id, failing_checks from upgrade_decisions where false",
                  "--db", str(db_path), "--out", str(out))
        assert got.exit_code == 0 and "wrote 0 rows" in got.output, got.output
        frame = pl.read_csv(out) if name.endswith(".csv") else pl.read_parquet(out)
        assert frame.columns == ["run_id", "failing_checks"] and frame.height == 0


def test_cli_query_failing_while_rows_stream_exits_2_and_writes_nothing(
        db_path: Path, tmp_path: Path) -> None:
    """DuckDB fails on row 300,000, after earlier batches streamed: the query's error (exit
    2), not the output file's, and no partial file."""
    query = ("select cast(case when range = 300000 then 'x' else '1' end as int) as v "
             "from range(1000000)")
    folder = tmp_path / "exports"
    folder.mkdir()
    for out in (folder / "v.parquet", folder / "v.csv", None):
        got = cli(query, "--db", str(db_path), *(["--out", str(out)] if out else []))
        assert got.exit_code == 2, got.output
        assert "Could not convert string 'x'" in got.output and "cannot write" not in got.output
        assert list(folder.iterdir()) == []


def test_cli_out_keeps_an_existing_file_unless_forced(db_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "trend.csv"
    out.write_text("precious\n")
    got = cli("select 1 as one", "--db", str(db_path), "--out", str(out))
    assert got.exit_code == 2, got.output
    assert got.output.strip() == f"error: {out} exists; pass --force to replace it"
    assert out.read_text() == "precious\n"
    got = cli("select 1 as one", "--db", str(db_path), "--out", str(out), "--force")
    assert got.exit_code == 0, got.output
    assert pl.read_csv(out)["one"].to_list() == [1]


@pytest.mark.parametrize("out", [None, "slow.csv", "slow.parquet"])
def test_cli_interrupts_a_query_past_its_timeout_with_exit_3(db_path: Path, tmp_path: Path,
                                                             out: str | None) -> None:
    started = time.monotonic()
    folder = tmp_path / "exports"
    extra = [] if out is None else ["--out", str(folder / out)]
    got = cli("select count(*) from range(100000000000) a, range(10) b", "--db", str(db_path),
              "--timeout", "0.5", *extra)
    assert got.exit_code == 3, got.output
    assert got.output.strip() == ("error: the query ran past its timeout of 0.5 s and was "
                                  "interrupted (--timeout S: a longer one; 0: none)")
    assert time.monotonic() - started < 15
    assert not folder.exists() or list(folder.iterdir()) == []  # no partial file
    assert cli("select 1", "--db", str(db_path), "--timeout", "30").exit_code == 0
