"""Records that cross layers: what an engine returns, what identifies it, what a check says.

Engines produce ScoreBatch and Fingerprint; the store and its shards persist them; checks
produce CheckResult rows and a suite gathers them into a SuiteReport that every view renders.
None of them imports anything of the project but this layer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

Activation = Literal["sigmoid", "none", "cosine", "softmax"]
Pair = tuple[str, str]
OnBatch = Callable[[int], None]
# what a load report says when weights were freshly (randomly) initialized
RANDOM_INIT_MARKERS = ("newly initialized", "MISSING", "were not initialized from the model")
PASSED, FAILED, SKIPPED, ERROR = "passed", "failed", "skipped", "error"
# scores.variant: main scores, then probes ("spot": copied main scores re-scored afresh)
# and "single", "shuffled", "mixed": the batch-invariance probes (pipeline/batch_probes.py)
VARIANTS = ("main", "swapped", "repeat", "reload", "spot", "single", "shuffled", "mixed")


@dataclass(frozen=True, slots=True)
class ScoreBatch:
    """Scores for a list of pairs, in input order, with the activation that produced them."""

    logits: np.ndarray
    scores: np.ndarray
    activation: Activation
    batch_index: np.ndarray  # which batch each pair was scored in
    batch_seconds: tuple[float, ...]  # wall time of each batch

    @property
    def seconds(self) -> float:
        return float(sum(self.batch_seconds))


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """Everything that can change a score; two engines with equal fingerprints score alike."""

    kind: str
    model: str
    weights_sha256: str
    dtype: str
    device: str
    pooling: str
    max_length: int
    activation: str
    versions: dict[str, str] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)  # e.g. the fault a replay injects
    # every other file of the model folder that shapes a score (config.json, tokenizer files,
    # sentence-transformers module configs, templates): a changed tokenizer is a new engine
    files_sha256: str = ""
    revision: str = ""  # a hub model's resolved commit (its snapshot folder)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @property
    def engine_id(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    @property
    def cacheable(self) -> bool:
        """Only weights we hashed prove two loads identical (a remote server's can change)."""
        return self.weights_sha256 not in ("", "unknown")


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One row of check_results: a check's verdict on one engine (pair) and subject."""

    check: str
    engine: str | None
    subject: str
    status: str
    blocking: bool
    observed: float | None = None
    threshold: float | None = None
    detail: dict = field(default_factory=dict)
    other_engine: str | None = None

    @property
    def blocks(self) -> bool:
        return self.blocking and self.status in (FAILED, ERROR)

    def detail_json(self) -> str:
        return json.dumps(self.detail, default=_jsonable, ensure_ascii=False)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)


@dataclass(frozen=True)
class SuiteReport:
    """The verdict of one suite run; printing, HTML and artifacts are views of it."""

    run_id: str
    suite: str
    reference: str
    results: tuple[CheckResult, ...]

    @property
    def blocked(self) -> bool:
        return any(r.blocks for r in self.results)

    @property
    def verdict(self) -> str:
        return "BLOCKED" if self.blocked else "PASS"

    @property
    def failing(self) -> list[CheckResult]:
        return [r for r in self.results if r.blocks]

    @property
    def failing_checks(self) -> list[str]:
        return sorted({r.check for r in self.failing})
