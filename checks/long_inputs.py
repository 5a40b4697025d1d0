"""Long inputs score the same alone and in a batch, and truncation keeps the query (reference-free).

Six synthetic pairs near and beyond the engine's max_length (pipeline/long_probes.py: the set's
longest documents repeated to fill; pair ids ``<seed>~long-<role>``) are scored alone
(``long_single``) and in one batch (``long_batch``). Three subjects:

- ``alone_vs_batch``: max |score alone − score in the batch| over the six pairs, within the
  tolerance of the engine's precision (as batch_invariance's);
- ``query_kept`` (cross-encoders and LLM rerankers): the ``over`` pair (the seed's query, a
  document cut by max_length) and the ``other`` pair (the same document, another query of the
  set) must differ: min over both variants of |logit(over) − logit(other)| (scores where no
  logit is stored) stays at or above ``min_query_effect``. Equal logits mean the model saw the
  same tokens for two queries: the query was cut away;
- ``tail_cut``: the ``over`` pair and the ``tail`` pair (the same cut document with the query
  appended at its end) must score alike: max over both variants of |score(over) −
  score(tail)| within the precision's tolerance. Text past max_length is never seen when
  truncation cuts the document's end; a score that moves means the input was cut from the
  other side (or not at all).

``query_kept`` and ``tail_cut`` are judged only when the engine states its max_length (else
the ``over`` pairs are not known to be cut).
"""

from __future__ import annotations

from typing import ClassVar

import great_expectations as gx
import polars as pl

from rerankwatch.checks import base, batch_invariance
from rerankwatch.checks.base import (
    AT_LEAST,
    AT_MOST,
    Judge,
    Rows,
    SuiteInput,
    judged,
    row,
    worst,
)
from rerankwatch.core.records import SKIPPED, CheckResult

SEPARATOR = "~long-"  # a long probe's pair id: <seed pair_id>~long-<role>
VARIANTS = ("long_single", "long_batch")
HINTS = {
    "alone_vs_batch": "a long pair scores differently in a batch of long pairs than alone: "
                      "chunked prefill losing context on long inputs in a batch (vllm #48831), "
                      "or padding not masked on long batches",
    "query_kept": "two queries score the same on a cut document: truncation removes the query "
                  "(cut from the left, or the prompt cut keeps only the document's end: "
                  "vllm PR #38827, sentence-transformers PR #3787)",
    "tail_cut": "text appended past max_length changes the score: truncation keeps the end "
                "of the input (cut from the wrong side) or does not cut at all",
}


class ExpectLongInputsAlike(gx.expectations.ExpectColumnMaxToBeBetween):
    """|Δ score| between two scorings of the same long pair stays within tolerance."""

    column: str = "abs_delta"
    max_value: float = 1e-3


class ExpectQueryKept(gx.expectations.ExpectColumnMinToBeBetween):
    """|Δ logit| between two queries on the same cut document stays above a floor."""

    column: str = "abs_delta"
    min_value: float = 1e-6


class Detail(base.Detail):
    """What a long_inputs result's detail holds."""

    summary_fields = ("hint", "reason")
    rows_field = "worst_pairs"
    hint: str | None = None
    pairs: int | None = None
    worst_pairs: Rows = []


class Params(batch_invariance.Params):
    # batch_invariance's tolerances, by precision (its measurements hold for the long probes:
    # the fixture and demo cross-encoders, the fixture LLM and MiniLM move by 0 alone vs
    # batched in float32 on CPU); also the tolerance of tail_cut.
    # two queries on the same cut document: the demo cross-encoder's logits differ by 7.6, the
    # fixtures' by 0.1 to 1; a query cut away gives bitwise equal inputs, hence equal logits
    min_query_effect: float = 1e-6


def _roles(probes: pl.DataFrame) -> pl.DataFrame:
    parts = pl.col("pair_id").str.split(SEPARATOR)
    return probes.with_columns(seed=parts.list.first(), role=parts.list.last(),
                               value=pl.coalesce("logit", "score"))


def _contrast(probes: pl.DataFrame, first: str, second: str, column: str) -> pl.DataFrame:
    """Per variant and seed, |column(first) − column(second)| of two roles of one seed."""
    def pick(role: str) -> pl.DataFrame:
        return probes.filter(pl.col("role") == role).select(
            "variant", "seed", pl.col(column).alias(role))

    return pick(first).join(pick(second), on=["variant", "seed"]).with_columns(
        abs_delta=(pl.col(first) - pl.col(second)).abs())


class LongInputs:
    name = "long_inputs"
    Params = Params
    Detail = Detail
    needs_reference = False
    measures: ClassVar[dict[str, str]] = {  # what each subject's observed value is
        "alone_vs_batch": "max |Δ score| of long pairs scored alone vs in one batch",
        "query_kept": "min |Δ logit| of two queries on the same document cut by max_length",
        "tail_cut": "max |Δ score| when the query is appended past max_length",
    }
    bounds: ClassVar[dict[str, str]] = {
        "query_kept": AT_LEAST,  # the query must matter
        "*": AT_MOST,
    }
    figure: ClassVar[str | None] = None
    probes: ClassVar[dict[str, str]] = {}

    def run(self, data: SuiteInput, params: Params, judge: Judge) -> list[CheckResult]:
        results = []
        for engine in data.ok_engines():
            info = data.engine_info[engine]
            probes = _roles(data.probes.filter((pl.col("engine_name") == engine)
                                               & pl.col("variant").is_in(VARIANTS)))
            tolerance = params.tolerance(info["dtype"])
            missing = [v for v in VARIANTS if v not in set(probes["variant"])]
            if missing:
                results.append(row(self, params, engine, "*", SKIPPED,
                                   reason=f"no {' / '.join(missing)} probe was scored for this "
                                          f"engine"))
                continue
            results.append(self._alone_vs_batch(engine, probes, tolerance, params, judge))
            if not int(info["max_length"] or 0):
                results += [row(self, params, engine, subject, SKIPPED,
                                reason="max_length unknown: the long pairs are not known to "
                                       "be cut") for subject in ("query_kept", "tail_cut")]
                continue
            if not data.is_cross_encoder(engine):
                results.append(row(self, params, engine, "query_kept", SKIPPED,
                                   reason="bi-encoder: the query is embedded apart, never cut "
                                          "with the document"))
            else:
                results.append(self._query_kept(engine, probes, params, judge))
            results.append(self._tail_cut(engine, probes, tolerance, params, judge))
        return results

    def _alone_vs_batch(self, engine, probes, tolerance, params, judge) -> CheckResult:
        alone = probes.filter(pl.col("variant") == "long_single").select(
            "pair_id", "role", pl.col("score").alias("score_alone"))
        pairs = alone.join(probes.filter(pl.col("variant") == "long_batch").select(
            "pair_id", pl.col("score").alias("score_batch")), on="pair_id").with_columns(
            abs_delta=(pl.col("score_alone") - pl.col("score_batch")).abs())
        success, _ = judge.validate(pairs, ExpectLongInputsAlike(max_value=tolerance))
        return judged(self, params, engine, "alone_vs_batch", success, pairs["abs_delta"].max(),
                      tolerance, pairs=pairs.height,
                      hint=None if success else HINTS["alone_vs_batch"],
                      worst_pairs=worst(pairs, "abs_delta", [
                          "pair_id", "role", "score_alone", "score_batch", "abs_delta"]))

    def _query_kept(self, engine, probes, params, judge) -> CheckResult:
        pairs = _contrast(probes, "over", "other", "value")
        if pairs.is_empty():
            return row(self, params, engine, "query_kept", SKIPPED,
                       reason="the set has one query: no other query to contrast")
        success, _ = judge.validate(pairs, ExpectQueryKept(min_value=params.min_query_effect))
        return judged(self, params, engine, "query_kept", success, pairs["abs_delta"].min(),
                      params.min_query_effect, pairs=pairs.height,
                      hint=None if success else HINTS["query_kept"],
                      worst_pairs=worst(pairs, "abs_delta", [
                          "variant", "seed", "over", "other", "abs_delta"], descending=False))

    def _tail_cut(self, engine, probes, tolerance, params, judge) -> CheckResult:
        pairs = _contrast(probes, "over", "tail", "score")
        success, _ = judge.validate(pairs, ExpectLongInputsAlike(max_value=tolerance))
        return judged(self, params, engine, "tail_cut", success, pairs["abs_delta"].max(),
                      tolerance, pairs=pairs.height,
                      hint=None if success else HINTS["tail_cut"],
                      worst_pairs=worst(pairs, "abs_delta", [
                          "variant", "seed", "over", "tail", "abs_delta"]))
