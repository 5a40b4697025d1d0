"""nDCG@10 and MRR on graded sets, candidate vs baseline, with a paired significance test."""

from __future__ import annotations

import re
from typing import ClassVar

import great_expectations as gx
import numpy as np
import polars as pl
from pydantic import field_validator
from scipy.stats import wilcoxon

from rerankwatch.checks import base
from rerankwatch.checks.base import CheckParams, Judge, SuiteInput, judged, row
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
    rows_field = None
    baseline: float | None = None
    candidate: float | None = None
    p_value: float | None = None
    queries: int | None = None


class Params(CheckParams):
    metrics: list[str] = ["ndcg@10", "mrr"]  # noqa: RUF012 - ranx metric names
    max_drop: float = 0.02  # mean per-query drop tolerated
    alpha: float = 0.05  # one-sided Wilcoxon signed-rank test

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


def per_query_metrics(blocks: list[tuple[pl.DataFrame, dict]], metrics: list[str]
                      ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per graded query with two or more pairs (from SuiteInput.paired_blocks; rows aligned):
    each metric for ``score`` and for ``score_other``. Ties keep the frame's order."""
    values: dict[str, tuple[list, list]] = {m: ([], []) for m in metrics}
    for _, block in blocks:
        relevance = np.rint(block["label"])
        graded = relevance.max(axis=1) > 0
        if relevance.shape[1] < 2 or not graded.any():
            continue
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


class RetrievalQuality:
    name = "retrieval_quality"
    Params = Params
    Detail = Detail
    needs_reference = True
    measures: ClassVar[dict[str, str]] = {  # what each subject's observed value is
        "ndcg@10": "nDCG@10 drop vs the reference",
        "mrr": "MRR drop vs the reference",
    }

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
            metrics = per_query_metrics(data.paired_blocks(engine, data.reference),
                                        params.metrics)
            if not len(metrics[params.metrics[0]][0]):
                results.append(row(self, params, engine, "*", SKIPPED, other=data.reference,
                                   reason="no graded query with two or more shared pairs"))
                continue
            for metric in params.metrics:
                cand, base = metrics[metric]
                drop, p_value = float(base.mean() - cand.mean()), paired_drop_p(cand, base)
                frame = pl.DataFrame({"metric": [metric], "drop": [drop], "p_value": [p_value],
                                      "significant_drop": [drop > params.max_drop
                                                           and p_value < params.alpha]})
                success, _ = judge.validate(frame, ExpectNoSignificantDrop())
                results.append(judged(self, params, engine, metric, success, drop,
                                      params.max_drop, other=data.reference, p_value=p_value,
                                      candidate=cand.mean(), baseline=base.mean(),
                                      queries=len(cand)))
        return results
