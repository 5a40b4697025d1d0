"""History baselines and score scale, on real engine scores stored run after run.

Nights are whole runs (``pipeline.run.run_and_judge``: score, judge, accept when the suite
passes)
of the tiny fixture cross-encoder; a regression every engine shares is the shared-upgrade
fault injector (engines/faults.py), a logit shift on every engine alike.
"""

from __future__ import annotations

import polars as pl
import pytest
from typer.testing import CliRunner

from rerankwatch.checks.history_baseline import SAME_FINGERPRINT, changed_message, fingerprint_diff
from rerankwatch.cli import app as cli
from rerankwatch.core.config import RunConfig
from rerankwatch.core.records import FAILED, PASSED, SKIPPED
from rerankwatch.pipeline import run as sequence
from rerankwatch.pipeline.replay import TINY_CE, UNTRAINED
from rerankwatch.pipeline.replay_nights import HISTORY_CHECK, run_nights
from rerankwatch.store import Store


def night(db, engines: list[tuple[str, str, dict]], suite: str = "nightly",
          reference: str | None = None, checks: dict | None = None):
    """One whole run of ``engines`` given as (name, kind, extra config); returns (run, report)."""
    config = RunConfig.model_validate({
        "db": str(db), "reference": reference or engines[0][0],
        "sample_sets": [{"name": "golden_en", "path": "pkg:samples/golden_en.jsonl"}],
        "engines": [{"name": n, "kind": k, "model": TINY_CE, **extra}
                    for n, k, extra in engines],
        "checks": {**UNTRAINED, **(checks or {})}})
    return sequence.run_and_judge(config, "test", suite)


def shifted(kind: str, shift: float) -> dict:
    return {"wraps": kind, "options": {"logit_shift": shift}}


def results(report, check: str, engine: str | None = None) -> dict[str, object]:
    """{subject: result} of one check (on one engine)."""
    return {r.subject: r for r in report.results
            if r.check == check and (engine is None or r.engine == engine)}


CLEAN = [("ce", "st-cross", {}), ("ce-hf", "hf-seqcls", {})]


def test_a_regression_every_engine_shares_is_blocked_by_the_history_check_alone(tmp_path):
    outcome = run_nights(str(tmp_path / "nights.duckdb"), model=TINY_CE)
    first, second, third = outcome.reports
    assert results(first, HISTORY_CHECK, "nightly-ce")["last_accepted"].status == SKIPPED
    assert results(second, HISTORY_CHECK, "nightly-ce")["last_accepted"].status == PASSED
    assert results(second, HISTORY_CHECK, "nightly-ce")["last_accepted"].observed == 0.0
    assert third.blocked and outcome.caught_by == (HISTORY_CHECK,) and outcome.ok
    failed = results(third, HISTORY_CHECK, "nightly-ce-hf")["last_accepted"]
    assert failed.status == FAILED and failed.observed > 10 * failed.threshold
    assert failed.detail["fingerprint_changed"] == {"extra.fault": [None, "shared_upgrade"],
                                                    "extra.logit_shift": [None, "0.3"]}
    assert "extra.fault None → shared_upgrade" in failed.detail["message"]
    assert failed.detail["moved_share"] > 0.5 and failed.detail["kendall_tau_min"] == 1.0
    # the first accepted run is the pinned one: judged once while it is also the last
    assert "pinned" not in results(second, HISTORY_CHECK, "nightly-ce")
    assert results(third, HISTORY_CHECK, "nightly-ce")["pinned"].status == FAILED


def test_passing_nights_cannot_walk_the_baseline_away_in_small_steps(tmp_path):
    db = tmp_path / "walk.duckdb"
    night(db, [("ce", "st-cross", {})])  # pinned: the first accepted run
    _, step1 = night(db, [("ce", "replay-shared-upgrade", shifted("st-cross", 0.012))])
    _, step2 = night(db, [("ce", "replay-shared-upgrade", shifted("st-cross", 0.024))])
    one = results(step1, HISTORY_CHECK)
    assert not step1.blocked and one["last_accepted"].status == PASSED, one
    two = results(step2, HISTORY_CHECK)
    assert two["last_accepted"].status == PASSED  # each step is small ...
    assert two["pinned"].status == FAILED  # ... but two of them are not, against the pin
    assert two["pinned"].observed > two["pinned"].threshold > two["last_accepted"].observed
    assert step2.failing_checks == [HISTORY_CHECK]


def test_an_intended_change_is_accepted_by_hand_and_recorded(tmp_path):
    db = tmp_path / "accept.duckdb"
    night(db, [("ce", "st-cross", {})])
    upgraded = [("ce", "replay-shared-upgrade", shifted("st-cross", 0.3))]
    run_id, blocked = night(db, upgraded)
    # a single engine: its scale is also held to its accepted run (no reference to compare)
    assert blocked.failing_checks == [HISTORY_CHECK, "score_scale"]
    runner = CliRunner()
    answer = runner.invoke(cli, ["baseline", "accept", run_id, "--db", str(db), "--reason",
                                 "new tokenizer, reviewed", "--by", "ana"])
    assert answer.exit_code == 0, answer.output
    assert "accepted run" in answer.output and "ce" in answer.output
    _, after = night(db, upgraded)
    assert not after.blocked
    assert results(after, HISTORY_CHECK)["last_accepted"].detail["accepted"]["by"] == "ana"
    with Store(db) as store:
        history = store.sql("select * from baseline_history")
    manual = history.filter(pl.col("how") == "manual").row(0, named=True)
    assert manual["run_id"] == run_id and manual["accepted_by"] == "ana" and manual["pinned"]
    assert manual["reason"] == "new tokenizer, reviewed"
    assert history.filter(pl.col("how") == "suite passed").height == 2  # nights 1 and 3
    listed = runner.invoke(cli, ["baseline", "history", "--db", str(db), "--engine", "ce"])
    assert listed.exit_code == 0 and "manual pinned  by ana: new tokenizer" in listed.output


def test_accepting_a_run_again_is_a_no_op_naming_who_accepted_it(tmp_path):
    """A second accept of the run that is already an engine's newest pinned acceptance adds
    nothing (exit 0, who and when); accepting an older run after a newer one is a roll back,
    recorded."""
    db = tmp_path / "twice.duckdb"
    first_run, _ = night(db, [("ce", "st-cross", {})])  # accepted automatically, pinned
    upgraded, _ = night(db, [("ce", "replay-shared-upgrade", shifted("st-cross", 0.3))])
    runner = CliRunner()

    def accept(run_id: str, by: str):
        return runner.invoke(cli, ["baseline", "accept", run_id, "--db", str(db), "--reason",
                                   "reviewed", "--by", by])

    def rows(run_id: str) -> list[tuple]:
        with Store(db) as store:
            return store.sql(f"select accepted_by, accepted_at from baseline_acceptances "
                             f"where run_id = '{run_id}' order by accepted_at").rows()

    assert accept(upgraded, "ana").exit_code == 0
    (by, at), = rows(upgraded)
    again = accept(upgraded, "bob")
    assert again.exit_code == 0, again.output
    assert again.output.strip() == (f"run {upgraded}: ce already accepted by ana at "
                                    f"{at:%Y-%m-%d %H:%M:%S} (nothing recorded)")
    assert rows(upgraded) == [(by, at)]
    with Store(db) as store:  # the insert holds the same rule (two accepts racing)
        assert store.accept_run(upgraded, ["ce"], "zed", "x", manual=True) == []
    # the first run was the pinned baseline, then the upgrade: accepting it again rolls back
    back = accept(first_run, "bob")
    assert back.exit_code == 0 and "accepted run" in back.output, back.output
    assert [who for who, _ in rows(first_run)] == ["rerankwatch", "bob"]
    assert "already accepted by bob" in accept(first_run, "carl").output
    assert [who for who, _ in rows(first_run)] == ["rerankwatch", "bob"]


@pytest.mark.parametrize("argv, message", [
    (["RUN", "--reason", "x"], "no run 'RUN'"),
    (["{run}", "--reason", "x", "--engine", "nope"], "has no engine config 'nope'"),
    (["{run}", "--reason", "  "], "--reason is required"),
])
def test_accept_refuses_what_it_cannot_accept_with_exit_2(tmp_path, argv, message):
    db = tmp_path / "refuse.duckdb"
    run_id, _ = night(db, [("ce", "st-cross", {})])
    answer = CliRunner().invoke(cli, ["baseline", "accept", *[a.format(run=run_id) for a in argv],
                                      "--db", str(db)])
    assert answer.exit_code == 2 and message in answer.output, answer.output
    missing = CliRunner().invoke(cli, ["baseline", "accept", run_id, "--reason", "x", "--db",
                                       str(tmp_path / "none.duckdb")])
    assert missing.exit_code == 2 and "no such database" in missing.output


def test_a_gate_holds_the_candidate_to_the_baselines_accepted_history(tmp_path):
    db = tmp_path / "gate.duckdb"
    night(db, CLEAN)  # accepts ce (and ce-hf)
    _, clean = night(db, [("ce", "st-cross", {}), ("cand", "hf-seqcls", {})], suite="gate")
    held = results(clean, HISTORY_CHECK, "cand")["last_accepted"]
    assert held.status == PASSED and held.other_engine == "ce"
    _, shared = night(db, [("ce", "replay-shared-upgrade", shifted("st-cross", 0.3)),
                           ("cand2", "replay-shared-upgrade", shifted("hf-seqcls", 0.3))],
                      suite="gate")
    assert results(shared, HISTORY_CHECK, "cand2")["last_accepted"].status == FAILED
    assert shared.failing_checks == [HISTORY_CHECK]  # the two still agree with each other


def test_a_passing_gate_approves_its_candidate_and_leaves_the_baselines_alone(tmp_path):
    db = tmp_path / "approve.duckdb"
    nightly_run, _ = night(db, CLEAN)
    gate_run, passed = night(db, [("ce", "st-cross", {}), ("cand", "hf-seqcls", {})],
                             suite="gate")
    assert not passed.blocked
    with Store(db) as store:
        accepted = store.sql("select engine_name, run_id from baseline_acceptances "
                             "order by engine_name").rows()
        approved = store.sql("select engine_name, run_id, baseline_engine_name "
                             "from gate_approvals").rows()
    assert accepted == [("ce", nightly_run), ("ce-hf", nightly_run)]  # the gate added none
    assert approved == [("cand", gate_run, "ce")]
    runner = CliRunner()
    listed = runner.invoke(cli, ["baseline", "history", "--db", str(db)])
    assert listed.exit_code == 0, listed.output
    assert f"cand  {gate_run} (test)  approved in gate run {gate_run}" in listed.output

    promoted = runner.invoke(cli, ["baseline", "accept", gate_run, "--db", str(db),
                                   "--reason", "candidate goes to production", "--by", "ana"])
    assert promoted.exit_code == 0, promoted.output
    assert promoted.output.strip().endswith("pinned baseline of: cand")  # not its reference
    _, later = night(db, [("cand", "hf-seqcls", {})])
    held = results(later, HISTORY_CHECK, "cand")["last_accepted"]
    assert held.status == PASSED and held.detail["accepted"]["by"] == "ana"


def test_fingerprint_diff_names_what_changed():
    diff = fingerprint_diff('{"dtype": "float32", "versions": {"torch": "2.14"}}',
                            '{"dtype": "float32", "versions": {"torch": "2.13"}}')
    assert diff == {"versions.torch": ["2.13", "2.14"]}
    assert changed_message({}) == SAME_FINGERPRINT


# --------------------------------------------------------------------------- score scale


def test_score_scale_passes_engines_on_one_scale(tmp_path):
    _, report = night(tmp_path / "scale.duckdb", CLEAN)
    scale = results(report, "score_scale", "ce-hf")
    assert {s: r.status for s, r in scale.items()} == {
        "spread_ratio": PASSED, "top_rung_mean": PASSED, "irrelevant_mean": PASSED}
    assert scale["spread_ratio"].observed == pytest.approx(1.0, abs=1e-3)


def test_score_scale_fails_a_uniform_shift_and_a_stretch(tmp_path):
    db = tmp_path / "scale.duckdb"
    _, report = night(db, [("ce", "st-cross", {}),
                           ("ce-up", "replay-shared-upgrade", shifted("st-cross", 2.0)),
                           ("ce-logits", "replay-raw-logits", {})])
    up = results(report, "score_scale", "ce-up")
    assert up["top_rung_mean"].status == FAILED and up["irrelevant_mean"].status == FAILED
    assert "shifted by" in up["top_rung_mean"].detail["message"]
    stretched = results(report, "score_scale", "ce-logits")["spread_ratio"]
    assert stretched.status == FAILED and stretched.observed > 2
    assert "stretched" in stretched.detail["message"]


def test_a_single_engine_is_scaled_against_its_accepted_history(tmp_path):
    db = tmp_path / "single.duckdb"
    _, first = night(db, [("ce", "st-cross", {})])
    assert results(first, "score_scale")["spread_ratio"].status == SKIPPED
    _, same = night(db, [("ce", "st-cross", {})])
    assert results(same, "score_scale")["spread_ratio"].status == PASSED
    _, logits = night(db, [("ce", "replay-raw-logits", {})])
    scale = results(logits, "score_scale")["spread_ratio"]
    assert scale.status == FAILED and "accepted run" in scale.detail["compared_with"]


def test_an_engine_name_reused_for_another_model_starts_its_own_history(tmp_path):
    """Two configs sharing a store (the embedded default and the demo cross-encoder's both name
    an engine 'vllm-fp32'): the second model is not held to the first one's scores."""
    from tests.support.configs import MINILM

    db = tmp_path / "shared.duckdb"
    _, first = night(db, [("ce", "st-cross", {}), ("shared", "hf-seqcls", {})])
    assert not first.blocked
    _, second = night(db, [("bi", "st-bi", {"model": MINILM}),
                           ("shared", "hf-bi", {"model": MINILM})])
    history = results(second, HISTORY_CHECK, "shared")
    assert history["last_accepted"].status == SKIPPED, history
    assert not second.blocked, [r for r in second.results if r.blocks]
    night(db, [("ce", "st-cross", {}), ("shared", "hf-seqcls", {})])  # its model accepted again
    _, third = night(db, [("ce", "st-cross", {}),
                          ("shared", "replay-shared-upgrade", shifted("hf-seqcls", 0.3))])
    held = results(third, HISTORY_CHECK, "shared")["last_accepted"]  # its own model's history
    assert held.status == FAILED and held.observed > 10 * held.threshold, held
