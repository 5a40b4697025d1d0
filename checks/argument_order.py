"""Cross-encoders are order sensitive; matching the reference's swapped scores = reversed args."""

from __future__ import annotations

from typing import ClassVar

import great_expectations as gx
import polars as pl

from rerankwatch.checks import base
from rerankwatch.checks.base import (
    AT_LEAST,
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

REVERSED = ("scores match the reference's swapped score(doc, query): this engine passes its "
            "arguments reversed (score(documents, query) instead of score(query, documents))")


class ExpectNotReferenceSwapped(gx.expectations.ExpectColumnMeanToBeBetween):
    """Share of pairs closer to the reference's swapped score than to its real score (judged
    on the one-row share)."""

    column: str = "closer_to_swapped"
    max_value: float = 0.5


class Detail(base.Detail):
    """What a argument_order result's detail holds."""

    summary_fields = ("message", "hint", "reason")
    rows_field = "examples"
    message: str | None = None
    hint: str | None = None
    pairs: int | None = None
    examples: Rows = []


class Params(CheckParams):
    min_mean_asymmetry: float = 1e-4  # mean |score(q, d) - score(d, q)|
    max_swapped_share: float = 0.5


class ArgumentOrder:
    name = "argument_order"
    Params = Params
    Detail = Detail
    needs_reference = False
    measures: ClassVar[dict[str, str]] = {  # what each subject's observed value is
        "asymmetry": "mean |score(q, d) − score(d, q)|",
        "matches_reference_swapped": "share of scores nearer the reference's swapped "
                                     "score(d, q) than its score(q, d)",
    }
    bounds: ClassVar[dict[str, str]] = {
        "asymmetry": AT_LEAST,  # score(q, d) ≠ score(d, q)
        "*": AT_MOST,
    }
    figure: ClassVar[str | None] = "order-{engine}"
    probes: ClassVar[dict[str, str]] = {}

    def _swapped(self, data: SuiteInput, engine: str) -> pl.DataFrame:
        return data.probes.filter((pl.col("engine_name") == engine)
                                  & (pl.col("variant") == "swapped"))

    def run(self, data: SuiteInput, params: Params, judge: Judge) -> list[CheckResult]:
        results = []
        reference_swapped = (self._swapped(data, data.reference)
                             if data.reference in data.ok_engines() else pl.DataFrame())
        for engine in data.ok_engines():
            if not data.is_cross_encoder(engine):
                results.append(row(self, params, engine, "*", SKIPPED,
                                   reason="bi-encoder: cosine is symmetric by design"))
                continue
            swapped = self._swapped(data, engine)
            if swapped.is_empty():
                results.append(row(self, params, engine, "asymmetry", SKIPPED,
                                   reason="no swapped probe was scored for this engine"))
                continue
            own = data.engine_scores(engine).select("pair_id", "score").join(
                swapped.select("pair_id", pl.col("score").alias("score_swapped")), on="pair_id"
            ).select((pl.col("score") - pl.col("score_swapped")).abs().mean().alias("asym"),
                     pl.len().alias("pairs"))
            success, _ = judge.validate(own, gx.expectations.ExpectColumnMeanToBeBetween(
                column="asym", min_value=params.min_mean_asymmetry))
            results.append(judged(self, params, engine, "asymmetry", success, own["asym"][0],
                                  params.min_mean_asymmetry, pairs=own["pairs"][0],
                                  hint=None if success else "score(q, d) == score(d, q): the "
                                  "engine ignores argument order"))
            if engine == data.reference:
                continue
            if reference_swapped.is_empty():
                results.append(row(self, params, engine, "matches_reference_swapped", SKIPPED,
                                   other=data.reference,
                                   reason="the reference has no swapped probe (not a "
                                          "cross-encoder, or it failed)"))
                continue
            pairs = data.paired(engine, data.reference).select(
                "pair_id", "doc_id", "score", "score_other").join(
                reference_swapped.select("pair_id", pl.col("score").alias("ref_swapped")),
                on="pair_id",
            ).with_columns(
                ((pl.col("score") - pl.col("ref_swapped")).abs()
                 < (pl.col("score") - pl.col("score_other")).abs())
                .cast(pl.Float64).alias("closer_to_swapped"))
            share = pairs.select(pl.col("closer_to_swapped").mean())
            success, _ = judge.validate(share, ExpectNotReferenceSwapped(
                max_value=params.max_swapped_share))
            results.append(judged(
                self, params, engine, "matches_reference_swapped", success,
                share["closer_to_swapped"][0], params.max_swapped_share,
                other=data.reference, message=None if success else REVERSED,
                examples=worst(pairs, "closer_to_swapped",
                               ["doc_id", "score", "score_other", "ref_swapped"])))
        return results
