"""Each engine config against its own accepted history: what agreement within a run cannot see.

A shared library upgrade moves the reference and every other engine alike; a server upgraded
behind an unchanged URL keeps its config. Tonight's engines still agree with each other, so
each engine config is also compared with its last *accepted* run (same engine name, the pairs
both scored) and with its last *pinned* one (a manual accept, or its first accepted run), so
that passing nights cannot walk the baseline away in small steps. In a gate, the candidate is
held to the baseline engine's accepted history.

Accepted: a run whose suite passed, or one accepted by hand (``rerankwatch baseline accept``).
No accepted run yet: skipped (this run becomes the first baseline when its suite passes).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import great_expectations as gx
import numpy as np
import polars as pl

from rerankwatch.checks import base
from rerankwatch.checks.base import (
    AT_MOST,
    PAIRED_BLOCK_COLUMNS,
    Judge,
    PrecisionTolerances,
    Rows,
    SuiteInput,
    judged,
    query_blocks,
    row,
    worst,
)
from rerankwatch.checks.engine_agreement import per_query
from rerankwatch.checks.tokenization import history_change
from rerankwatch.core.records import SKIPPED, CheckResult

SAME_FINGERPRINT = ("same fingerprint, different scores: a server-side or environment change "
                    "(a server upgraded behind its URL, a driver, a kernel, hardware)")
SUBJECTS = {"last": "last_accepted", "pinned": "pinned"}


class ExpectScoresCloseToHistory(gx.expectations.ExpectColumnMaxToBeBetween):
    """The largest per-pair |score - accepted score| stays within the precision's tolerance."""

    column: str = "abs_delta"
    max_value: float = 0.005


class Detail(base.Detail):
    """What a history_baseline result's detail holds."""

    summary_fields = ("message", "reason")
    rows_field = "worst_pairs"
    message: str | None = None
    baseline_run: str | None = None
    baseline_engine: str | None = None
    accepted: dict[str, Any] | None = None
    pairs: int | None = None
    p99_abs_delta: float | None = None
    moved_share: float | None = None
    kendall_tau_min: float | None = None
    kendall_tau_mean: float | None = None
    fingerprint_changed: dict[str, Any] | None = None
    worst_pairs: Rows = []


class Params(PrecisionTolerances):
    # max |Δ score| against an accepted run, by the looser precision of the two sides: the
    # same engine config re-scored on CPU moves by < 1e-6 in float32; a real regression by
    # 0.01 and more. Ten nights of 0.004 reach the float32 tolerance against the pinned run.
    float32: float = 0.005
    float16: float = 0.02
    bfloat16: float = 0.03
    int8: float = 0.03


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """A fingerprint as {"versions.transformers": "5.1.0", "dtype": "float32", ...}."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(flatten(inner, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): value}


def fingerprint_diff(current: str | None, baseline: str | None) -> dict[str, list]:
    """{field: [accepted, now]} of what differs between two stored fingerprints."""
    now, then = flatten(json.loads(current or "{}")), flatten(json.loads(baseline or "{}"))
    return {key: [then.get(key), now.get(key)] for key in sorted(now.keys() | then.keys())
            if then.get(key) != now.get(key)}


def changed_message(diff: dict[str, list]) -> str:
    if not diff:
        return SAME_FINGERPRINT
    shown = ", ".join(f"{k} {a} → {b}" for k, (a, b) in list(diff.items())[:4])
    more = f" (+{len(diff) - 4} more)" if len(diff) > 4 else ""
    return f"fingerprint changed since the accepted run: {shown}{more}"


class HistoryBaseline:
    name = "history_baseline"
    Params = Params
    Detail = Detail
    needs_reference = False
    measures: ClassVar[dict[str, str]] = {  # what each subject's observed value is
        "last_accepted": "max |Δ score| vs the last accepted run",
        "pinned": "max |Δ score| vs the pinned run",
    }
    bounds: ClassVar[dict[str, str]] = {"*": AT_MOST}
    figure: ClassVar[str | None] = "trend"
    probes: ClassVar[dict[str, str]] = {}

    def run(self, data: SuiteInput, params: Params, judge: Judge) -> list[CheckResult]:
        results = []
        baselines = data.baselines if data.baselines is not None else pl.DataFrame()
        for engine in data.ok_engines():
            mine = (baselines.filter(pl.col("engine_name") == engine) if baselines.height
                    else baselines)
            if mine.is_empty():
                source = (data.reference if data.suite == "gate" and engine != data.reference
                          else engine)
                results.append(row(self, params, engine, "last_accepted", SKIPPED, reason=(
                    f"no accepted run of {source!r} yet: this run becomes its first baseline "
                    f"when its suite passes (or `rerankwatch baseline accept`)")))
                continue
            last = mine.filter(pl.col("baseline") == "last").row(0, named=True)
            for baseline in mine.iter_rows(named=True):
                if baseline["baseline"] == "pinned" and \
                        baseline["baseline_run_id"] == last["baseline_run_id"]:
                    continue  # the last accepted run is the pinned one: judged once
                results.append(self._compare(data, params, judge, engine, baseline))
        return results

    @staticmethod
    def _cause(data: SuiteInput, engine: str, baseline: dict, diff: dict[str, list]) -> str:
        """What changed: the ids fed to the model (when they did), then the fingerprint."""
        tokens = history_change(data, engine, baseline)
        return f"{tokens}; {changed_message(diff)}" if tokens else changed_message(diff)

    def _compare(self, data: SuiteInput, params: Params, judge: Judge, engine: str,
                 baseline: dict) -> CheckResult:
        subject, source = SUBJECTS[baseline["baseline"]], baseline["source_name"]
        other = source if source != engine else None
        context = {"baseline_run": baseline["baseline_run_id"], "baseline_engine": source,
                   "accepted": {"at": str(baseline["accepted_at"]),
                                "by": baseline["accepted_by"], "reason": baseline["reason"],
                                "how": "manual" if baseline["manual"] else "suite passed"}}
        now_fp = json.loads(baseline["fingerprint"] or "{}")
        then_fp = json.loads(baseline["baseline_fingerprint"] or "{}")
        if other and now_fp.get("activation") != then_fp.get("activation"):
            return row(self, params, engine, subject, SKIPPED, other=other, **context,
                       reason=f"scores of a different kind than {source!r}'s "
                              f"({now_fp.get('activation')} vs {then_fp.get('activation')})")
        pairs = data.versus_history(engine, baseline["baseline_run_id"], source).with_columns(
            (pl.col("score") - pl.col("score_other")).abs().alias("abs_delta"))
        if pairs.is_empty():
            return row(self, params, engine, subject, SKIPPED, other=other, **context,
                       reason="no pair scored both tonight and in the accepted run")
        tolerance = params.tolerance(now_fp.get("dtype", "float32"),
                                     then_fp.get("dtype", "float32"))
        # judged on the one value the expectation reads (the column's max, NaN skipped as
        # pandas skips it), not on a million rows handed over to pandas
        largest = pairs.select(pl.col("abs_delta").fill_nan(None).max())
        success, _ = judge.validate(largest, ExpectScoresCloseToHistory(max_value=tolerance))
        delta = pairs["abs_delta"].to_numpy()
        blocks = query_blocks(pairs, PAIRED_BLOCK_COLUMNS, data.layout(pairs))
        queries = per_query(blocks, 1).filter(pl.col("pairs") >= 2)
        diff = fingerprint_diff(baseline["fingerprint"], baseline["baseline_fingerprint"])
        message = None if success else (
            f"{float(delta.max()):.4g} max |Δ score| against {source!r} as accepted in run "
            f"{baseline['baseline_run_id']} (tolerance {tolerance:g}): "
            f"{self._cause(data, engine, baseline, diff)}")
        return judged(
            self, params, engine, subject, success, float(delta.max()), tolerance, other=other,
            **context, message=message, pairs=pairs.height,
            p99_abs_delta=float(np.quantile(delta, 0.99, method="nearest")),
            moved_share=float((delta > tolerance).mean()),
            kendall_tau_min=queries["tau"].min() if queries.height else None,
            kendall_tau_mean=queries["tau"].mean() if queries.height else None,
            fingerprint_changed=diff,
            worst_pairs=worst(pairs, "abs_delta", ["pair_id", "query_id", "doc_id", "score",
                                                   "score_other"]))
