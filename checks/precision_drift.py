"""Each float16/bfloat16 config stays within tolerance of the same engine in float32."""

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

SAME_ENGINE = ("kind", "model", "pooling", "max_length", "device")


class ExpectWithinPrecisionTolerance(gx.expectations.ExpectColumnMaxToBeBetween):
    """The largest |score - float32 twin's score| (judged as a one-row aggregate) is in
    tolerance."""

    column: str = "abs_delta"
    max_value: float = 0.02


class Detail(base.Detail):
    """What a precision_drift result's detail holds."""

    summary_fields = ("reason",)
    rows_field = "worst_pairs"
    worst_pairs: Rows = []


class Params(CheckParams):
    tolerance: float = 0.02


class PrecisionDrift:
    name = "precision_drift"
    Params = Params
    Detail = Detail
    needs_reference = False
    measures: ClassVar[dict[str, str]] = {  # what each subject's observed value is
        "*": "max |Δ score| vs the same engine in float32",
    }
    bounds: ClassVar[dict[str, str]] = {"*": AT_MOST}
    figure: ClassVar[str | None] = "scatter-{engine}"
    probes: ClassVar[dict[str, str]] = {}

    def run(self, data: SuiteInput, params: Params, judge: Judge) -> list[CheckResult]:
        results = []
        info = data.engine_info
        for engine in data.ok_engines():
            if info[engine]["dtype"] == "float32":
                results.append(row(self, params, engine, "*", SKIPPED,
                                   reason="float32 is the precision others are compared with"))
                continue
            twins = [n for n in data.ok_engines() if info[n]["dtype"] == "float32"
                     and all(info[n][f] == info[engine][f] for f in SAME_ENGINE)]
            if not twins:
                results.append(row(self, params, engine, "*", SKIPPED,
                                   reason="no float32 config of the same engine in this run"))
                continue
            pairs = data.paired(engine, twins[0]).with_columns(
                (pl.col("score") - pl.col("score_other")).abs().alias("abs_delta"))
            largest = pairs.select(pl.col("abs_delta").max())
            success, _ = judge.validate(largest, ExpectWithinPrecisionTolerance(
                max_value=params.tolerance))
            results.append(judged(self, params, engine, info[engine]["dtype"], success,
                                  largest["abs_delta"][0], params.tolerance, other=twins[0],
                                  worst_pairs=worst(pairs, "abs_delta",
                                                    ["doc_id", "score", "score_other"])))
        return results
