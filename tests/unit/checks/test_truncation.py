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
from rerankwatch.checks.truncation import Params, Truncation
from rerankwatch.core.config import EngineConfig
from rerankwatch.engines import build_engine
from rerankwatch.pipeline.scoring import token_counts
from rerankwatch.store import Store
from tests.support.suite_runs import golden_en, score_run, suite_input

MINILM = "embedded:all-MiniLM-L6-v2"
LONG_DOCS = {"en-q08-d1", "en-q09-d1", "en-q22-d1"}  # the golden set's `long` documents
UNTRAINED = {"monotonic_relevance": {"blocking": False}, "irrelevant_ceiling": {"blocking": False}}


@pytest.fixture(scope="module")
def pairs(golden_dir: Path) -> pl.DataFrame:
    return golden_en(golden_dir)


@pytest.fixture(scope="module")
def store(tmp_path_factory, pairs: pl.DataFrame):
    with Store(tmp_path_factory.mktemp("db") / "truncation.duckdb") as s:
        yield s


@pytest.fixture(scope="module")
def scored(store: Store, pairs: pl.DataFrame, tiny_cross_encoder: str):
    """``scored(reference, engine)``: a new run of both, through the production scoring path
    (each engine config scores once; later runs copy its scores)."""
    engines = {"ce": ("st-cross", tiny_cross_encoder, None),
               "ce-hf": ("hf-seqcls", tiny_cross_encoder, None),
               "ce-trunc128": ("replay-truncate-128", tiny_cross_encoder, None),
               "ce-logits": ("replay-raw-logits", tiny_cross_encoder, None),
               "bi": ("st-bi", MINILM, None),
               "bi-128": ("st-bi", MINILM, 128)}

    def config(name: str) -> EngineConfig:
        kind, model, max_length = engines[name]
        return EngineConfig(name=name, kind=kind, model=model, max_length=max_length)

    def run(reference: str, engine: str):
        run_id = score_run(store.path, reference, [config(reference), config(engine)], pairs,
                           probes=False)
        return suite_input(store, run_id, reference)

    return run


def truncation(scored, reference: str, engine: str, **params):
    (result,) = Truncation().run(scored(reference, engine), Params(**params), Judge())
    return result


def test_tokens_are_recorded_when_scored_and_the_golden_set_has_pairs_beyond_512(
        scored, tiny_cross_encoder: str) -> None:
    data = scored("ce", "ce-hf")
    ce = data.engine_scores("ce")
    counts = dict(zip(ce["doc_id"], ce["tokens"], strict=True))
    assert {d for d, n in counts.items() if n > 128} == LONG_DOCS
    assert all(counts[d] > 512 for d in LONG_DOCS)
    assert data.engine_scores("ce-hf")["tokens"].to_list() == ce["tokens"].to_list()
    bi = build_engine(EngineConfig(name="bi", kind="st-bi", model=MINILM))
    # a bi-encoder: the longer text alone, with [CLS] and [SEP]
    assert token_counts(bi, [("a short query", "one two three four")]).tolist() == [6]


def test_fails_on_the_truncate_128_replay(scored) -> None:
    result = truncation(scored, "ce", "ce-trunc128")
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


def test_passes_two_engines_with_the_same_max_length(scored) -> None:
    result = truncation(scored, "ce", "ce-hf")
    assert result.status == PASSED and result.observed < 1e-4
    assert result.detail["max_lengths"] == {"ce-hf": 512, "ce": 512}
    assert result.detail["long_pairs"] == 3  # cut by both, at the same place
    assert result.detail["message"] is None and result.detail["affected_pairs"] == []


def test_skips_when_short_pairs_disagree_too(scored) -> None:
    result = truncation(scored, "ce", "ce-logits")
    assert result.status == SKIPPED
    assert "disagree on short pairs too" in result.detail["reason"]


def test_skips_without_long_pairs(scored) -> None:
    data = scored("ce", "ce-trunc128")
    short_only = dataclasses.replace(
        data, scores=data.scores.filter(~pl.col("doc_id").is_in(LONG_DOCS)))
    (result,) = Truncation().run(short_only, Params(), Judge())
    assert result.status == SKIPPED and "no long pairs" in result.detail["reason"]


def test_bi_encoder_cut_at_128_tokens_fails(scored) -> None:
    result = truncation(scored, "bi", "bi-128")
    assert result.status == FAILED
    assert result.detail["max_lengths"] == {"bi-128": 128, "bi": 256}
    assert {p["doc_id"] for p in result.detail["affected_pairs"]} <= LONG_DOCS


def test_a_suite_blocks_on_truncation(scored) -> None:
    report = run_suite(scored("ce", "ce-trunc128"), UNTRAINED)
    assert "truncation" in report.failing_checks
    clean = run_suite(scored("ce", "ce-hf"), UNTRAINED)
    assert [r.status for r in clean.results if r.check == "truncation"] == [PASSED]
