"""CI reports of judged runs: a JUnit XML file and a JSON summary (`gate` / `nightly`
``--junit FILE --json FILE``).

Both are read back from the store (the runs a command's flows opened), so they describe exactly
what was stored. JUnit: one ``<testsuite>`` per run, one ``<testcase>`` per check × engine ×
subject plus one ``scoring[<engine>]`` case per engine config. A blocking failure is a
``<failure>``, a blocking error (a failed engine, a crashing check) an ``<error>``; a
non-blocking failure or error is a warning: ``<skipped type="rerankwatch.NonBlocking">``, so CI
stays green, with the same message. A failed engine's ``scoring`` case is always an ``<error>``.
Every text is redacted (``rerankwatch.core.redact``) and stripped of characters XML cannot hold.
"""

from __future__ import annotations

import json
import math
import os
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from rerankwatch.core.records import ERROR, FAILED, PASSED, SKIPPED
from rerankwatch.core.redact import redact_config, redact_text
from rerankwatch.core.store_spec import store_exists
from rerankwatch.report.details import explain
from rerankwatch.report.summary import limit, measured, number
from rerankwatch.store import Store, open_store, reader_wait_s

SCHEMA = "rerankwatch-ci/1"  # the JSON report's "schema": bumped when a field changes meaning
PASS, BLOCKED, NOT_JUDGED = "PASS", "BLOCKED", "ERROR"
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
        """PASS, BLOCKED, or ERROR for a run never judged (its flow failed before)."""
        return self.verdict["verdict"] if self.verdict is not None else NOT_JUDGED

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
        if any(r.outcome == BLOCKED for r in self.runs):
            return BLOCKED
        if (self.errors or self.exit_code != 0 or not self.runs
                or any(r.outcome != PASS for r in self.runs)):
            return NOT_JUDGED
        return PASS


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
        if flow.flow_run_id and store_exists(flow.db):
            with open_store(flow.db, mode="read", wait_s=reader_wait_s(),
                            on_wait=on_wait) as store:
                run_id = store.run_for_flow_run(flow.flow_run_id)
                run = load_ci_run(store, run_id, flow.error) if run_id else None
        if run is not None:
            runs.append(run)
        elif flow.error:
            errors.append(flow.error)
    return CiReport(command, exit_code, tuple(runs), tuple(errors))


# --------------------------------------------------------------------------- results


def result_message(row: dict) -> str:
    """"observed X, must be ≤ Y (what was measured): <the check's message>" of one
    check_results row, worded as every view words it (``report.summary``: the threshold's
    direction declared by the check); either part is left out when missing."""
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
    return {"run_id": run.run_id, "check": row["check_name"], "engine": row["engine_name"],
            "other_engine": row["other_engine_name"], "subject": row["subject"],
            "status": row["status"], "blocking": bool(row["blocking"]),
            "observed": _finite(row["observed"]), "threshold": _finite(row["threshold"]),
            "message": result_message(row)}


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _fingerprint(value: Any) -> dict | None:
    if value is None:
        return None
    return json.loads(value) if isinstance(value, str) else dict(value)


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# --------------------------------------------------------------------------- JSON


def ci_json(report: CiReport) -> dict[str, Any]:
    """The JSON report: the overall verdict, every failing result (blocking or not) and, per
    run, its verdict, counts and engines with their fingerprints. Redacted throughout."""
    runs, failing = [], []
    for run in report.runs:
        rows = list(run.checks.iter_rows(named=True))
        bad = [_result_entry(run, r) for r in rows if r["status"] in (FAILED, ERROR)]
        failing += bad
        counts = Counter(r["status"] for r in rows)
        runs.append({
            "run_id": run.run_id, "flow": run.run["flow_name"], "suite": run.suite,
            "verdict": run.outcome, "reference": run.reference,
            "scoring": run.run["status"], "error": run.error or run.run["error"],
            "started_at": _when(run.run["started_at"]),
            "finished_at": _when(run.run["finished_at"]),
            "failing_checks": list(run.verdict["failing_checks"]) if run.verdict else [],
            "counts": {s: counts.get(s, 0) for s in (PASSED, FAILED, ERROR, SKIPPED)},
            "engines": [{
                "name": e["engine_name"], "status": e["status"], "error": e["error"],
                "engine_id": e["engine_id"], "pairs": e["pairs"],
                "score_seconds": e["score_seconds"], "reused_from_run": e["reused_from_run"],
                "fingerprint": _fingerprint(e["fingerprint"]),
            } for e in run.engines.iter_rows(named=True)],
        })
    payload = {
        "schema": SCHEMA, "command": report.command, "verdict": report.verdict,
        "exit_code": report.exit_code, "errors": list(report.errors),
        "run_ids": [r.run_id for r in report.runs],
        "failing_checks": sorted({f["check"] for f in failing if f["blocking"]}),
        "failures": failing, "runs": runs,
    }
    return redact_config(payload)


# --------------------------------------------------------------------------- JUnit


def _text(value: Any) -> str:
    return _NOT_XML.sub("\ufffd", redact_text(str(value)))


def _case(suite: ET.Element, classname: str, name: str, seconds: float = 0.0) -> ET.Element:
    return ET.SubElement(suite, "testcase", classname=_text(classname), name=_text(name),
                         time=f"{seconds:.3f}")


def _outcome(case: ET.Element, tag: str, kind: str, message: str, body: str = "") -> None:
    element = ET.SubElement(case, tag, type=kind, message=_text(message))
    element.text = _text(body or message)


def _unique(name: str, seen: Counter) -> str:
    seen[name] += 1
    return name if seen[name] == 1 else f"{name}#{seen[name]}"


def case_name(row: dict) -> str:
    """``<check>[<engine> vs <other>|<subject>]`` (``*`` for a result of no one engine)."""
    engine = row["engine_name"] or "*"
    if row["other_engine_name"]:
        engine = f"{engine} vs {row['other_engine_name']}"
    return f"{row['check_name']}[{engine}|{row['subject'] or '*'}]"


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


def _check_case(suite: ET.Element, run: CiRun, row: dict, seen: Counter) -> None:
    case = _case(suite, f"rerankwatch.{run.suite}.{row['check_name']}",
                 _unique(case_name(row), seen))
    status, message = row["status"], result_message(row)
    if status == SKIPPED:
        _outcome(case, "skipped", "rerankwatch.Skipped", message)
    elif status in (FAILED, ERROR) and not row["blocking"]:
        _outcome(case, "skipped", NON_BLOCKING, f"non-blocking {status}: {message}",
                 _body(row, message))
    elif status == FAILED:
        _outcome(case, "failure", "rerankwatch.CheckFailed", message, _body(row, message))
    elif status == ERROR:
        _outcome(case, "error", "rerankwatch.CheckError", message, _body(row, message))
    elif row["observed"] is not None:
        ET.SubElement(case, "system-out").text = _text(message)


def _engine_case(suite: ET.Element, run: CiRun, engine: dict) -> None:
    case = _case(suite, f"rerankwatch.{run.suite}.scoring", f"scoring[{engine['engine_name']}]",
                 engine["score_seconds"] or 0.0)
    fingerprint = _fingerprint(engine["fingerprint"])
    if engine["status"] != "succeeded":
        message = f"engine {engine['status']}: {engine['error'] or 'no error recorded'}"
        _outcome(case, "error", "rerankwatch.EngineFailed", message)
    elif fingerprint is not None:
        ET.SubElement(case, "system-out").text = _text(json.dumps(fingerprint, sort_keys=True))


def _suite(root: ET.Element, name: str, properties: dict[str, Any], seconds: float = 0.0,
           timestamp: str | None = None) -> ET.Element:
    suite = ET.SubElement(root, "testsuite", name=_text(name), time=f"{seconds:.3f}")
    if timestamp:
        suite.set("timestamp", timestamp)
    props = ET.SubElement(suite, "properties")
    for key, value in properties.items():
        if value is not None:
            ET.SubElement(props, "property", name=key, value=_text(value))
    return suite


def _count(suite: ET.Element) -> dict[str, int]:
    cases = suite.findall("testcase")
    counts = {"tests": len(cases)}
    for tag, key in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
        counts[key] = sum(1 for c in cases if c.find(tag) is not None)
    for key, value in counts.items():
        suite.set(key, str(value))
    return counts


def junit_xml(report: CiReport) -> str:
    """The JUnit XML report: ``<testsuites>`` with one ``<testsuite>`` per run (and one for
    errors no run explains)."""
    root = ET.Element("testsuites", name=f"rerankwatch {report.command}")
    for run in report.runs:
        suite = _suite(root, f"rerankwatch.{run.suite}[{run.reference}]", {
            "run_id": run.run_id, "verdict": run.outcome, "flow": run.run["flow_name"],
            "reference": run.reference, "scoring": run.run["status"],
            "failing_checks": ", ".join(run.verdict["failing_checks"]) if run.verdict else None,
        }, run.seconds, _when(run.run["started_at"]))
        for engine in run.engines.iter_rows(named=True):
            _engine_case(suite, run, engine)
        seen: Counter = Counter()
        for row in run.checks.iter_rows(named=True):
            _check_case(suite, run, row, seen)
        if run.verdict is None:
            case = _case(suite, f"rerankwatch.{run.suite}.verdict", "verdict")
            _outcome(case, "error", "rerankwatch.NotJudged",
                     f"run {run.run_id} was not judged: "
                     f"{run.error or run.run['error'] or run.run['status']}")
    if report.errors:
        suite = _suite(root, f"rerankwatch.{report.command}", {"exit_code": report.exit_code})
        for index, error in enumerate(report.errors):
            case = _case(suite, f"rerankwatch.{report.command}",
                         report.command if index == 0 else f"{report.command}#{index + 1}")
            _outcome(case, "error", "rerankwatch.Error", error)
    totals = Counter()
    for suite in root.findall("testsuite"):
        totals.update(_count(suite))
        totals["time"] += float(suite.get("time", "0"))
    for key in ("tests", "failures", "errors"):
        root.set(key, str(totals[key]))
    root.set("time", f"{totals['time']:.3f}")
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


# --------------------------------------------------------------------------- files


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)  # a CI step never reads half a report
    finally:
        tmp.unlink(missing_ok=True)


def write_ci_reports(report: CiReport, junit: str | Path | None = None,
                     json_path: str | Path | None = None) -> list[Path]:
    """Write the requested reports (each atomically); returns the paths written."""
    written = []
    if junit is not None:
        _write_atomically(Path(junit), junit_xml(report))
        written.append(Path(junit))
    if json_path is not None:
        _write_atomically(Path(json_path),
                          json.dumps(ci_json(report), indent=2, ensure_ascii=False) + "\n")
        written.append(Path(json_path))
    return written
