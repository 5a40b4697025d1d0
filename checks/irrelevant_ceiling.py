"""No near-1 scores on pairs tagged known_irrelevant."""

from __future__ import annotations

from typing import ClassVar

import great_expectations as gx
import polars as pl

from rerankwatch.checks import base
from rerankwatch.checks.base import (
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


class ExpectIrrelevantBelowCeiling(gx.expectations.ExpectColumnValuesToBeBetween):
    column: str = "score"
    max_value: float = 0.5


class Detail(base.Detail):
    """What a irrelevant_ceiling result's detail holds."""

    summary_fields = ("reason",)
    rows_field = "worst_pairs"
    pairs: int | None = None
    worst_pairs: Rows = []


class Params(CheckParams):
    probability_ceiling: float = 0.5  # sigmoid / softmax / raw scores
    cosine_ceiling: float = 0.3  # bi-encoder cosine similarity


class IrrelevantCeiling:
    name = "irrelevant_ceiling"
    Params = Params
    Detail = Detail
    needs_reference = False
    measures: ClassVar[dict[str, str]] = {  # what each subject's observed value is
        "*": "highest score of a known-irrelevant pair",
    }
    bounds: ClassVar[dict[str, str]] = {"*": AT_MOST}
    figure: ClassVar[str | None] = "distribution"
    probes: ClassVar[dict[str, str]] = {}

    def run(self, data: SuiteInput, params: Params, judge: Judge) -> list[CheckResult]:
        results = []
        for engine in data.ok_engines():
            ceiling = (params.cosine_ceiling if data.engine_info[engine]["activation"] == "cosine"
                       else params.probability_ceiling)
            irrelevant = data.engine_scores(engine).filter(pl.col("known_irrelevant"))
            if irrelevant.is_empty():
                results.append(row(self, params, engine, "*", SKIPPED,
                                   reason="no known_irrelevant pairs in this engine's sets"))
                continue
            for (set_id,), frame in irrelevant.group_by("set_id", maintain_order=True):
                success, _ = judge.validate(frame, ExpectIrrelevantBelowCeiling(
                    max_value=ceiling))
                results.append(judged(
                    self, params, engine, set_id, success, frame["score"].max(), ceiling,
                    pairs=frame.height,
                    worst_pairs=worst(frame.filter(pl.col("score") > ceiling), "score",
                                      ["query_id", "doc_id", "query", "score"])))
        return results
