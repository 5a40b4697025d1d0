"""Agreement with the reference engine: |Δ| score and logit, Kendall τ per query, top-k overlap."""

from __future__ import annotations

import math

import great_expectations as gx
import polars as pl
from scipy.stats import kendalltau

from checks.base import SKIPPED, CheckParams, CheckResult, Judge, SuiteInput, judged, row, worst

FINGERPRINT_FIELDS = ("kind", "dtype", "pooling", "max_length", "activation", "model")


class ExpectScoresCloseToReference(gx.expectations.ExpectColumnMaxToBeBetween):
    """The largest per-pair |score - reference score| stays within tolerance."""

    column: str = "abs_delta"
    max_value: float = 0.02


class Params(CheckParams):
    max_abs_delta: float = 0.02  # normalized score
    p99_abs_delta: float = 0.01
    max_abs_logit_delta: float = 0.1  # near-0/1 probabilities hide large logit changes
    min_kendall_tau: float = 0.5  # per query; a query whose ranking collapses to ties counts 0
    top_k: int = 3
    min_topk_overlap: float = 0.6


def per_query(pairs: pl.DataFrame, top_k: int) -> pl.DataFrame:
    """Kendall τ and top-k overlap between an engine and the reference, per query."""
    rows = []
    for (set_id, query_id), group in pairs.group_by("set_id", "query_id"):
        if group.height < 2:
            continue
        tau = kendalltau(group["score"], group["score_other"]).statistic
        k = min(top_k, group.height)
        top = set(group.sort("score", descending=True)["doc_id"][:k])
        top_ref = set(group.sort("score_other", descending=True)["doc_id"][:k])
        rows.append({"set_id": set_id, "query_id": query_id,
                     "tau": 0.0 if math.isnan(tau) else float(tau),
                     "overlap": len(top & top_ref) / k})
    return pl.DataFrame(rows, schema={"set_id": pl.String, "query_id": pl.String,
                                      "tau": pl.Float64, "overlap": pl.Float64})


class EngineAgreement:
    name = "engine_agreement"
    Params = Params
    needs_reference = True

    def run(self, data: SuiteInput, params: Params, judge: Judge) -> list[CheckResult]:
        results = []
        ref_info = data.engine_info[data.reference]
        for engine in data.ok_engines():
            if engine == data.reference:
                continue
            info = data.engine_info[engine]
            differs = {f: [info[f], ref_info[f]] for f in FINGERPRINT_FIELDS
                       if info[f] != ref_info[f]}
            pairs = data.paired(engine, data.reference).with_columns(
                (pl.col("score") - pl.col("score_other")).abs().alias("abs_delta"),
                (pl.col("logit") - pl.col("logit_other")).abs().alias("abs_logit_delta"),
            )
            offenders = worst(pairs, "abs_delta", ["pair_id", "query_id", "doc_id", "score",
                                                   "score_other", "logit", "logit_other"])
            queries = per_query(pairs, params.top_k)
            checks = [
                ("score_max_abs_delta", pairs, ExpectScoresCloseToReference(
                    max_value=params.max_abs_delta), pairs["abs_delta"].max(),
                 params.max_abs_delta, {"worst_pairs": offenders}),
                ("score_p99_abs_delta", pairs, gx.expectations
                 .ExpectColumnQuantileValuesToBeBetween(column="abs_delta", quantile_ranges={
                        "quantiles": [0.99], "value_ranges": [[None, params.p99_abs_delta]]}),
                 None, params.p99_abs_delta, {}),
                ("logit_max_abs_delta", pairs, gx.expectations.ExpectColumnMaxToBeBetween(
                    column="abs_logit_delta", max_value=params.max_abs_logit_delta),
                 pairs["abs_logit_delta"].max(), params.max_abs_logit_delta,
                 {"worst_pairs": worst(pairs, "abs_logit_delta", ["pair_id", "logit",
                                                                  "logit_other"])}),
                ("kendall_tau_min", queries, gx.expectations.ExpectColumnValuesToBeBetween(
                    column="tau", min_value=params.min_kendall_tau),
                 queries["tau"].min(), params.min_kendall_tau,
                 {"worst_queries": worst(queries, "tau", ["set_id", "query_id", "tau"],
                                         descending=False)}),
                ("topk_overlap_min", queries, gx.expectations.ExpectColumnValuesToBeBetween(
                    column="overlap", min_value=params.min_topk_overlap),
                 queries["overlap"].min(), params.min_topk_overlap, {"k": params.top_k}),
            ]
            for subject, frame, expectation, observed, threshold, detail in checks:
                if frame.is_empty():
                    results.append(row(self, params, engine, subject, SKIPPED,
                                       other=data.reference,
                                       reason="no query with two or more shared pairs"))
                    continue
                success, result = judge.validate(frame, expectation)
                if subject == "score_p99_abs_delta":  # report the quantile GE judged
                    observed = result["observed_value"]["values"][0]
                results.append(judged(self, params, engine, subject, success, observed,
                                      threshold, other=data.reference, pairs=pairs.height,
                                      fingerprint_differs=differs, **detail))
        return results
