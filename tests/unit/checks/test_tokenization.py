"""Token snapshots and the tokenization check, on real engines over the tiny fixtures.

Engines record the ids they fed the model; a run stores their counts and hashes per score and
the ids and token strings of a sample of pairs. Same model, same family: identical ids (the
st-cross, hf-seqcls and onnx paths are the control); a fault that changes the ids (a shorter
max_length on long pairs, arguments swapped, an LLM prompt without its template) is named
token by token; a changed tokenization since the accepted run is reported, blocking only when
configured.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rerankwatch.checks.base import Judge
from rerankwatch.checks.tokenization import Params, Tokenization
from rerankwatch.core.config import EngineConfig, RunConfig
from rerankwatch.core.records import FAILED, PASSED, SKIPPED, token_ids_hash
from rerankwatch.engines import engine_class
from rerankwatch.pipeline import run as sequence
from rerankwatch.pipeline.replay import TINY_CE, TINY_LLM, UNTRAINED
from rerankwatch.store import Store
from tests.support.suite_runs import golden_en, score_run, suite_input

PAIRS = [("what is the capital of france", "Paris is the capital of France. " * (i % 4 + 1))
         for i in range(9)]


def engine(kind: str, model: str, **extra):
    return engine_class(kind)(EngineConfig(name=kind, kind=kind, model=model, batch_size=4,
                                           **extra))


def test_st_cross_scores_as_predict_and_feeds_the_ids_hf_seqcls_and_onnx_feed(
        tiny_cross_encoder):
    st = engine("st-cross", tiny_cross_encoder)
    ours = st.score(PAIRS)
    predicted = st.model.predict(PAIRS, batch_size=4, activation_fn=torch.nn.Identity(),
                                 convert_to_tensor=True, show_progress_bar=False)
    assert np.array_equal(predicted.float().cpu().numpy().astype(np.float64), ours.logits)
    for kind in ("hf-seqcls", "onnx"):
        other = engine(kind, tiny_cross_encoder).score(PAIRS)
        assert np.array_equal(other.token_hash, ours.token_hash), kind
        assert np.array_equal(other.input_tokens, ours.input_tokens), kind
    first = ours.token_ids[0]
    assert ours.input_tokens[0] == len(first) and ours.token_hash[0] == token_ids_hash(first)
    words = st.id_tokens(first)
    assert words[0] == "[CLS]" and words[-1] == "[SEP]" and words.count("[SEP]") == 2
    # padding is left out: a pair's ids do not depend on the longest pair of its batch
    alone = st.score(PAIRS[:1])
    assert alone.token_hash[0] == ours.token_hash[0]


def test_st_bi_records_no_ids_and_hf_bi_joins_query_and_doc_ids(minilm_path):
    assert engine("st-bi", minilm_path).score(PAIRS).token_hash is None
    bi = engine("hf-bi", minilm_path)
    batch = bi.score(PAIRS[:2])
    words = bi.id_tokens(batch.token_ids[0])
    assert words.count("<query|doc>") == 1 and words.count("[CLS]") == 2


def test_llm_rerank_records_the_templated_prompt_without_its_left_padding():
    llm = engine("llm-rerank", TINY_LLM)
    batch = llm.score(PAIRS)
    expected = llm.prompt_ids([q for q, _ in PAIRS], [d for _, d in PAIRS])
    assert [list(ids) for ids in batch.token_ids] == expected


@pytest.fixture(scope="module")
def fault_run(tmp_path_factory, tiny_cross_encoder, minilm_path, golden_dir):
    """One run: st-cross (reference), hf-seqcls and onnx on the tiny cross-encoder; a shorter
    max_length and swapped arguments on it; st-bi and hf-bi on MiniLM; an LLM reranker and
    the same without its template."""
    db = tmp_path_factory.mktemp("tokens") / "tokens.duckdb"
    configs = [EngineConfig(name=n, kind=k, model=m, **extra) for n, k, m, extra in [
        ("ce", "st-cross", tiny_cross_encoder, {}),
        ("ce-hf", "hf-seqcls", tiny_cross_encoder, {}),
        ("ce-onnx", "onnx", tiny_cross_encoder, {}),
        ("ce-128", "hf-seqcls", tiny_cross_encoder, {"max_length": 128}),
        ("ce-swapped", "replay-swap-args", tiny_cross_encoder, {}),
        ("bi-st", "st-bi", minilm_path, {}),
        ("bi-hf", "hf-bi", minilm_path, {}),
        ("llm", "llm-rerank", TINY_LLM, {}),
        ("llm-bare", "replay-llm-template-missing", TINY_LLM, {}),
        # the token replays: what the model was fed changes, token by token
        ("ce-sep-none", "replay-sep-token-none", tiny_cross_encoder, {}),
        ("ce-segment-bos", "replay-segment-bos", tiny_cross_encoder, {}),
        ("ce-fallback", "replay-tokenizer-fallback", tiny_cross_encoder, {}),
        ("llm-cue-cut", "replay-llm-cue-truncated", TINY_LLM, {}),
    ]]
    run_id = score_run(db, "ce", configs, golden_en(golden_dir), probes=False)
    with Store(db) as store:
        data = suite_input(store, run_id, "ce")
        disagreements = store.sql("select * from token_disagreements where run_id = $r",
                                  r=run_id)
        samples = store.sql("select count(*) as n from token_samples where run_id = $r",
                            r=run_id)["n"][0]
    results = Tokenization().run(data, Params(), Judge())
    return {(r.engine, r.subject): r for r in results}, disagreements, samples, data


def test_engines_of_one_model_feed_identical_ids(fault_run):
    results, _, samples, data = fault_run
    for name in ("ce-hf", "ce-onnx"):
        result = results[(name, "engines")]
        assert result.status == PASSED and result.other_engine == "ce", result
        assert result.observed == 0 and result.detail["pairs"] == 45
    assert samples == 45 * 12  # every pair of a 45-pair set, for the 12 engines with ids
    assert data.engine_scores("ce")["input_tokens"].max() == 512  # what it saw: truncated


def test_a_shorter_max_length_is_named_where_the_ids_differ(fault_run):
    results, disagreements, _, _ = fault_run
    cut = results[("ce-128", "engines")]
    assert cut.status == FAILED and cut.blocking and cut.observed > 0
    first = cut.detail["first_differences"][0]
    assert first["position"] == 127 and first["token"] == "[SEP]" != first["token_other"]
    assert first["ids"] == 128 and first["ids_other"] > 128
    assert cut.detail["message"].startswith(f"{int(cut.observed)} of 45 pairs feed different "
                                            f"ids than ce; first at position 127 of pair ")
    pairs = disagreements.filter((disagreements["other_engine_name"] == "ce-128")
                                 & (disagreements["engine_name"] == "ce"))
    assert pairs.height == cut.observed


def test_swapped_arguments_and_a_missing_llm_template_feed_other_ids(fault_run):
    results, _, _, _ = fault_run
    swapped = results[("ce-swapped", "engines")]
    assert swapped.status == FAILED and swapped.observed == 45
    assert swapped.detail["first_differences"][0]["position"] == 1  # the first word after [CLS]
    bare = results[("llm-bare", "engines")]
    assert bare.status == FAILED and bare.other_engine == "llm" and bare.observed == 45
    assert bare.detail["first_differences"][0]["position"] == 0  # no system prompt


def test_the_token_replays_are_named_by_the_tokens_they_change(fault_run):
    results, _, _, _ = fault_run
    firsts = {name: results[(name, "engines")] for name in
              ("ce-sep-none", "ce-segment-bos", "ce-fallback")}
    assert {r.status for r in firsts.values()} == {FAILED}
    # the pair shown first is the first differing one by pair id (not by stored order)
    assert "'none' inserted at position 10 of pair " in firsts["ce-sep-none"].detail["message"]
    bos = firsts["ce-segment-bos"].detail["first_differences"][0]
    assert bos["token"] == "[CLS]" and bos["token_other"] != "[CLS]"  # after the first [SEP]
    fallback = firsts["ce-fallback"].detail["first_differences"][0]
    assert (fallback["token"], fallback["token_other"]) == ("[UNK]", "how")  # 'How', uncased


def test_a_prompt_cut_where_its_answer_cue_sits_is_caught(fault_run):
    results, _, _, _ = fault_run
    assert results[("llm", "answer_cue")].status == PASSED
    assert results[("llm-bare", "answer_cue")].status == FAILED  # no template, no cue either
    cut = results[("llm-cue-cut", "answer_cue")]
    assert cut.status == FAILED and cut.blocking and cut.observed == 3  # the 3 pairs > 1024
    assert "3 of 45 sampled prompts lose the answer cue" in cut.detail["message"]
    assert all(first["ids"] == 1024 for first in cut.detail["first_differences"])


def test_engines_without_ids_are_skipped_with_the_reason(fault_run):
    results, _, _, _ = fault_run
    skipped = results[("bi-st", "engines")]
    assert skipped.status == SKIPPED
    assert skipped.detail["reason"] == "skipped: st-bi exposes no token ids"
    alone = results[("bi-hf", "engines")]
    assert alone.status == SKIPPED and "no other bi-encoder engine config" in \
        alone.detail["reason"]


def night(db, extra: dict, checks: dict | None = None):
    config = RunConfig.model_validate({
        "db": str(db), "reference": "ce",
        "sample_sets": [{"name": "golden_en", "path": "pkg:samples/golden_en.jsonl"}],
        "engines": [{"name": "ce", "kind": "st-cross", "model": TINY_CE, **extra}],
        "checks": {**UNTRAINED, **(checks or {})}})
    return sequence.run_and_judge(config, "test", "nightly")[1]


def only(report, check: str, subject: str):
    (found,) = [r for r in report.results if r.check == check and r.subject == subject]
    return found


def test_a_changed_tokenization_since_the_accepted_run_is_reported_then_blocks(tmp_path):
    db = tmp_path / "history.duckdb"
    first = night(db, {})
    assert first.passed and not [r for r in first.results
                                 if r.check == "tokenization" and r.subject == "history"]
    again = night(db, {})  # the same engine: copied scores, the same ids
    assert only(again, "tokenization", "history").status == PASSED
    cut = night(db, {"max_length": 128})
    changed = only(cut, "tokenization", "history")
    assert changed.status == FAILED and not changed.blocking and not changed.blocks
    assert changed.detail["message"].startswith(
        f"the tokenization of {int(changed.observed)} of 45 pairs changed: ")
    assert "→ '[SEP]' at position 127 of pair " in changed.detail["message"]
    assert "tokenization" not in cut.failing_checks
    history = only(cut, "history_baseline", "last_accepted")  # the scores moved too: why
    assert history.status == FAILED
    assert f"the tokenization of {int(changed.observed)} of 45 pairs changed" in \
        history.detail["message"]
    blocking = night(db, {"max_length": 128}, {"tokenization": {"history_blocking": True}})
    assert only(blocking, "tokenization", "history").blocks
    assert "tokenization" in blocking.failing_checks
