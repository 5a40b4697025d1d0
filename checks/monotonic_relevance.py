"""Within every ladder the score falls as the ladder rank rises (within a margin)."""

from __future__ import annotations

from typing import ClassVar

import great_expectations as gx
import polars as pl

from rerankwatch.checks import base
from rerankwatch.checks.base import (
    AT_LEAST,
    CheckParams,
    Judge,
    Rows,
    SuiteInput,
    judged,
    row,
    worst,
)
from rerankwatch.core.records import SKIPPED, CheckResult


class ExpectLadderStepsNotInverted(gx.expectations.ExpectColumnValuesToBeBetween):
    """Each ladder step's score drop (rank r minus rank r+1) is at least -margin."""

    column: str = "drop"
    min_value: float = 0.0


class Detail(base.Detail):
    """What a monotonic_relevance result's detail holds."""

    summary_fields = ("reason",)
    rows_field = "inverted"
    ladders: int | None = None
    inverted: Rows = []


class Params(CheckParams):
    margin: float = 0.0  # how far a lower rung may score above the one before it


class MonotonicRelevance:
    name = "monotonic_relevance"
    Params = Params
    Detail = Detail
    needs_reference = False
    measures: ClassVar[dict[str, str]] = {  # what each subject's observed value is
        "*": "smallest step down a relevance ladder",
    }
    bounds: ClassVar[dict[str, str]] = {"*": AT_LEAST}  # the smallest step down a ladder
    figure: ClassVar[str | None] = "ladders"
    probes: ClassVar[dict[str, str]] = {}

    def run(self, data: SuiteInput, params: Params, judge: Judge) -> list[CheckResult]:
        results = []
        for engine in data.ok_engines():
            ladders = data.engine_scores(engine).filter(pl.col("ladder").is_not_null())
            if ladders.is_empty():
                results.append(row(self, params, engine, "*", SKIPPED,
                                   reason="no ladders in this engine's sample sets"))
                continue
            rung = ["set_id", "ladder"]
            steps = (
                ladders.sort([*rung, "ladder_rank"])
                .with_columns(
                    pl.col("score").shift(-1).over(rung).alias("next_score"),
                    pl.col("doc_id").shift(-1).over(rung).alias("next_doc_id"),
                    pl.col("ladder_rank").shift(-1).over(rung).alias("next_rank"),
                )
                .drop_nulls("next_score")
                .with_columns((pl.col("score") - pl.col("next_score")).alias("drop"))
            )
            for (set_id,), frame in steps.group_by("set_id", maintain_order=True):
                success, _ = judge.validate(frame, ExpectLadderStepsNotInverted(
                    min_value=-params.margin))
                inverted = frame.filter(pl.col("drop") < -params.margin)
                results.append(judged(
                    self, params, engine, set_id, success, frame["drop"].min(), -params.margin,
                    ladders=frame["ladder"].n_unique(),
                    inverted=worst(inverted, "drop", ["ladder", "ladder_rank", "doc_id", "score",
                                                      "next_rank", "next_doc_id", "next_score"],
                                   descending=False)))
        return results
