"""Incident replays: engines that wrap a real engine and reproduce a known production bug.

Put one in a config to prove that your suite catches it (`rerankwatch replay` runs them all).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from rerankwatch.core.errors import ConfigError
from rerankwatch.core.records import Fingerprint
from rerankwatch.engines import engine_class
from rerankwatch.engines.base import BatchedEngine
from rerankwatch.engines.st_cross import StCrossEngine


class FaultEngine(BatchedEngine):
    """Wraps the engine of kind ``config.wraps`` (or ``default_wraps``) and injects one fault."""

    fault = ""
    default_wraps = "st-cross"
    config_overrides: dict = {}  # noqa: RUF012 - class-level constant

    def _load(self) -> None:
        inner = self.config.model_copy(update={
            "kind": self.config.wraps or self.default_wraps, "wraps": None,
            **self.config_overrides})
        self.inner = engine_class(inner.kind)(inner, self.model_ref)
        self.load_warnings.extend(self.inner.load_warnings)
        self.kind = self.inner.kind
        self.activation, self.pooling = self.inner.activation, self.inner.pooling
        self.max_length = self.inner.max_length

    def _length(self, pair):
        return self.inner._length(pair)

    def _prepare(self, pairs):
        self.inner._prepare(pairs)

    def _score_batch(self, queries, docs):
        return self.inner._score_batch(queries, docs)

    def fingerprint(self) -> Fingerprint:
        return dataclasses.replace(self.inner.fingerprint(), extra={"fault": self.fault})


class SwapArgsEngine(FaultEngine):
    """Calls score(documents, query): the Xinference vLLM-backend bug."""

    fault = "swap_args"

    def _prepare(self, pairs):
        self.inner._prepare([(d, q) for q, d in pairs])

    def _score_batch(self, queries, docs):
        return self.inner._score_batch(docs, queries)


class ClsPoolingEngine(FaultEngine):
    """CLS pooling on a mean-pooled model: the TEI ModernBERT bug."""

    fault = "cls_pooling"
    default_wraps = "hf-bi"
    config_overrides = {"pooling": "cls"}  # noqa: RUF012


class RandomHeadEngine(StCrossEngine):
    """An embedding model loaded as a cross-encoder: its head is freshly random at each load.

    Nothing is faked: point ``model`` at an embedding model (FlagReranker on bge-m3, say).
    """

    fault = "random_head"

    def fingerprint(self) -> Fingerprint:
        return dataclasses.replace(super().fingerprint(), extra={"fault": self.fault})


class LowPrecisionActivationEngine(FaultEngine):
    """Sigmoid computed in float16 over the logits: scores snap to a coarse grid and to 1.0."""

    fault = "low_precision_activation"

    def _score_batch(self, queries, docs):
        import torch

        logits, _ = self.inner._score_batch(queries, docs)
        scores = torch.sigmoid(torch.from_numpy(logits).to(torch.float16))
        return logits, scores.double().numpy()


class SoftmaxSingleLogitEngine(FaultEngine):
    """Softmax over a one-logit head: every score is exactly 1.0."""

    fault = "softmax_single_logit"

    def _score_batch(self, queries, docs):
        logits, _ = self.inner._score_batch(queries, docs)
        column = logits.reshape(-1, 1)
        exp = np.exp(column - column.max(axis=1, keepdims=True))
        return logits, (exp / exp.sum(axis=1, keepdims=True))[:, 0]


class RawLogitsEngine(FaultEngine):
    """Returns raw logits where probabilities are expected (the activation is skipped)."""

    fault = "raw_logits"

    def _score_batch(self, queries, docs):
        logits, _ = self.inner._score_batch(queries, docs)
        return logits, logits.copy()


class CrashEngine(FaultEngine):
    """Raises part-way through scoring, as an out-of-memory error on a long batch does.

    ``options``: ``crash_after_pairs`` (default 64) pairs score fine per load, then every batch
    raises; with ``crashes = N`` it stops after N crashes in this process, a transient fault
    that a resume gets past.
    """

    fault = "crash"
    scored_pairs: int | None = None  # None while loading: the precision probe never crashes
    _crashed: dict[str, int] = {}  # noqa: RUF012 - loads that crashed, per engine name

    def _check_precision(self) -> None:
        super()._check_precision()
        self.scored_pairs = 0

    def _score_batch(self, queries, docs):
        if self.scored_pairs is not None:
            options, name = self.config.options, self.config.name
            crashes = options.get("crashes")
            over = self.scored_pairs + len(queries) > int(options.get("crash_after_pairs", 64))
            if over and (crashes is None or self._crashed.get(name, 0) < int(crashes)):
                self._crashed[name] = self._crashed.get(name, 0) + 1
                raise RuntimeError(f"injected crash after {self.scored_pairs} pairs: "
                                   f"CUDA out of memory")
            self.scored_pairs += len(queries)
        return self.inner._score_batch(queries, docs)


class Truncate128Engine(FaultEngine):
    """A max_length of 128 where the reference uses the model's full length."""

    fault = "truncate_128"
    config_overrides = {"max_length": 128}  # noqa: RUF012


class SharedUpgradeEngine(FaultEngine):
    """A library upgrade that moves every engine alike: each logit shifted by the same amount
    (``options.logit_shift``, default 0.3), rankings and agreement between engines unchanged.

    Replays the class of fmeval PR #180 (upgrading transformers to 4.36 moved BERTScore from
    0.734 to 0.748 on every model, cause never found), bert_score #81 (transformers 2.11 → 3.3
    shifted scores abruptly) and anserini PR #2535 (a DJL upgrade changed scores through its
    tokenizers). Put it on every engine of a run (``wraps`` = each one's kind): only the
    history baseline can see it.
    """

    fault = "shared_upgrade"

    def _load(self) -> None:
        super()._load()
        if self.activation != "sigmoid":
            raise ConfigError(f"engine {self.config.name!r}: replay-shared-upgrade shifts the "
                              f"logits of a sigmoid head; {self.inner.kind} gives "
                              f"{self.activation!r} scores")

    @property
    def logit_shift(self) -> float:
        return float(self.config.options.get("logit_shift", 0.3))

    def fingerprint(self) -> Fingerprint:  # the shift shapes every score
        return dataclasses.replace(self.inner.fingerprint(), extra={
            "fault": self.fault, "logit_shift": f"{self.logit_shift:g}"})

    def _score_batch(self, queries, docs):
        logits, _ = self.inner._score_batch(queries, docs)
        shifted = logits + self.logit_shift
        return shifted, 1.0 / (1.0 + np.exp(-shifted))
