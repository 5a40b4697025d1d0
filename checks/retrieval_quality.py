"""nDCG@10 and MRR on graded sets, candidate vs baseline, with a paired significance test, and
the per-query outcomes behind it: how many queries improved, degraded or stayed unchanged
(PyTerrier's "#+" / "#-"), and which degraded most. The counts are informational: only the
mean drop and the test judge."""

from __future__ import annotations

import re
from typing import ClassVar

import great_expectations as gx
import numpy as np
import polars as pl
from pydantic import field_validator
from scipy.stats import wilcoxon

from rerankwatch.checks import base
from rerankwatch.checks.base import AT_MOST, CheckParams, Judge, SuiteInput, judged, row
from rerankwatch.core.records import SKIPPED, CheckResult

# ranx's metric names (and definitions, with its default rel_lvl=1), optionally "@k"
METRIC = re.compile(r"^(?P<name>ndcg|ndcg_burges|mrr|map|precision|recall|hit_rate)"
                    r"(@(?P<k>[1-9][0-9]*))?$")


class ExpectNoSignificantDrop(gx.expectations.ExpectColumnValuesToBeInSet):
    column: str = "significant_drop"
    value_set: list = [False]  # noqa: RUF012 - pydantic field default


class Detail(base.Detail):
    """What a retrieval_quality result's detail holds."""

    summary_fields = ("reason",)
    rows_field = "most_degraded"
    baseline: float | None = None  # mean per-query value of the reference
    candidate: float | None = None  # ... and of the engine judged
    p_value: float | None = None
    queries: int | None = None
    # per query: candidate above / below / within ``unchanged_below`` of the baseline
    improved: int | None = None
    degraded: int | None = None
    unchanged: int | None = None
    most_degraded: list[dict] | None = None  # set_id, query_id, baseline, candidate


class Params(CheckParams):
    metrics: list[str] = ["ndcg@10", "mrr"]  # noqa: RUF012 - ranx metric names
    max_drop: float = 0.02  # mean per-query drop tolerated
    alpha: float = 0.05  # one-sided Wilcoxon signed-rank test
    unchanged_below: float = 1e-9  # a query whose |Δ| is at most this counts as unchanged
    most_degraded: int = 5  # queries listed in the detail, largest drop first

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, metrics: list[str]) -> list[str]:
        unknown = [m for m in metrics if not METRIC.match(m)]
        if unknown or not metrics:
            raise ValueError(f"unsupported metric(s) {unknown}: use ndcg, ndcg_burges, mrr, map, "
                             "precision, recall or hit_rate, optionally with @k")
        return metrics


def metric_values(metric: str, ranked: np.ndarray) -> np.ndarray:
    """``metric`` as ranx defines it, for each row of ``ranked``: integer relevance labels in
    the order the engine ranked the docs (label ≥ 1 is relevant)."""
    match = METRIC.match(metric)
    name, k, n = match["name"], int(match["k"] or 0), ranked.shape[1]
    cut = n if k == 0 or k > n else k
    hits = ranked >= 1
    top = hits[:, :cut]
    if name in ("ndcg", "ndcg_burges"):
        gain = np.where(hits, ranked if name == "ndcg" else 2.0 ** ranked - 1.0, 0.0)
        discount = 1.0 / np.log2(np.arange(2, cut + 2))
        ideal = -np.sort(-gain, axis=1)[:, :cut] @ discount
        return (gain[:, :cut] @ discount) / np.where(ideal == 0.0, 1.0, ideal)
    if name == "mrr":
        return np.where(top.any(axis=1), 1.0 / (top.argmax(axis=1) + 1), 0.0)
    found, relevant = top.sum(axis=1), hits.sum(axis=1)
    if name == "precision":
        return found / (k or n)
    if name == "recall":
        return found / relevant
    if name == "hit_rate":
        return (found > 0).astype(np.float64)
    precision_at = np.cumsum(top, axis=1) / np.arange(1, cut + 1)  # map
    return (precision_at * top).sum(axis=1) / relevant


def _graded(block: dict[str, np.ndarray]) -> np.ndarray | None:
    """The rows of a query block that per_query_metrics measures (None: none of them)."""
    relevance = np.rint(block["label"])
    graded = relevance.max(axis=1) > 0
    return graded if relevance.shape[1] >= 2 and graded.any() else None


def graded_queries(blocks: list[tuple[pl.DataFrame, dict]]) -> pl.DataFrame:
    """(set_id, query_id) of each query per_query_metrics measures, in its order."""
    keys = [k.filter(pl.Series(graded)) for k, block in blocks
            if (graded := _graded(block)) is not None]
    return pl.concat(keys) if keys else pl.DataFrame(schema={"set_id": pl.String,
                                                             "query_id": pl.String})


def per_query_metrics(blocks: list[tuple[pl.DataFrame, dict]], metrics: list[str]
                      ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per graded query with two or more pairs (from SuiteInput.paired_blocks; rows aligned):
    each metric for ``score`` and for ``score_other``, queries in graded_queries' order. Ties
    keep the frame's order."""
    values: dict[str, tuple[list, list]] = {m: ([], []) for m in metrics}
    for _, block in blocks:
        graded = _graded(block)
        if graded is None:
            continue
        relevance = np.rint(block["label"])
        for side, column in enumerate(("score", "score_other")):
            order = np.argsort(-block[column][graded], axis=1, kind="stable")
            ranked = np.take_along_axis(relevance[graded], order, axis=1)
            for metric in metrics:
                values[metric][side].append(metric_values(metric, ranked))
    return {m: tuple(np.concatenate(v) if v else np.empty(0) for v in sides)
            for m, sides in values.items()}


def paired_drop_p(candidate: np.ndarray, baseline: np.ndarray) -> float:
    """One-sided p-value that the candidate scores lower than the baseline per query."""
    if np.allclose(candidate, baseline):
        return 1.0
    return float(wilcoxon(candidate, baseline, alternative="less").pvalue)


def outcomes(candidate: np.ndarray, baseline: np.ndarray, unchanged_below: float
             ) -> dict[str, int]:
    """How many queries the candidate improved, degraded or left unchanged (|Δ| at most
    ``unchanged_below``) against the baseline."""
    delta = candidate - baseline
    changed = np.abs(delta) > unchanged_below
    return {"improved": int((changed & (delta > 0)).sum()),
            "degraded": int((changed & (delta < 0)).sum()),
            "unchanged": int((~changed).sum())}


def most_degraded(keys: pl.DataFrame, candidate: np.ndarray, baseline: np.ndarray,
                  unchanged_below: float, n: int) -> list[dict]:
    """The ``n`` degraded queries with the largest drop: set_id, query_id, baseline, candidate."""
    frame = keys.with_columns(baseline=pl.Series(baseline), candidate=pl.Series(candidate))
    frame = frame.filter(pl.col("baseline") - pl.col("candidate") > unchanged_below)
    return (frame.with_columns(_drop=pl.col("baseline") - pl.col("candidate"))
            .sort("_drop", "set_id", "query_id", descending=[True, False, False])
            .head(n).drop("_drop").to_dicts())


class RetrievalQuality:
    name = "retrieval_quality"
    Params = Params
    Detail = Detail
    needs_reference = True
    measures: ClassVar[dict[str, str]] = {  # what each subject's observed value is
        "ndcg@10": "nDCG@10 drop vs the reference",
        "mrr": "MRR drop vs the reference",
    }
    bounds: ClassVar[dict[str, str]] = {"*": AT_MOST}
    figure: ClassVar[str | None] = "quality"
    probes: ClassVar[dict[str, str]] = {}

    def run(self, data: SuiteInput, params: Params, judge: Judge) -> list[CheckResult]:
        results = []
        for engine in data.ok_engines():
            if engine == data.reference:
                continue
            pairs = data.paired(engine, data.reference)
            if pairs["label"].n_unique() < 2:
                results.append(row(self, params, engine, "*", SKIPPED, other=data.reference,
                                   reason="no graded labels in the shared sample sets"))
                continue
            blocks = data.paired_blocks(engine, data.reference)
            metrics = per_query_metrics(blocks, params.metrics)
            if not len(metrics[params.metrics[0]][0]):
                results.append(row(self, params, engine, "*", SKIPPED, other=data.reference,
                                   reason="no graded query with two or more shared pairs"))
                continue
            keys = graded_queries(blocks)
            for metric in params.metrics:
                cand, base = metrics[metric]
                worst = most_degraded(keys, cand, base, params.unchanged_below,
                                      params.most_degraded)
                drop, p_value = float(base.mean() - cand.mean()), paired_drop_p(cand, base)
                frame = pl.DataFrame({"metric": [metric], "drop": [drop], "p_value": [p_value],
                                      "significant_drop": [drop > params.max_drop
                                                           and p_value < params.alpha]})
                success, _ = judge.validate(frame, ExpectNoSignificantDrop())
                results.append(judged(self, params, engine, metric, success, drop,
                                      params.max_drop, other=data.reference, p_value=p_value,
                                      candidate=cand.mean(), baseline=base.mean(),
                                      queries=len(cand), most_degraded=worst,
                                      **outcomes(cand, base, params.unchanged_below)))
        return results
