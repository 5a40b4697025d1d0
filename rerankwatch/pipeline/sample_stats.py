"""What a sample set holds: pairs, queries, languages, labels, ladders, known-irrelevant
pairs, and the pairs longer than a tokenizer's max_length (what truncation would cut)."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from rerankwatch.core.models import resolve_model

DEFAULT_TOKENIZER = "embedded:all-MiniLM-L6-v2"
DEFAULT_MAX_LENGTH = 512


@dataclass(frozen=True)
class SetStats:
    overview: pl.DataFrame  # one row per set: pairs, queries, languages, ladders, ...
    labels: pl.DataFrame  # label × pairs
    tokenizer: str
    max_length: int


def long_pairs(frame: pl.DataFrame, tokenizer: str, max_length: int | None
               ) -> tuple[pl.Series, int]:
    """Per pair, whether query + document exceed ``max_length`` tokens of ``tokenizer`` (as a
    cross-encoder reads the pair), and the max_length used (the tokenizer's, at most 512,
    unless given)."""
    from transformers import AutoTokenizer

    loaded = AutoTokenizer.from_pretrained(resolve_model(tokenizer))
    limit = max_length or min(loaded.model_max_length, DEFAULT_MAX_LENGTH)
    tokens = loaded(frame["query"].to_list(), frame["doc"].to_list(), truncation=False,
                    verbose=False)["input_ids"]
    return pl.Series("long", [len(t) > limit for t in tokens]), limit


def sample_stats(frame: pl.DataFrame, tokenizer: str = DEFAULT_TOKENIZER,
                 max_length: int | None = None) -> SetStats:
    """The figures of a loaded sample set (``load_sample_set``'s frame)."""
    long, limit = long_pairs(frame, tokenizer, max_length)
    frame = frame.with_columns(long)
    overview = frame.group_by("set_id", maintain_order=True).agg(
        pairs=pl.len(), queries=pl.col("query_id").n_unique(),
        languages=pl.col("lang").unique(maintain_order=True).str.join(", "),
        ladders=pl.col("ladder").drop_nulls().n_unique(),
        known_irrelevant=pl.col("known_irrelevant").sum(),
        **{f"longer than {limit} tokens": pl.col("long").sum()})
    labels = (frame.group_by("label").agg(pairs=pl.len()).sort("label")
              .with_columns(share=pl.col("pairs") / pl.col("pairs").sum()))
    return SetStats(overview, labels, tokenizer, limit)
