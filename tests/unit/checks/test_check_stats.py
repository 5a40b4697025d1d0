"""The vectorized per-query statistics the checks use agree with the libraries they replace."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy.stats import kendalltau

from rerankwatch.checks.base import QueryLayout, query_blocks
from rerankwatch.checks.engine_agreement import kendall_tau_b, topk_overlap
from rerankwatch.checks.retrieval_quality import Params, metric_values, per_query_metrics


def test_query_blocks_stack_queries_by_size_in_frame_order() -> None:
    frame = pl.DataFrame({"set_id": ["s"] * 6, "query_id": ["a", "b", "a", "c", "b", "a"],
                          "score": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})
    blocks = {keys["query_id"].item(): block["score"].tolist()
              for keys, block in query_blocks(frame, ["score"])}
    assert blocks == {"c": [[4.0]], "b": [[2.0, 5.0]], "a": [[1.0, 3.0, 6.0]]}
    assert query_blocks(frame.clear(), ["score"]) == []


@pytest.mark.parametrize("queries", [
    [],  # no rows
    [("s", "a", 3)],
    [("s", "a", 2), ("s", "b", 2), ("t", "a", 1)],  # already by size: in place, no gather
    [("s", "a", 3), ("s", "b", 1), ("t", "a", 2), (None, "a", 2), ("s", None, 1)],
    [("s", "a", 1), ("s", "b", 2), ("s", "a", 1)],  # a query split over two runs: grouped
])
def test_query_layout_from_runs_is_the_grouped_layout(queries: list) -> None:
    frame = pl.DataFrame([(s, q) for s, q, size in queries for _ in range(size)],
                         schema={"set_id": pl.String, "query_id": pl.String}, orient="row")
    frame = pl.concat([frame.slice(0, 1), frame.slice(1)], rechunk=False)  # chunked as read
    grouped, layout = QueryLayout._grouped(frame), QueryLayout.of(frame)
    assert layout.keys.equals(grouped.keys) and layout.in_place == grouped.in_place
    for got, expected in [(layout.rows, grouped.rows), (layout.sizes, grouped.sizes)]:
        assert got.dtype == expected.dtype and got.tolist() == expected.tolist()
    assert (QueryLayout._of_runs(frame) is None) == (queries[-1:] == [("s", "a", 1)])


@pytest.mark.parametrize("k", [2, 3, 7, 40])
def test_kendall_tau_b_matches_scipy_with_ties_and_nan(k: int) -> None:
    rng = np.random.default_rng(k)
    x = rng.integers(0, 4, size=(60, k)).astype(float)  # many ties
    y = x + rng.integers(-1, 2, size=x.shape)
    x[0], y[1, 0], y[2] = 1.0, np.nan, 2.0  # all ties in x; a NaN; all ties in y
    expected = np.array([kendalltau(a, b).statistic for a, b in zip(x, y, strict=True)])
    np.testing.assert_array_equal(kendall_tau_b(x, y), expected)  # NaN where scipy gives NaN


def test_topk_overlap_counts_shared_top_positions() -> None:
    x = np.array([[0.9, 0.8, 0.1, 0.0], [0.9, 0.8, 0.1, 0.0]])
    y = np.array([[0.9, 0.8, 0.1, 0.0], [0.0, 0.1, 0.8, 0.9]])
    np.testing.assert_array_equal(topk_overlap(x, y, 2), [1.0, 0.0])
    np.testing.assert_array_equal(topk_overlap(x, y, 3), [1.0, 2 / 3])
    np.testing.assert_array_equal(topk_overlap(x[:, :2], y[:, :2], 3), [1.0, 1.0])  # k = 2


def test_retrieval_metrics_match_ranx() -> None:
    from ranx import Qrels, Run, evaluate

    rng = np.random.default_rng(0)
    rows = [{"set_id": "s", "query_id": f"q{q}", "doc_id": f"d{d}", "label": float(label),
             "score": float(score), "score_other": 0.0}
            for q in range(40) for d in range(int(rng.integers(2, 15)))
            for label, score in [(rng.integers(0, 4), rng.random())]]
    frame = pl.DataFrame(rows).filter(pl.col("label").max().over("query_id") > 0)
    metrics = ["ndcg@10", "ndcg", "ndcg_burges@5", "mrr", "mrr@3", "map@10", "precision@5",
               "recall@3", "hit_rate@2"]
    ours = per_query_metrics(query_blocks(frame, ["label", "score", "score_other"]), metrics)
    qrels = {q: dict(zip(g["doc_id"], g["label"].cast(int), strict=True))
             for (q,), g in frame.group_by("query_id")}
    run = {q: dict(zip(g["doc_id"], g["score"], strict=True))
           for (q,), g in frame.group_by("query_id")}
    expected = evaluate(Qrels(qrels), Run(run), metrics, return_mean=False)
    for metric in metrics:  # both are per-query lists; compare the multiset of values
        np.testing.assert_allclose(np.sort(ours[metric][0]), np.sort(expected[metric]),
                                   rtol=1e-12, err_msg=metric)
    ranked = np.array([[3, 0, 1, 0]])
    assert metric_values("mrr", ranked)[0] == 1.0 and metric_values("precision@2", ranked)[0] == 0.5


def test_retrieval_metric_names_are_validated() -> None:
    with pytest.raises(ValueError, match="unsupported metric"):
        Params(metrics=["ndcg@10", "bleu"])
