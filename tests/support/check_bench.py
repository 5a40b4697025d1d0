"""The check tests' bench: engines score a tiny sample set into DuckDB through the production
scoring path, and the checks read it back through the store's views, exactly as a suite does.

Each test opens a new run of the engines it needs (``tests.support.suite_runs.score_run``:
``begin_run`` then ``score_and_store`` per engine config); an engine config scores once per test
session (the fixtures are session-wide, shared by tests/unit/checks/), and later runs of its
fingerprint copy the stored scores, as any run would. Hand-built batches cover what no real
engine can produce here (NaN scores, a lost score, an inverted ladder, the pooling incident's
numbers, a reversed ranker over many graded queries); they go through the store's own write path
(shards, ``Store.ingest_shards``, ``record_engine_success``:
``tests.support.suite_runs.write_batches``). A real engine's stored batches, tampered with, are
written under its fingerprint marked as tampered, so no later run copies them as the engine's
scores.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from rerankwatch.checks.base import CheckResult, Judge, SuiteInput
from rerankwatch.core.config import EngineConfig
from rerankwatch.core.records import Fingerprint, ScoreBatch
from rerankwatch.samples.loader import load_sample_set
from rerankwatch.store import Store
from tests.support.suite_runs import score_run, suite_input, write_batches

MINILM = "embedded:all-MiniLM-L6-v2"
SET = "mini"
LONG_DOC = "en-q08-d1"  # ~1,000 tokens: far beyond the truncate_128 replay's max_length
# the tiny cross-encoder is untrained: ladders and ceilings say nothing about it (as in replay.py)
UNTRAINED = {"monotonic_relevance": {"blocking": False}, "irrelevant_ceiling": {"blocking": False}}

# name -> (kind, model: "tiny" | "minilm", precision, score the probes too)
ENGINES = {
    "ce": ("st-cross", "tiny", "float32", True),
    "ce-hf": ("hf-seqcls", "tiny", "float32", True),
    "ce-swapped": ("replay-swap-args", "tiny", "float32", True),
    "ce-softmax": ("replay-softmax-single-logit", "tiny", "float32", False),
    "ce-fp16-sigmoid": ("replay-low-precision-activation", "tiny", "float32", False),
    "ce-logits": ("replay-raw-logits", "tiny", "float32", False),
    "ce-trunc128": ("replay-truncate-128", "tiny", "float32", False),
    "bi": ("st-bi", "minilm", "float32", True),
    "bi-bf16": ("st-bi", "minilm", "bfloat16", False),
    "minilm-as-reranker": ("replay-random-head", "minilm", "float32", True),
}

Batches = list[tuple[str, list[str], ScoreBatch]]  # (variant, pair_ids, batch)
Scored = tuple[Fingerprint, Batches, list[str]]  # an engine config's stored scores, load report


# --------------------------------------------------------------------------- sample sets


def golden_rows(golden_dir: Path) -> dict[str, dict]:
    lines = (golden_dir / "golden_en.jsonl").read_text(encoding="utf-8").splitlines()
    return {row["doc_id"]: row for row in map(json.loads, lines)}


@pytest.fixture(scope="session")
def pairs(golden_dir: Path, tmp_path_factory) -> pl.DataFrame:
    """Two English ladders (each ending on a known_irrelevant doc), two more known_irrelevant
    pairs and the long Roth IRA doc (off the ladders, so probes stay short)."""
    golden = golden_rows(golden_dir)
    ladders = [f"en-q{q}-d{d}" for q in ("01", "06") for d in range(1, 5)]
    rows = [golden[d] for d in ladders]
    rows += [dict(golden[d], tags=[t for t in golden[d]["tags"] if not t.startswith("ladder")])
             for d in (LONG_DOC, "en-q08-d2")]
    rows += [golden[d] for d in ("en-q17-d1", "en-q18-d1")]
    path = tmp_path_factory.mktemp("sets") / f"{SET}.jsonl"
    path.write_text("".join(json.dumps(dict(r, set_id=SET)) + "\n" for r in rows))
    frame = load_sample_set(path, expected_set_id=SET)
    assert frame.height == 12 and frame["known_irrelevant"].sum() == 4
    return frame


@pytest.fixture(scope="session")
def graded(tmp_path_factory) -> pl.DataFrame:
    """12 queries x 3 graded docs (labels 3, 1, 0): enough queries for a paired test."""
    rows = [{"set_id": "graded", "query_id": f"g{q:02d}", "query": f"graded query {q}",
             "doc_id": f"g{q:02d}-d{d}", "doc": f"graded doc {d} of query {q}", "label": label,
             "tags": [], "lang": "en"}
            for q in range(1, 13) for d, label in ((1, 3), (2, 1), (3, 0))]
    path = tmp_path_factory.mktemp("sets") / "graded.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return load_sample_set(path, expected_set_id="graded")


# --------------------------------------------------------------------------- the bench


def stored_scores(store: Store, run_id: str, name: str) -> Scored:
    """One engine config's stored scores in a run (every variant, by pair_id), its fingerprint
    and its load report, read back from the store."""
    engine = store.sql("select r.load_warnings, e.fingerprint from v_run_engine_status as r "
                       "join engines as e using (engine_id) "
                       "where r.run_id = $r and r.engine_name = $n", r=run_id, n=name)
    assert engine.height == 1, (run_id, name, engine)
    warnings, fingerprint = engine.row(0)
    rows = store.sql("select variant, pair_id, logit, score, activation, batch_index, latency_ms "
                     "from scores where run_id = $r and engine_name = $n "
                     "order by variant, pair_id", r=run_id, n=name)
    batches = []
    for (variant,), frame in rows.partition_by("variant", as_dict=True,
                                               maintain_order=True).items():
        (activation,) = frame["activation"].unique().to_list()
        index = frame["batch_index"].to_numpy().astype(np.int64)
        seconds = np.bincount(index, weights=frame["latency_ms"].to_numpy() / 1000.0)
        batches.append((variant, frame["pair_id"].to_list(), ScoreBatch(
            frame["logit"].to_numpy().astype(np.float64),
            frame["score"].to_numpy().astype(np.float64), activation, index,
            tuple(float(x) for x in seconds))))
    return Fingerprint(**json.loads(fingerprint)), batches, list(warnings or [])


def tampered(fingerprint: Fingerprint, how: str) -> Fingerprint:
    """The engine's fingerprint (kind, model, dtype, activation... unchanged) marked as tampered:
    its own engine_id, so no later run of the real engine copies the tampered scores."""
    return dataclasses.replace(fingerprint, extra={**fingerprint.extra, "tampered": how})


class Bench:
    """Opens runs of chosen engines: real ones scored through the production path (each engine
    config scores once, later runs copy its scores), hand-built ones written through the
    store's shard ingest, failed ones recorded."""

    def __init__(self, store: Store, pairs: pl.DataFrame, tiny: str):
        self.store, self.pairs, self.tiny = store, pairs, tiny
        self._stored: dict[str, Scored] = {}

    def config(self, name: str) -> EngineConfig:
        kind, model, precision, _ = ENGINES[name]
        return EngineConfig(name=name, kind=kind, precision=precision,
                            model=self.tiny if model == "tiny" else MINILM)

    def pairs_for(self, name: str) -> pl.DataFrame:
        if ENGINES[name][1] == "minilm":  # MiniLM on CPU: leave the 1,000-token doc out
            return self.pairs.filter(pl.col("doc_id") != LONG_DOC)
        return self.pairs

    def run(self, reference: str, *names: str) -> str:
        """A new run in which the real engines ``names`` score (or copy) through the production
        path, each with its probes as ENGINES says; every one of them succeeded."""
        run_id = score_run(self.store.path, reference if reference in names else names[0],
                           [self.config(n) for n in names], self.pairs,
                           probes={n: ENGINES[n][3] for n in names},
                           pairs_for={n: self.pairs_for(n) for n in names})
        status = {row["engine_name"]: (row["status"], row["error"]) for row in self.store.sql(
            "select engine_name, status, error from v_run_engine_status where run_id = $r",
            r=run_id).iter_rows(named=True)}
        assert all(status.get(n, (None,))[0] == "succeeded" for n in names), status
        return run_id

    def stored(self, name: str) -> Scored:
        """A real engine's scores as stored by a run of its own (every variant scored)."""
        if name not in self._stored:
            self._stored[name] = stored_scores(self.store, self.run(name, name), name)
        return self._stored[name]

    def suite(self, reference: str, *names: str, hand: dict[str, Scored] | None = None,
              failed: dict[str, str] | None = None) -> SuiteInput:
        """A new run holding ``names`` (real engines), ``hand`` (hand-built batches) and
        ``failed`` engines (name -> error), read back as a suite does."""
        hand, failed = hand or {}, failed or {}
        if names:
            run_id = self.run(reference, *names)
        else:
            ids = sorted({i for _, batches, _ in hand.values() for _, pair_ids, _ in batches
                          for i in pair_ids})
            run_id = self.store.start_run("test-checks", {"reference": reference},
                                          pair_ids=ids)
        for name, (fingerprint, batches, warnings) in hand.items():
            write_batches(self.store, run_id, name, fingerprint, batches, warnings)
        for name, error in failed.items():
            self.store.record_engine_failure(run_id, name, error)
        return suite_input(self.store, run_id, reference)


@pytest.fixture(scope="session")
def store(tmp_path_factory, pairs: pl.DataFrame, graded: pl.DataFrame):
    with Store(tmp_path_factory.mktemp("db") / "checks.duckdb") as s:
        s.add_pairs(pairs)
        s.add_pairs(graded)
        yield s


@pytest.fixture(scope="session")
def bench(store: Store, pairs: pl.DataFrame, tiny_cross_encoder: str) -> Bench:
    return Bench(store, pairs, tiny_cross_encoder)


@pytest.fixture(scope="session")
def judge() -> Judge:
    return Judge()


# --------------------------------------------------------------------------- helpers


def only(results: list[CheckResult], engine: str | None, subject: str) -> CheckResult:
    found = [r for r in results if r.engine == engine and r.subject == subject]
    assert len(found) == 1, f"expected one {engine}/{subject} row, got {results}"
    return found[0]


def rows_of(results: list[CheckResult], engine: str) -> list[CheckResult]:
    return [r for r in results if r.engine == engine]


def run_check(check_cls, data: SuiteInput, judge: Judge, **params) -> list[CheckResult]:
    check = check_cls()
    results = check.run(data, check.Params(**params), judge)
    assert {r.check for r in results} <= {check.name}
    return results


def replace_variant(scored: Scored, variant: str, **changes) -> Scored:
    """A copy of ``scored`` whose ``variant`` batch has ``changes`` (scores=..., logits=...),
    under the engine's fingerprint marked as tampered."""
    fingerprint, batches, warnings = scored
    return tampered(fingerprint, variant), [
        (v, ids, dataclasses.replace(b, **changes) if v == variant else b)
        for v, ids, b in batches], warnings


def main_batch(scored: Scored) -> tuple[list[str], ScoreBatch]:
    _, ids, batch = next(item for item in scored[1] if item[0] == "main")
    return list(ids), batch


def doc_ids(pairs: pl.DataFrame, ids: list[str]) -> list[str]:
    lookup = dict(pairs.select("pair_id", "doc_id").iter_rows())
    return [lookup[i] for i in ids]


def hand_batch(scores, logits=None, activation: str = "cosine") -> ScoreBatch:
    scores = np.asarray(scores, dtype=np.float64)
    logits = scores.copy() if logits is None else np.asarray(logits, dtype=np.float64)
    return ScoreBatch(logits, scores, activation, np.zeros(len(scores), dtype=np.int64), (0.1,))


def hand_fingerprint(pooling: str = "mean", dtype: str = "float32") -> Fingerprint:
    return Fingerprint(kind="hf-bi", model="hand-built", weights_sha256="ab" * 32, dtype=dtype,
                       device="cpu", pooling=pooling, max_length=256, activation="cosine")


def hand_suite(store: Store, reference: str,
               engines: dict[str, tuple[Fingerprint, list[str], np.ndarray]]) -> SuiteInput:
    """A new run of hand-built engines only (name -> fingerprint, pair ids, main scores),
    written through the store's shard ingest and read back as a suite does."""
    ids = sorted({i for _, pair_ids, _ in engines.values() for i in pair_ids})
    run_id = store.start_run("test-checks", {"reference": reference}, pair_ids=ids)
    for name, (fingerprint, pair_ids, scores) in engines.items():
        write_batches(store, run_id, name, fingerprint, [("main", pair_ids, hand_batch(scores))])
    return suite_input(store, run_id, reference)


def graded_scores(graded: pl.DataFrame, per_label: dict[float, float],
                  shift: float = 0.0) -> tuple[list[str], np.ndarray]:
    """Scores on the graded set from a label -> score map, plus a small per-query offset."""
    query = graded["query_id"].str.slice(1).cast(pl.Int64).to_numpy()
    base = np.array([per_label[label] for label in graded["label"]])
    return graded["pair_id"].to_list(), base + 0.001 * query + shift


def filtered(data: SuiteInput, predicate: pl.Expr) -> SuiteInput:
    """The same run with only the main scores matching ``predicate``."""
    return dataclasses.replace(data, scores=data.scores.filter(predicate))
