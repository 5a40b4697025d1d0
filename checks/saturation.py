"""Saturation and ties: exact 0/1 scores, ties within a query, scores on an fp16/bf16 grid."""

from __future__ import annotations

from typing import ClassVar

import great_expectations as gx
import numpy as np
import polars as pl

from rerankwatch.checks import base
from rerankwatch.checks.base import AT_MOST, CheckParams, Judge, Rows, SuiteInput, judged, row
from rerankwatch.core.records import SKIPPED, CheckResult

PROBABILITY_ACTIVATIONS = ("sigmoid", "softmax")


class ExpectShareAtMost(gx.expectations.ExpectColumnMeanToBeBetween):
    """The share of flagged pairs stays at or below a ceiling (judged on the one-row share)."""

    max_value: float = 0.0


class Detail(base.Detail):
    """What a saturation result's detail holds."""

    summary_fields = ("reason",)
    rows_field = "examples"
    examples: Rows = []


class Params(CheckParams):
    max_saturated_share: float = 0.01  # exactly 0.0 or 1.0
    max_tied_share: float = 0.05  # pairs whose score equals another's in the same query
    max_low_precision_share: float = 0.5  # scores exactly representable in float16/bfloat16


def on_low_precision_grid(scores: np.ndarray) -> np.ndarray:
    """True where a float64 score is exactly a float16 or bfloat16 value (activation in low
    precision); float64 activations over real logits essentially never land there."""
    with np.errstate(over="ignore", invalid="ignore"):
        fp16 = np.float16(scores).astype(np.float64) == scores
        as32 = scores.astype(np.float32)
        bf16 = (as32.astype(np.float64) == scores) & ((as32.view(np.uint32) & 0xFFFF) == 0)
    return fp16 | bf16


def tied_within_query(scores: pl.DataFrame) -> np.ndarray:
    """True where another pair of the same query has exactly the same score (only scores that
    repeat anywhere are looked at per query: few, for any healthy engine)."""
    values = scores["score"].to_numpy()
    ordered = np.sort(values)
    repeated = np.isin(values, ordered[1:][ordered[1:] == ordered[:-1]]) | np.isnan(values)
    tied = np.zeros(scores.height, dtype=bool)
    if repeated.any():
        candidates = scores.filter(pl.Series(repeated))
        tied[repeated] = candidates.select(
            pl.struct("set_id", "query_id", "score").is_duplicated()).to_series().to_numpy()
    return tied


class Saturation:
    name = "saturation"
    Params = Params
    Detail = Detail
    needs_reference = False
    measures: ClassVar[dict[str, str]] = {  # what each subject's observed value is
        "saturated_share": "share of scores at exactly 0 or 1",
        "tied_share": "share of scores tied within a query",
        "low_precision_share": "share of scores on a float16/bfloat16 grid",
    }
    bounds: ClassVar[dict[str, str]] = {"*": AT_MOST}
    figure: ClassVar[str | None] = "distribution"
    probes: ClassVar[dict[str, str]] = {}

    def run(self, data: SuiteInput, params: Params, judge: Judge) -> list[CheckResult]:
        results = []
        for engine in data.ok_engines():
            scores = data.engine_scores(engine)
            flags = scores.select(
                "query_id", "doc_id", "score",
                saturated=pl.col("score").is_in([0.0, 1.0]),
                tied=pl.Series(tied_within_query(scores)),
                grid=pl.Series(on_low_precision_grid(scores["score"].to_numpy())),
            )
            shares = flags.select(pl.col("saturated", "tied", "grid").cast(pl.Float64).mean())
            subjects = [("saturated_share", "saturated", params.max_saturated_share),
                        ("tied_share", "tied", params.max_tied_share)]
            if data.engine_info[engine]["activation"] in PROBABILITY_ACTIVATIONS:
                subjects.append(("low_precision_share", "grid", params.max_low_precision_share))
            else:  # raw logits or cosine: no activation whose precision could collapse scores
                results.append(row(self, params, engine, "low_precision_share", SKIPPED,
                                   reason=f"activation {data.engine_info[engine]['activation']!r}"
                                          " applies no probability function"))
            for subject, column, ceiling in subjects:
                success, _ = judge.validate(shares, ExpectShareAtMost(column=column,
                                                                      max_value=ceiling))
                flagged = flags.filter(pl.col(column))
                results.append(judged(
                    self, params, engine, subject, success, shares[column][0], ceiling,
                    examples=flagged.head(5).select("query_id", "doc_id", "score").to_dicts()))
        return results
