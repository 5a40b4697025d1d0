"""A nightly-sequence replay: what only the history baseline can catch.

Two clean nights, then a night on which every engine shares one regression (a library upgrade
that moves them all alike, engines/faults.py SharedUpgradeEngine): tonight's engines still agree
with each other, ladders keep their order, nothing nears 1.0. The third night must be BLOCKED,
and by the history check alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from rerankwatch.core.config import RunConfig
from rerankwatch.core.records import SuiteReport
from rerankwatch.engines.fixtures import DEMO_CROSS_CONFIG
from rerankwatch.pipeline import run
from rerankwatch.pipeline.config import load_config
from rerankwatch.pipeline.replay import (
    DEMO_CE,
    UNTRAINED,
    margins,
    replay_cross_encoder,
)

HISTORY_CHECK = "history_baseline"
NIGHTS = ("clean", "clean", "shared regression")


@dataclass(frozen=True)
class NightsOutcome:
    """The three nights' suite reports, in order."""

    model: str
    reports: tuple[SuiteReport, ...]

    @property
    def caught_by(self) -> tuple[str, ...]:
        """Blocking checks that failed on the last night."""
        return tuple(self.reports[-1].failing_checks)

    @property
    def margins(self) -> dict[str, float | None]:
        """Per check that blocked the last night, its largest margin."""
        return margins(self.reports[-1])

    @property
    def ok(self) -> bool:
        """Clean nights pass; the shared regression is blocked by the history check alone."""
        *clean, last = self.reports
        return (not any(r.blocked for r in clean) and last.blocked
                and self.caught_by == (HISTORY_CHECK,))


def night_config(db: str, model: str, regression: bool) -> RunConfig:
    """Two engine configs of one model (st-cross, the reference, and hf-seqcls); on the night
    of the regression both are wrapped in the same shared-upgrade fault, names unchanged."""
    def engine(name: str, kind: str) -> dict:
        if regression:
            return {"name": name, "kind": "replay-shared-upgrade", "wraps": kind,
                    "model": model}
        return {"name": name, "kind": kind, "model": model}

    checks = load_config(DEMO_CROSS_CONFIG).checks if model == DEMO_CE else UNTRAINED
    return RunConfig.model_validate({
        "db": db, "reference": "nightly-ce",
        "sample_sets": [{"name": "golden_en", "path": "pkg:samples/golden_en.jsonl"}],
        "engines": [engine("nightly-ce", "st-cross"), engine("nightly-ce-hf", "hf-seqcls")],
        "checks": checks})


def run_nights(db: str, model: str | None = None) -> NightsOutcome:
    """Replay the three nights into ``db`` with the nightly suite (on the demo cross-encoder
    once built, else on the untrained fixture)."""
    model = model or replay_cross_encoder()
    reports = []
    for number, night in enumerate(NIGHTS, start=1):
        config = night_config(db, model, regression=night != "clean")
        _, report = run.run_and_judge(config, f"replay:nights:{number}", "nightly")
        reports.append(report)
    return NightsOutcome(model, tuple(reports))
