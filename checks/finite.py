"""Every pair sent got a finite score: no NaN, no inf, nothing missing."""

from __future__ import annotations

from typing import ClassVar

import great_expectations as gx
import polars as pl

from rerankwatch.checks import base
from rerankwatch.checks.base import AT_MOST, EXACTLY, CheckParams, Judge, Rows, SuiteInput, judged
from rerankwatch.core.records import CheckResult


class ExpectFiniteScores(gx.expectations.ExpectColumnValuesToBeInSet):
    """Every score and logit is finite (judged on the engine's one-row aggregate)."""

    column: str = "is_finite"
    value_set: list = [True]  # noqa: RUF012 - pydantic field default


class ExpectEveryPairScored(gx.expectations.ExpectColumnValuesToBeBetween):
    """As many scores as pairs sent (judged on the engine's one-row aggregate)."""

    column: str = "pairs"


class Detail(base.Detail):
    """What a finite result's detail holds."""

    summary_fields = ("reason",)
    rows_field = "examples"
    missing: int | None = None
    examples: Rows = []


class Params(CheckParams):
    pass


class Finite:
    name = "finite"
    Params = Params
    Detail = Detail
    needs_reference = False
    measures: ClassVar[dict[str, str]] = {  # what each subject's observed value is
        "values": "non-finite scores or logits",
        "count": "pairs scored (of the pairs sent)",
    }
    bounds: ClassVar[dict[str, str]] = {
        "count": EXACTLY,  # pairs scored: those sent
        "*": AT_MOST,
    }
    figure: ClassVar[str | None] = None
    probes: ClassVar[dict[str, str]] = {}

    def run(self, data: SuiteInput, params: Params, judge: Judge) -> list[CheckResult]:
        results = []
        for engine in data.ok_engines():
            scores = data.engine_scores(engine).with_columns(
                (pl.col("score").is_not_null() & pl.col("score").is_finite()
                 & pl.col("logit").is_not_null() & pl.col("logit").is_finite())
                .fill_null(False).alias("is_finite"))
            totals = scores.select(pl.col("is_finite").all(), pairs=pl.len())
            success, _ = judge.validate(totals, ExpectFiniteScores())
            bad = scores.filter(~pl.col("is_finite"))
            results.append(judged(self, params, engine, "values", success, bad.height, 0,
                                  examples=bad.head(5).select("doc_id", "score").to_dicts()))
            sent = int(data.engine_info[engine]["pairs"] or 0)
            success, _ = judge.validate(totals, ExpectEveryPairScored(min_value=sent,
                                                                      max_value=sent))
            results.append(judged(self, params, engine, "count", success, scores.height, sent,
                                  missing=sent - scores.height))
        return results
