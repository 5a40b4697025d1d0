"""Every pair sent got a finite score: no NaN, no inf, nothing missing."""

from __future__ import annotations

import great_expectations as gx
import polars as pl

from checks.base import CheckParams, CheckResult, Judge, SuiteInput, judged


class ExpectFiniteScores(gx.expectations.ExpectColumnValuesToBeInSet):
    column: str = "is_finite"
    value_set: list = [True]  # noqa: RUF012 - pydantic field default


class Params(CheckParams):
    pass


class Finite:
    name = "finite"
    Params = Params
    needs_reference = False

    def run(self, data: SuiteInput, params: Params, judge: Judge) -> list[CheckResult]:
        results = []
        for engine in data.ok_engines():
            scores = data.engine_scores(engine).with_columns(
                (pl.col("score").is_not_null() & pl.col("score").is_finite()
                 & pl.col("logit").is_not_null() & pl.col("logit").is_finite())
                .fill_null(False).alias("is_finite"))
            success, _ = judge.validate(scores, ExpectFiniteScores())
            bad = scores.filter(~pl.col("is_finite"))
            results.append(judged(self, params, engine, "values", success, bad.height, 0,
                                  examples=bad.head(5).select("doc_id", "score").to_dicts()))
            sent = int(data.engine_info[engine]["pairs"] or 0)
            success, _ = judge.validate(scores, gx.expectations.ExpectTableRowCountToEqual(
                value=sent))
            results.append(judged(self, params, engine, "count", success, scores.height, sent,
                                  missing=sent - scores.height))
        return results
