"""The CI reports (JUnit XML, JSON) of runs written to a real store, read back with junitparser."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from junitparser import Error, Failure, JUnitXml, Skipped

from rerankwatch.core.records import CheckResult, Fingerprint, SuiteReport
from rerankwatch.report.ci import FlowRun, build_ci_report, ci_json, write_ci_reports
from rerankwatch.store import Store

SECRET_URL = "https://user:hunter2@rerank.example/v1?api_key=sk-123"
FP = Fingerprint(kind="st-cross", model="fixture:tiny-cross-encoder", weights_sha256="ab" * 32,
                 dtype="float32", device="cpu", pooling="none", max_length=128,
                 activation="sigmoid", versions={"torch": "9.9.9"},
                 extra={"endpoint": SECRET_URL})
REVERSED = "arguments reversed"


def stored_run(db: Path, flow_run_id: str, results: tuple[CheckResult, ...],
               fail_candidate: bool = False) -> str:
    with Store(db) as store:
        run_id = store.start_run("upgrade-gate", {"reference": "base"}, flow_run_id)
        store.register_engine(FP)
        store.record_engine_success(run_id, "base", FP.engine_id)
        if fail_candidate:
            store.record_engine_failure(run_id, "cand", f"could not reach {SECRET_URL}\x1b[0m")
        else:
            store.record_engine_success(run_id, "cand", FP.engine_id)
        store.finish_run(run_id, "failed" if fail_candidate else "succeeded")
        failed = (("cand", "could not reach"),) if fail_candidate else ()
        store.write_check_results(SuiteReport(run_id, "gate", "base", results, failed))
    return run_id


BLOCKED_RESULTS = (
    CheckResult("argument_order", "cand", "matches_reference_swapped", "failed", True, 0.93,
                0.5, {"message": REVERSED}, other_engine="base"),
    CheckResult("argument_order", "cand", "asymmetry", "passed", True, 0.2, 1e-4, {}),
    CheckResult("finite", "cand", "*", "skipped", True, detail={"reason": "nothing to check"}),
    CheckResult("irrelevant_ceiling", "cand", "p95", "failed", False, 0.8, 0.5,
                {"message": "too high"}),
)


@pytest.fixture
def blocked(tmp_path):
    db = tmp_path / "ci.duckdb"
    run_id = stored_run(db, "flow-1", BLOCKED_RESULTS)
    report = build_ci_report("gate", 1, [FlowRun(db, "flow-1")])
    write_ci_reports(report, tmp_path / "out" / "junit.xml", tmp_path / "out" / "ci.json")
    return run_id, tmp_path / "out"


def cases(path: Path) -> dict[str, object]:
    xml = JUnitXml.fromfile(str(path))
    return {case.name: case for suite in xml for case in suite}


def test_junit_holds_one_case_per_result_and_engine(blocked):
    run_id, out = blocked
    (suite,) = list(JUnitXml.fromfile(str(out / "junit.xml")))
    assert suite.name == "rerankwatch.gate[base]"
    assert (suite.tests, suite.failures, suite.errors, suite.skipped) == (6, 1, 0, 2)
    props = {p.name: p.value for p in suite.properties()}
    assert props["run_id"] == run_id and props["verdict"] == "BLOCKED"
    by_name = cases(out / "junit.xml")
    assert set(by_name) == {
        "scoring[base]", "scoring[cand]", "argument_order[cand vs base|matches_reference_swapped]",
        "argument_order[cand|asymmetry]", "finite[cand|*]", "irrelevant_ceiling[cand|p95]"}
    failing = by_name["argument_order[cand vs base|matches_reference_swapped]"]
    assert failing.classname == "rerankwatch.gate.argument_order"
    (failure,) = failing.result
    assert isinstance(failure, Failure)
    assert failure.message == (
        "observed 0.93, must be ≤ 0.5 (share of scores nearer the reference's swapped "
        f"score(d, q) than its score(q, d)): {REVERSED}")
    assert "blocking: true" in failure.text and "threshold: 0.5" in failure.text
    assert by_name["argument_order[cand|asymmetry]"].is_passed
    (warning,) = by_name["irrelevant_ceiling[cand|p95]"].result
    assert isinstance(warning, Skipped) and warning.type == "rerankwatch.NonBlocking"
    assert warning.message == ("non-blocking failed: observed 0.8, must be ≤ 0.5 (highest score "
                               "of a known-irrelevant pair in p95): too high")


def test_json_holds_the_verdict_failures_and_fingerprints_without_secrets(blocked):
    run_id, out = blocked
    text = (out / "ci.json").read_text()
    assert "hunter2" not in text and "sk-123" not in text
    data = json.loads(text)
    assert (data["verdict"], data["exit_code"], data["run_ids"]) == ("BLOCKED", 1, [run_id])
    assert data["failing_checks"] == ["argument_order"]
    assert [(f["check"], f["blocking"]) for f in data["failures"]] == [
        ("argument_order", True), ("irrelevant_ceiling", False)]
    first = data["failures"][0]
    assert (first["engine"], first["other_engine"], first["observed"], first["threshold"]) == (
        "cand", "base", 0.93, 0.5)
    assert REVERSED in first["message"]
    (run,) = data["runs"]
    assert run["counts"] == {"passed": 1, "failed": 2, "error": 0, "not_judged": 0,
                             "skipped": 1}
    assert run["verdict_line"] == (f"BLOCKED: candidate cand vs baseline base: argument_order "
                                   f"(run {run_id})")
    assert run["reasons"][0].startswith("cand: share of scores nearer the reference's swapped")
    assert len(run["results"]) == len(BLOCKED_RESULTS)
    engine = run["engines"][0]
    assert engine["name"] == "base" and engine["fingerprint"]["weights_sha256"] == "ab" * 32
    assert engine["fingerprint"]["versions"] == {"torch": "9.9.9"}
    assert engine["fingerprint"]["extra"]["endpoint"].startswith("https://***@rerank.example")


WORST = {"set_id": "s", "query_id": "q7", "baseline": 1.0, "candidate": 0.5}
QUALITY_RESULTS = tuple(
    CheckResult("retrieval_quality", "cand", metric, "passed", True, 0.01, 0.02,
                {"baseline": 0.8, "candidate": 0.79, "p_value": 0.04, "queries": 45,
                 "improved": 3, "degraded": 5, "unchanged": 37, "most_degraded": [WORST]},
                other_engine="base") for metric in ("ndcg@10", "mrr"))


def test_json_says_per_query_outcomes_per_engine_and_metric(tmp_path):
    db = tmp_path / "ci.duckdb"
    skipped = CheckResult("retrieval_quality", "other", "*", "skipped", True,
                          detail={"reason": "no graded labels"}, other_engine="base")
    stored_run(db, "flow-q", (*QUALITY_RESULTS, skipped, BLOCKED_RESULTS[1]))
    payload = ci_json(build_ci_report("gate", 0, [FlowRun(db, "flow-q")]))
    (run,) = payload["runs"]
    by_metric = {e["metric"]: e for e in run["per_query"]}  # the skipped row counts nothing
    assert set(by_metric) == {"ndcg@10", "mrr"}
    ndcg = by_metric["ndcg@10"]
    assert (ndcg["engine"], ndcg["reference"]) == ("cand", "base")
    assert (ndcg["improved"], ndcg["degraded"], ndcg["unchanged"], ndcg["queries"]) == (
        3, 5, 37, 45)
    assert (ndcg["baseline"], ndcg["candidate"], ndcg["p_value"]) == (0.8, 0.79, 0.04)
    assert ndcg["most_degraded"] == [WORST]
    assert ndcg["line"] == ("cand ndcg@10 vs base: 3 improved, 5 degraded, 37 unchanged "
                            "(mean 0.8 → 0.79, Wilcoxon p=0.04)")
    assert payload["verdict"] == "PASS"  # informational: nothing about the verdict changes


def test_a_failed_engine_is_an_error_case_never_a_pass(tmp_path):
    """An engine that could not score: verdict ERROR (exit 3), its cause said once (its
    scoring case), the checks that needed it `not judged` errors that name the engine only."""
    db = tmp_path / "ci.duckdb"
    results = (CheckResult("finite", "cand", "*", "not_judged", True,
                           detail={"reason": "engine cand could not score"}),
               CheckResult("finite", "base", "*", "passed", True))
    run_id = stored_run(db, "flow-2", results, fail_candidate=True)
    report = build_ci_report("gate", 3, [FlowRun(db, "flow-2")])
    assert report.verdict == "ERROR" and report.runs[0].outcome == "ERROR"
    write_ci_reports(report, tmp_path / "junit.xml", tmp_path / "ci.json")
    by_name = cases(tmp_path / "junit.xml")
    (error,) = by_name["scoring[cand]"].result
    assert isinstance(error, Error) and error.type == "rerankwatch.EngineFailed"
    assert error.message.startswith("engine cand could not score: could not reach https://***@")
    assert "hunter2" not in error.message
    (unjudged,) = by_name["finite[cand|*]"].result
    assert isinstance(unjudged, Error) and unjudged.type == "rerankwatch.NotJudged"
    assert unjudged.message == "not judged: engine cand could not score"
    assert by_name["scoring[base]"].is_passed and by_name["finite[base|*]"].is_passed
    xml = (tmp_path / "junit.xml").read_text()
    assert "hunter2" not in xml and xml.count("could not reach") == 1  # said once
    data = json.loads((tmp_path / "ci.json").read_text())
    (run,) = data["runs"]
    assert run["verdict"] == "ERROR" and run["counts"]["not_judged"] == 1
    assert run["engine_errors"][0]["engine"] == "cand"
    assert run["verdict_line"].startswith("ERROR: engine cand could not score: could not reach")
    assert run["verdict_line"].endswith(f"(run {run_id})")


def test_the_junit_file_is_a_view_of_the_json_payload(blocked, tmp_path):
    """What a deployed gate's client writes from the published payload alone is the file the
    local command writes from the store."""
    from rerankwatch.report.ci import junit_xml, payload_from_markdown, payload_markdown

    _, out = blocked
    payload = json.loads((out / "ci.json").read_text())
    assert payload_from_markdown(payload_markdown(payload)) == payload
    assert junit_xml(payload) == (out / "junit.xml").read_text()


def test_refused_input_writes_an_error_report_and_no_run(tmp_path):
    report = build_ci_report("nightly", 2, [], "config x.toml: no such file")
    write_ci_reports(report, tmp_path / "junit.xml", tmp_path / "ci.json")
    data = json.loads((tmp_path / "ci.json").read_text())
    assert (data["verdict"], data["runs"], data["errors"]) == (
        "ERROR", [], ["config x.toml: no such file"])
    (suite,) = list(JUnitXml.fromfile(str(tmp_path / "junit.xml")))
    assert (suite.tests, suite.errors) == (1, 1)
    (case,) = list(suite)
    assert case.result[0].message == "config x.toml: no such file"


def test_a_passing_run_is_pass_and_files_replace_atomically(tmp_path):
    db = tmp_path / "ci.duckdb"
    stored_run(db, "flow-3", BLOCKED_RESULTS[1:3])
    (tmp_path / "junit.xml").write_text("stale")
    report = build_ci_report("gate", 0, [FlowRun(db, "flow-3")])
    assert report.verdict == "PASS"
    write_ci_reports(report, tmp_path / "junit.xml")
    xml = JUnitXml.fromfile(str(tmp_path / "junit.xml"))
    assert (xml.tests, xml.failures, xml.errors) == (4, 0, 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ci.duckdb", "junit.xml"]


def test_two_runs_are_two_suites_and_an_unjudged_run_is_an_error(tmp_path):
    """nightly without --config runs two configs: one suite each; a run whose flow failed
    before judging has a `verdict` error case, and a flow that opened no run stands alone."""
    db = tmp_path / "ci.duckdb"
    judged = stored_run(db, "flow-a", BLOCKED_RESULTS[1:2])
    with Store(db) as store:
        unjudged = store.start_run("nightly", {"reference": "base"}, "flow-b")
    report = build_ci_report("nightly", 1, [
        FlowRun(db, "flow-a"), FlowRun(db, "flow-b", "KeyError: 'x'"),
        FlowRun(db, "flow-c", "the store could not be opened")])
    assert report.verdict == "ERROR" and [r.run_id for r in report.runs] == [judged, unjudged]
    write_ci_reports(report, tmp_path / "junit.xml", tmp_path / "ci.json")
    suites = list(JUnitXml.fromfile(str(tmp_path / "junit.xml")))
    assert [s.name for s in suites] == ["rerankwatch.gate[base]", "rerankwatch.nightly[base]",
                                        "rerankwatch.nightly"]
    (verdict,) = list(suites[1])
    assert verdict.classname == "rerankwatch.nightly.verdict"
    assert "was not judged: KeyError: 'x'" in verdict.result[0].message
    assert suites[2].errors == 1
    data = json.loads((tmp_path / "ci.json").read_text())
    assert [r["verdict"] for r in data["runs"]] == ["PASS", "ERROR"]
    assert data["errors"] == ["the store could not be opened"]


PYTEST_CASES = '''
import pytest

def test_pass():
    print("observed")

def test_fail():
    assert 1 == 2

@pytest.fixture
def broken():
    raise RuntimeError("setup")

def test_error(broken):
    pass

def test_skip():
    pytest.skip("why")

def test_property(record_testsuite_property):
    record_testsuite_property("run_id", "r1")
'''
# what the JUnit schema pytest checks its own files against (junit-10.xsd) also allows: totals
# on <testsuites>, a type on a failure, error or skip
SCHEMA_EXTRAS = {"testsuites": {"tests", "failures", "errors", "time"},
                 "failure": {"type"}, "error": {"type"}, "skipped": {"type"}}


def shape(root) -> tuple[set, dict]:
    """(parent → child tag pairs, attributes per tag) of an XML tree."""
    edges, attributes = set(), {}
    for parent in root.iter():
        attributes.setdefault(parent.tag, set()).update(parent.attrib)
        edges |= {(parent.tag, child.tag) for child in parent}
    return edges, attributes


def test_junit_has_the_shape_pytest_itself_writes(tmp_path, blocked):
    """Every element, nesting and attribute of our file is one pytest's own --junitxml file
    has (xunit2, with a pass that prints, a failure, error, skip and a suite property)."""
    import subprocess
    import sys
    import xml.etree.ElementTree as ET

    (tmp_path / "test_sample.py").write_text(PYTEST_CASES)
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    "-o", "junit_family=xunit2", "-o", "junit_logging=system-out",
                    f"--junitxml={tmp_path / 'pytest.xml'}",
                    str(tmp_path / "test_sample.py")], cwd=tmp_path, capture_output=True,
                   timeout=120, check=False)
    theirs_edges, theirs_attributes = shape(ET.parse(tmp_path / "pytest.xml").getroot())
    for tag, extra in SCHEMA_EXTRAS.items():
        theirs_attributes[tag] |= extra
    _, out = blocked
    error_report = tmp_path / "refused.xml"
    write_ci_reports(build_ci_report("gate", 2, [], "bad config"), error_report)
    for path in (out / "junit.xml", error_report):
        edges, attributes = shape(ET.parse(path).getroot())
        assert edges <= theirs_edges, edges - theirs_edges
        for tag, names in attributes.items():
            assert names <= theirs_attributes.get(tag, set()), (tag, names)
