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
# a check that needs an engine config that could not score: neither passed nor failed, and
# labelled so in every view; the engine's cause is said once, in SuiteReport.engine_errors
NOT_JUDGED = "not_judged"
STATUSES = (PASSED, FAILED, ERROR, NOT_JUDGED, SKIPPED)
# A run's verdict: the engines regressed (BLOCKED), it could not be judged (ERROR: an engine
# config that did not load or score, a check that crashed, a store or server unreachable),
# or all is well (PASS). BLOCKED wins over ERROR: a regression seen on the engines that did
# score is a regression. Each verdict has its exit code; 2 is bad input or config.
PASS, BLOCKED, ERROR_VERDICT = "PASS", "BLOCKED", "ERROR"
Outcome = Literal["PASS", "BLOCKED", "ERROR"]
VERDICTS: tuple[Outcome, ...] = (PASS, BLOCKED, ERROR_VERDICT)
EXIT_CODES = {PASS: 0, BLOCKED: 1, ERROR_VERDICT: 3}
EXIT_BAD_INPUT = 2


def worst_verdict(verdicts) -> str:
    """The verdict of several runs: BLOCKED if any is, else ERROR if any is, else PASS (an
    empty list: ERROR, nothing was judged)."""
    verdicts = list(verdicts)
    if BLOCKED in verdicts:
        return BLOCKED
    if not verdicts or any(v != PASS for v in verdicts):
        return ERROR_VERDICT
    return PASS
# the dtype an engine behind a server records when its config declares no precision (the
# checks' noise model gives it the loosest tolerance)
UNDECLARED_PRECISION = "unknown"
# scores.variant: main scores, then probes ("spot": copied main scores re-scored afresh)
# and "single", "shuffled", "mixed": the batch-invariance probes (pipeline/batch_probes.py)
# "long_single", "long_batch": synthetic long pairs (pipeline/long_probes.py), pair ids
# "<pair_id>~long-<role>" that are in no sample set
VARIANTS = ("main", "swapped", "repeat", "reload", "spot", "single", "shuffled", "mixed",
            "long_single", "long_batch")


def token_ids_hash(ids: np.ndarray) -> int:
    """A stable 64-bit hash of an exact id sequence: blake2b (8 bytes) of its little-endian
    int32 bytes, read as an unsigned little-endian integer (``scores.token_hash``)."""
    data = np.ascontiguousarray(ids, dtype="<i4").tobytes()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


@dataclass(frozen=True, slots=True)
class ScoreBatch:
    """Scores for a list of pairs, in input order, with the activation that produced them."""

    logits: np.ndarray
    scores: np.ndarray
    activation: Activation
    batch_index: np.ndarray  # which batch each pair was scored in
    batch_seconds: tuple[float, ...]  # wall time of each batch
    # The ids the model saw per pair (after template, truncation and special tokens; padding
    # removed), when the engine records them (BatchedEngine._saw): their count (-1: none
    # recorded for that pair) and token_ids_hash of each sequence (valid where the count is
    # >= 0); ``token_ids`` the sequences themselves (None per pair without).
    input_tokens: np.ndarray | None = None
    token_hash: np.ndarray | None = None
    token_ids: tuple[np.ndarray | None, ...] | None = None

    @property
    def seconds(self) -> float:
        return float(sum(self.batch_seconds))

    @staticmethod
    def joined(parts: list[tuple[np.ndarray, ScoreBatch]], size: int) -> ScoreBatch:
        """Per-call batches of some of ``size`` pairs (their positions given) as one
        ScoreBatch, one batch number per call, the recorded ids kept where every call has
        them."""
        logits, scores = np.empty(size), np.empty(size)
        batch_index = np.empty(size, dtype=np.int64)
        with_ids = all(batch.token_hash is not None for _, batch in parts)
        counts = np.full(size, -1, dtype=np.int64) if with_ids else None
        hashes = np.zeros(size, dtype=np.uint64) if with_ids else None
        ids: list[np.ndarray | None] = [None] * size
        for number, (positions, batch) in enumerate(parts):
            logits[positions], scores[positions] = batch.logits, batch.scores
            batch_index[positions] = number
            if with_ids:
                counts[positions], hashes[positions] = batch.input_tokens, batch.token_hash
                for position, row in zip(positions, batch.token_ids or [None] * len(positions),
                                         strict=True):
                    ids[int(position)] = row
        return ScoreBatch(logits, scores, parts[0][1].activation if parts else "none",
                          batch_index, tuple(batch.seconds for _, batch in parts), counts,
                          hashes, tuple(ids) if with_ids else None)


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
        """A blocking failure (BLOCKED) or a blocking check that crashed (ERROR)."""
        return self.blocking and self.status in (FAILED, ERROR)

    @property
    def regresses(self) -> bool:
        """A blocking check that failed on scores that exist: what makes a run BLOCKED."""
        return self.blocking and self.status == FAILED

    def detail_json(self) -> str:
        return json.dumps(self.detail, default=_jsonable, ensure_ascii=False)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)


@dataclass(frozen=True)
class SuiteReport:
    """The verdict of one suite run; printing, HTML and artifacts are views of it.

    ``engine_errors``: each engine config that could not score, with its cause, said once
    here (the checks that needed it are NOT_JUDGED rows naming the engine only)."""

    run_id: str
    suite: str
    reference: str
    results: tuple[CheckResult, ...]
    engine_errors: tuple[tuple[str, str], ...] = ()

    @property
    def verdict(self) -> str:
        """BLOCKED: a blocking check failed on scores that exist; else ERROR: an engine config
        could not score or a blocking check crashed; else PASS."""
        if any(r.regresses for r in self.results):
            return BLOCKED
        if self.engine_errors or any(r.blocks for r in self.results):
            return ERROR_VERDICT
        return PASS

    @property
    def blocked(self) -> bool:
        return self.verdict == BLOCKED

    @property
    def passed(self) -> bool:
        return self.verdict == PASS

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    @property
    def failing(self) -> list[CheckResult]:
        """The blocking failures and crashed blocking checks."""
        return [r for r in self.results if r.blocks]

    @property
    def failing_checks(self) -> list[str]:
        return sorted({r.check for r in self.failing})


@dataclass(frozen=True)
class Verdict:
    """A judged run's verdict as data, built once when the run is published
    (tasks/checking.publish): the flow returns it and ends its state from it (PASS completes;
    BLOCKED and ERROR end Failed, the state's data a ``VerdictFailed`` holding it), and the
    failure hooks, the CLI's exit code and the Prefect artifacts read it. The HTML, JUnit and
    JSON reports are views of the same verdict as stored (its ``verdicts`` row and check
    results), so every view says one label per state: PASS, BLOCKED or ERROR.

    ``line``: the verdict in one line (``BLOCKED: candidate … (run …)``); ``reasons``: its
    findings, one sentence each; ``report`` / ``report_url``: where its HTML report is."""

    run_id: str
    suite: str
    outcome: Outcome
    line: str
    reasons: tuple[str, ...] = ()
    failing_checks: tuple[str, ...] = ()
    report: str | None = None
    report_url: str | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.outcome]

    @property
    def passed(self) -> bool:
        return self.outcome == PASS
