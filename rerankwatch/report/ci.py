"""CI reports of judged runs: a JUnit XML file and a JSON summary (`gate` / `nightly`
``--junit FILE --json FILE``).

Both are read back from the store (the runs a command's flows opened), so they describe exactly
what was stored. JUnit: one ``<testsuite>`` per run, one ``<testcase>`` per check × engine ×
subject plus one ``scoring[<engine>]`` case per engine config. A blocking failure is a
``<failure>``, a blocking error (a failed engine, a crashing check) an ``<error>``; a
non-blocking failure or error is a warning: ``<skipped type="rerankwatch.NonBlocking">``, so CI
stays green, with the same message. A failed engine's ``scoring`` case is always an ``<error>``.
The file is built with junitparser, which counts each suite's tests, failures, errors and skips.
Every text is redacted (``rerankwatch.core.redact``) and stripped of characters XML cannot hold.
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
from junitparser import Attr, Error, Failure, FloatAttr, JUnitXml, Skipped, TestCase, TestSuite

from rerankwatch.core.errors import RerankwatchError
from rerankwatch.core.files import atomic_write
from rerankwatch.core.records import (
    ERROR,
    ERROR_VERDICT,
    FAILED,
    NOT_JUDGED,
    PASS,
    SKIPPED,
    STATUSES,
    worst_verdict,
)
from rerankwatch.core.redact import redact_config, redact_text
from rerankwatch.core.store_spec import store_exists
from rerankwatch.report.details import explain, reason
from rerankwatch.report.summary import (
    engine_error_line,
    findings,
    limit,
    measured,
    not_judged_message,
    number,
    per_query_outcomes,
    reasons,
    verdict_line,
)
from rerankwatch.store import Store, open_store, reader_wait_s

# the JSON report's "schema": bumped when a field changes meaning (2: the ERROR verdict apart
# from BLOCKED, not-judged results, each run's verdict line, reasons and every result)
SCHEMA = "rerankwatch-ci/2"
NON_BLOCKING = "rerankwatch.NonBlocking"  # the <skipped type> of a warning
MAX_BODY = 4000  # characters of a result's detail JSON in a <failure> body
MAX_ROWS = 10  # offending rows listed in a <failure> body
FLOW_SUITES = {"upgrade-gate": "gate", "nightly": "nightly"}  # a run not judged: its suite
# XML 1.0 cannot hold most control characters (an engine error may carry ANSI colours)
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True, slots=True)
class FlowRun:
    """One flow a command ran: its DuckDB file, its Prefect flow run id (the run it opened is
    found by it) and, when it stopped short of a verdict, why."""

    db: Path
    flow_run_id: str | None
    error: str | None = None
    run_id: str | None = None  # the run it judged, when known (a resume's is an older run)


@dataclass(frozen=True)
class CiRun:
    """One stored run as a CI report shows it."""

    run_id: str
    run: dict  # the runs row
    verdict: dict | None  # its latest verdicts row (None: never judged)
    checks: pl.DataFrame  # q_run_check_results: its latest judgement's rows
    engines: pl.DataFrame  # q_run_engine_fingerprints
    error: str | None = None  # why its flow stopped short of a verdict

    @property
    def suite(self) -> str:
        if self.verdict is not None:
            return self.verdict["suite"]
        return FLOW_SUITES.get(self.run["flow_name"], self.run["flow_name"])

    @property
    def reference(self) -> str:
        if self.verdict is not None:
            return self.verdict["reference"]
        return json.loads(self.run["config"] or "{}").get("reference", "")

    @property
    def outcome(self) -> str:
        """PASS, BLOCKED or ERROR as judged; ERROR for a run never judged (its flow failed
        before)."""
        return self.verdict["verdict"] if self.verdict is not None else ERROR_VERDICT

    @property
    def candidate(self) -> str | None:
        """A gate's candidate: its one engine config that is not the reference."""
        if self.suite != "gate":
            return None
        others = [n for n in self.engines["engine_name"].to_list() if n != self.reference]
        return others[0] if len(others) == 1 else None

    @property
    def engine_errors(self) -> tuple[tuple[str, str], ...]:
        """(engine, cause) of each engine config that could not score, as stored."""
        return tuple((e["engine_name"], e["error"] or f"engine {e['status']}")
                     for e in self.engines.iter_rows(named=True)
                     if e["status"] != "succeeded")

    @property
    def line(self) -> str:
        """The run's verdict line (summary.verdict_line), or why it was never judged."""
        if self.verdict is None:
            why = self.error or self.run["error"] or self.run["status"]
            return f"ERROR: run {self.run_id} was not judged: {why}"
        crashed = sorted({r["check_name"] for r in self.checks.iter_rows(named=True)
                          if r["status"] == ERROR and r["blocking"]})
        return verdict_line(self.outcome, self.reference, self.run_id, self.candidate,
                            list(self.verdict["failing_checks"]), self.engine_errors, crashed)

    @property
    def reasons(self) -> list[str]:
        """Why, in words: engines that could not score first, then blocking failures."""
        found = reasons(self.engine_errors, findings(self.checks))
        if self.verdict is None and not self.engine_errors:
            found.insert(0, self.line.removeprefix("ERROR: "))
        return found

    @property
    def seconds(self) -> float:
        started, finished = self.run["started_at"], self.run["finished_at"]
        return max(0.0, (finished - started).total_seconds()) if finished and started else 0.0


@dataclass(frozen=True)
class CiReport:
    """What a gate or nightly command ended with: its runs, the errors no run explains (input
    refused before anything ran, a flow that opened no run) and the command's exit code."""

    command: str
    exit_code: int
    runs: tuple[CiRun, ...] = ()
    errors: tuple[str, ...] = field(default_factory=tuple)

    @property
    def verdict(self) -> str:
        """BLOCKED when any run is; else ERROR when a run was not judged, an error stopped the
        command or it exited non-zero; else PASS (so PASS exactly when the command exits 0)."""
        verdict = worst_verdict(r.outcome for r in self.runs)
        if verdict == PASS and (self.errors or self.exit_code != 0):
            return ERROR_VERDICT
        return verdict


def load_ci_run(store: Store, run_id: str, error: str | None = None) -> CiRun | None:
    """One run's rows as stored (None: no such run)."""
    row = store.run(run_id)
    if row is None:
        return None
    verdicts = store.query("q_run_verdicts", run_id=run_id)
    return CiRun(run_id=run_id, run=row,
                 verdict=verdicts.row(0, named=True) if verdicts.height else None,
                 checks=store.query("q_run_check_results", run_id=run_id),
                 engines=store.query("q_run_engine_fingerprints", run_id=run_id), error=error)


def build_ci_report(command: str, exit_code: int, flows: Sequence[FlowRun] = (),
                    error: str | None = None, on_wait=None) -> CiReport:
    """Read the run each of ``flows`` opened back from its store. ``error``: why the command
    stopped before any flow ran (a flow's own error goes with its run, or stands alone when
    it opened none)."""
    runs: list[CiRun] = []
    errors = [error] if error else []
    for flow in flows:
        run = None
        if (flow.run_id or flow.flow_run_id) and store_exists(flow.db):
            with open_store(flow.db, mode="read", wait_s=reader_wait_s(),
                            on_wait=on_wait) as store:
                run_id = flow.run_id or store.run_for_flow_run(flow.flow_run_id)
                run = load_ci_run(store, run_id, flow.error) if run_id else None
        if run is not None:
            runs.append(run)
        elif flow.error:
            errors.append(flow.error)
    return CiReport(command, exit_code, tuple(runs), tuple(errors))


def run_payload(db: str | Path, run_id: str, command: str, exit_code: int) -> dict[str, Any]:
    """The ``ci_json`` payload of one stored run, as its flow publishes it."""
    with open_store(db, mode="read", wait_s=reader_wait_s()) as store:
        run = load_ci_run(store, run_id)
    if run is None:
        raise RerankwatchError(f"no run {run_id!r} in {db}")
    return ci_json(CiReport(command, exit_code, (run,)))


FENCE = "```"


def payload_markdown(payload: dict[str, Any]) -> str:
    """A payload as a markdown artifact: its verdict line, then the JSON in a fenced block
    (what ``payload_from_markdown`` reads back)."""
    lines = [f"{run['verdict_line']}" for run in payload["runs"]] or [payload["verdict"]]
    text = json.dumps(payload, ensure_ascii=False, indent=1).replace(FENCE, "`\u0060`")
    return "\n\n".join(["\n".join(lines), f"{FENCE}json\n{text}\n{FENCE}"]) + "\n"


def payload_from_markdown(markdown: str) -> dict[str, Any]:
    """The payload in a ``payload_markdown`` artifact; RerankwatchError when it holds none."""
    start = markdown.find(f"{FENCE}json\n")
    end = markdown.rfind(f"\n{FENCE}")
    if start < 0 or end <= start:
        raise RerankwatchError("the verdict artifact holds no JSON block")
    payload = json.loads(markdown[start + len(FENCE) + 5:end])
    if not str(payload.get("schema", "")).startswith("rerankwatch-ci/"):
        raise RerankwatchError(f"the verdict artifact has schema {payload.get('schema')!r}, "
                               f"not {SCHEMA!r}")
    return payload


# --------------------------------------------------------------------------- results


def result_message(row: dict) -> str:
    """"observed X, must be ≤ Y (what was measured): <the check's message>" of one
    check_results row, worded as every view words it (``report.summary``: the threshold's
    direction declared by the check); either part is left out when missing."""
    if row["status"] == NOT_JUDGED:
        return not_judged_message(reason(row["check_name"], row["detail"]))
    summary, _ = explain(row["check_name"], row["detail"])
    check, subject = row["check_name"], row["subject"]
    observed, threshold = row["observed"], row["threshold"]
    what = measured(check, subject)
    if observed is not None and threshold is not None:
        head = f"observed {number(observed)}, must be {limit(check, subject, threshold)} ({what})"
    elif observed is not None:
        head = f"observed {number(observed)} ({what})"
    else:
        head = ""
    if row["status"] == ERROR:
        head = f"error{': ' + head if head else ''}"
    return ": ".join(p for p in (head, summary) if p) or row["status"]


def _result_entry(run: CiRun, row: dict) -> dict[str, Any]:
    message = result_message(row)
    entry = {"run_id": run.run_id, "check": row["check_name"], "engine": row["engine_name"],
             "other_engine": row["other_engine_name"], "subject": row["subject"],
             "status": row["status"], "blocking": bool(row["blocking"]),
             "observed": _finite(row["observed"]), "threshold": _finite(row["threshold"]),
             "message": message}
    if row["status"] in (FAILED, ERROR):
        entry["body"] = _body(row, message)
    return entry


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _fingerprint(value: Any) -> dict | None:
    if value is None:
        return None
    return json.loads(value) if isinstance(value, str) else dict(value)


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# --------------------------------------------------------------------------- JSON


def _run_entry(run: CiRun) -> dict[str, Any]:
    rows = list(run.checks.iter_rows(named=True))
    counts = Counter(r["status"] for r in rows)
    return {
        "run_id": run.run_id, "flow": run.run["flow_name"], "suite": run.suite,
        "verdict": run.outcome, "verdict_line": run.line, "reasons": run.reasons,
        "reference": run.reference, "candidate": run.candidate,
        "scoring": run.run["status"], "error": run.error or run.run["error"],
        "started_at": _when(run.run["started_at"]),
        "finished_at": _when(run.run["finished_at"]), "seconds": run.seconds,
        "failing_checks": list(run.verdict["failing_checks"]) if run.verdict else [],
        "engine_errors": [{"engine": e, "cause": c} for e, c in run.engine_errors],
        "counts": {s: counts.get(s, 0) for s in STATUSES},
        "engines": [{
            "name": e["engine_name"], "status": e["status"], "error": e["error"],
            "engine_id": e["engine_id"], "pairs": e["pairs"],
            "score_seconds": e["score_seconds"], "reused_from_run": e["reused_from_run"],
            "fingerprint": _fingerprint(e["fingerprint"]),
        } for e in run.engines.iter_rows(named=True)],
        "per_query": per_query_outcomes(rows),
        "results": [_result_entry(run, r) for r in rows],
    }


def ci_json(report: CiReport) -> dict[str, Any]:
    """The verdict as data (schema ``rerankwatch-ci/2``): the overall verdict and exit code,
    every failing result (blocking or not) and, per run, its verdict, verdict line, reasons,
    engines with their fingerprints, ``per_query`` (per engine and metric, the queries
    retrieval_quality found improved, degraded or unchanged against the reference, with the
    means, the Wilcoxon p-value, the most degraded queries and the line the terminal prints;
    report.summary.per_query_outcomes; informational) and every result. Redacted throughout.
    The JUnit file, the CLI's closing lines and the deployed gate's client are all views of
    this."""
    runs = [_run_entry(run) for run in report.runs]
    failing = [r for run in runs for r in run["results"] if r["status"] in (FAILED, ERROR)]
    payload = {
        "schema": SCHEMA, "command": report.command, "verdict": report.verdict,
        "exit_code": report.exit_code, "errors": list(report.errors),
        "run_ids": [r.run_id for r in report.runs],
        "failing_checks": sorted({f["check"] for f in failing if f["blocking"]}),
        "failures": [{k: v for k, v in f.items() if k != "body"} for f in failing],
        "runs": runs,
    }
    return redact_config(payload)


def verdict_lines(payload: dict[str, Any], errors: bool = True) -> list[str]:
    """What a command says when it ends (local or deployed alike): per run, its verdict line,
    then each reason it does not already say (an ERROR's line names what could not score);
    then, with ``errors``, each error no run explains (a local command said it already, in its
    `error:` line)."""
    lines = []
    for run in payload["runs"]:
        lines.append(run["verdict_line"])
        lines += [f"  - {r}" for r in run["reasons"] if r not in run["verdict_line"]]
    if errors:
        lines += [f"ERROR: {e}" for e in payload["errors"]]
    return lines


# --------------------------------------------------------------------------- JUnit


def _text(value: Any) -> str:
    return _NOT_XML.sub("\ufffd", redact_text(str(value)))


class _Seconds(FloatAttr):
    """A ``time`` attribute written as seconds to the millisecond ("0.000"), read as a float."""

    def __set__(self, instance, value: float) -> None:
        Attr.__set__(self, instance, f"{value:.3f}")


class _Case(TestCase):
    time = _Seconds()


class _Suite(TestSuite):
    time = _Seconds()
    testcase = _Case


class _Suites(JUnitXml):
    time = _Seconds()
    testsuite = _Suite


def _case(suite: _Suite, classname: str, name: str, seconds: float = 0.0) -> _Case:
    case = _Case()
    case.classname, case.name, case.time = _text(classname), _text(name), seconds
    suite.append(case)
    return case


def _outcome(case: _Case, result: type[Failure | Error | Skipped], kind: str, message: str,
             body: str = "") -> None:
    outcome = result()
    outcome.type, outcome.message = kind, _text(message)
    if body:  # else the message alone: a cause is written once
        outcome.text = _text(body)
    case.append(outcome)


def _unique(name: str, seen: Counter) -> str:
    seen[name] += 1
    return name if seen[name] == 1 else f"{name}#{seen[name]}"


def case_name(row: dict) -> str:
    """``<check>[<engine> vs <other>|<subject>]`` (``*`` for a result of no one engine)."""
    engine = row["engine"] or "*"
    if row["other_engine"]:
        engine = f"{engine} vs {row['other_engine']}"
    return f"{row['check']}[{engine}|{row['subject'] or '*'}]"


def _body(row: dict, message: str) -> str:
    summary, rows = explain(row["check_name"], row["detail"])
    lines = [message, "", f"check: {row['check_name']}", f"engine: {row['engine_name']}"]
    if row["other_engine_name"]:
        lines.append(f"vs: {row['other_engine_name']}")
    lines += [f"subject: {row['subject']}", f"status: {row['status']}",
              f"blocking: {str(bool(row['blocking'])).lower()}",
              f"observed: {row['observed']}", f"threshold: {row['threshold']}"]
    if rows:
        lines += ["", f"offending rows ({min(len(rows), MAX_ROWS)} of {len(rows)}):"]
        lines += [json.dumps(r, default=str, ensure_ascii=False) for r in rows[:MAX_ROWS]]
    detail = row["detail"] if isinstance(row["detail"], str) else json.dumps(row["detail"])
    if detail:
        lines += ["", "detail: " + (detail if len(detail) <= MAX_BODY
                                    else detail[:MAX_BODY] + " …")]
    return "\n".join(lines)


def _check_case(suite: _Suite, run: dict, row: dict, seen: Counter) -> None:
    case = _case(suite, f"rerankwatch.{run['suite']}.{row['check']}",
                 _unique(case_name(row), seen))
    status, message, body = row["status"], row["message"], row.get("body", "")
    if status == SKIPPED:
        _outcome(case, Skipped, "rerankwatch.Skipped", message)
    elif status == NOT_JUDGED:  # the engine's cause is in its scoring case, said once
        _outcome(case, Error, "rerankwatch.NotJudged", message)
    elif status in (FAILED, ERROR) and not row["blocking"]:
        _outcome(case, Skipped, NON_BLOCKING, f"non-blocking {status}: {message}", body)
    elif status == FAILED:
        _outcome(case, Failure, "rerankwatch.CheckFailed", message, body)
    elif status == ERROR:
        _outcome(case, Error, "rerankwatch.CheckError", message, body)
    elif row["observed"] is not None:
        case.system_out = _text(message)


def _engine_case(suite: _Suite, run: dict, engine: dict) -> None:
    case = _case(suite, f"rerankwatch.{run['suite']}.scoring", f"scoring[{engine['name']}]",
                 engine["score_seconds"] or 0.0)
    if engine["status"] != "succeeded":
        cause = engine["error"] or f"engine {engine['status']}"
        _outcome(case, Error, "rerankwatch.EngineFailed",
                 engine_error_line(engine["name"], cause))
    elif engine["fingerprint"] is not None:
        case.system_out = _text(json.dumps(engine["fingerprint"], sort_keys=True))


def _suite(root: _Suites, name: str, properties: dict[str, Any], seconds: float = 0.0,
           timestamp: str | None = None) -> _Suite:
    suite = _Suite(_text(name))
    suite.time, suite.timestamp = seconds, timestamp
    for key, value in properties.items():
        if value is not None:
            suite.add_property(key, _text(value))
    root.append(suite)  # not add_testsuite: that merges suites it deems equal
    return suite


def junit_xml(report: CiReport | dict[str, Any]) -> str:
    """The JUnit XML report, a view of the JSON one (``ci_json``; a deployed gate's client has
    only that): ``<testsuites>`` with one ``<testsuite>`` per run (and one for errors no run
    explains)."""
    payload = ci_json(report) if isinstance(report, CiReport) else report
    root = _Suites(f"rerankwatch {payload['command']}")
    for run in payload["runs"]:
        suite = _suite(root, f"rerankwatch.{run['suite']}[{run['reference']}]", {
            "run_id": run["run_id"], "verdict": run["verdict"], "flow": run["flow"],
            "reference": run["reference"], "scoring": run["scoring"],
            "failing_checks": ", ".join(run["failing_checks"]) or None,
        }, run["seconds"], run["started_at"])
        for engine in run["engines"]:
            _engine_case(suite, run, engine)
        seen: Counter = Counter()
        for row in run["results"]:
            _check_case(suite, run, row, seen)
        if not run["results"] and run["verdict"] == ERROR_VERDICT and not run["engine_errors"]:
            case = _case(suite, f"rerankwatch.{run['suite']}.verdict", "verdict")
            _outcome(case, Error, "rerankwatch.NotJudged",
                     run["verdict_line"].removeprefix("ERROR: "))
    if payload["errors"]:
        command = payload["command"]
        suite = _suite(root, f"rerankwatch.{command}", {"exit_code": payload["exit_code"]})
        for index, error in enumerate(payload["errors"]):
            case = _case(suite, f"rerankwatch.{command}",
                         command if index == 0 else f"{command}#{index + 1}")
            _outcome(case, Error, "rerankwatch.Error", error)
    suites = list(root)
    for suite in suites:
        own = suite.time  # the run's, not the sum of its cases' times
        suite.tests = suite.failures = suite.errors = suite.skipped = 0  # the attributes' order
        suite.update_statistics()  # junitparser counts each suite's cases
        suite.time = own
    # the totals (not JUnitXml.update_statistics: it would recount each suite's time from its
    # cases, and add a `skipped` pytest's own <testsuites> does not have)
    root.tests = sum(s.tests for s in suites)
    root.failures = sum(s.failures for s in suites)
    root.errors = sum(s.errors for s in suites)
    root.time = sum(s.time for s in suites)  # as written: to the millisecond
    # written by the standard library whether junitparser builds on lxml or not: indented,
    # every character escaped as it always was (a carriage return in a text written as
    # lxml writes it, so that reading it back keeps it)
    tree = ET.fromstring(root.tostring().replace(b"\r", b"&#13;"))
    ET.indent(tree)
    return ET.tostring(tree, encoding="unicode", xml_declaration=True) + "\n"


# --------------------------------------------------------------------------- files


def write_ci_reports(report: CiReport | dict[str, Any], junit: str | Path | None = None,
                     json_path: str | Path | None = None) -> list[Path]:
    """Write the requested reports (each atomically: a CI step never reads half a report) of
    a CiReport or its ``ci_json`` payload; returns the paths written."""
    payload = ci_json(report) if isinstance(report, CiReport) else report
    written = []
    if junit is not None:
        atomic_write(junit, junit_xml(payload))
        written.append(Path(junit))
    if json_path is not None:
        atomic_write(json_path, json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
        written.append(Path(json_path))
    return written
