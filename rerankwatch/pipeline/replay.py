"""Incident replays: prove the suite catches every known incident and passes clean engines."""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass

from rerankwatch.core.config import RunConfig
from rerankwatch.core.records import SuiteReport
from rerankwatch.engines.fixtures import (
    DEMO_CROSS_CONFIG,
    demo_cross_encoder_path,
    find_demo_model,
)
from rerankwatch.pipeline import run
from rerankwatch.pipeline.config import load_config

LOG = logging.getLogger("rerankwatch.pipeline.replay")
MINILM = "embedded:all-MiniLM-L6-v2"
TINY_CE = "fixture:tiny-cross-encoder"
TINY_LLM = "fixture:tiny-llm-reranker"  # an untrained Qwen3 causal LM (engines/fixtures.py)
DEMO_CE = "embedded:demo-cross-encoder"  # the trained demo model, once built
CE = "cross-encoder"  # stands for the replays' cross-encoder: DEMO_CE once built, else TINY_CE
# The fixture cross-encoder is untrained: ladders and ceilings say nothing about it, so in its
# replays those absolute checks are reported but do not block; relative checks do.
UNTRAINED = {"monotonic_relevance": {"blocking": False}, "irrelevant_ceiling": {"blocking": False}}


def _engine(name: str, kind: str, model: str, **extra) -> dict:
    return {"name": name, "kind": kind, "model": model, **extra}


def replay_cross_encoder() -> str:
    """The cross-encoder replays run on: the trained demo model once built (ladders and
    ceilings then count), else the untrained fixture."""
    return DEMO_CE if find_demo_model() is not None else TINY_CE


@dataclass(frozen=True)
class Replay:
    name: str
    incident: str
    reference: dict
    candidate: dict
    clean: bool = False  # a control: the suite must raise no blocking failure
    force: bool = False  # score afresh (a control whose candidate shares the fingerprint)
    sets: tuple[str, ...] = ("golden_en",)  # the packaged sample sets it scores

    def resolved(self, cross_encoder: str) -> Replay:
        """This replay with its cross-encoder placeholder set to ``cross_encoder``."""
        def pick(engine: dict) -> dict:
            return {**engine, "model": cross_encoder} if engine["model"] == CE else engine

        return dataclasses.replace(self, reference=pick(self.reference),
                                   candidate=pick(self.candidate))

    @property
    def needs_demo_model(self) -> bool:
        return DEMO_CE in (self.reference["model"], self.candidate["model"])

    @property
    def checks(self) -> dict:
        """Thresholds as the model's own config has them (the demo model's ceiling is its own)."""
        models = {self.reference["model"], self.candidate["model"]}
        if models & {TINY_CE, TINY_LLM}:
            return UNTRAINED
        return load_config(DEMO_CROSS_CONFIG).checks if self.needs_demo_model else {}


CE_REF = _engine("ce", "st-cross", CE)
BI_REF = _engine("minilm-st-bi", "st-bi", MINILM)
DEMO_REF = _engine("demo-ce", "st-cross", DEMO_CE)
LLM_REF = _engine("llm", "llm-rerank", TINY_LLM)
REPLAYS = [
    Replay("swap_args", "score(documents, query) instead of score(query, documents)",
           CE_REF, _engine("ce-swapped", "replay-swap-args", CE)),
    Replay("cls_pooling", "CLS pooling on a mean-pooled model (TEI ModernBERT)",
           BI_REF, _engine("minilm-cls", "replay-cls-pooling", MINILM)),
    Replay("random_head", "embedding model loaded as a cross-encoder: random head per load",
           BI_REF, _engine("minilm-as-reranker", "replay-random-head", MINILM)),
    Replay("random_head_demo_ce", "the demo reranker's base embedding model loaded in its place",
           DEMO_REF, _engine("minilm-as-demo-ce", "replay-random-head", MINILM)),
    Replay("low_precision_activation", "sigmoid computed in float16",
           CE_REF, _engine("ce-fp16-sigmoid", "replay-low-precision-activation", CE)),
    Replay("softmax_single_logit", "softmax over a one-logit head: every score 1.0",
           CE_REF, _engine("ce-softmax", "replay-softmax-single-logit", CE)),
    Replay("raw_logits", "raw logits returned where probabilities are expected",
           CE_REF, _engine("ce-logits", "replay-raw-logits", CE)),
    # the demo cross-encoder reads 128 tokens at most: only the fixture (512) can be cut short
    Replay("truncate_128", "max_length 128 where the reference uses 512",
           _engine("tiny-ce", "st-cross", TINY_CE),
           _engine("tiny-ce-trunc128", "replay-truncate-128", TINY_CE)),
    Replay("token_type_ids_dropped", "token_type_ids not passed (vllm #17743)",
           CE_REF, _engine("ce-no-token-types", "replay-token-type-ids-dropped", CE)),
    Replay("pooler_dropped", "BERT pooler dropped by a converter: logits shrink",
           CE_REF, _engine("ce-no-pooler", "replay-pooler-dropped", CE)),
    Replay("activation_twice", "sigmoid over an already-activated score (node-llama-cpp #617)",
           CE_REF, _engine("ce-sigmoid-twice", "replay-activation-twice", CE)),
    Replay("request_minmax", "min-max normalisation across a request (AutoRAG #403)",
           CE_REF, _engine("ce-minmax", "replay-request-normalization", CE)),
    Replay("request_softmax", "softmax across a request's documents (mem0 #5715)",
           CE_REF, _engine("ce-softmax-request", "replay-request-normalization", CE,
                           options={"method": "softmax"})),
    Replay("attention_mask_dropped", "attention mask dropped on padded batches (TEI #882)",
           CE_REF, _engine("ce-no-mask", "replay-attention-mask-dropped", CE)),
    Replay("index_ignored", "results assigned by position, index ignored (ragflow #2575)",
           CE_REF, _engine("ce-by-position", "replay-index-ignored", CE)),
    Replay("empty_docs_dropped", "documents the server finds empty dropped, the rest shifted "
           "(OpenViking #1712)", CE_REF, _engine("ce-dropped-docs", "replay-empty-docs-dropped",
                                                 CE, options={"empty_below_chars": 45})),
    Replay("int8_weights", "int8 weight quantisation drift (openvino.genai #2883)",
           CE_REF, _engine("ce-int8", "replay-int8-weights", CE)),
    Replay("default_dtype", "a library upgrade loads the config's dtype (transformers v5)",
           CE_REF, _engine("ce-default-dtype", "replay-default-dtype", CE)),
    Replay("zeroed_head", "a zeroed head: every score 0.5 (vllm #27857)",
           CE_REF, _engine("ce-zeroed-head", "replay-zeroed-head", CE)),
    Replay("llm_template_missing", "LLM reranker scored without its prompt template (vllm #20794)",
           LLM_REF, _engine("llm-bare", "replay-llm-template-missing", TINY_LLM)),
    Replay("llm_yes_no_swapped", "LLM reranker's yes / no tokens swapped: 1 - p (vllm #19260)",
           LLM_REF, _engine("llm-swapped-answers", "replay-llm-yes-no-swapped", TINY_LLM)),
    Replay("llm_right_padding", "LLM reranker padded on the right, read at the last position",
           LLM_REF, _engine("llm-right-padded", "replay-llm-right-padding", TINY_LLM)),
    Replay("long_input_batch", "chunked prefill loses a long pair's context in a batch "
           "(vllm #48831)", CE_REF, _engine("ce-chunked-prefill", "replay-long-input-batch", CE)),
    # what the model was fed (the tokenization check, before any score moves past tolerance)
    Replay("tokenizer_fallback", "a tokenizer class falls back: same weights, other ids "
           "(mteb #5377)", CE_REF, _engine("ce-tokenizer-fallback", "replay-tokenizer-fallback",
                                           CE)),
    Replay("sep_token_none", "sep_token None joined as text: 'None' between query and doc "
           "(vllm #19522)", CE_REF, _engine("ce-sep-none", "replay-sep-token-none", CE)),
    Replay("segment_bos", "second segment laid out with its own begin token, [SEP] [CLS] "
           "(llama.cpp #9510)", CE_REF, _engine("ce-segment-bos", "replay-segment-bos", CE)),
    Replay("unicode_normalized", "text NFKC-normalised before tokenizing: full-width '，' "
           "becomes ',' (tokenizers #2116)", CE_REF,
           _engine("ce-nfkc", "replay-unicode-normalized", CE), sets=("golden_zh",)),
    Replay("llm_cue_truncated", "LLM prompt cut at max_length: the answer cue is lost "
           "(sentence-transformers #3787)", LLM_REF,
           _engine("llm-cue-cut", "replay-llm-cue-truncated", TINY_LLM)),
    Replay("clean_cross_encoder", "control: hf-seqcls vs st-cross on the same model",
           CE_REF, _engine("ce-hf", "hf-seqcls", CE), clean=True),
    Replay("clean_bi_encoder", "control: hf-bi vs st-bi on the same model",
           BI_REF, _engine("minilm-hf-bi", "hf-bi", MINILM), clean=True),
    Replay("clean_batch_size_1", "control: batch size 1 vs 32, scored afresh",
           CE_REF, _engine("ce-batch-1", "st-cross", CE, batch_size=1), clean=True,
           force=True),
    Replay("clean_onnx", "control: onnx float32 vs st-cross float32",
           CE_REF, _engine("ce-onnx", "onnx", CE), clean=True),
    Replay("clean_llm_batch_size_1", "control: LLM reranker at batch size 1 vs 32, afresh",
           LLM_REF, _engine("llm-batch-1", "llm-rerank", TINY_LLM, batch_size=1), clean=True,
           force=True),
    Replay("clean_bfloat16", "control: bfloat16 vs float32, within its tolerance",
           CE_REF, _engine("ce-bf16", "st-cross", CE, precision="bfloat16"), clean=True),
    Replay("clean_tokenizer_upgrade", "control: the same tokenizer loaded through "
           "sentence-transformers and transformers, scored afresh: identical ids",
           CE_REF, _engine("ce-hf-tokenizer", "hf-seqcls", CE), clean=True, force=True),
    Replay("clean_bfloat16_call_noise", "control: bfloat16 with one ulp of noise per call, as "
           "GPU kernels and served engines give (vllm #27433)",
           CE_REF, _engine("ce-bf16-noisy", "replay-call-noise", CE, precision="bfloat16"),
           clean=True),
    Replay("clean_float16_call_noise", "control: float16 with one ulp of noise per call",
           CE_REF, _engine("ce-fp16-noisy", "replay-call-noise", CE, precision="float16"),
           clean=True),
]
NIGHTS = "nightly_sequence"  # the nightly-sequence replay (replay_nights.py), by name


def margin(observed: float | None, threshold: float | None) -> float | None:
    """How far a failing result is past its threshold, as observed ÷ threshold oriented so
    that > 1 is past it (threshold ÷ observed for a floor); None where a ratio means nothing
    (a threshold of 0, a negative bound); inf for a floor of a positive bound hit at 0."""
    if observed is None or threshold is None or threshold <= 0 or observed < 0:
        return None
    if observed >= threshold:
        return observed / threshold
    return threshold / observed if observed > 0 else math.inf


def margins(report: SuiteReport, engine: str | None = None) -> dict[str, float | None]:
    """Per check that blocked (on ``engine``, or on any), its largest margin (observed ÷
    threshold, > 1 past it); None where no ratio applies."""
    found: dict[str, float | None] = {}
    for result in report.failing:
        if engine is not None and result.engine != engine:
            continue
        value, best = margin(result.observed, result.threshold), found.get(result.check)
        found[result.check] = value if best is None else max(best, value or best)
    return found


@dataclass(frozen=True)
class ReplayOutcome:
    replay: Replay
    report: SuiteReport
    caught_by: tuple[str, ...]  # blocking checks that failed on the candidate

    @property
    def ok(self) -> bool:
        """A replay must be caught; a clean control must block nothing."""
        return not self.report.blocked if self.replay.clean else bool(self.caught_by)

    @property
    def margins(self) -> dict[str, float | None]:
        """Per catching check, its largest margin over the candidate's blocking failures."""
        return margins(self.report, self.replay.candidate["name"])


def replay_config(replay: Replay, db: str) -> RunConfig:
    return RunConfig.model_validate({
        "db": db, "reference": replay.reference["name"],
        "sample_sets": [{"name": name, "path": f"pkg:samples/{name}.jsonl"}
                        for name in replay.sets],
        "engines": [replay.reference, replay.candidate], "checks": replay.checks,
    })


def run_replay(replay: Replay, db: str) -> ReplayOutcome:
    """Score reference and candidate (copied when an identical fingerprint is stored, unless
    the replay scores afresh), then run the gate suite."""
    _, report = run.run_and_judge(replay_config(replay, db), f"replay:{replay.name}",
                                  "gate", force=replay.force)
    caught = tuple(sorted({r.check for r in report.failing
                           if r.engine == replay.candidate["name"]}))
    return ReplayOutcome(replay, report, caught)


def replay_names() -> list[str]:
    return [r.name for r in REPLAYS] + [NIGHTS]


def chosen_replays(names: list[str] | None = None) -> list[Replay]:
    """The replays to run (all, or ``names``), their cross-encoder resolved; demo-model-only
    replays are left out when it is not built (asked for by name: DemoModelNotBuiltError)."""
    unknown = set(names or []) - set(replay_names())
    if unknown:
        raise ValueError(f"unknown replay(s) {sorted(unknown)}; available: {replay_names()}")
    cross_encoder = replay_cross_encoder()
    chosen = [r.resolved(cross_encoder) for r in REPLAYS if not names or r.name in names]
    if any(r.needs_demo_model for r in chosen) and find_demo_model() is None:
        if names:  # asked for by name: say how to build it
            demo_cross_encoder_path()
        chosen = [r for r in chosen if not r.needs_demo_model]
    return chosen


def run_replays(db: str, names: list[str] | None = None) -> list[ReplayOutcome]:
    return [run_replay(r, db) for r in chosen_replays(names)]
