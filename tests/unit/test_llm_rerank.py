"""`llm-rerank`: a causal-LM reranker on the fixture Qwen3 model (random weights, a tokenizer
trained offline), held to an independent computation of p(yes) and to its relative properties."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from rerankwatch.core.config import EngineConfig
from rerankwatch.core.errors import ConfigError
from rerankwatch.engines import build_engine
from rerankwatch.engines.llm_templates import TEMPLATES, template_from_options
from rerankwatch.pipeline.config import load_config
from rerankwatch.samples.loader import load_sample_set

LLM = "fixture:tiny-llm-reranker"


def llm(name: str = "llm", **extra) -> EngineConfig:
    return EngineConfig(name=name, kind="llm-rerank", **{"model": LLM, "batch_size": 8, **extra})


def toml_value(value) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # nan, inf, -inf: TOML spells them so
    return json.dumps(value)  # a JSON string or number is a TOML one


def llm_config_file(folder: Path, options: dict) -> Path:
    """A run config of one llm-rerank engine with ``options``, as a user writes it."""
    path = folder / "llm.toml"
    path.write_text(f"""reference = "llm"
[[sample_sets]]
name = "golden_en"
path = "pkg:samples/golden_en.jsonl"
[[engines]]
name = "llm"
kind = "llm-rerank"
model = "{LLM}"
options = {{ {", ".join(f"{k} = {toml_value(v)}" for k, v in options.items())} }}
""", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def pairs(golden_dir) -> list[tuple[str, str]]:
    frame = load_sample_set(golden_dir / "golden_en.jsonl").head(24)
    return list(zip(frame["query"], frame["doc"], strict=True))


@pytest.fixture(scope="module")
def engine():
    return build_engine(llm())


def test_scores_are_p_yes_at_the_last_token_of_the_templated_prompt(engine, pairs):
    """An independent computation: each prompt alone (no padding), tokenized whole, through the
    plain causal LM; p(yes) = softmax over the (no, yes) logits of the next token."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rerankwatch.core.models import resolve_model

    folder = resolve_model(LLM)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    template = TEMPLATES["qwen3"]
    yes, no = tokenizer.convert_tokens_to_ids(["yes", "no"])
    short = [p for p in pairs if len(p[0]) + len(p[1]) < 600][:8]  # no truncation here
    expected = []
    for query, doc in short:
        ids = tokenizer(template.prompt(query, doc), return_tensors="pt")["input_ids"]
        assert ids[0].tolist() == engine.prompt_ids([query], [doc])[0]  # same tokens either way
        with torch.inference_mode():
            last = model(input_ids=ids).logits[0, -1]
        expected.append(torch.softmax(last[[no, yes]].double(), dim=0)[1].item())
    got = engine.score(short)
    np.testing.assert_allclose(got.scores, expected, atol=1e-5)
    np.testing.assert_allclose(got.logits, np.log(got.scores / (1 - got.scores)), atol=1e-6)
    assert len(set(np.round(got.scores, 6))) == len(short)  # the pairs are told apart


def test_left_padding_makes_scores_independent_of_the_batch(engine, pairs):
    lengths = {len(q) + len(d) for q, d in pairs}
    assert len(lengths) > 4  # the batches really pad
    single = build_engine(llm("llm-1", batch_size=1)).score(pairs)
    np.testing.assert_allclose(engine.score(pairs).logits, single.logits, atol=1e-4)


def test_determinism_across_loads_and_argument_order_matters(engine, pairs):
    again = build_engine(llm("llm-again")).score(pairs)
    np.testing.assert_array_equal(engine.score(pairs).logits, again.logits)
    swapped = engine.score([(d, q) for q, d in pairs])
    assert np.abs(swapped.logits - again.logits).max() > 0.1


def test_truncation_cuts_the_body_and_keeps_the_answer_cue(pairs):
    short = build_engine(llm("llm-64", max_length=96))
    long_pair = [(pairs[0][0], "word " * 2000)]
    ids = short.prompt_ids(*zip(*long_pair, strict=True))[0]
    suffix = short.tokenizer(TEMPLATES["qwen3"].suffix, add_special_tokens=False)["input_ids"]
    assert len(ids) == 96 and ids[-len(suffix):] == suffix
    assert short.pass_tokens(long_pair)[0] > 96  # what the truncation check compares
    assert np.isfinite(short.score(long_pair).scores).all()


def test_template_options_change_scores_and_the_fingerprint(engine, pairs):
    base = engine.score(pairs[:6])
    biased = build_engine(llm("llm-bias", options={"logit_bias": 1.5}))
    np.testing.assert_allclose(biased.score(pairs[:6]).logits, base.logits + 1.5, atol=1e-9)
    other = build_engine(llm("llm-instr", options={"instruction": "Find a recipe"}))
    assert np.abs(other.score(pairs[:6]).logits - base.logits).max() > 1e-3
    ids = {e.fingerprint().engine_id for e in (engine, biased, other)}
    assert len(ids) == 3  # a changed instruction or bias is a new engine: no copied scores
    extra = other.fingerprint().extra
    assert extra["template_sha256"] != engine.fingerprint().extra["template_sha256"]
    assert extra["padding_side"] == "left" and engine.fingerprint().pooling == "last-token"


def test_yes_logit_alone_without_a_no_token(engine, pairs):
    """bge-reranker-v2-gemma style: the score is the yes logit, through a sigmoid."""
    gemma = build_engine(llm("llm-yes-only", options={"no_token": ""}))
    got = gemma.score(pairs[:4])
    last = engine.last_token_logits(engine.prompt_ids(*zip(*pairs[:4], strict=True)))
    expected = last[:, engine.yes_id].double().numpy()
    np.testing.assert_allclose(got.logits, expected, atol=1e-5)


@pytest.mark.parametrize(("options", "message"), [
    ({"template": "qwen4"}, "options.template 'qwen4' is not one of ['bare', 'qwen3']"),
    ({"body": "<Query>: {query}"}, "must hold {query} before {doc}"),
    ({"body": "{doc} then {query}"}, "must hold {query} before {doc}"),
    ({"body": "{query} {document}"}, "options.body field {document} is not allowed: use "
                                     "exactly {instruction}, {query} and {doc}"),
    ({"logit_bias": "high"}, "options.logit_bias must be a number, got 'high'"),
    ({"yes_tokn": "yes"}, "unknown option(s) ['yes_tokn']"),
    # only {query}, {doc}, {instruction} as plain names: a field is never evaluated to check it
    ({"body": "{query.__init__.__globals__} {doc}"},
     "options.body field {query.__init__.__globals__} is not allowed"),
    ({"body": "{query.__class__.__name__} {doc}"},
     "options.body field {query.__class__.__name__} is not allowed"),
    ({"body": "{query[0]} {doc}"}, "options.body field {query[0]} is not allowed"),
    ({"body": "{query!r} {doc}"}, "options.body field {query!r} is not allowed"),
    ({"body": "{query:>40} {doc}"}, "options.body field {query:>40} is not allowed"),
    ({"body": "{} {query} {doc}"}, "options.body field {} is not allowed"),
    ({"body": "{query} {doc} {doc}"}, "options.body must hold {doc} once, not 2 times"),
    ({"body": "{query} {doc"}, "options.body '{query} {doc' is not a template"),
    ({"prefix": "Query: {query}\n"}, "options.prefix holds the field {query}: only "
                                      "options.body is filled in"),
    ({"suffix": "{doc}"}, "options.suffix holds the field {doc}"),
    ({"instruction": "Judge {query}"}, "options.instruction holds the field {query}"),
    ({"instruction": "x" * 2_000_000}, "options.instruction is 2000000 characters long; at "
                                       "most 4096"),
    ({"yes_token": "y" * 65}, "options.yes_token is 65 characters long; at most 64"),
    ({"logit_bias": float("nan")}, "options.logit_bias must be a finite number"),
    ({"logit_bias": float("inf")}, "options.logit_bias must be a finite number"),
    ({"logit_bias": 1e300}, "options.logit_bias must lie within -100 and 100, got 1e+300"),
])
def test_bad_template_options_are_refused_before_anything_runs(options, message, tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(llm_config_file(tmp_path, options))
    assert str(caught.value).count("\n") == 0
    assert "engine 'llm'" in str(caught.value) and message in str(caught.value)
    with pytest.raises(ConfigError) as caught:  # also at load, for a config never validated
        build_engine(EngineConfig.model_construct(**{**llm().model_dump(), "options": options}))
    assert message in str(caught.value)


def test_literal_braces_and_a_repeated_query_are_templates_still(tmp_path):
    """Escaped braces stay text; the prompt is what str.format renders of the body."""
    options = {"template": "bare", "body": "{{json}} {query} / {query} -> {doc}"}
    load_config(llm_config_file(tmp_path, options))
    template = template_from_options(options)
    assert template.prompt("q", "d") == "{json} q / q -> d"
    assert template.split("q", "d") == ("{json} q / q -> ", "d")


def test_an_answer_token_that_is_not_one_token_is_refused_at_load():
    with pytest.raises(ConfigError, match=r"yes_token 'definitely' is not one token of this "
                                          r"tokenizer \(it splits into \["):
        build_engine(llm("llm-bad-token", options={"yes_token": "definitely"}))


def test_a_cross_encoder_is_refused_naming_its_architecture(tiny_cross_encoder):
    with pytest.raises(ConfigError, match=r"is BertForSequenceClassification; a cross-encoder "
                                          r"is kind st-cross or hf-seqcls"):
        build_engine(llm("llm-on-bert", model=tiny_cross_encoder))


def test_template_split_is_what_vllm_concatenates():
    template = template_from_options({"instruction": "Rank it"})
    head, tail = template.split("q?", "d.")
    assert head + tail == template.prompt("q?", "d.")
    assert tail.startswith("d.") and tail.endswith(template.suffix)
    assert "<Instruct>: Rank it\n<Query>: q?\n<Document>: " in head


def test_fit_cuts_the_document_text_where_llm_rerank_cuts_the_body(pairs):
    """What the vllm engine sends (text only): the same tokens llm-rerank feeds its model."""
    short = build_engine(llm("llm-160", max_length=160))
    query, doc = pairs[0][0], "word by word, a long document " * 60
    kept = short.template.fit(short.tokenizer, query, doc, short._room)
    assert 0 < len(kept) < len(doc) and doc.startswith(kept)
    sent = short.tokenizer(short.template.prompt(query, kept), add_special_tokens=False)
    assert sent["input_ids"] == short.prompt_ids([query], [doc])[0]
    assert short.template.fit(short.tokenizer, query, "short", short._room) == "short"


def test_the_readme_qwen3_config_is_valid(tmp_path):
    """The Qwen3-Reranker example of docs/engines.md (a hub id, not runnable offline)
    passes every check a run makes before it loads a model."""
    import re
    from pathlib import Path

    from rerankwatch.pipeline import load_config

    readme = (Path(__file__).resolve().parents[2] / "docs" / "engines.md").read_text()
    block = re.search(r"```toml\n(# Qwen/Qwen3-Reranker-0\.6B.*?)```", readme, re.S)
    assert block, "docs/engines.md lost its Qwen3-Reranker example"
    path = tmp_path / "qwen3.toml"
    path.write_text(block.group(1))
    config = load_config(path)
    kinds = {e.name: (e.kind, e.options.get("template")) for e in config.engines}
    assert kinds == {"qwen3-hf": ("llm-rerank", "qwen3"), "qwen3-vllm": ("vllm", "qwen3")}
    assert config.engines[0].model == "Qwen/Qwen3-Reranker-0.6B"
