"""Incident replays: prove the suite catches every known incident and passes clean engines."""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass

from rerankwatch.core.config import RunConfig
from rerankwatch.core.records import SuiteReport
from rerankwatch.engines.faults import (
    CROSS_ENCODER,
    DEMO_CE,
    INCIDENTS,
    MINILM,
    TINY_CE,
    TINY_LLM,
    Incident,
)
from rerankwatch.engines.fixtures import (
    DEMO_CROSS_CONFIG,
    demo_cross_encoder_path,
    find_demo_model,
)
from rerankwatch.pipeline import run
from rerankwatch.pipeline.config import load_config

LOG = logging.getLogger("rerankwatch.pipeline.replay")
CE = CROSS_ENCODER  # stands for the replays' cross-encoder: DEMO_CE once built, else TINY_CE
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
    expected: tuple[str, ...] = ()  # the checks its declaration expects to catch it

    @classmethod
    def of(cls, incident: Incident) -> Replay:
        """The replay an ``Incident`` declares (engines/faults.py)."""
        candidate = _engine(incident.engine, incident.kind, incident.model, **incident.settings)
        return cls(incident.name, incident.incident, REFERENCES[incident.reference], candidate,
                   clean=incident.clean, force=incident.force, sets=incident.sets,
                   expected=incident.checks)

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
# the demo cross-encoder reads 128 tokens at most: only the fixture (512) can be cut short
TINY_CE_REF = _engine("tiny-ce", "st-cross", TINY_CE)
REFERENCES = {ref["name"]: ref for ref in (CE_REF, BI_REF, DEMO_REF, LLM_REF, TINY_CE_REF)}
# every replay engines/faults.py declares: the incidents, then the clean controls
REPLAYS = [Replay.of(incident) for incident in sorted(INCIDENTS, key=lambda i: i.clean)
           if not incident.nights]
NIGHTS = next(i.name for i in INCIDENTS if i.nights)  # the nightly sequence (replay_nights.py)
MODEL_LABELS = {CE: "demo CE", MINILM: "MiniLM", TINY_CE: "fixture CE", TINY_LLM: "fixture LLM"}
TABLE_START, TABLE_END = "<!-- replays:start -->", "<!-- replays:end -->"


def _table_row(incident: Incident) -> str:
    """README's row for one declared replay: what it runs, the incident, what catches it."""
    notes = [MODEL_LABELS[incident.model]]
    if incident.sets != ("golden_en",):
        notes.append(", ".join(incident.sets))
    if "batch_size" in incident.settings:
        notes.append(f"batch_size {incident.settings['batch_size']}")
    if "precision" in incident.settings:
        notes.append(incident.settings["precision"])
    if incident.force and len(notes) == 1:
        notes.append("scored afresh")
    engine = f"`{incident.kind}`" + (f" {incident.on}" if incident.on else "")
    caught = incident.caught or "—"
    note = "; ".join(n for n in ("clean control: passes" if incident.clean else "",
                                 incident.note) if n)
    cells = [f"`{incident.name}`", f"{engine} ({', '.join(notes)})",
             incident.described or incident.incident, caught + (f" ({note})" if note else "")]
    return "| " + " | ".join(cells) + " |"


def replay_table_markdown() -> str:
    """README's replay table (between its replays:start / replays:end markers), from the
    declarations in engines/faults.py: every replay as `rerankwatch replay` runs them, then
    the nightly sequence."""
    ordered = sorted(INCIDENTS, key=lambda i: (i.nights, i.clean))
    return "\n".join([
        "| replay | engine kind (model) | incident | caught by (margin: observed ÷ threshold) |",
        "| --- | --- | --- | --- |", *(_table_row(i) for i in ordered)]) + "\n"


def readme_with_replay_table(text: str) -> str:
    """``text`` (README.md) with the table between its replay markers generated afresh."""
    head, found, rest = text.partition(TABLE_START + "\n")
    _, end, tail = rest.partition(TABLE_END)
    if not (found and end):
        raise ValueError(f"no {TABLE_START} ... {TABLE_END} block")
    return f"{head}{TABLE_START}\n\n{replay_table_markdown()}\n{TABLE_END}{tail}"


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
