"""Truncation: scores disagree with the reference on pairs that a max_length cuts, not on the rest.

A pair is *long* when its token count (``scores.tokens``: counted by the engine's own tokenizer
when it scored the pair, special tokens included; the longer text for a bi-encoder) exceeds the
engine's or the reference's ``max_length`` from their fingerprints: at least one of them scores
a cut text. Long pairs that disagree beyond the tolerance while short pairs agree name
truncation as the cause. Disagreement on short pairs too is not this check's to judge
(engine_agreement reports it). The check reads frames only: it never loads a tokenizer.
"""

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

MAX_LISTED_PAIRS = 20


class ExpectLongPairsCloseToReference(gx.expectations.ExpectColumnMaxToBeBetween):
    """The largest |score - reference score| over the long (cut) pairs stays within tolerance."""

    column: str = "abs_delta"
    max_value: float = 0.02


class Detail(base.Detail):
    """What a truncation result's detail holds."""

    summary_fields = ("message", "reason")
    rows_field = "affected_pairs"
    message: str | None = None
    max_lengths: dict[str, int] = {}
    long_pairs: int | None = None
    short_pairs: int | None = None
    short_max_abs_delta: float | None = None
    affected_pairs: Rows = []


class Params(CheckParams):
    tolerance: float = 0.02  # |Δ score| on long pairs; short pairs must agree within it too


class Truncation:
    name = "truncation"
    Params = Params
    Detail = Detail
    needs_reference = True
    measures: ClassVar[dict[str, str]] = {  # what each subject's observed value is
        "long_pairs": "max |Δ score| vs the reference on pairs cut by max_length",
    }
    bounds: ClassVar[dict[str, str]] = {"*": AT_MOST}
    figure: ClassVar[str | None] = "truncation-{engine}"
    probes: ClassVar[dict[str, str]] = {}

    def run(self, data: SuiteInput, params: Params, judge: Judge) -> list[CheckResult]:
        results = []
        info = data.engine_info
        ref = data.reference
        for engine in data.ok_engines():
            if engine == ref:
                continue
            lengths = {e: int(info[e]["max_length"] or 0) for e in (engine, ref)}
            pairs = data.paired(engine, ref)
            # each engine's own token counts, recorded when it scored; an engine without a
            # tokenizer (a worker, a server) is measured with the other one's
            tokens = {engine: pairs["tokens"].fill_null(pairs["tokens_other"]),
                      ref: pairs["tokens_other"].fill_null(pairs["tokens"])}
            if 0 in lengths.values() or tokens[ref].null_count() == pairs.height:
                results.append(row(self, params, engine, "long_pairs", SKIPPED, other=ref,
                                   reason="a max_length or the token counts are unknown",
                                   max_lengths=lengths))
                continue
            pairs = pairs.with_columns(
                tokens=tokens[ref], cut_by_engine=tokens[engine] > lengths[engine],
                cut_by_reference=tokens[ref] > lengths[ref],
                abs_delta=(pl.col("score") - pl.col("score_other")).abs())
            long = pairs.filter(pl.col("cut_by_engine") | pl.col("cut_by_reference"))
            short = pairs.filter(~(pl.col("cut_by_engine") | pl.col("cut_by_reference")))
            context = {"max_lengths": lengths, "long_pairs": long.height,
                       "short_pairs": short.height}
            if long.is_empty() or short.is_empty():
                results.append(row(self, params, engine, "long_pairs", SKIPPED, other=ref,
                                   reason=f"no {'long' if long.is_empty() else 'short'} pairs: "
                                   f"nothing to contrast (longest pair: {pairs['tokens'].max()} "
                                   f"tokens)", **context))
                continue
            success, _ = judge.validate(long, ExpectLongPairsCloseToReference(
                max_value=params.tolerance))
            short_delta = short["abs_delta"].max()
            if not success and short_delta > params.tolerance:
                results.append(row(self, params, engine, "long_pairs", SKIPPED, other=ref,
                                   reason=f"scores disagree on short pairs too (max |Δ| "
                                   f"{short_delta:.4g}): not a truncation pattern; "
                                   "engine_agreement reports it", **context))
                continue
            affected = long.filter(pl.col("abs_delta") > params.tolerance)
            results.append(judged(
                self, params, engine, "long_pairs", success, long["abs_delta"].max(),
                params.tolerance, other=ref, short_max_abs_delta=short_delta, **context,
                message=None if success else (
                    f"{engine} (max_length {lengths[engine]}) and {ref} (max_length "
                    f"{lengths[ref]}) disagree on {affected.height} of {long.height} pairs "
                    f"cut by a max_length but agree on the {short.height} short pairs: the "
                    "engines truncate differently"),
                affected_pairs=worst(affected, "abs_delta", [
                    "doc_id", "query_id", "tokens", "cut_by_engine", "cut_by_reference",
                    "score", "score_other", "abs_delta"], n=MAX_LISTED_PAIRS)))
        return results
