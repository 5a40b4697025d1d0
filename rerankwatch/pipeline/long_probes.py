"""Long-input probes: synthetic pairs near and beyond an engine's max_length.

Bugs that only show on long inputs: chunked prefill losing context on a long pair in a batch
(vllm #48831: 0.01–0.36 where the unchunked path gives 0.83), padding on long batches, and
truncation that removes the query or the answer cue (sentence-transformers PR #3787, vllm PR
#38827). The set's two longest documents (seeds) are repeated to fill:

- ``near``: the seed's query and its document filled to NEAR × max_length tokens (not cut);
- ``over``: filled to OVER × max_length tokens (cut by any truncation);
- ``tail``: the ``over`` document with the query appended at its end (a cut at the document's
  end never sees it);
- ``other``: the ``over`` document with another query of the set (the query must reach the
  model: its score differs from ``over``'s).

The first seed gives all four, the second ``near`` and ``over``: six pairs, whose ids are
derived from their seed's (``<pair_id>~long-<role>``). They are not sample pairs: they are
stored as probe scores only, never in ``sample_pairs`` or a run's pairs, so main scoring never
sees them. Each is scored alone (``long_single``: six calls of one pair) and all together in
one call (``long_batch``); ``long_inputs`` compares them. Token counts come from the engine's
own tokenizer (``pass_tokens``: what one forward pass sees, template included); an engine
without one is filled by characters (CHARS_PER_TOKEN), its max_length or DEFAULT_MAX_LENGTH.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from rerankwatch.core.records import Pair, ScoreBatch

LONG_VARIANTS = ("long_single", "long_batch")
SEPARATOR = "~long-"  # <seed pair_id>~long-<role>
ROLES = ("near", "over", "tail", "other")
NEAR, OVER = 0.9, 1.5  # of max_length, in tokens
CHARS_PER_TOKEN = 4  # without a tokenizer (pairs past max_length: filled to twice OVER)
DEFAULT_MAX_LENGTH = 512  # an engine that states none


def pair_role(pair_id: pl.Expr) -> pl.Expr:
    """The role of a long probe's pair id (near, over, tail, other)."""
    return pair_id.str.split(SEPARATOR).list.last()


def seed_id(pair_id: pl.Expr) -> pl.Expr:
    """The seed pair of a long probe's pair id."""
    return pair_id.str.split(SEPARATOR).list.first()


def long_probe(pairs: pl.DataFrame) -> pl.DataFrame:
    """The long probe of an engine config's pairs: (pair_id, role, query, doc, sized_by) per
    synthetic pair, ``doc`` the seed's document to fill, ``sized_by`` the query the filled
    document is measured with (the seed's: ``other`` shares ``over``'s document)."""
    if pairs.is_empty():
        return pl.DataFrame(schema={c: pl.String for c in
                                    ("pair_id", "role", "query", "doc", "sized_by")})
    ranked = pairs.sort(pl.col("doc").str.len_chars(), "pair_id", descending=[True, False])
    first = ranked.row(0, named=True)
    others = ranked.filter(pl.col("query") != first["query"])
    second = others.filter(pl.col("doc") != first["doc"])
    second = (second if second.height else others).head(1)
    rows = [(first, role, first["query"]) for role in ("near", "over", "tail")]
    if second.height:
        rows.append((first, "other", second["query"][0]))
        seed = second.row(0, named=True)
        rows += [(seed, role, seed["query"]) for role in ("near", "over")]
    return pl.DataFrame([{"pair_id": f"{seed['pair_id']}{SEPARATOR}{role}", "role": role,
                          "query": query, "doc": seed["doc"], "sized_by": seed["query"]}
                         for seed, role, query in rows])


class _Filler:
    """Documents filled to a number of tokens as ``engine`` counts them (pair tokens for a
    cross-encoder or an LLM prompt, the longer text for a bi-encoder), else characters."""

    def __init__(self, engine):
        self.engine = engine
        counter = getattr(engine, "pass_tokens", None)
        self.counted = counter is not None and counter([("a", "b")]) is not None
        self.max_length = int(getattr(engine, "max_length", 0) or 0) or DEFAULT_MAX_LENGTH

    def tokens(self, query: str, doc: str) -> int:
        return int(self.engine.pass_tokens([(query, doc)])[0])

    def fill(self, query: str, doc: str, share: float) -> str:
        """``doc`` repeated and cut at a word to about ``share`` × max_length tokens."""
        words = doc.split()
        if not self.counted:
            text = doc
            cut = 2 if share > 1 else 1  # past max_length: twice as far, whatever the ratio
            target = int(cut * share * self.max_length * CHARS_PER_TOKEN)
            while len(text) < target:
                text = f"{text} {doc}"
            return text[:target].rsplit(" ", 1)[0]
        target = int(share * self.max_length)
        repeated = list(words)
        while self.tokens(query, " ".join(repeated)) <= target:
            repeated += repeated  # doubled: few counts even at 8k tokens
        low, high = 1, len(repeated)  # the most words whose pair stays within target
        while low < high:
            middle = (low + high + 1) // 2
            if self.tokens(query, " ".join(repeated[:middle])) <= target:
                low = middle
            else:
                high = middle - 1
        return " ".join(repeated[:low])


def long_texts(engine, probe: pl.DataFrame) -> list[Pair]:
    """The (query, doc) texts of a long probe (long_probe) as ``engine`` is to score them."""
    filler, docs, texts = _Filler(engine), {}, []
    for row in probe.iter_rows(named=True):
        share = NEAR if row["role"] == "near" else OVER
        key = (row["sized_by"], row["doc"], share)
        if key not in docs:
            docs[key] = filler.fill(row["sized_by"], row["doc"], share)
        doc = docs[key]
        texts.append((row["query"], f"{doc} {row['query']}" if row["role"] == "tail" else doc))
    return texts


def score_long(engine, variant: str, texts: list[Pair]) -> ScoreBatch:
    """``long_single``: each pair in a call of its own; ``long_batch``: one call of all."""
    if variant == "long_batch":
        return engine.score(texts)
    if variant != "long_single":
        raise ValueError(f"not a long-input variant: {variant!r}")
    return ScoreBatch.joined([(np.array([i]), engine.score([pair]))
                              for i, pair in enumerate(texts)], len(texts))

