"""Engine protocol and the helpers every engine shares (batching, timing, fingerprints)."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Protocol

import numpy as np

from rerankwatch.core.config import EngineConfig
from rerankwatch.core.errors import PrecisionUnsupportedError
from rerankwatch.core.models import resolve_model
from rerankwatch.core.records import (
    RANDOM_INIT_MARKERS,
    Activation,
    Fingerprint,
    OnBatch,
    Pair,
    ScoreBatch,
    token_ids_hash,
)

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
TRACKED_PACKAGES = ("torch", "transformers", "sentence-transformers")  # missing ones: omitted
LOG = logging.getLogger("rerankwatch.engines")
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


class Engine(Protocol):
    """What every engine offers: score pairs and say exactly what it is."""

    config: EngineConfig
    load_warnings: list[str]

    def fingerprint(self) -> Fingerprint: ...

    def score(self, pairs: Sequence[Pair], on_batch: OnBatch | None = None) -> ScoreBatch: ...


def package_versions(names: Sequence[str] = TRACKED_PACKAGES) -> dict[str, str]:
    """Installed versions (not requested ranges) of the packages that shape a score."""
    versions = {}
    for name in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return versions


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """sha256 of one file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_sha256(model_dir: str | Path) -> str:
    """sha256 over the model's weight files (name + content), cached by path, size and mtime."""
    files = sorted(p for p in Path(model_dir).rglob("*") if p.suffix in WEIGHT_SUFFIXES)
    if not files:
        return "unknown"
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.relative_to(model_dir)}:{_cached_sha(path)}\n".encode())
    return digest.hexdigest()


# files of a model folder that never shape a score: documentation, images, VCS and caches
# (everything else is hashed: config.json, tokenizer files, vocab.txt, merges.txt, modules.json,
# 1_Pooling/config.json, sentence_bert_config.json, chat templates, ...)
NOT_SHAPING = re.compile(r"(^|/)\.|(^|/)(README|LICENSE|LICENCE|NOTICE|CHANGELOG|CITATION)[^/]*$"
                         r"|(^|/)__pycache__/|\.(md|png|jpe?g|gif|svg|webp|ipynb|pyc|lock)$",
                         re.IGNORECASE)


def _cached_sha(path: Path) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA_CACHE:
        _SHA_CACHE[key] = file_sha256(path)
    return _SHA_CACHE[key]


def files_sha256(model_dir: str | Path) -> str:
    """sha256 over every file of the model folder that shapes a score besides the weights
    (name + content; see NOT_SHAPING), cached by path, size and mtime."""
    root = Path(model_dir)
    files = sorted(p for p in root.rglob("*") if p.is_file()
                   and p.suffix not in WEIGHT_SUFFIXES
                   and not NOT_SHAPING.search(p.relative_to(root).as_posix()))
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.relative_to(root).as_posix()}:{_cached_sha(path)}\n".encode())
    return digest.hexdigest()


HUB_COMMIT = re.compile(r"^[0-9a-f]{40}$")
LOCAL_DIR_METADATA = Path(".cache", "huggingface", "download")  # `hf download --local-dir`


def model_revision(model_dir: Path) -> str:
    """The hub commit a model folder holds: the snapshot a hub cache folder is named after
    (``models--org--name/snapshots/<sha>``), or the commit(s) ``hf download --local-dir``
    recorded per file (several, comma-joined, when its files come from different commits);
    "" for a folder that says nothing of a hub (a local model, a build)."""
    if model_dir.parent.name == "snapshots" and HUB_COMMIT.match(model_dir.name):
        return model_dir.name
    commits = set()
    for record in (model_dir / LOCAL_DIR_METADATA).rglob("*.metadata"):
        with contextlib.suppress(OSError, IndexError):
            commit = record.read_text().splitlines()[0].strip()
            if HUB_COMMIT.match(commit):
                commits.add(commit)
    return ",".join(sorted(commits))


def local_model_dir(model: str) -> Path | None:
    """The folder holding a model's files: the path itself, or its hub cache snapshot."""
    if Path(model).is_dir():
        return Path(model)
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(model, local_files_only=True))
    except Exception:  # not cached locally: the sha stays "unknown"
        return None


def torch_dtype(precision: str):
    """The torch dtype of a configured precision; int8 exists only as onnx quantization."""
    import torch

    dtypes = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    if precision not in dtypes:
        raise PrecisionUnsupportedError(
            f"precision {precision!r} is not a torch dtype: torch engines run "
            f"{', '.join(dtypes)}; int8 is supported by the onnx engine (kind = \"onnx\", "
            f"onnxruntime dynamic quantization)")
    return dtypes[precision]


@contextlib.contextmanager
def capture_load_report(sink: list[str]) -> Iterator[None]:
    """Capture what transformers / sentence-transformers log at load instead of printing it."""
    records: list[logging.LogRecord] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = _Collect(level=logging.WARNING)
    loggers = [logging.getLogger(n) for n in ("transformers", "sentence_transformers")]
    saved = [(logger.handlers, logger.propagate) for logger in loggers]
    for logger in loggers:  # route to us only: the run log gets it once, via rerankwatch
        logger.handlers, logger.propagate = [handler], False
    try:
        yield
    finally:
        for logger, (handlers, propagate) in zip(loggers, saved, strict=True):
            logger.handlers, logger.propagate = handlers, propagate
        for record in records:
            message = ANSI_ESCAPE.sub("", record.getMessage())
            sink.append(message)
            LOG.warning("load report: %s", message)


def quiet_hf_progress() -> None:
    """Our progress bar is the one that matters; hide the per-load weight bars."""
    with contextlib.suppress(ImportError, AttributeError):
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()


def reports_random_init(load_warnings: Sequence[str]) -> bool:
    """True when the load report says weights were freshly (randomly) initialized."""
    return any(marker in w for w in load_warnings for marker in RANDOM_INIT_MARKERS)


def pair_length(pair: Pair) -> int:
    return len(pair[0]) + len(pair[1])


def length_sorted_batches(pairs: Sequence[Pair], batch_size: int,
                          length: Callable[[Pair], int] = pair_length) -> Iterator[np.ndarray]:
    """Index batches, longest first, so padding is minimal (as CrossEncoder.predict)."""
    lengths = np.fromiter(map(length, pairs), dtype=np.int64, count=len(pairs))
    order = np.argsort(-lengths, kind="stable")
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


SEGMENT_MARK = -1  # hf-bi: a pair's ids are the query's, this marker, then the doc's
SEGMENT_TOKEN = "<query|doc>"  # how the marker reads among token strings


def _host_array(value) -> np.ndarray:
    """A torch tensor or array-like as a numpy array on the host."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def unpadded_rows(input_ids, attention_mask=None) -> list[np.ndarray]:
    """Each row's ids as int32, padding removed: the positions ``attention_mask`` keeps (left
    or right padding alike; one boolean selection for the batch, then split per row). Without
    a mask, ``input_ids`` are the rows as they are (a list of unpadded sequences, or a batch
    that holds no padding)."""
    if isinstance(input_ids, list | tuple):
        return [np.asarray(_host_array(row), dtype=np.int32) for row in input_ids]
    ids = _host_array(input_ids)
    if attention_mask is None:
        return list(ids.astype(np.int32))
    keep = _host_array(attention_mask).astype(bool)
    flat = ids[keep].astype(np.int32)
    return np.split(flat, np.cumsum(keep.sum(axis=1))[:-1])


def token_fields(rows: Sequence[np.ndarray | None]) -> dict:
    """ScoreBatch's ``input_tokens``, ``token_hash`` and ``token_ids`` of per-pair id rows
    (None where none was recorded); {} when no pair has any."""
    if all(r is None for r in rows):
        return {}
    counts = np.fromiter((-1 if r is None else len(r) for r in rows), np.int64, len(rows))
    hashes = np.fromiter((0 if r is None else token_ids_hash(r) for r in rows), np.uint64,
                         len(rows))
    return {"input_tokens": counts, "token_hash": hashes, "token_ids": tuple(rows)}


class BatchedEngine:
    """Base for engines: subclasses load in ``_load`` and score one batch in ``_score_batch``."""

    kind: str = ""

    def __init__(self, config: EngineConfig, model_ref: str | None = None):
        self.config = config
        self.model_ref = model_ref or resolve_model(config.model)  # given: resolved by a parent
        self.load_warnings: list[str] = []
        quiet_hf_progress()
        with capture_load_report(self.load_warnings):
            self._load()
        self._check_precision()

    def _load(self) -> None:
        raise NotImplementedError

    def _score_batch(self, queries: list[str], docs: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Return (logits, scores) for one batch (and ``_saw`` the ids it fed the model)."""
        raise NotImplementedError

    _seen: list[np.ndarray | None] | None = None  # the rows ``_saw`` recorded this batch

    def _saw(self, input_ids, attention_mask=None) -> None:
        """Record the ids ``_score_batch`` fed the model for the batch's rows, in row order
        (torch or numpy, padding removed with ``attention_mask``; or a list of unpadded
        rows). Built already for the forward pass: nothing is tokenized twice."""
        self._seen = unpadded_rows(input_ids, attention_mask)

    def _take_seen(self) -> list[np.ndarray | None] | None:
        """The rows recorded for the batch just scored (None: none), cleared for the next."""
        seen, self._seen = self._seen, None
        return seen

    def _tokenizer(self):
        """The tokenizer whose ids this engine feeds (a fault injector's: its inner engine's);
        None without one."""
        inner = getattr(self, "inner", None)
        owner = inner or self
        return owner.__dict__.get("tokenizer") or getattr(
            getattr(owner, "model", None), "tokenizer", None)

    def id_tokens(self, ids: np.ndarray) -> list[str] | None:
        """The token strings of recorded ids (``convert_ids_to_tokens``; the hf-bi segment
        marker as SEGMENT_TOKEN); None without a tokenizer."""
        tokenizer = self._tokenizer()
        if tokenizer is None:
            return None
        values = [int(i) for i in ids]
        words = tokenizer.convert_ids_to_tokens([max(i, 0) for i in values])
        return [SEGMENT_TOKEN if i == SEGMENT_MARK else str(w) for i, w in zip(
            values, words, strict=True)]

    packages: tuple[str, ...] = TRACKED_PACKAGES  # whose installed versions shape its scores
    activation: Activation = "none"
    pooling: str = "n/a"
    max_length: int = 0

    def _check_precision(self) -> None:
        """Score one tiny pair now, so an unsupported dtype fails before the run, clearly."""
        try:
            self.score([("precision probe", "a short document")])
        except (RuntimeError, TypeError, NotImplementedError) as exc:
            raise PrecisionUnsupportedError(
                f"engine {self.config.name!r}: {self.config.precision} is not supported on "
                f"{self.config.device} by {self.kind} ({type(exc).__name__}: {exc})"
            ) from exc

    def fingerprint(self) -> Fingerprint:
        model_dir = local_model_dir(self.model_ref)
        return Fingerprint(
            kind=self.kind,
            model=self.config.model,
            weights_sha256=weights_sha256(model_dir) if model_dir else "unknown",
            dtype=self.config.precision,
            device=self.config.device,
            pooling=self.pooling,
            max_length=int(self.max_length),
            activation=self.activation,
            versions=package_versions(self.packages),
            files_sha256=files_sha256(model_dir) if model_dir else "unknown",
            revision=model_revision(model_dir) if model_dir else "",
        )

    def _token_counter(self) -> Callable[..., np.ndarray] | None:
        """``count(texts)`` / ``count(queries, docs)``: untruncated tokens per text or pair by
        this engine's tokenizer; None without one."""
        tokenizer = self._tokenizer()  # fault injectors tokenize as the engine they wrap
        if tokenizer is None:
            return None

        def count(*texts: list[str]) -> np.ndarray:
            encoded = tokenizer(*texts, truncation=False, verbose=False)["input_ids"]
            return np.fromiter(map(len, encoded), dtype=np.int64, count=len(texts[0]))

        return count

    def input_tokens(self, pairs: Sequence[Pair]) -> tuple[np.ndarray, np.ndarray] | None:
        """Untruncated token counts per pair: (the query alone, what one forward pass sees of
        the doc: the doc alone for bi-encoders, query + doc for cross-encoders); None without
        a tokenizer. Compared with ``max_length`` by the truncation policy."""
        count = self._token_counter()
        if count is None:
            return None
        queries, docs = [q for q, _ in pairs], [d for _, d in pairs]
        cross_encoder = self.activation != "cosine"
        return count(queries), count(queries, docs) if cross_encoder else count(docs)

    def pass_tokens(self, pairs: Sequence[Pair]) -> np.ndarray | None:
        """Untruncated tokens the longest forward pass of each pair sees: query + doc for a
        cross-encoder, the longer text for a bi-encoder (``scores.tokens``); None without a
        tokenizer. One tokenizer call for a cross-encoder: a pair is never shorter than its
        query."""
        count = self._token_counter()
        if count is None:
            return None
        queries, docs = [q for q, _ in pairs], [d for _, d in pairs]
        if self.activation != "cosine":
            return count(queries, docs)
        return np.maximum(count(queries), count(docs))

    def _length(self, pair: Pair) -> int:
        """What padding depends on: the text one forward pass sees."""
        return pair_length(pair)

    def _prepare(self, pairs: Sequence[Pair]) -> None:
        """Work done once per call before the batches (timed into the first batch)."""

    def score(self, pairs: Sequence[Pair], on_batch: OnBatch | None = None) -> ScoreBatch:
        logits = np.empty(len(pairs), dtype=np.float64)
        scores = np.empty(len(pairs), dtype=np.float64)
        batch_index = np.empty(len(pairs), dtype=np.int64)
        started = time.perf_counter()
        self._prepare(pairs)
        seconds = []
        seen: list[np.ndarray | None] = [None] * len(pairs)
        batches = length_sorted_batches(pairs, self.config.batch_size, self._length)
        for number, idx in enumerate(batches):
            queries = [pairs[i][0] for i in idx]
            docs = [pairs[i][1] for i in idx]
            started = started if number == 0 else time.perf_counter()
            self._take_seen()  # nothing left over from a batch that raised
            batch_logits, batch_scores = self._score_batch(queries, docs)
            seconds.append(time.perf_counter() - started)
            logits[idx], scores[idx], batch_index[idx] = batch_logits, batch_scores, number
            rows = self._take_seen()
            if rows is not None and len(rows) == len(idx):
                for i, row in zip(idx, rows, strict=True):
                    seen[i] = row
            if on_batch:
                on_batch(len(idx))
        return ScoreBatch(logits, scores, self.activation, batch_index, tuple(seconds),
                          **token_fields(seen))


DEFAULT_MAX_LENGTH = 512


def load_transformers(auto_class, model_ref: str, config: EngineConfig):
    """(tokenizer, model) for a raw-transformers engine, on the configured device and dtype."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_ref)
    model = auto_class.from_pretrained(model_ref)
    model.to(device=config.device, dtype=torch_dtype(config.precision)).eval()
    return tokenizer, model


def to_numpy(tensor) -> np.ndarray:
    """Float64 numpy copy of a torch tensor of any dtype."""
    return tensor.detach().float().cpu().numpy().astype(np.float64)
