"""Truncation: scores disagree with the reference on pairs that a max_length cuts, not on the rest.

A pair is *long* when its token count (the model's own tokenizer, special tokens included; the
longer text for a bi-encoder) exceeds the engine's or the reference's ``max_length`` from their
fingerprints: at least one of them scores a cut text. Long pairs that disagree beyond the
tolerance while short pairs agree name truncation as the cause. Disagreement on short pairs too
is not this check's to judge (engine_agreement reports it).
"""

from __future__ import annotations

import functools

import great_expectations as gx
import polars as pl

from rerankwatch.checks.base import CheckParams, Judge, SuiteInput, judged, row, worst
from rerankwatch.core.records import SKIPPED, CheckResult

MAX_LISTED_PAIRS = 20


class ExpectLongPairsCloseToReference(gx.expectations.ExpectColumnMaxToBeBetween):
    """The largest |score - reference score| over the long (cut) pairs stays within tolerance."""

    column: str = "abs_delta"
    max_value: float = 0.02


class Params(CheckParams):
    tolerance: float = 0.02  # |Δ score| on long pairs; short pairs must agree within it too


@functools.lru_cache(maxsize=8)
def load_tokenizer(model: str):
    """The tokenizer of a configured model from local files, or None when there are none."""
    from rerankwatch.engines.base import local_model_dir, resolve_model

    folder = local_model_dir(resolve_model(model))
    if folder is None:
        return None
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(folder))
    except (OSError, ValueError):  # no tokenizer files in that folder
        return None


def token_counts(tokenizer, queries: list[str], docs: list[str], cross: bool) -> list[int]:
    """Tokens one forward pass would see untruncated: the pair, or the longer single text."""
    if cross:
        return [len(ids) for ids in tokenizer(queries, docs, verbose=False)["input_ids"]]
    lengths = [[len(ids) for ids in tokenizer(texts, verbose=False)["input_ids"]]
               for texts in (queries, docs)]
    return [max(q, d) for q, d in zip(*lengths, strict=True)]


class Truncation:
    name = "truncation"
    Params = Params
    needs_reference = True

    def run(self, data: SuiteInput, params: Params, judge: Judge) -> list[CheckResult]:
        results = []
        counted: dict[tuple, tuple[pl.Series, list[int]]] = {}

        def count(pairs: pl.DataFrame, tokenizer, cross: bool) -> list[int]:
            """token_counts, once per tokenizer and kind over the same pairs: tokenizing is
            this check's whole cost, and engines judged against one reference share it."""
            key = (id(tokenizer), cross)
            if key not in counted or not counted[key][0].equals(pairs["pair_id"]):
                counted[key] = (pairs["pair_id"], token_counts(
                    tokenizer, pairs["query"].to_list(), pairs["doc"].to_list(), cross))
            return counted[key][1]

        info = data.engine_info
        ref = data.reference
        for engine in data.ok_engines():
            if engine == ref:
                continue
            lengths = {e: int(info[e]["max_length"] or 0) for e in (engine, ref)}
            tokenizers = {e: load_tokenizer(info[e]["model"]) for e in (engine, ref)}
            fallback = tokenizers[ref] or tokenizers[engine]
            if 0 in lengths.values() or fallback is None:
                results.append(row(self, params, engine, "long_pairs", SKIPPED, other=ref,
                                   reason="a max_length or the tokenizers are unknown",
                                   max_lengths=lengths))
                continue
            pairs = data.paired(engine, ref)
            cut = {e: [n > lengths[e] for n in count(
                pairs, tokenizers[e] or fallback, data.is_cross_encoder(e))]
                for e in (engine, ref)}
            pairs = pairs.with_columns(
                tokens=pl.Series(count(pairs, fallback, data.is_cross_encoder(ref))),
                cut_by_engine=pl.Series(cut[engine]), cut_by_reference=pl.Series(cut[ref]),
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
