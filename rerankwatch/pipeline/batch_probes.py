"""Batch-invariance probes: the same pairs scored in other company than the main scores had.

Bugs that depend on what else is in a batch (an attention mask dropped on padded batches,
normalisation across the documents of a request, results mapped by position instead of index)
only show when a pair's score depends on its neighbours. A few dozen pairs, spread over the
lengths of the set, are scored again:

- ``single``: one pair per call (no padding, no neighbours);
- ``shuffled``: one call, in a seeded random order;
- ``mixed``: calls in which each batch holds probe pairs together with the longest pairs of
  the set (short pairs padded next to long ones).

``batch_invariance`` compares each with the main scores.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from rerankwatch.core.records import Pair, ScoreBatch

BATCH_VARIANTS = ("single", "shuffled", "mixed")
BATCH_PROBE_PAIRS = 24
MIXED_LONGEST = 4  # the longest pairs of the set that each mixed call carries
SEED = 13


def _length(frame: pl.DataFrame) -> pl.Expr:
    return pl.col("query").str.len_chars() + pl.col("doc").str.len_chars()


def batch_probe(pairs: pl.DataFrame, limit: int = BATCH_PROBE_PAIRS) -> pl.DataFrame:
    """``limit`` pairs evenly spread over the lengths of ``pairs`` (shortest to longest)."""
    ranked = pairs.with_columns(_length(pairs).alias("_length")).sort("_length", "pair_id")
    if ranked.height <= limit:
        return ranked.drop("_length")
    rows = np.unique(np.linspace(0, ranked.height - 1, limit).round().astype(int))
    return ranked[rows].drop("_length")


def longest_pairs(pairs: pl.DataFrame, exclude: pl.Series, n: int = MIXED_LONGEST
                  ) -> list[Pair]:
    """The ``n`` longest pairs of the set that are not probed themselves."""
    rest = pairs.filter(~pl.col("pair_id").is_in(exclude.to_list()))
    top = rest.with_columns(_length(rest).alias("_length")).sort(
        "_length", "pair_id", descending=[True, False]).head(n)
    return list(zip(top["query"], top["doc"], strict=True))


def score_variant(engine, variant: str, probe: pl.DataFrame, pairs: pl.DataFrame) -> ScoreBatch:
    """Score ``probe`` (pairs of ``pairs``, the engine config's set) as ``variant`` asks; the
    scores come back in the probe's order."""
    texts = list(zip(probe["query"], probe["doc"], strict=True))
    n = len(texts)
    if variant == "single":
        return ScoreBatch.joined([(np.array([i]), engine.score([texts[i]])) for i in range(n)], n)
    if variant == "shuffled":
        order = np.random.default_rng(SEED).permutation(n)
        batch = engine.score([texts[i] for i in order])
        back = np.empty(n, dtype=np.int64)
        back[order] = np.arange(n)
        return ScoreBatch(batch.logits[back], batch.scores[back], batch.activation,
                          batch.batch_index[back], batch.batch_seconds)
    if variant == "mixed":
        size = engine.config.batch_size
        per_call = max(1, size // 2)
        company = longest_pairs(pairs, probe["pair_id"])[:max(0, size - per_call)]
        parts = []
        for start in range(0, n, per_call):
            chunk = texts[start:start + per_call]
            batch = engine.score(chunk + company)
            k = len(chunk)
            parts.append((np.arange(start, start + k), ScoreBatch(
                batch.logits[:k], batch.scores[:k], batch.activation, batch.batch_index[:k],
                (batch.seconds,))))
        return ScoreBatch.joined(parts, n)
    raise ValueError(f"not a batch-invariance variant: {variant!r}")
