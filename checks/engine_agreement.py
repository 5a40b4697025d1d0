"""Agreement with the reference engine: |Δ| score and logit, Kendall τ per query, top-k overlap."""

from __future__ import annotations

from typing import Any, ClassVar

import great_expectations as gx
import numpy as np
import polars as pl
from scipy.stats import kendalltau

from rerankwatch.checks import base
from rerankwatch.checks.base import (
    AT_LEAST,
    AT_MOST,
    CheckParams,
    Judge,
    Rows,
    SuiteInput,
    judged,
    row,
    worst,
)
from rerankwatch.core.records import SKIPPED, CheckResult

FINGERPRINT_FIELDS = ("kind", "dtype", "pooling", "max_length", "activation", "model")


class ExpectScoresCloseToReference(gx.expectations.ExpectColumnMaxToBeBetween):
    """The largest per-pair |score - reference score| stays within tolerance (judged on each
    query's largest)."""

    column: str = "abs_delta"
    max_value: float = 0.02


class Detail(base.Detail):
    """What a engine_agreement result's detail holds."""

    summary_fields = ("reason",)
    rows_field = "worst_pairs"
    pairs: int | None = None
    fingerprint_differs: dict[str, Any] | list | None = None
    worst_pairs: Rows = []
    worst_queries: Rows = []
    k: int | None = None


class Params(CheckParams):
    max_abs_delta: float = 0.02  # normalized score
    p99_abs_delta: float = 0.01
    max_abs_logit_delta: float = 0.1  # near-0/1 probabilities hide large logit changes
    min_kendall_tau: float = 0.5  # per query; a query whose ranking collapses to ties counts 0
    top_k: int = 3
    min_topk_overlap: float = 0.6
    # when either engine runs float16 / bfloat16 / int8: the score thresholds of
    # precision_drift (the demo cross-encoder in bfloat16 reaches p99 0.011 against float32)
    low_precision_max_abs_delta: float = 0.03
    low_precision_p99_abs_delta: float = 0.02
    low_precision_max_abs_logit_delta: float = 0.2

    def thresholds(self, *dtypes: str) -> tuple[float, float, float]:
        """(max |Δ| score, p99 |Δ| score, max |Δ| logit) for engines of these dtypes: with a
        low-precision side, the low_precision_* ones, never stricter than the others."""
        full = (self.max_abs_delta, self.p99_abs_delta, self.max_abs_logit_delta)
        if any(d in LOW_PRECISION for d in dtypes):
            low = (self.low_precision_max_abs_delta, self.low_precision_p99_abs_delta,
                   self.low_precision_max_abs_logit_delta)
            return tuple(max(a, b) for a, b in zip(full, low, strict=True))
        return full


LOW_PRECISION = ("float16", "bfloat16", "int8")


CHUNK_CELLS = 1 << 20  # bounds the [queries, k, k] sign matrices of one step
LARGEST_BROADCAST_QUERY = 1024  # bigger queries go to scipy one by one (O(k log k))


def kendall_tau_b(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall's τ-b of each row of ``x`` against the same row of ``y``, exactly as
    ``scipy.stats.kendalltau`` computes it (NaN when either row is all ties or holds a NaN)."""
    queries, k = x.shape
    if k > LARGEST_BROADCAST_QUERY:
        return np.array([kendalltau(a, b).statistic for a, b in zip(x, y, strict=True)])
    tau, total = np.empty(queries), k * (k - 1) // 2
    first, second = np.triu_indices(k, 1)  # each pair of positions once
    step = max(1, CHUNK_CELLS // max(total, 1))
    for lo in range(0, queries, step):
        xs, ys = x[lo:lo + step], y[lo:lo + step]
        with np.errstate(invalid="ignore"):  # a NaN's sign: its row is NaN below
            dx = np.sign(xs[:, first] - xs[:, second]).astype(np.int8)
            dy = np.sign(ys[:, first] - ys[:, second]).astype(np.int8)
        con_minus_dis = np.einsum("ij,ij->i", dx, dy, dtype=np.int64)
        x_ties = (dx == 0).sum(axis=1)
        y_ties = (dy == 0).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            tau[lo:lo + step] = con_minus_dis / np.sqrt(total - x_ties) / np.sqrt(total - y_ties)
        # a NaN makes no sign (np.sign gives NaN, int8 0): scipy's τ of such a row is NaN
        bad = np.isnan(xs).any(axis=1) | np.isnan(ys).any(axis=1)
        tau[lo:lo + step][bad] = np.nan
    return np.clip(tau, -1.0, 1.0)


def topk_overlap(x: np.ndarray, y: np.ndarray, top_k: int) -> np.ndarray:
    """Share of each row's top-k positions by ``x`` that are also in its top-k by ``y``."""
    k = min(top_k, x.shape[1])
    top_x = np.argsort(-x, axis=1, kind="stable")[:, :k]
    top_y = np.argsort(-y, axis=1, kind="stable")[:, :k]
    return (top_x[:, :, None] == top_y[:, None, :]).any(axis=2).sum(axis=1) / k


def per_query(blocks: list[tuple[pl.DataFrame, dict]], top_k: int) -> pl.DataFrame:
    """Per query (from SuiteInput.paired_blocks): its largest |Δ| score and logit against the
    reference and, with two or more pairs, Kendall τ (a ranking collapsed to ties counts 0)
    and top-k overlap."""
    parts = []
    for keys, block in blocks:
        score, ref = block["score"], block["score_other"]
        ranked = score.shape[1] >= 2
        parts.append(keys.with_columns(
            pairs=pl.lit(score.shape[1], dtype=pl.Int64),
            abs_delta=np.fmax.reduce(np.abs(score - ref), axis=1),
            abs_logit_delta=np.fmax.reduce(np.abs(block["logit"] - block["logit_other"]), axis=1),
            tau=np.nan_to_num(kendall_tau_b(score, ref), nan=0.0) if ranked else None,
            overlap=topk_overlap(score, ref, top_k) if ranked else None,
        ).cast({"tau": pl.Float64, "overlap": pl.Float64}))
    return pl.concat(parts) if parts else pl.DataFrame(schema={
        "set_id": pl.String, "query_id": pl.String, "pairs": pl.Int64, "abs_delta": pl.Float64,
        "abs_logit_delta": pl.Float64, "tau": pl.Float64, "overlap": pl.Float64})


class EngineAgreement:
    name = "engine_agreement"
    Params = Params
    Detail = Detail
    needs_reference = True
    measures: ClassVar[dict[str, str]] = {  # what each subject's observed value is
        "kendall_tau_min": "lowest per-query Kendall τ vs the reference",
        "topk_overlap_min": "lowest per-query top-k overlap with the reference",
        "score_max_abs_delta": "max |Δ score| vs the reference",
        "score_p99_abs_delta": "p99 |Δ score| vs the reference",
        "logit_max_abs_delta": "max |Δ logit| vs the reference",
    }
    bounds: ClassVar[dict[str, str]] = {
        "kendall_tau_min": AT_LEAST,
        "topk_overlap_min": AT_LEAST,
        "*": AT_MOST,
    }
    figure: ClassVar[str | None] = "scatter-{engine}"
    probes: ClassVar[dict[str, str]] = {}

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
            max_delta, p99_delta, logit_delta = params.thresholds(info["dtype"],
                                                                  ref_info["dtype"])
            queries = per_query(data.paired_blocks(engine, data.reference), params.top_k)
            ranked = queries.filter(pl.col("pairs") >= 2)
            # the p99 as GE's pandas quantile computes it ("nearest"), judged as one value
            p99 = pl.DataFrame({"p99_abs_delta": [float(np.nanquantile(
                pairs["abs_delta"].to_numpy(), 0.99, method="nearest"))]} if pairs.height else
                {"p99_abs_delta": []}, schema={"p99_abs_delta": pl.Float64})
            checks = [
                ("score_max_abs_delta", queries, ExpectScoresCloseToReference(
                    max_value=max_delta), queries["abs_delta"].max(),
                 max_delta, {"worst_pairs": offenders}),
                ("score_p99_abs_delta", p99, gx.expectations.ExpectColumnMaxToBeBetween(
                    column="p99_abs_delta", max_value=p99_delta),
                 p99["p99_abs_delta"].max(), p99_delta, {}),
                ("logit_max_abs_delta", queries, gx.expectations.ExpectColumnMaxToBeBetween(
                    column="abs_logit_delta", max_value=logit_delta),
                 queries["abs_logit_delta"].max(), logit_delta,
                 {"worst_pairs": worst(pairs, "abs_logit_delta", ["pair_id", "logit",
                                                                  "logit_other"])}),
                ("kendall_tau_min", ranked, gx.expectations.ExpectColumnValuesToBeBetween(
                    column="tau", min_value=params.min_kendall_tau),
                 ranked["tau"].min(), params.min_kendall_tau,
                 {"worst_queries": worst(ranked, "tau", ["set_id", "query_id", "tau"],
                                         descending=False)}),
                ("topk_overlap_min", ranked, gx.expectations.ExpectColumnValuesToBeBetween(
                    column="overlap", min_value=params.min_topk_overlap),
                 ranked["overlap"].min(), params.min_topk_overlap, {"k": params.top_k}),
            ]
            for subject, frame, expectation, observed, threshold, detail in checks:
                if frame.is_empty():
                    results.append(row(self, params, engine, subject, SKIPPED,
                                       other=data.reference,
                                       reason="no query with two or more shared pairs"))
                    continue
                success, _ = judge.validate(frame, expectation)
                results.append(judged(self, params, engine, subject, success, observed,
                                      threshold, other=data.reference, pairs=pairs.height,
                                      fingerprint_differs=differs, **detail))
        return results
