"""nDCG@10 and MRR on graded sets, candidate vs baseline, with a paired significance test."""

from __future__ import annotations

import great_expectations as gx
import numpy as np
import polars as pl
from scipy.stats import wilcoxon

from checks.base import SKIPPED, CheckParams, CheckResult, Judge, SuiteInput, judged, row


class ExpectNoSignificantDrop(gx.expectations.ExpectColumnValuesToBeInSet):
    column: str = "significant_drop"
    value_set: list = [False]  # noqa: RUF012 - pydantic field default


class Params(CheckParams):
    metrics: list[str] = ["ndcg@10", "mrr"]  # noqa: RUF012 - ranx metric names
    max_drop: float = 0.02  # mean per-query drop tolerated
    alpha: float = 0.05  # one-sided Wilcoxon signed-rank test


def per_query_metrics(frame: pl.DataFrame, metrics: list[str]) -> dict[str, dict[str, float]]:
    """Per-query metric values (ranx) keyed by metric then "set/query"."""
    from ranx import Qrels, Run, evaluate

    qrels, run = {}, {}
    for row_ in frame.iter_rows(named=True):
        key = f"{row_['set_id']}/{row_['query_id']}"
        qrels.setdefault(key, {})[row_["doc_id"]] = int(round(row_["label"]))
        run.setdefault(key, {})[row_["doc_id"]] = float(row_["score"])
    keys = sorted(k for k in qrels if max(qrels[k].values()) > 0 and len(qrels[k]) > 1)
    if not keys:
        return {m: {} for m in metrics}
    values = evaluate(Qrels({k: qrels[k] for k in keys}), Run({k: run[k] for k in keys}),
                      metrics, return_mean=False)
    values = values if isinstance(values, dict) else {metrics[0]: values}
    return {m: dict(zip(keys, np.atleast_1d(values[m]), strict=True)) for m in metrics}


def paired_drop_p(candidate: np.ndarray, baseline: np.ndarray) -> float:
    """One-sided p-value that the candidate scores lower than the baseline per query."""
    if np.allclose(candidate, baseline):
        return 1.0
    return float(wilcoxon(candidate, baseline, alternative="less").pvalue)


class RetrievalQuality:
    name = "retrieval_quality"
    Params = Params
    needs_reference = True

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
            ours = per_query_metrics(pairs, params.metrics)
            theirs = per_query_metrics(pairs.with_columns(pl.col("score_other").alias("score")),
                                       params.metrics)
            if not ours[params.metrics[0]]:
                results.append(row(self, params, engine, "*", SKIPPED, other=data.reference,
                                   reason="no graded query with two or more shared pairs"))
                continue
            for metric in params.metrics:
                keys = sorted(ours[metric])
                cand = np.array([ours[metric][k] for k in keys])
                base = np.array([theirs[metric][k] for k in keys])
                drop, p_value = float(base.mean() - cand.mean()), paired_drop_p(cand, base)
                frame = pl.DataFrame({"metric": [metric], "drop": [drop], "p_value": [p_value],
                                      "significant_drop": [drop > params.max_drop
                                                           and p_value < params.alpha]})
                success, _ = judge.validate(frame, ExpectNoSignificantDrop())
                results.append(judged(self, params, engine, metric, success, drop,
                                      params.max_drop, other=data.reference, p_value=p_value,
                                      candidate=cand.mean(), baseline=base.mean(),
                                      queries=len(keys)))
        return results
