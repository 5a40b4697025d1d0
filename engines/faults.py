"""Incident replays: engines that wrap a real engine and reproduce a known production bug.

Put one in a config to prove that your suite catches it (`rerankwatch replay` runs them all).
Each fault class declares, with ``@fault_kind``, its engine kind and the replays that run it
(``Incident``: the incident, its public source, model, reference, sample sets and the checks
expected to catch it); the engine registry, `rerankwatch replay`'s list and README's replay
table are generated from these declarations.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from rerankwatch.core.errors import ConfigError
from rerankwatch.core.records import Fingerprint
from rerankwatch.engines.base import BatchedEngine, to_numpy
from rerankwatch.engines.fixtures import DEMO_MODEL
from rerankwatch.engines.heads import head_to_scores
from rerankwatch.engines.llm_templates import TEMPLATES
from rerankwatch.engines.st_cross import StCrossEngine


def faulted(fingerprint: Fingerprint, fault: dict[str, str]) -> Fingerprint:
    """The wrapped engine's fingerprint with the fault (and its settings) added: what the
    wrapped engine records beside its weights (an onnx export's sha, FlagReranker options)
    stays, so a replay is cached no more loosely than the engine it wraps."""
    return dataclasses.replace(fingerprint, extra={**fingerprint.extra, **fault})


# the models replays run on (Incident.model)
CROSS_ENCODER = "cross-encoder"  # the replays' cross-encoder: DEMO_CE once built, else TINY_CE
MINILM = "embedded:all-MiniLM-L6-v2"
TINY_CE = "fixture:tiny-cross-encoder"
TINY_LLM = "fixture:tiny-llm-reranker"  # an untrained Qwen3 causal LM (engines/fixtures.py)
DEMO_CE = DEMO_MODEL  # the trained demo cross-encoder, once built


@dataclass(frozen=True)
class Incident:
    """One replay: the incident it reproduces, its public source, the candidate engine that
    reproduces it (kind, model, settings) against which reference, on which sample sets, and
    the checks expected to catch it. A control (``clean``) reproduces nothing: it must pass."""

    name: str  # `rerankwatch replay --only NAME`
    incident: str  # one line, as `rerankwatch replay` prints it
    engine: str  # the candidate engine's name in the replay's runs
    kind: str = ""  # its engine kind: the fault's (set by @fault_kind), or a control's engine
    model: str = CROSS_ENCODER  # the candidate's model
    reference: str = "ce"  # the reference engine, by name (pipeline/replay.py REFERENCES)
    sets: tuple[str, ...] = ("golden_en",)  # the packaged sample sets it scores
    clean: bool = False  # a control: the suite must raise no blocking failure
    force: bool = False  # score afresh (a control whose candidate shares the fingerprint)
    settings: dict = dataclasses.field(default_factory=dict)  # the candidate's other config
    source: str = ""  # the public report it replays (its docstring says more)
    # the checks expected to catch it, as `rerankwatch replay` printed them on the demo model
    # ("check ×margin, ..."; no margin where the threshold is 0): README's caught-by column
    caught: str = ""
    described: str = ""  # README's incident cell, where it says more than ``incident``
    note: str = ""  # README's caught-by cell adds it, in parentheses
    on: str = ""  # README's engine cell: where the fault sits, beside the candidate alone
    nights: bool = False  # the nightly sequence (pipeline/replay_nights.py), not one run

    @property
    def checks(self) -> tuple[str, ...]:
        """The checks expected to catch it (none for a control)."""
        return tuple(part.split(" ×")[0] for part in self.caught.split(", ") if part)


FAULT_KINDS: dict[str, type] = {}  # engine kind -> fault class, in declaration order
INCIDENTS: list[Incident] = []  # every replay, in declaration order


def fault_kind(kind: str, *incidents: Incident):
    """Class decorator: register the fault class as engine kind ``kind``, with the replays
    that run it (their ``kind`` set to it), as ``cls.replays``."""
    def register(cls):
        if kind in FAULT_KINDS:
            raise ValueError(f"duplicate fault kind {kind!r}")
        FAULT_KINDS[kind] = cls
        cls.replays = tuple(dataclasses.replace(i, kind=kind) for i in incidents)
        INCIDENTS.extend(cls.replays)
        return cls
    return register


def controls(*incidents: Incident) -> tuple[Incident, ...]:
    """Declare replays on engines that are no fault (the clean controls)."""
    INCIDENTS.extend(incidents)
    return incidents


CONTROLS = controls(
    Incident(
        name="clean_cross_encoder", incident="control: hf-seqcls vs st-cross on the same model",
        engine="ce-hf", kind="hf-seqcls", clean=True),
    Incident(
        name="clean_bi_encoder", incident="control: hf-bi vs st-bi on the same model",
        engine="minilm-hf-bi", kind="hf-bi", model=MINILM, reference="minilm-st-bi", clean=True),
    Incident(
        name="clean_batch_size_1", incident="control: batch size 1 vs 32, scored afresh",
        engine="ce-batch-1", kind="st-cross", clean=True, force=True, settings={"batch_size": 1}),
    Incident(
        name="clean_onnx", incident="control: onnx float32 vs st-cross float32", engine="ce-onnx",
        kind="onnx", clean=True),
    Incident(
        name="clean_llm_batch_size_1",
        incident="control: LLM reranker at batch size 1 vs 32, afresh", engine="llm-batch-1",
        kind="llm-rerank", model=TINY_LLM, reference="llm", clean=True, force=True,
        settings={"batch_size": 1}),
    Incident(
        name="clean_bfloat16", incident="control: bfloat16 vs float32, within its tolerance",
        engine="ce-bf16", kind="st-cross", clean=True, settings={"precision": "bfloat16"}),
    Incident(
        name="clean_tokenizer_upgrade",
        incident="control: the same tokenizer loaded through sentence-transformers and "
                 "transformers, scored afresh: identical ids",
        engine="ce-hf-tokenizer", kind="hf-seqcls", clean=True, force=True,
        described="control: the same tokenizer through sentence-transformers and transformers: "
                  "identical ids, no finding"),
)


class FaultEngine(BatchedEngine):
    """Wraps the engine of kind ``config.wraps`` (or ``default_wraps``) and injects one fault."""

    fault = ""
    default_wraps = "st-cross"
    config_overrides: dict = {}  # noqa: RUF012 - class-level constant
    replays: tuple[Incident, ...] = ()  # the replays that run it (set by @fault_kind)

    def _load(self) -> None:
        from rerankwatch.engines import engine_class  # the registry lists this module's kinds

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

    def _encode(self, queries, docs):
        """The wrapped ``hf-seqcls`` tokenizer's own encoding of the pairs: padded tensors."""
        inner = self.inner
        return inner.tokenizer(queries, docs, padding=True, truncation=True,
                               max_length=inner.max_length, return_tensors="pt")

    def _forward(self, features, drop: tuple[str, ...] = (), logits_of=None):
        """(logits, scores) of the inner sequence classifier run on ``features`` this fault
        built (``_encode``'s, or its own; their ids recorded, padding left out), without the
        ``drop`` inputs, through ``logits_of(model, features)`` where the fault runs the model
        its own way: the body every fault that feeds a wrapped ``hf-seqcls`` tokens shares."""
        import torch

        self._saw(features["input_ids"], features.get("attention_mask"))
        for name in drop:
            features.pop(name, None)
        features = features.to(self.config.device)
        with torch.inference_mode():
            logits = (logits_of(self.inner.model, features) if logits_of is not None
                      else self.inner.model(**features).logits)
        return head_to_scores(to_numpy(logits), self.activation)

    def _take_seen(self):
        """The ids of whatever ran: this fault's own features when it built them, else those
        the inner engine recorded (always cleared, so none carry over to the next batch)."""
        own, inner = super()._take_seen(), self.inner._take_seen()
        return own if own is not None else inner

    def fingerprint(self) -> Fingerprint:
        return faulted(self.inner.fingerprint(), {"fault": self.fault})


@fault_kind("replay-swap-args",
    Incident(
        name="swap_args", incident="score(documents, query) instead of score(query, documents)",
        engine="ce-swapped",
        caught="argument_order ×2, engine_agreement ×77.7, monotonic_relevance, "
               "score_scale ×1.63, tokenization"))
class SwapArgsEngine(FaultEngine):
    """Calls score(documents, query): the Xinference vLLM-backend bug."""

    fault = "swap_args"

    def _prepare(self, pairs):
        self.inner._prepare([(d, q) for q, d in pairs])

    def _score_batch(self, queries, docs):
        return self.inner._score_batch(docs, queries)


@fault_kind("replay-cls-pooling",
    Incident(
        name="cls_pooling", incident="CLS pooling on a mean-pooled model (TEI ModernBERT)",
        engine="minilm-cls", model=MINILM, reference="minilm-st-bi",
        caught="engine_agreement ×61.6, irrelevant_ceiling ×2.04, monotonic_relevance, "
               "score_scale ×10.7"))
class ClsPoolingEngine(FaultEngine):
    """CLS pooling on a mean-pooled model: the TEI ModernBERT bug."""

    fault = "cls_pooling"
    default_wraps = "hf-bi"
    config_overrides = {"pooling": "cls"}  # noqa: RUF012


@fault_kind("replay-random-head",
    Incident(
        name="random_head",
        incident="embedding model loaded as a cross-encoder: random head per load",
        engine="minilm-as-reranker", model=MINILM, reference="minilm-st-bi",
        caught="batch_invariance ×15.6, determinism ×1.26e+03, engine_agreement ×57.4, "
               "irrelevant_ceiling ×1.01, monotonic_relevance, retrieval_quality ×12.8"),
    Incident(
        name="random_head_demo_ce",
        incident="the demo reranker's base embedding model loaded in its place",
        engine="minilm-as-demo-ce", model=MINILM, reference="demo-ce",
        caught="batch_invariance ×15.6, cache_spot_check ×133, determinism ×1.26e+03, "
               "engine_agreement ×121, irrelevant_ceiling ×1.01, monotonic_relevance, "
               "retrieval_quality ×12.8, score_scale ×72.2"))
class RandomHeadEngine(StCrossEngine):
    """An embedding model loaded as a cross-encoder: its head is freshly random at each load.

    Nothing is faked: point ``model`` at an embedding model (FlagReranker on bge-m3, say).
    """

    fault = "random_head"

    def fingerprint(self) -> Fingerprint:
        return faulted(super().fingerprint(), {"fault": self.fault})


@fault_kind("replay-low-precision-activation",
    Incident(
        name="low_precision_activation", incident="sigmoid computed in float16",
        engine="ce-fp16-sigmoid", caught="declared_precision ×20, saturation ×2"))
class LowPrecisionActivationEngine(FaultEngine):
    """Sigmoid computed in float16 over the logits: scores snap to a coarse grid and to 1.0."""

    fault = "low_precision_activation"

    def _score_batch(self, queries, docs):
        import torch

        logits, _ = self.inner._score_batch(queries, docs)
        scores = torch.sigmoid(torch.from_numpy(logits).to(torch.float16))
        return logits, scores.double().numpy()


@fault_kind("replay-softmax-single-logit",
    Incident(
        name="softmax_single_logit", incident="softmax over a one-logit head: every score 1.0",
        engine="ce-softmax",
        caught="argument_order ×inf, engine_agreement ×inf, irrelevant_ceiling ×2, "
               "retrieval_quality ×5.01, saturation ×100, score_scale ×8e+08"))
class SoftmaxSingleLogitEngine(FaultEngine):
    """Softmax over a one-logit head: every score is exactly 1.0."""

    fault = "softmax_single_logit"

    def _score_batch(self, queries, docs):
        logits, _ = self.inner._score_batch(queries, docs)
        column = logits.reshape(-1, 1)
        exp = np.exp(column - column.max(axis=1, keepdims=True))
        return logits, (exp / exp.sum(axis=1, keepdims=True))[:, 0]


@fault_kind("replay-raw-logits",
    Incident(
        name="raw_logits", incident="raw logits returned where probabilities are expected",
        engine="ce-logits",
        caught="argument_order ×1.3, engine_agreement ×1.21e+03, score_scale ×212"))
class RawLogitsEngine(FaultEngine):
    """Returns raw logits where probabilities are expected (the activation is skipped)."""

    fault = "raw_logits"

    def _score_batch(self, queries, docs):
        logits, _ = self.inner._score_batch(queries, docs)
        return logits, logits.copy()


@fault_kind("replay-crash")
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


@fault_kind("replay-truncate-128",
    Incident(
        name="truncate_128", incident="max_length 128 where the reference uses 512",
        engine="tiny-ce-trunc128", model=TINY_CE, reference="tiny-ce",
        caught="engine_agreement ×20.4, tokenization, truncation ×10.2"))
class Truncate128Engine(FaultEngine):
    """A max_length of 128 where the reference uses the model's full length."""

    fault = "truncate_128"
    config_overrides = {"max_length": 128}  # noqa: RUF012


@fault_kind("replay-token-type-ids-dropped",
    Incident(
        name="token_type_ids_dropped", incident="token_type_ids not passed (vllm #17743)",
        engine="ce-no-token-types", source="https://github.com/vllm-project/vllm/issues/17743",
        caught="engine_agreement ×22.3"))
class TokenTypeIdsDroppedEngine(FaultEngine):
    """Runs a BERT-style cross-encoder without its ``token_type_ids``: every token of the
    document is read as if it belonged to the query (segment 0).

    Replays vllm #17743 and PR #47772 (token_type_ids not passed to BERT-based rerankers).
    Wraps ``hf-seqcls``."""

    fault = "token_type_ids_dropped"
    default_wraps = "hf-seqcls"

    def _score_batch(self, queries, docs):
        return self._forward(self._encode(queries, docs), drop=("token_type_ids",))


@fault_kind("replay-pooler-dropped",
    Incident(
        name="pooler_dropped", incident="BERT pooler dropped by a converter: logits shrink",
        engine="ce-no-pooler",
        caught="argument_order ×1.3, engine_agreement ×inf, monotonic_relevance, "
               "retrieval_quality ×3.73, score_scale ×22.6"))
class PoolerDroppedEngine(FaultEngine):
    """Feeds the classifier the raw [CLS] hidden state: the BERT pooler (dense + tanh) that a
    converter dropped is skipped. Logits shrink by orders of magnitude, order mostly kept.

    Replays a llama.cpp-based rerank server that dropped ``bert.pooler`` from converted
    BERT rerankers (scores ~100x smaller, ranking kept). Wraps ``hf-seqcls`` on a BERT model."""

    fault = "pooler_dropped"
    default_wraps = "hf-seqcls"

    def _load(self) -> None:
        super()._load()
        model = self.inner.model
        if not (hasattr(model, "bert") and hasattr(model, "classifier")):
            raise ConfigError(f"engine {self.config.name!r}: replay-pooler-dropped needs a "
                              f"BERT sequence classifier, not {type(model).__name__}")

    @staticmethod
    def _logits(model, features):  # the classifier on the [CLS] hidden state, no pooler
        return model.classifier(model.bert(**features).last_hidden_state[:, 0])

    def _score_batch(self, queries, docs):
        return self._forward(self._encode(queries, docs), logits_of=self._logits)


@fault_kind("replay-activation-twice",
    Incident(
        name="activation_twice",
        incident="sigmoid over an already-activated score (node-llama-cpp #617)",
        engine="ce-sigmoid-twice", source="https://github.com/withcatai/node-llama-cpp/issues/617",
        caught="engine_agreement ×50, irrelevant_ceiling ×1, score_scale ×10"))
class ActivationTwiceEngine(FaultEngine):
    """Applies the sigmoid to scores that are already probabilities: every score lands in
    [0.5, 0.731], ranking kept.

    Replays node-llama-cpp #617 (sigmoid over an already-activated rerank score)."""

    fault = "activation_twice"

    def _score_batch(self, queries, docs):
        logits, scores = self.inner._score_batch(queries, docs)
        return logits, 1.0 / (1.0 + np.exp(-scores))


@fault_kind("replay-shared-upgrade",
    Incident(
        name="nightly_sequence",
        incident="two clean nights, then one regression every engine shares",
        engine="nightly-ce", on="on every engine, night 3", nights=True,
        source="https://github.com/aws/fmeval/pull/180", caught="history_baseline ×15",
        note="the history check alone"))
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
        return faulted(self.inner.fingerprint(), {
            "fault": self.fault, "logit_shift": f"{self.logit_shift:g}"})

    def _score_batch(self, queries, docs):
        logits, _ = self.inner._score_batch(queries, docs)
        shifted = logits + self.logit_shift
        return shifted, 1.0 / (1.0 + np.exp(-shifted))


@fault_kind("replay-request-normalization",
    Incident(
        name="request_minmax", incident="min-max normalisation across a request (AutoRAG #403)",
        engine="ce-minmax", source="https://github.com/Marker-Inc-Korea/AutoRAG/pull/403",
        caught="batch_invariance ×1e+03, engine_agreement ×56.7, long_inputs ×1e+03, "
               "monotonic_relevance, saturation ×8.89, score_scale ×4.9"),
    Incident(
        name="request_softmax", incident="softmax across a request's documents (mem0 #5715)",
        engine="ce-softmax-request", settings={"options": {"method": "softmax"}},
        source="https://github.com/mem0ai/mem0/pull/5715",
        caught="batch_invariance ×1e+03, engine_agreement ×51.7, long_inputs ×1e+03, "
               "monotonic_relevance, score_scale ×7.33"))
class RequestNormalizationEngine(FaultEngine):
    """Normalises scores across the documents of a request (one batch): min-max
    (``options.method = "minmax"``, the default) or softmax (``"softmax"``), so a score depends
    on its neighbours and a request of one document always scores 1.

    Replays AutoRAG PR #403 (min-max over a request's rerank scores) and mem0 PR #5715
    (softmax across a request's documents)."""

    fault = "request_normalization"

    def fingerprint(self) -> Fingerprint:
        return faulted(self.inner.fingerprint(), {
            "fault": self.fault, "method": self.method})

    @property
    def method(self) -> str:
        return str(self.config.options.get("method", "minmax"))

    def _score_batch(self, queries, docs):
        logits, scores = self.inner._score_batch(queries, docs)
        if self.method == "softmax":
            exp = np.exp(logits - logits.max())
            return logits, exp / exp.sum()
        spread = scores.max() - scores.min()
        return logits, (scores - scores.min()) / spread if spread > 0 else np.ones_like(scores)


@fault_kind("replay-attention-mask-dropped",
    Incident(
        name="attention_mask_dropped",
        incident="attention mask dropped on padded batches (TEI #882)", engine="ce-no-mask",
        source="https://github.com/huggingface/text-embeddings-inference/issues/882",
        caught="batch_invariance ×182, engine_agreement ×inf, long_inputs ×59.1, "
               "monotonic_relevance, score_scale ×1.76"))
class AttentionMaskDroppedEngine(FaultEngine):
    """Runs the model on a padded batch without its attention mask: padding tokens are attended
    to, so a pair's score depends on the longest pair of its batch.

    Replays TEI #882 / PR #883 (batched reranking without the attention mask) and candle #3582
    (BERT attention mask ignored in batches). Wraps ``hf-seqcls`` (its tokenizer and model)."""

    fault = "attention_mask_dropped"
    default_wraps = "hf-seqcls"

    def _score_batch(self, queries, docs):
        return self._forward(self._encode(queries, docs), drop=("attention_mask",))


@fault_kind("replay-index-ignored",
    Incident(
        name="index_ignored",
        incident="results assigned by position, index ignored (ragflow #2575)",
        engine="ce-by-position", source="https://github.com/infiniflow/ragflow/issues/2575",
        caught="argument_order ×1.15, batch_invariance ×632, engine_agreement ×109, "
               "irrelevant_ceiling ×1.26, long_inputs ×399, monotonic_relevance, score_scale ×1.8"))
class IndexIgnoredEngine(FaultEngine):
    """A server returns a request's results sorted by score; the client ignores each result's
    ``index`` and assigns them by position, so the i-th document gets the i-th best score.

    Replays ragflow #2575 and rerankers #39 (rerank results mapped by position, not index)."""

    fault = "index_ignored"

    def _score_batch(self, queries, docs):
        logits, scores = self.inner._score_batch(queries, docs)
        order = np.argsort(-scores, kind="stable")
        return logits[order], scores[order]


@fault_kind("replay-empty-docs-dropped",
    Incident(
        name="empty_docs_dropped",
        incident="documents the server finds empty dropped, the rest shifted (OpenViking #1712)",
        engine="ce-dropped-docs", settings={"options": {"empty_below_chars": 45}},
        source="https://github.com/volcengine/OpenViking/issues/1712",
        caught="engine_agreement ×252, saturation ×4.44"))
class EmptyDocsDroppedEngine(FaultEngine):
    """A server drops the documents it finds empty from its response; the client maps the
    shorter response by position, so every document after a dropped one gets its neighbour's
    score and the last ones get the client's default (0).

    Replays OpenViking PRs #1712 / #2926 (empty documents dropped from a rerank response).
    Sample sets hold no empty document (the loader refuses them), so the replay makes the
    server find documents shorter than ``options.empty_below_chars`` characters empty (1: only
    truly empty ones, the default); the rest of the mechanism is the incident's."""

    fault = "empty_docs_dropped"

    def fingerprint(self) -> Fingerprint:
        return faulted(self.inner.fingerprint(), {
            "fault": self.fault, "empty_below_chars": str(self.empty_below)})

    @property
    def empty_below(self) -> int:
        return int(self.config.options.get("empty_below_chars", 1))

    def _score_batch(self, queries, docs):
        kept = [i for i, d in enumerate(docs) if len(d.strip()) >= self.empty_below]
        logits = np.full(len(docs), -30.0)  # the client's default for a missing result
        scores = np.zeros(len(docs))
        if kept:
            got_logits, got_scores = self.inner._score_batch([queries[i] for i in kept],
                                                             [docs[i] for i in kept])
            logits[:len(kept)], scores[:len(kept)] = got_logits, got_scores
            seen = self.inner._take_seen()  # the kept documents' ids; a dropped one has none
            if seen is not None:
                rows = dict(zip(kept, seen, strict=True))
                self._seen = [rows.get(i) for i in range(len(docs))]
        return logits, scores


@fault_kind("replay-int8-weights",
    Incident(
        name="int8_weights", incident="int8 weight quantisation drift (openvino.genai #2883)",
        engine="ce-int8", source="https://github.com/openvinotoolkit/openvino.genai/pull/2883",
        caught="batch_invariance ×117, engine_agreement ×22.1, long_inputs ×21.1, "
               "monotonic_relevance, score_scale ×1.28"))
class Int8WeightsEngine(FaultEngine):
    """Dynamic int8 quantisation of every Linear layer (torch), while the config still says
    float32: scores drift from the float model's.

    Replays openvino.genai PR #2883 (int8-compressed rerankers whose scores were 0.94 similar
    to fp16). Wraps ``hf-seqcls``."""

    fault = "int8_weights"
    default_wraps = "hf-seqcls"

    def _load(self) -> None:
        import torch

        super()._load()
        self.inner.model = torch.ao.quantization.quantize_dynamic(
            self.inner.model, {torch.nn.Linear}, dtype=torch.qint8)


@fault_kind("replay-default-dtype",
    Incident(
        name="default_dtype",
        incident="a library upgrade loads the config's dtype (transformers v5)",
        engine="ce-default-dtype", caught="batch_invariance ×1.63, declared_precision ×20"))
class DefaultDtypeEngine(FaultEngine):
    """Loads the weights in the dtype the checkpoint's config names (``options.dtype``, default
    bfloat16) where the engine config still says float32, as a library upgrade that changes the
    default load dtype does.

    Replays transformers v5 loading a model in its config's ``dtype`` (v4 loaded float32 unless
    asked). Wraps ``hf-seqcls``."""

    fault = "default_dtype"
    default_wraps = "hf-seqcls"

    def _load(self) -> None:
        from rerankwatch.engines.base import torch_dtype

        super()._load()
        self.inner.model.to(dtype=torch_dtype(str(self.config.options.get("dtype", "bfloat16"))))

    def fingerprint(self) -> Fingerprint:
        return faulted(self.inner.fingerprint(), {
            "fault": self.fault, "dtype": str(self.config.options.get("dtype", "bfloat16"))})


@fault_kind("replay-zeroed-head",
    Incident(
        name="zeroed_head", incident="a zeroed head: every score 0.5 (vllm #27857)",
        engine="ce-zeroed-head", source="https://github.com/vllm-project/vllm/issues/27857",
        caught="argument_order ×inf, declared_precision ×20, engine_agreement ×inf, "
               "long_inputs ×inf, retrieval_quality ×5.01, saturation ×13.8, score_scale ×8e+08"))
class ZeroedHeadEngine(FaultEngine):
    """A classifier head loaded as zeros: every logit 0, every score exactly 0.5.

    Replays vllm #27857 (a reranker returning a constant 0.5 for every pair)."""

    fault = "zeroed_head"

    def _score_batch(self, queries, docs):
        logits = np.zeros(len(queries))
        return logits, 1.0 / (1.0 + np.exp(-logits))


@fault_kind("replay-llm-template-missing",
    Incident(
        name="llm_template_missing",
        incident="LLM reranker scored without its prompt template (vllm #20794)", engine="llm-bare",
        model=TINY_LLM, reference="llm", source="https://github.com/vllm-project/vllm/issues/20794",
        caught="argument_order ×1.35, engine_agreement ×88.3, score_scale ×5.03, tokenization"))
class LlmTemplateMissingEngine(FaultEngine):
    """An LLM reranker sent bare pairs: no system prompt, no instruction, no answer cue, the
    query and document concatenated (what vLLM scores for an original Qwen3 reranker without a
    template: vllm #20794, vllm #21681, QwenLM/Qwen3-Embedding #71)."""

    fault = "llm_template_missing"
    default_wraps = "llm-rerank"

    def _load(self) -> None:
        super()._load()
        inner = self.inner
        inner.use_template(dataclasses.replace(
            TEMPLATES["bare"], yes_token=inner.template.yes_token,
            no_token=inner.template.no_token, logit_bias=inner.template.logit_bias))


@fault_kind("replay-llm-yes-no-swapped",
    Incident(
        name="llm_yes_no_swapped",
        incident="LLM reranker's yes / no tokens swapped: 1 - p (vllm #19260)",
        engine="llm-swapped-answers", model=TINY_LLM, reference="llm",
        source="https://github.com/vllm-project/vllm/issues/19260",
        caught="argument_order ×1.35, engine_agreement ×91.6, score_scale ×9.7"))
class LlmYesNoSwappedEngine(FaultEngine):
    """The yes and no token ids swapped: ``classifier_from_token`` written ["yes", "no"] where
    vLLM reads [false, true] (vllm #19260, ``load_weights_using_from_2_way_softmax``): every
    score becomes 1 - p."""

    fault = "llm_yes_no_swapped"
    default_wraps = "llm-rerank"

    def _load(self) -> None:
        super()._load()
        if self.inner.no_id is None:
            raise ConfigError(f"engine {self.config.name!r}: {self.fault} needs a no_token")
        self.inner.yes_id, self.inner.no_id = self.inner.no_id, self.inner.yes_id


@fault_kind("replay-llm-right-padding",
    Incident(
        name="llm_right_padding",
        incident="LLM reranker padded on the right, read at the last position",
        engine="llm-right-padded", model=TINY_LLM, reference="llm",
        source="https://github.com/allenai/reward-bench/issues/154",
        caught="batch_invariance ×540, engine_agreement ×73.6, long_inputs ×222, "
               "retrieval_quality ×3.91, score_scale ×1.13"))
class LlmRightPaddingEngine(FaultEngine):
    """Right padding with last-token pooling: shorter prompts of a batch are read at a pad
    position, so a score depends on its batch (allenai/reward-bench #154; openvino.genai #3109
    forces left padding for Qwen3 rerankers). Batch size 1 hides it."""

    fault = "llm_right_padding"
    default_wraps = "llm-rerank"

    def _load(self) -> None:
        super()._load()
        self.inner.padding_side = "right"


@fault_kind("replay-call-noise",
    Incident(
        name="clean_bfloat16_call_noise",
        incident="control: bfloat16 with one ulp of noise per call, as GPU kernels and served "
                 "engines give (vllm #27433)",
        engine="ce-bf16-noisy", clean=True, settings={"precision": "bfloat16"},
        source="https://github.com/vllm-project/vllm/issues/27433",
        described="control: one ulp of bfloat16 noise per call on the logits, as GPU kernels and "
                  "served engines give (vllm #27433)",
        note="`determinism` at its old 1e-6 blocked it"),
    Incident(
        name="clean_float16_call_noise", incident="control: float16 with one ulp of noise per call",
        engine="ce-fp16-noisy", clean=True, settings={"precision": "float16"},
        described="control: one ulp of float16 noise per call"))
class CallNoiseEngine(FaultEngine):
    """A clean engine as a GPU or a served engine runs it: every call moves each logit by one
    unit in the last place (ulp) of the engine's precision, up or down at random, so the same
    pair scores a little differently from call to call (batch shapes, reduction order, dynamic
    batching: vLLM #27433, "batch invariance"). A control, not a fault: nothing may block it.

    ``options.ulps`` (default 1) sets how many ulps; the draw is seeded per call, so a replay is
    reproducible and still differs between two calls."""

    fault = "call_noise"

    @property
    def ulps(self) -> int:
        return int(self.config.options.get("ulps", 1))

    def fingerprint(self) -> Fingerprint:
        return faulted(self.inner.fingerprint(), {"fault": self.fault, "ulps": str(self.ulps)})

    def _score_batch(self, queries, docs):
        import torch

        from rerankwatch.engines.base import torch_dtype

        logits, _ = self.inner._score_batch(queries, docs)
        self._calls = getattr(self, "_calls", 0) + 1
        signs = np.random.default_rng([self._calls, len(queries)]).choice([-1.0, 1.0],
                                                                             len(logits))
        noisy = torch.from_numpy(logits).to(torch_dtype(self.config.precision))
        for _ in range(self.ulps):
            noisy = torch.nextafter(noisy, torch.from_numpy(signs * np.inf).to(noisy.dtype))
        return head_to_scores(noisy.double().numpy(), self.activation)


@fault_kind("replay-long-input-batch",
    Incident(
        name="long_input_batch",
        incident="chunked prefill loses a long pair's context in a batch (vllm #48831)",
        engine="ce-chunked-prefill", source="https://github.com/vllm-project/vllm/issues/48831",
        caught="batch_invariance ×391, engine_agreement ×62.6, long_inputs ×307, tokenization",
        described="chunked prefill loses a long pair's context in a batch (vllm #48831): in a "
                  "batch, a pair over `chunk_tokens` (half the max_length) is scored on its last "
                  "chunk"))
class LongInputBatchEngine(FaultEngine):
    """Chunked prefill that loses context: in a batch of more than one pair, a pair longer than
    ``options.chunk_tokens`` tokens (default: half the max_length) is scored on its last chunk
    only ([CLS] and its last ``chunk_tokens - 1`` tokens, as if the earlier chunks' context
    were dropped), while the same pair alone scores right.

    Replays vllm #48831 (Qwen3-Reranker on the V1 engine: inputs over 8k tokens, prefilled in
    chunks, scored 0.01–0.36 in a batch where the unchunked path gives 0.83). Wraps
    ``hf-seqcls`` (its tokenizer and model)."""

    fault = "long_input_batch"
    default_wraps = "hf-seqcls"

    @property
    def chunk_tokens(self) -> int:
        return int(self.config.options.get("chunk_tokens", 0)) or max(2, self.max_length // 2)

    def fingerprint(self) -> Fingerprint:
        return faulted(self.inner.fingerprint(), {
            "fault": self.fault, "chunk_tokens": str(self.chunk_tokens)})

    def _score_batch(self, queries, docs):
        inner = self.inner
        features = inner.tokenizer(queries, docs, truncation=True,
                                   max_length=inner.max_length)
        if len(queries) > 1:
            keep = self.chunk_tokens - 1
            for name in [n for n in ("input_ids", "token_type_ids") if n in features]:
                features[name] = [ids if len(ids) <= self.chunk_tokens else ids[:1] + ids[-keep:]
                                  for ids in features[name]]
            features.pop("attention_mask", None)
        return self._forward(inner.tokenizer.pad(features, padding=True, return_tensors="pt"))


@fault_kind("replay-tokenizer-fallback",
    Incident(
        name="tokenizer_fallback",
        incident="a tokenizer class falls back: same weights, other ids (mteb #5377)",
        engine="ce-tokenizer-fallback",
        source="https://github.com/embeddings-benchmark/mteb/pull/5377",
        caught="engine_agreement ×73.9, monotonic_relevance, tokenization",
        described="a tokenizer class falls back after an upgrade: same weights, other ids (mteb "
                  "#5377): lowercasing off, 'How' → `[UNK]`"))
class TokenizerFallbackEngine(FaultEngine):
    """A tokenizer that silently falls back to another class after a library upgrade: the
    weights are bit-identical, the ids are not (mteb PR #5377). Here the fallback reads the
    model's vocabulary with its own defaults instead of the tokenizer config's: lowercasing
    off, so on an uncased vocabulary every capitalised word becomes ``[UNK]`` ('Paris' →
    '[UNK]'). Wraps ``hf-seqcls``."""

    fault = "tokenizer_fallback"
    default_wraps = "hf-seqcls"

    def _load(self) -> None:
        from transformers import AutoTokenizer

        super()._load()
        self.inner.tokenizer = AutoTokenizer.from_pretrained(self.model_ref, do_lower_case=False)


@fault_kind("replay-sep-token-none",
    Incident(
        name="sep_token_none",
        incident="sep_token None joined as text: 'None' between query and doc (vllm #19522)",
        engine="ce-sep-none", source="https://github.com/vllm-project/vllm/pull/19522",
        caught="engine_agreement ×26.2, monotonic_relevance, tokenization",
        described="a pair joined as `query + sep_token + doc` with `sep_token` None: 'None' "
                  "inserted (vllm #19522)"))
class SepTokenNoneEngine(FaultEngine):
    """A pair joined as one text ``query + sep_token + doc`` by a tokenizer whose ``sep_token``
    is None: the literal text "None" is inserted between query and document, and the model
    sees one segment (vllm PR #19522). Wraps ``hf-seqcls``."""

    fault = "sep_token_none"
    default_wraps = "hf-seqcls"

    def _score_batch(self, queries, docs):
        inner, sep = self.inner, None  # the tokenizer's missing sep_token, formatted as text
        texts = [f"{q}{sep}{d}" for q, d in zip(queries, docs, strict=True)]
        return self._forward(inner.tokenizer(texts, padding=True, truncation=True,
                                             max_length=inner.max_length,
                                             return_tensors="pt"))


@fault_kind("replay-segment-bos",
    Incident(
        name="segment_bos",
        incident="second segment laid out with its own begin token, [SEP] [CLS] (llama.cpp #9510)",
        engine="ce-segment-bos", source="https://github.com/ggml-org/llama.cpp/pull/9510",
        caught="engine_agreement ×17.9, score_scale ×1.53, tokenization",
        described="the second segment laid out with its own begin token, `[SEP] [CLS]` "
                  "(llama.cpp #9510: `</s><s>` for `</s></s>`)"))
class SegmentBosEngine(FaultEngine):
    """The second segment of a pair laid out with its own begin token: a native runtime encodes
    query and document each with its special tokens and joins them, ``</s><s>`` where Hugging
    Face lays out ``</s></s>`` (llama.cpp PR #9510); on a BERT model ``[SEP] [CLS]`` where the
    tokenizer gives ``[SEP]`` then the document. Wraps ``hf-seqcls``."""

    fault = "segment_bos"
    default_wraps = "hf-seqcls"

    def _score_batch(self, queries, docs):
        tokenizer = self.inner.tokenizer
        begin = tokenizer.cls_token_id if tokenizer.cls_token_id is not None \
            else tokenizer.bos_token_id
        # the tokenizer's own layout, one token short, then the begin token after its [SEP]
        features = tokenizer(queries, docs, truncation=True,
                             max_length=self.inner.max_length - 1)
        for ids, types in zip(features["input_ids"], features["token_type_ids"], strict=True):
            at = ids.index(tokenizer.sep_token_id) + 1
            ids.insert(at, begin)
            types.insert(at, 1)
        features.pop("attention_mask", None)
        return self._forward(tokenizer.pad(features, padding=True, return_tensors="pt"))


@fault_kind("replay-unicode-normalized",
    Incident(
        name="unicode_normalized",
        incident="text NFKC-normalised before tokenizing: full-width '，' becomes ',' (tokenizers "
                 "#2116)",
        engine="ce-nfkc", sets=('golden_zh',),
        source="https://github.com/huggingface/tokenizers/issues/2116",
        caught="engine_agreement ×5.61, monotonic_relevance, tokenization"))
class UnicodeNormalizedEngine(FaultEngine):
    """Text normalised before tokenizing where the reference tokenizes it as given: full-width
    punctuation and digits, compatibility and decomposed forms come out as other characters,
    hence other ids (tokenizers #2116: fast and slow tokenizers normalising NFD / NFC and
    full-width text differently). Here every text is NFKC-normalised ('，' → ',')."""

    fault = "unicode_normalized"

    @staticmethod
    def _normal(texts):
        import unicodedata

        return [unicodedata.normalize("NFKC", t) for t in texts]

    def _prepare(self, pairs):
        queries, docs = self._normal([q for q, _ in pairs]), self._normal([d for _, d in pairs])
        self.inner._prepare(list(zip(queries, docs, strict=True)))

    def _score_batch(self, queries, docs):
        return self.inner._score_batch(self._normal(queries), self._normal(docs))


@fault_kind("replay-llm-cue-truncated",
    Incident(
        name="llm_cue_truncated",
        incident="LLM prompt cut at max_length: the answer cue is lost (sentence-transformers "
                 "#3787)",
        engine="llm-cue-cut", model=TINY_LLM, reference="llm",
        source="https://github.com/huggingface/sentence-transformers/pull/3787",
        caught="engine_agreement ×74.3, score_scale ×1.23, tokenization, truncation ×37.2",
        described="the whole LLM prompt cut at max_length: the answer cue is lost on the 3 pairs "
                  "over 1,024 tokens (sentence-transformers #3787, vllm #38827)"))
class LlmCueTruncatedEngine(FaultEngine):
    """An LLM reranker's whole prompt cut at max_length: a long pair loses the template's
    suffix, the answer cue the yes/no logits are read after, so its score is read mid-document
    (sentence-transformers PR #3787, vllm PR #38827: truncation removing the answer cue).
    Wraps ``llm-rerank``; only pairs longer than max_length change."""

    fault = "llm_cue_truncated"
    default_wraps = "llm-rerank"

    def _score_batch(self, queries, docs):
        inner = self.inner
        cut = [ids[:inner.max_length] for ids in inner.prompt_ids(queries, docs, truncate=False)]
        return inner.score_ids(cut)
