"""The truncation check on real scores of the golden set: the fixture cross-encoder against its
truncate-128 replay (fails), against a second engine with the same max_length (passes), and
MiniLM as a bi-encoder at 128 vs 256 tokens."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import polars as pl
import pytest

from rerankwatch.checks.base import FAILED, PASSED, SKIPPED, Judge
from rerankwatch.checks.suites import run_suite
from rerankwatch.checks.truncation import Params, Truncation, load_tokenizer, token_counts
from rerankwatch.core.config import EngineConfig
from rerankwatch.store import Store
from tests.suite_runs import golden_en, score, suite_input

MINILM = "embedded:all-MiniLM-L6-v2"
LONG_DOCS = {"en-q08-d1", "en-q09-d1", "en-q22-d1"}  # the golden set's `long` documents
UNTRAINED = {"monotonic_relevance": {"blocking": False}, "irrelevant_ceiling": {"blocking": False}}


@pytest.fixture(scope="module")
def pairs(golden_dir: Path) -> pl.DataFrame:
    return golden_en(golden_dir)


@pytest.fixture(scope="module")
def store(tmp_path_factory, pairs: pl.DataFrame):
    with Store(tmp_path_factory.mktemp("db") / "truncation.duckdb") as s:
        s.add_pairs(pairs)
        yield s


@pytest.fixture(scope="module")
def scored(pairs: pl.DataFrame, tiny_cross_encoder: str) -> dict:
    """Each engine scored once: name -> (kind, model, max_length)."""
    engines = {"ce": ("st-cross", tiny_cross_encoder, None),
               "ce-hf": ("hf-seqcls", tiny_cross_encoder, None),
               "ce-trunc128": ("replay-truncate-128", tiny_cross_encoder, None),
               "ce-logits": ("replay-raw-logits", tiny_cross_encoder, None),
               "bi": ("st-bi", MINILM, None),
               "bi-128": ("st-bi", MINILM, 128)}
    cache = {}

    def get(name: str):
        if name not in cache:
            kind, model, max_length = engines[name]
            cache[name] = score(EngineConfig(name=name, kind=kind, model=model,
                                             max_length=max_length), pairs)
        return cache[name]

    return get


def truncation(store: Store, scored, reference: str, engine: str, **params):
    data = suite_input(store, reference, {n: scored(n) for n in (reference, engine)})
    (result,) = Truncation().run(data, Params(**params), Judge())
    return result


def test_golden_set_has_pairs_beyond_512_tokens(pairs: pl.DataFrame,
                                                tiny_cross_encoder: str) -> None:
    tokenizer = load_tokenizer(tiny_cross_encoder)
    counts = dict(zip(pairs["doc_id"], token_counts(
        tokenizer, pairs["query"].to_list(), pairs["doc"].to_list(), cross=True), strict=True))
    assert {d for d, n in counts.items() if n > 128} == LONG_DOCS
    assert all(counts[d] > 512 for d in LONG_DOCS)
    bi_counts = token_counts(tokenizer, ["a short query"], ["one two three four"], cross=False)
    assert bi_counts == [6]  # the longer text alone, with [CLS] and [SEP]


def test_fails_on_the_truncate_128_replay(store: Store, scored) -> None:
    result = truncation(store, scored, "ce", "ce-trunc128")
    assert result.status == FAILED and result.other_engine == "ce"
    assert result.observed > result.threshold == 0.02
    detail = result.detail
    assert detail["max_lengths"] == {"ce-trunc128": 128, "ce": 512}
    assert detail["long_pairs"] == 3 and detail["short_pairs"] == 42
    assert detail["short_max_abs_delta"] < 1e-6  # same model, same code on short pairs
    affected = detail["affected_pairs"]
    assert affected and {p["doc_id"] for p in affected} <= LONG_DOCS
    assert all(p["cut_by_engine"] and p["tokens"] > 512 for p in affected)
    assert "ce-trunc128 (max_length 128)" in detail["message"]
    assert "ce (max_length 512)" in detail["message"]
    assert "truncate differently" in detail["message"]


def test_passes_two_engines_with_the_same_max_length(store: Store, scored) -> None:
    result = truncation(store, scored, "ce", "ce-hf")
    assert result.status == PASSED and result.observed < 1e-4
    assert result.detail["max_lengths"] == {"ce-hf": 512, "ce": 512}
    assert result.detail["long_pairs"] == 3  # cut by both, at the same place
    assert result.detail["message"] is None and result.detail["affected_pairs"] == []


def test_skips_when_short_pairs_disagree_too(store: Store, scored) -> None:
    result = truncation(store, scored, "ce", "ce-logits")
    assert result.status == SKIPPED
    assert "disagree on short pairs too" in result.detail["reason"]


def test_skips_without_long_pairs(store: Store, scored) -> None:
    data = suite_input(store, "ce", {n: scored(n) for n in ("ce", "ce-trunc128")})
    short_only = dataclasses.replace(
        data, scores=data.scores.filter(~pl.col("doc_id").is_in(LONG_DOCS)))
    (result,) = Truncation().run(short_only, Params(), Judge())
    assert result.status == SKIPPED and "no long pairs" in result.detail["reason"]


def test_bi_encoder_cut_at_128_tokens_fails(store: Store, scored) -> None:
    result = truncation(store, scored, "bi", "bi-128")
    assert result.status == FAILED
    assert result.detail["max_lengths"] == {"bi-128": 128, "bi": 256}
    assert {p["doc_id"] for p in result.detail["affected_pairs"]} <= LONG_DOCS


def test_a_suite_blocks_on_truncation(store: Store, scored) -> None:
    data = suite_input(store, "ce", {n: scored(n) for n in ("ce", "ce-trunc128")})
    report = run_suite(data, UNTRAINED)
    assert "truncation" in report.failing_checks
    clean = run_suite(suite_input(store, "ce", {n: scored(n) for n in ("ce", "ce-hf")}),
                      UNTRAINED)
    assert [r.status for r in clean.results if r.check == "truncation"] == [PASSED]
