"""An engine config computes in the precision it declares: a float32 config's logits and scores
are not confined to a float16 / bfloat16 grid.

A model loaded in another dtype than its config says (transformers v5 loading the checkpoint's
``dtype`` where v4 loaded float32: the ``default_dtype`` replay), or an activation computed in
half precision (the ``low_precision_activation`` replay), leaves every value it produces on the
grid of that lower precision. Float32 arithmetic lands there about once in 8 000 values
(float16's 10 mantissa bits of float32's 23), so a share above a few percent says the engine
runs in a precision it does not declare: its noise and drift are then judged with tolerances
that are too tight, or too loose. Engines that declare a lower precision, that declare none (a
server: ``unknown``) or whose scores are cosines computed from embeddings are not judged.
"""

from __future__ import annotations

from typing import ClassVar

import great_expectations as gx
import numpy as np
import polars as pl

from rerankwatch.checks import base
from rerankwatch.checks.base import AT_MOST, CheckParams, Judge, Rows, SuiteInput, judged, row
from rerankwatch.checks.saturation import on_low_precision_grid
from rerankwatch.core.records import SKIPPED, CheckResult

TRIVIAL = (0.0, 1.0, -1.0)  # on every grid: saturation judges them
HINTS = {
    "logits": "the logits sit on a half-precision grid: the model runs in float16/bfloat16 "
              "while its config says float32 (a library that loads the checkpoint's dtype, "
              "transformers v5)",
    "scores": "the scores sit on a half-precision grid: the activation (sigmoid/softmax) is "
              "computed in float16/bfloat16 while the config says float32",
}


class ExpectShareOffGrid(gx.expectations.ExpectColumnMeanToBeBetween):
    """The share of values on a half-precision grid stays at or below a ceiling (judged on the
    engine's one-row share)."""

    max_value: float = 0.05


class Detail(base.Detail):
    """What a declared_precision result's detail holds."""

    summary_fields = ("hint", "reason")
    rows_field = "examples"
    hint: str | None = None
    values: int | None = None
    examples: Rows = []


class Params(CheckParams):
    # share of non-trivial values exactly representable in float16 or bfloat16: float32
    # arithmetic gives about 1e-4 (measured 0 of 45 logits and scores of the demo cross-encoder
    # and of the fixture); a model or an activation run in half precision gives 1.0
    max_grid_share: float = 0.05


class DeclaredPrecision:
    name = "declared_precision"
    Params = Params
    Detail = Detail
    needs_reference = False
    measures: ClassVar[dict[str, str]] = {  # what each subject's observed value is
        "logits": "share of logits on a float16/bfloat16 grid (declared float32)",
        "scores": "share of scores on a float16/bfloat16 grid (declared float32)",
    }
    bounds: ClassVar[dict[str, str]] = {"*": AT_MOST}
    figure: ClassVar[str | None] = None
    probes: ClassVar[dict[str, str]] = {}

    def run(self, data: SuiteInput, params: Params, judge: Judge) -> list[CheckResult]:
        results = []
        for engine in data.ok_engines():
            info = data.engine_info[engine]
            reason = self._not_judged(info)
            if reason:
                results += [row(self, params, engine, subject, SKIPPED, reason=reason)
                            for subject in self.measures]
                continue
            scores = data.engine_scores(engine)
            for subject, column in (("logits", "logit"), ("scores", "score")):
                if subject == "scores" and info["activation"] == "none":
                    results.append(row(self, params, engine, subject, SKIPPED,
                                       reason="activation 'none': the scores are the logits"))
                    continue
                results.append(self._judge(engine, subject, scores, column, params, judge))
        return results

    @staticmethod
    def _not_judged(info: dict) -> str | None:
        if info["dtype"] != "float32":
            return (f"declared precision {info['dtype']!r}: only float32 configs are held to "
                    f"their precision")
        if info["activation"] == "cosine":
            return "cosine scores are computed from the embeddings: the model's precision " \
                   "does not show in them"
        return None

    def _judge(self, engine: str, subject: str, scores: pl.DataFrame, column: str,
               params: Params, judge: Judge) -> CheckResult:
        values = scores.filter(pl.col(column).is_finite() & ~pl.col(column).is_in(TRIVIAL))
        if values.is_empty():
            return row(self, params, engine, subject, SKIPPED,
                       reason=f"no {subject} other than 0 and ±1 to judge")
        grid = values.with_columns(grid=pl.Series(on_low_precision_grid(
            values[column].to_numpy().astype(np.float64))))
        share = grid.select(pl.col("grid").cast(pl.Float64).mean())
        success, _ = judge.validate(share, ExpectShareOffGrid(
            column="grid", max_value=params.max_grid_share))
        return judged(self, params, engine, subject, success, share["grid"][0],
                      params.max_grid_share, values=values.height,
                      hint=None if success else HINTS[subject],
                      examples=grid.filter(pl.col("grid")).head(5).select(
                          "query_id", "doc_id", column).to_dicts())
