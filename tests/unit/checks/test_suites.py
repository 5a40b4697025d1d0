"""Suites and verdicts: a clean pair passes, an incident blocks, a failed engine or a crashing
check is an error, results round-trip through the store.

The bench these tests read: tests/support/check_bench.py."""

from __future__ import annotations

import json

import polars as pl
import pytest

import rerankwatch.checks.finite
from rerankwatch.checks import CHECKS, check_class
from rerankwatch.checks.base import ERROR, FAILED, PASSED, SKIPPED, CheckResult
from rerankwatch.checks.suites import SUITES, run_suite
from rerankwatch.core.records import NOT_JUDGED, SuiteReport
from rerankwatch.store import Store
from tests.support.check_bench import (
    UNTRAINED,
    Bench,
)

# --------------------------------------------------------------------------- suites and verdicts


def result(status: str, blocking: bool = True) -> CheckResult:
    return CheckResult("finite", "e", "values", status, blocking)


@pytest.mark.parametrize("statuses,verdict", [
    ([PASSED, SKIPPED], "PASS"),
    ([PASSED, FAILED], "BLOCKED"),
    ([PASSED, ERROR], "ERROR"),  # a crashed check: the run could not be judged
    ([ERROR, FAILED], "BLOCKED"),  # a regression seen on what was judged wins
    ([PASSED, NOT_JUDGED], "PASS"),  # the engine_errors (none here) make it ERROR
    ([], "PASS"),
])
def test_suite_report_verdict(statuses: list[str], verdict: str) -> None:
    report = SuiteReport("r", "gate", "ref", tuple(result(s) for s in statuses))
    assert report.verdict == verdict
    assert report.exit_code == {"PASS": 0, "BLOCKED": 1, "ERROR": 3}[verdict]
    assert report.failing_checks == (["finite"] if verdict != "PASS" else [])


def test_suite_report_non_blocking_failures_do_not_block() -> None:
    rows = (result(FAILED, blocking=False), result(ERROR, blocking=False), result(PASSED))
    report = SuiteReport("r", "gate", "ref", rows)
    assert report.verdict == "PASS" and report.failing == [] and not report.blocked


def test_run_suite_clean_pair_passes_with_non_blocking_failures(bench: Bench) -> None:
    data = bench.suite("ce", "ce", "ce-hf")
    report = run_suite(data, UNTRAINED, suite="gate")
    assert report.suite == "gate" and report.reference == "ce" and report.run_id == data.run_id
    assert {r.check for r in report.results} == set(SUITES["gate"])
    assert not [r for r in report.results if r.status == ERROR]
    advisory = [r for r in report.results if r.status == FAILED]
    assert advisory and {r.check for r in advisory} <= set(UNTRAINED)
    assert all(not r.blocking for r in advisory)
    assert report.verdict == "PASS" and report.failing_checks == []

    blocked = run_suite(data)  # the same failures, blocking by default
    assert blocked.verdict == "BLOCKED"
    assert blocked.failing_checks == sorted({r.check for r in advisory})


def test_run_suite_blocks_on_an_incident(bench: Bench) -> None:
    report = run_suite(bench.suite("ce", "ce", "ce-softmax"), UNTRAINED)
    assert report.verdict == "BLOCKED"
    assert {"saturation", "engine_agreement"} <= set(report.failing_checks)
    assert all(r.engine == "ce-softmax" for r in report.failing)


def test_run_suite_records_error_for_a_failed_engine(bench: Bench) -> None:
    error = "PrecisionUnsupportedError: float16 is not supported on cpu"
    data = bench.suite("ce", "ce", "ce-hf", failed={"ce-fp16": error})
    report = run_suite(data, UNTRAINED)
    unjudged = [r for r in report.results if r.engine == "ce-fp16"]
    assert sorted(r.check for r in unjudged) == sorted(CHECKS)  # every check, once
    for r in unjudged:
        assert r.status == NOT_JUDGED and r.subject == "*"
        assert r.blocking == (r.check not in UNTRAINED)  # each check's own blocking flag
        # the cause is said once, in the report's engine_errors, not on every check
        assert r.detail["reason"] == "engine ce-fp16 could not score"
    assert report.engine_errors == (("ce-fp16", error),)
    # the engines that did score are judged as usual
    assert not [r for r in report.results if r.engine != "ce-fp16" and r.status == ERROR]
    assert report.verdict == "ERROR" and report.exit_code == 3
    assert report.failing == [] and report.failing_checks == []


def test_run_suite_failed_reference_errors_checks_that_need_it(bench: Bench) -> None:
    data = bench.suite("ref-fp16", "ce", "ce-hf", failed={"ref-fp16": "RuntimeError: boom"})
    report = run_suite(data, UNTRAINED)
    for name in CHECKS:
        rows = [r for r in report.results if r.check == name]
        ref_rows = [r for r in rows if r.engine == "ref-fp16"]
        assert [r.status for r in ref_rows] == [NOT_JUDGED]
        if check_class(name).needs_reference:
            others = [r for r in rows if r.engine != "ref-fp16"]
            assert sorted(r.engine for r in others) == ["ce", "ce-hf"]
            for r in others:
                assert r.status == NOT_JUDGED and r.other_engine == "ref-fp16"
                assert r.detail["reason"] == "the reference engine ref-fp16 could not score"
        else:  # judged on the engines that scored
            assert {r.engine for r in rows} >= {"ce", "ce-hf"}
    determinism = [r for r in report.results if r.check == "determinism" and r.engine == "ce"]
    assert determinism and all(r.status == PASSED for r in determinism)
    assert report.verdict == "ERROR"


def test_run_suite_records_error_for_a_crashing_check(bench: Bench,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(self, data, params, judge):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(rerankwatch.checks.finite.Finite, "run", boom)
    report = run_suite(bench.suite("ce", "ce", "ce-hf"), {**UNTRAINED, "finite": {}})
    (crash,) = [r for r in report.results if r.check == "finite"]
    assert crash.status == ERROR and crash.engine is None and crash.subject == "*"
    assert crash.detail["reason"] == "RuntimeError: kaboom" and crash.blocking
    assert report.verdict == "ERROR" and report.failing_checks == ["finite"]

    lenient = run_suite(bench.suite("ce", "ce", "ce-hf"),
                        {**UNTRAINED, "finite": {"blocking": False}})
    (crash,) = [r for r in lenient.results if r.check == "finite"]
    assert crash.status == ERROR and not crash.blocking
    assert lenient.verdict == "PASS"


def test_check_results_round_trip_through_the_store(bench: Bench, store: Store) -> None:
    data = bench.suite("ce", "ce", "ce-softmax")
    report = run_suite(data, UNTRAINED)
    store.write_check_results(report)
    stored = store.sql("select * from check_results where run_id = $r", r=data.run_id)
    assert stored.height == len(report.results)
    saturated = stored.filter((pl.col("check_name") == "saturation")
                              & (pl.col("engine_name") == "ce-softmax")
                              & (pl.col("subject") == "saturated_share")).row(0, named=True)
    assert saturated["status"] == FAILED and saturated["observed"] == 1.0
    assert json.loads(saturated["detail"])["examples"][0]["score"] == 1.0
    verdict = store.sql("select * from verdicts where run_id = $r", r=data.run_id).row(
        0, named=True)
    assert verdict["verdict"] == "BLOCKED" and verdict["candidates"] == ["ce-softmax"]
    assert "saturation" in verdict["failing_checks"]
