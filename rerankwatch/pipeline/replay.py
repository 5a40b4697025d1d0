"""Incident replays: prove the suite catches every known incident and passes clean engines."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from rerankwatch.core.config import RunConfig
from rerankwatch.core.records import SuiteReport
from rerankwatch.engines.fixtures import (
    DEMO_CROSS_CONFIG,
    demo_cross_encoder_path,
    find_demo_model,
)
from rerankwatch.pipeline import judging
from rerankwatch.pipeline.config import load_config

LOG = logging.getLogger("rerankwatch.pipeline.replay")
MINILM = "embedded:all-MiniLM-L6-v2"
TINY_CE = "fixture:tiny-cross-encoder"
DEMO_CE = "embedded:demo-cross-encoder"  # replayed only once built (rerankwatch build-demo-model)
# The fixture cross-encoder is untrained: ladders and ceilings say nothing about it, so in its
# replays those absolute checks are reported but do not block; relative checks do.
UNTRAINED = {"monotonic_relevance": {"blocking": False}, "irrelevant_ceiling": {"blocking": False}}


def _engine(name: str, kind: str, model: str, **extra) -> dict:
    return {"name": name, "kind": kind, "model": model, **extra}


@dataclass(frozen=True)
class Replay:
    name: str
    incident: str
    reference: dict
    candidate: dict
    clean: bool = False  # a control: the suite must raise no blocking failure

    @property
    def needs_demo_model(self) -> bool:
        return DEMO_CE in (self.reference["model"], self.candidate["model"])

    @property
    def checks(self) -> dict:
        """Thresholds as the model's own config has them (the demo model's ceiling is its own)."""
        models = {self.reference["model"], self.candidate["model"]}
        if TINY_CE in models:
            return UNTRAINED
        return load_config(DEMO_CROSS_CONFIG).checks if self.needs_demo_model else {}


CE_REF = _engine("tiny-ce", "st-cross", TINY_CE)
BI_REF = _engine("minilm-st-bi", "st-bi", MINILM)
DEMO_REF = _engine("demo-ce", "st-cross", DEMO_CE)
REPLAYS = [
    Replay("swap_args", "score(documents, query) instead of score(query, documents)",
           CE_REF, _engine("tiny-ce-swapped", "replay-swap-args", TINY_CE)),
    Replay("cls_pooling", "CLS pooling on a mean-pooled model (TEI ModernBERT)",
           BI_REF, _engine("minilm-cls", "replay-cls-pooling", MINILM)),
    Replay("random_head", "embedding model loaded as a cross-encoder: random head per load",
           BI_REF, _engine("minilm-as-reranker", "replay-random-head", MINILM)),
    Replay("low_precision_activation", "sigmoid computed in float16",
           CE_REF, _engine("tiny-ce-fp16-sigmoid", "replay-low-precision-activation", TINY_CE)),
    Replay("softmax_single_logit", "softmax over a one-logit head: every score 1.0",
           CE_REF, _engine("tiny-ce-softmax", "replay-softmax-single-logit", TINY_CE)),
    Replay("raw_logits", "raw logits returned where probabilities are expected",
           CE_REF, _engine("tiny-ce-logits", "replay-raw-logits", TINY_CE)),
    Replay("truncate_128", "max_length 128 where the reference uses 512",
           CE_REF, _engine("tiny-ce-trunc128", "replay-truncate-128", TINY_CE)),
    Replay("swap_args_demo_ce", "score(documents, query) on a trained cross-encoder (demo model)",
           DEMO_REF, _engine("demo-ce-swapped", "replay-swap-args", DEMO_CE)),
    Replay("random_head_demo_ce", "the demo reranker's base embedding model loaded in its place",
           DEMO_REF, _engine("minilm-as-demo-ce", "replay-random-head", MINILM)),
    Replay("clean_cross_encoder", "control: hf-seqcls vs st-cross on the same model",
           CE_REF, _engine("tiny-ce-hf", "hf-seqcls", TINY_CE), clean=True),
    Replay("clean_bi_encoder", "control: hf-bi vs st-bi on the same model",
           BI_REF, _engine("minilm-hf-bi", "hf-bi", MINILM), clean=True),
]


@dataclass(frozen=True)
class ReplayOutcome:
    replay: Replay
    report: SuiteReport
    caught_by: tuple[str, ...]  # blocking checks that failed on the candidate

    @property
    def ok(self) -> bool:
        """A replay must be caught; a clean control must block nothing."""
        return not self.report.blocked if self.replay.clean else bool(self.caught_by)


def replay_config(replay: Replay, db: str) -> RunConfig:
    return RunConfig.model_validate({
        "db": db, "reference": replay.reference["name"],
        "sample_sets": [{"name": "golden_en", "path": "pkg:samples/golden_en.jsonl"}],
        "engines": [replay.reference, replay.candidate], "checks": replay.checks,
    })


def run_replay(replay: Replay, db: str) -> ReplayOutcome:
    """Score reference and candidate (copied when an identical fingerprint is stored), then
    run the gate suite."""
    _, report = judging.run_and_judge(replay_config(replay, db), f"replay:{replay.name}",
                                      "gate")
    caught = tuple(sorted({r.check for r in report.failing
                           if r.engine == replay.candidate["name"]}))
    return ReplayOutcome(replay, report, caught)


def run_replays(db: str, names: list[str] | None = None) -> list[ReplayOutcome]:
    chosen = [r for r in REPLAYS if not names or r.name in names]
    unknown = set(names or []) - {r.name for r in REPLAYS}
    if unknown:
        raise ValueError(f"unknown replay(s) {sorted(unknown)}; available: "
                         f"{[r.name for r in REPLAYS]}")
    if any(r.needs_demo_model for r in chosen) and find_demo_model() is None:
        if names:  # asked for by name: say how to build it
            demo_cross_encoder_path()
        chosen = [r for r in chosen if not r.needs_demo_model]
    return [run_replay(r, db) for r in chosen]
