"""Long inputs on real engine scores: clean engines score a long pair alike alone and batched and
cut the document's end, never the query; chunked prefill that loses context in a batch
(replay-long-input-batch, vllm #48831) and a prompt cut from the left (the query cut away) do
not."""

from __future__ import annotations

import polars as pl
import pytest

from rerankwatch.checks.base import Judge
from rerankwatch.checks.long_inputs import LongInputs
from rerankwatch.core.config import EngineConfig
from rerankwatch.core.records import FAILED, PASSED, SKIPPED
from rerankwatch.engines import build_engine
from rerankwatch.pipeline.long_probes import LONG_VARIANTS, long_probe
from rerankwatch.store import Store
from tests.support.configs import TINY_LLM
from tests.support.suite_runs import golden_en, score_run, suite_input


@pytest.fixture(scope="module")
def judge() -> Judge:
    return Judge()


def long_inputs(tmp_path, golden_dir, engine: EngineConfig, judge: Judge, loaded=None,
                probes=LONG_VARIANTS):
    db = tmp_path / "l.duckdb"
    # the 8 pairs with the longest documents: the probe's seeds are among them, scoring is cheap
    pairs = golden_en(golden_dir).sort(pl.col("doc").str.len_chars(), descending=True).head(8)
    run_id = score_run(db, engine.name, [engine], pairs, probes=probes,
                       loaded={engine.name: loaded} if loaded else None)
    with Store(db) as store:
        data = suite_input(store, run_id, engine.name)
        stored_pairs = store.run_pairs(run_id)["pair_id"]
    results = LongInputs().run(data, LongInputs.Params(), judge)
    return {r.subject: r for r in results}, data.probes, pairs, stored_pairs


def test_a_clean_cross_encoder_passes_and_its_probes_are_stored(tmp_path, golden_dir, judge,
                                                                tiny_cross_encoder):
    engine = EngineConfig(name="ce", kind="st-cross", model=tiny_cross_encoder)
    results, probes, pairs, run_pairs = long_inputs(tmp_path, golden_dir, engine, judge)
    assert {s: r.status for s, r in results.items()} == {
        "alone_vs_batch": PASSED, "query_kept": PASSED, "tail_cut": PASSED}
    assert results["alone_vs_batch"].observed < 1e-5 and results["tail_cut"].observed < 1e-5
    assert results["query_kept"].observed > 1e-3  # another query moves the logit
    # six synthetic pairs per variant, read back under their derived ids; not sample pairs
    expected = long_probe(pairs)["pair_id"].sort().to_list()
    for variant in LONG_VARIANTS:
        ids = probes.filter(pl.col("variant") == variant)["pair_id"].sort().to_list()
        assert ids == expected and len(ids) == 6
    assert all("~long-" in i for i in expected)
    assert not set(expected) & set(run_pairs) and run_pairs.len() == pairs.height


def test_chunked_prefill_losing_context_in_a_batch_is_caught(tmp_path, golden_dir, judge,
                                                            tiny_cross_encoder):
    engine = EngineConfig(name="ce", kind="replay-long-input-batch", model=tiny_cross_encoder)
    results, _, _, _ = long_inputs(tmp_path, golden_dir, engine, judge)
    alone = results["alone_vs_batch"]
    assert alone.status == FAILED and alone.observed > 10 * alone.threshold
    assert "chunked prefill" in alone.detail["hint"]
    worst = alone.detail["worst_pairs"][0]
    assert worst["role"] in {"near", "over", "tail", "other"} and worst["abs_delta"] > 0.01
    assert results["query_kept"].status == PASSED  # the cut itself keeps the query


def test_a_prompt_cut_from_the_left_loses_the_query(tmp_path, golden_dir, judge):
    """An LLM reranker whose tokenizer truncates on the left: the instruction and the query are
    cut away from a long prompt (the answer cue stays: it is added after the cut)."""
    config = EngineConfig(name="llm", kind="llm-rerank", model=TINY_LLM, max_length=256)
    clean, _, _, _ = long_inputs(tmp_path / "clean", golden_dir, config, judge)
    assert {s: r.status for s, r in clean.items()} == {
        "alone_vs_batch": PASSED, "query_kept": PASSED, "tail_cut": PASSED}
    left = build_engine(config)
    left.tokenizer.truncation_side = "left"
    results, _, _, _ = long_inputs(tmp_path / "left", golden_dir, config, judge, loaded=left)
    kept, tail = results["query_kept"], results["tail_cut"]
    assert kept.status == FAILED and kept.observed == 0.0 and "removes the query" in \
        kept.detail["hint"]
    assert tail.status == FAILED and tail.observed > tail.threshold
    assert "wrong side" in tail.detail["hint"]
    assert results["alone_vs_batch"].status == PASSED


def test_skipped_when_the_probes_were_not_scored(tmp_path, golden_dir, judge,
                                                 tiny_cross_encoder):
    engine = EngineConfig(name="ce", kind="st-cross", model=tiny_cross_encoder)
    results, _, _, _ = long_inputs(tmp_path, golden_dir, engine, judge, probes=("repeat",))
    assert {s: r.status for s, r in results.items()} == {"*": SKIPPED}
    assert "no long_single / long_batch probe" in results["*"].detail["reason"]
