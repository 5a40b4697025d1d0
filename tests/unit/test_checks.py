"""Expectation checks on real scores: engines score a tiny sample set into DuckDB through the
production scoring path, the checks read it back through the store's views, exactly as a suite
does.

Each test opens a new run of the engines it needs (``tests.suite_runs.score_run``: ``begin_run``
then ``score_and_store`` per engine config); an engine config scores once per module, and later
runs of its fingerprint copy the stored scores, as any run would. Hand-built batches cover what
no real engine can produce here (NaN scores, a lost score, an inverted ladder, the pooling
incident's numbers, a reversed ranker over many graded queries); they go through the store's
own write path (shards, ``Store.ingest_shards``, ``record_engine_success``:
``tests.suite_runs.write_batches``). A real engine's stored batches, tampered with, are written
under its fingerprint marked as tampered, so no later run copies them as the engine's scores.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import rerankwatch.checks.finite
from rerankwatch.checks import CHECKS, check_class
from rerankwatch.checks.argument_order import ArgumentOrder
from rerankwatch.checks.base import ERROR, FAILED, PASSED, SKIPPED, CheckResult, Judge, SuiteInput
from rerankwatch.checks.determinism import Determinism
from rerankwatch.checks.engine_agreement import EngineAgreement
from rerankwatch.checks.finite import Finite
from rerankwatch.checks.irrelevant_ceiling import IrrelevantCeiling
from rerankwatch.checks.monotonic_relevance import MonotonicRelevance
from rerankwatch.checks.precision_drift import PrecisionDrift
from rerankwatch.checks.retrieval_quality import RetrievalQuality
from rerankwatch.checks.saturation import Saturation
from rerankwatch.checks.suites import SUITES, check_params, run_suite
from rerankwatch.core.config import EngineConfig
from rerankwatch.core.errors import ConfigError, UnknownNameError
from rerankwatch.core.records import NOT_JUDGED, Fingerprint, ScoreBatch, SuiteReport
from rerankwatch.pipeline.scoring import probe_pairs
from rerankwatch.samples.loader import load_sample_set
from rerankwatch.store import Store
from tests.suite_runs import score_run, suite_input, write_batches

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


@pytest.fixture(scope="module")
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


@pytest.fixture(scope="module")
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


@pytest.fixture(scope="module")
def store(tmp_path_factory, pairs: pl.DataFrame, graded: pl.DataFrame):
    with Store(tmp_path_factory.mktemp("db") / "checks.duckdb") as s:
        s.add_pairs(pairs)
        s.add_pairs(graded)
        yield s


@pytest.fixture(scope="module")
def bench(store: Store, pairs: pl.DataFrame, tiny_cross_encoder: str) -> Bench:
    return Bench(store, pairs, tiny_cross_encoder)


@pytest.fixture(scope="module")
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


# --------------------------------------------------------------------------- registry, params


def test_every_check_is_registered_with_its_name() -> None:
    assert SUITES["nightly"] == list(CHECKS)
    assert SUITES["gate"] is SUITES["nightly"]  # one list on purpose (checks/suites.py)
    assert all(set(names) <= set(CHECKS) for names in SUITES.values())
    for name in CHECKS:
        cls = check_class(name)
        assert cls.name == name
        assert isinstance(cls.needs_reference, bool)
        assert cls.Params().blocking is True  # every check blocks unless configured not to
    assert {n for n in CHECKS if check_class(n).needs_reference} == {
        "engine_agreement", "retrieval_quality", "truncation", "score_scale"}


def test_check_params_applies_overrides_on_defaults() -> None:
    params = check_params({"precision_drift": {"tolerance": 0.5},
                           "saturation": {"blocking": False}})
    assert set(params) == set(CHECKS)
    assert params["precision_drift"].tolerance == 0.5 and params["precision_drift"].blocking
    assert params["saturation"].blocking is False
    assert params["saturation"].max_saturated_share == 0.01  # untouched default
    assert params["determinism"].tolerance("float32") == 1e-5


def test_check_params_rejects_unknown_check_names() -> None:
    with pytest.raises(UnknownNameError) as info:
        check_params({"determinsm": {}})
    message = str(info.value)
    assert "'determinsm'" in message and "Did you mean 'determinism'?" in message
    assert all(name in message for name in CHECKS)  # the available names are listed


@pytest.mark.parametrize("overrides,key", [
    ({"precision_drift": {"tolerence": 0.1}}, "tolerence"),
    ({"engine_agreement": {"max_abs_delta": "lots"}}, "max_abs_delta"),
    ({"finite": {"threshold": 1}}, "threshold"),
])
def test_check_params_rejects_bad_threshold_keys(overrides: dict, key: str) -> None:
    (name,) = overrides
    with pytest.raises(ConfigError, match=rf"\[checks\.{name}\].*{key}"):
        check_params(overrides)


# --------------------------------------------------------------------------- finite


def test_finite_passes_real_scores(bench: Bench, judge: Judge) -> None:
    results = run_check(Finite, bench.suite("ce", "ce", "bi"), judge)
    for engine, n in (("ce", 12), ("bi", 11)):
        values, count = only(results, engine, "values"), only(results, engine, "count")
        assert values.status == PASSED and values.observed == 0 and values.threshold == 0
        assert values.detail["examples"] == []
        assert count.status == PASSED and count.observed == count.threshold == n
        assert count.detail["missing"] == 0


def test_finite_fails_on_nan_and_inf(bench: Bench, judge: Judge, pairs: pl.DataFrame) -> None:
    ids, main = main_batch(bench.stored("ce"))
    scores, logits = main.scores.copy(), main.logits.copy()
    scores[2], logits[5] = np.nan, np.inf
    broken = replace_variant(bench.stored("ce"), "main", scores=scores, logits=logits)
    results = run_check(Finite, bench.suite("ce", "ce", hand={"ce-nan": broken}), judge)

    values = only(results, "ce-nan", "values")
    assert values.status == FAILED and values.observed == 2 and values.threshold == 0
    assert {e["doc_id"] for e in values.detail["examples"]} == set(doc_ids(pairs, [ids[2], ids[5]]))
    assert only(results, "ce-nan", "count").status == PASSED  # nothing is missing
    assert only(results, "ce", "values").status == PASSED
    assert values.blocks


def test_finite_fails_on_a_missing_score(bench: Bench, judge: Judge) -> None:
    data = bench.suite("ce", "ce", "bi")
    lost = data.engine_scores("ce")["pair_id"][0]
    data = filtered(data, ~((pl.col("engine_name") == "ce") & (pl.col("pair_id") == lost)))
    results = run_check(Finite, data, judge)

    count = only(results, "ce", "count")
    assert count.status == FAILED
    assert count.observed == 11 and count.threshold == 12 and count.detail["missing"] == 1
    assert only(results, "ce", "values").status == PASSED
    assert only(results, "bi", "count").status == PASSED


# --------------------------------------------------------------------------- argument_order


def test_argument_order_catches_reversed_arguments(bench: Bench, judge: Judge,
                                                   pairs: pl.DataFrame) -> None:
    data = bench.suite("ce", "ce", "ce-swapped", "bi")
    results = run_check(ArgumentOrder, data, judge)

    reference = rows_of(results, "ce")
    assert [r.subject for r in reference] == ["asymmetry"]  # nothing to compare with itself
    assert reference[0].status == PASSED and reference[0].observed > reference[0].threshold

    swapped = only(results, "ce-swapped", "matches_reference_swapped")
    assert swapped.status == FAILED and swapped.other_engine == "ce"
    assert swapped.observed == 1.0 and swapped.threshold == 0.5  # every probed pair
    assert "reversed" in swapped.detail["message"]
    probed = set(probe_pairs(pairs)["doc_id"])
    examples = swapped.detail["examples"]
    assert examples and {e["doc_id"] for e in examples} <= probed
    for example in swapped.detail["examples"]:  # its scores are the reference's swapped ones
        assert example["score"] == pytest.approx(example["ref_swapped"], abs=1e-6)
        assert example["score"] != pytest.approx(example["score_other"], abs=1e-3)
    # the swapped engine is still order sensitive: only the comparison catches it
    assert only(results, "ce-swapped", "asymmetry").status == PASSED

    bi = only(results, "bi", "*")
    assert bi.status == SKIPPED and "bi-encoder" in bi.detail["reason"]


def test_argument_order_passes_a_clean_cross_encoder(bench: Bench, judge: Judge) -> None:
    results = run_check(ArgumentOrder, bench.suite("ce", "ce", "ce-hf"), judge)
    clean = only(results, "ce-hf", "matches_reference_swapped")
    assert clean.status == PASSED and clean.observed == 0.0 and clean.detail["message"] is None
    assert only(results, "ce-hf", "asymmetry").status == PASSED
    assert all(r.status == PASSED for r in results)


def test_argument_order_fails_an_engine_that_ignores_the_order(bench: Bench,
                                                               judge: Judge) -> None:
    """Swapped re-scores equal to the main scores: score(q, d) == score(d, q)."""
    fingerprint, batches, warnings = bench.stored("ce")
    ids, batch = main_batch(bench.stored("ce"))
    by_pair = dict(zip(ids, batch.scores, strict=True))
    symmetric = []
    for variant, probe_ids, b in batches:
        if variant == "swapped":
            same = np.array([by_pair[i] for i in probe_ids])
            b = dataclasses.replace(b, scores=same, logits=same.copy())
        symmetric.append((variant, probe_ids, b))
    assert {v for v, _, _ in symmetric} >= {"main", "swapped"}
    results = run_check(ArgumentOrder, bench.suite(
        "ce", hand={"ce": (tampered(fingerprint, "symmetric"), symmetric, warnings)}), judge)
    asymmetry = only(results, "ce", "asymmetry")
    assert asymmetry.status == FAILED
    assert asymmetry.observed == 0.0 and asymmetry.threshold == 1e-4
    assert "ignores argument order" in asymmetry.detail["hint"]


def test_argument_order_skips_what_it_cannot_judge(bench: Bench, judge: Judge) -> None:
    # no swapped probe was scored for ce-logits
    results = run_check(ArgumentOrder, bench.suite("ce", "ce", "ce-logits"), judge)
    skipped = only(results, "ce-logits", "asymmetry")
    assert skipped.status == SKIPPED and "no swapped probe" in skipped.detail["reason"]
    assert [r.subject for r in rows_of(results, "ce-logits")] == ["asymmetry"]

    # a bi-encoder reference has no swapped probe to compare a cross-encoder with
    results = run_check(ArgumentOrder, bench.suite("bi", "bi", "ce"), judge)
    assert only(results, "bi", "*").status == SKIPPED
    no_ref = only(results, "ce", "matches_reference_swapped")
    assert no_ref.status == SKIPPED and no_ref.other_engine == "bi"
    assert "reference has no swapped probe" in no_ref.detail["reason"]
    assert only(results, "ce", "asymmetry").status == PASSED


# --------------------------------------------------------------------------- determinism


def test_determinism_catches_a_random_head(bench: Bench, judge: Judge) -> None:
    results = run_check(Determinism, bench.suite("bi", "bi", "minilm-as-reranker"), judge)

    reload = only(results, "minilm-as-reranker", "reload")
    assert reload.status == FAILED and reload.threshold == 1e-5  # float32
    assert reload.observed > 1e-4  # a fresh random head at each load
    worst = reload.detail["worst_pairs"]
    assert worst and abs(worst[0]["score"] - worst[0]["score_reload"]) == pytest.approx(
        reload.observed)

    report = only(results, "minilm-as-reranker", "load_report")
    assert report.status == FAILED and report.threshold == 0 and report.observed >= 1
    listed = report.detail["load_report"]
    assert len(listed) == report.observed
    assert any("MISSING" in w or "newly initialized" in w for w in listed)
    assert any("classifier" in w for w in listed)
    assert "newly (randomly) initialized" in report.detail["hint"]


@pytest.mark.parametrize("engine", ["ce", "bi"])
def test_determinism_passes_clean_engines(bench: Bench, judge: Judge, engine: str) -> None:
    results = run_check(Determinism, bench.suite(engine, engine), judge)
    reload, report = only(results, engine, "reload"), only(results, engine, "load_report")
    assert reload.status == PASSED and reload.observed <= reload.threshold == 1e-5
    assert reload.detail["pairs"] == min(16, probe_pairs(bench.pairs_for(engine)).height)
    assert report.status == PASSED and report.observed == 0
    assert report.detail["load_report"] == [] and report.detail["hint"] is None


def test_determinism_skips_reload_without_a_probe(bench: Bench, judge: Judge) -> None:
    results = run_check(Determinism, bench.suite("ce", "ce-logits"), judge)
    reload = only(results, "ce-logits", "reload")
    assert reload.status == SKIPPED and "reload probe" in reload.detail["reason"]
    assert only(results, "ce-logits", "load_report").status == PASSED


# --------------------------------------------------------------------------- saturation


def test_saturation_passes_a_clean_float32_engine(bench: Bench, judge: Judge) -> None:
    results = run_check(Saturation, bench.suite("ce", "ce", "bi"), judge)
    assert len(results) == 6
    cosine_grid = only(results, "bi", "low_precision_share")
    assert cosine_grid.status == SKIPPED and "cosine" in cosine_grid.detail["reason"]
    for r in results:
        if r is not cosine_grid:
            assert r.status == PASSED and r.observed == 0.0 and r.detail["examples"] == []
    assert {r.subject: r.threshold for r in rows_of(results, "ce")} == {
        "saturated_share": 0.01, "tied_share": 0.05, "low_precision_share": 0.5}


def test_saturation_catches_softmax_over_one_logit(bench: Bench, judge: Judge) -> None:
    results = run_check(Saturation, bench.suite("ce", "ce-softmax"), judge)
    saturated = only(results, "ce-softmax", "saturated_share")
    assert saturated.status == FAILED
    assert saturated.observed == 1.0 and saturated.threshold == 0.01
    assert saturated.detail["examples"] and all(
        e["score"] == 1.0 for e in saturated.detail["examples"])
    tied = only(results, "ce-softmax", "tied_share")
    scores = bench.pairs.with_columns(pl.len().over("query_id").alias("n"))
    in_multi_doc_queries = scores.filter(pl.col("n") > 1).height / scores.height
    assert tied.status == FAILED  # every pair of a query with two or more docs is tied
    assert tied.observed == pytest.approx(in_multi_doc_queries) and tied.threshold == 0.05


def test_saturation_catches_a_float16_activation(bench: Bench, judge: Judge) -> None:
    results = run_check(Saturation, bench.suite("ce", "ce-fp16-sigmoid"), judge)
    grid = only(results, "ce-fp16-sigmoid", "low_precision_share")
    assert grid.status == FAILED and grid.observed == 1.0 and grid.threshold == 0.5
    for example in grid.detail["examples"]:
        assert float(np.float16(example["score"])) == example["score"]
    assert only(results, "ce-fp16-sigmoid", "saturated_share").status == PASSED


@pytest.fixture(scope="module")
def identity_cross_encoder(tiny_cross_encoder: str, tmp_path_factory) -> str:
    """The tiny cross-encoder configured with no activation (score = raw logit), like
    cross-encoder/ms-marco-MiniLM-L-6-v2."""
    folder = tmp_path_factory.mktemp("identity") / "ce"
    shutil.copytree(tiny_cross_encoder, folder)
    config = json.loads((folder / "config.json").read_text())
    config["sentence_transformers"] = {"activation_fn": "torch.nn.modules.linear.Identity"}
    (folder / "config.json").write_text(json.dumps(config))
    return str(folder)


def test_saturation_low_precision_share_passes_clean_bf16_raw_score_engine(
        bench: Bench, store: Store, judge: Judge, identity_cross_encoder: str) -> None:
    config = EngineConfig(name="ce-identity-bf16", kind="st-cross", model=identity_cross_encoder,
                          precision="bfloat16")
    run_id = score_run(store.path, config.name, [config], bench.pairs, probes=False)
    data = suite_input(store, run_id, "ce")
    assert data.engine_info["ce-identity-bf16"]["status"] == "succeeded"
    assert data.engine_info["ce-identity-bf16"]["activation"] == "none"
    assert store.sql("select distinct variant, activation from scores where run_id = $r",
                     r=run_id).rows() == [("main", "none")]
    results = run_check(Saturation, data, judge)
    grid = only(results, "ce-identity-bf16", "low_precision_share")
    assert grid.status in (PASSED, SKIPPED), (grid.status, grid.observed, grid.threshold)
    assert not grid.blocks


# --------------------------------------------------------------------------- precision_drift


def test_precision_drift_bfloat16_within_default_tolerance(bench: Bench, judge: Judge) -> None:
    results = run_check(PrecisionDrift, bench.suite("bi", "bi", "bi-bf16"), judge)
    drift = only(results, "bi-bf16", "bfloat16")
    assert drift.status == PASSED and drift.other_engine == "bi"
    assert 0 < drift.observed <= drift.threshold == 0.02  # bf16 differs, but slightly
    float32 = only(results, "bi", "*")
    assert float32.status == SKIPPED and "float32" in float32.detail["reason"]


def test_precision_drift_fails_beyond_a_tiny_tolerance(bench: Bench, judge: Judge) -> None:
    data = bench.suite("bi", "bi", "bi-bf16")
    results = run_check(PrecisionDrift, data, judge, tolerance=1e-9)
    drift = only(results, "bi-bf16", "bfloat16")
    assert drift.status == FAILED and drift.threshold == 1e-9 and drift.observed > 1e-9
    paired = data.paired("bi-bf16", "bi").with_columns(
        (pl.col("score") - pl.col("score_other")).abs().alias("d")).sort("d", descending=True)
    assert drift.observed == pytest.approx(paired["d"][0])
    assert drift.detail["worst_pairs"][0]["doc_id"] == paired["doc_id"][0]


def test_precision_drift_skips_without_a_float32_twin(bench: Bench, judge: Judge) -> None:
    results = run_check(PrecisionDrift, bench.suite("ce", "ce", "bi-bf16"), judge)
    lonely = only(results, "bi-bf16", "*")
    assert lonely.status == SKIPPED and "no float32 config" in lonely.detail["reason"]
    assert only(results, "ce", "*").status == SKIPPED  # float32 itself
    assert not any(r.status == PASSED for r in results)


# --------------------------------------------------------------------------- irrelevant_ceiling


def test_irrelevant_ceiling_minilm_stays_low_on_unrelated_pairs(bench: Bench,
                                                                judge: Judge) -> None:
    results = run_check(IrrelevantCeiling, bench.suite("bi", "bi"), judge)
    ceiling = only(results, "bi", SET)
    assert ceiling.status == PASSED and ceiling.threshold == 0.3  # the cosine ceiling
    assert ceiling.observed < 0.3 and ceiling.detail["pairs"] == 4
    assert ceiling.detail["worst_pairs"] == []


def test_irrelevant_ceiling_fails_and_lists_the_pair(bench: Bench, judge: Judge) -> None:
    data = bench.suite("bi", "bi")
    irrelevant = data.engine_scores("bi").filter(pl.col("known_irrelevant"))
    low = float(irrelevant["score"].sort()[-2] + irrelevant["score"].max()) / 2
    results = run_check(IrrelevantCeiling, data, judge, cosine_ceiling=low)
    ceiling = only(results, "bi", SET)
    assert ceiling.status == FAILED and ceiling.threshold == pytest.approx(low)
    assert ceiling.observed == pytest.approx(irrelevant["score"].max())
    assert ceiling.observed > low
    top = irrelevant.sort("score", descending=True).row(0, named=True)
    assert [(p["query_id"], p["doc_id"], p["query"]) for p in ceiling.detail["worst_pairs"]] == [
        (top["query_id"], top["doc_id"], top["query"])]


def test_irrelevant_ceiling_uses_the_probability_ceiling_for_cross_encoders(
        bench: Bench, judge: Judge) -> None:
    results = run_check(IrrelevantCeiling, bench.suite("ce", "ce", "bi"), judge,
                        probability_ceiling=0.99, cosine_ceiling=0.01)
    assert only(results, "ce", SET).threshold == 0.99
    assert only(results, "ce", SET).status == PASSED
    assert only(results, "bi", SET).threshold == 0.01
    assert only(results, "bi", SET).status == FAILED


def test_irrelevant_ceiling_skips_without_known_irrelevant_pairs(bench: Bench,
                                                                 judge: Judge) -> None:
    data = filtered(bench.suite("bi", "bi"), ~pl.col("known_irrelevant"))
    results = run_check(IrrelevantCeiling, data, judge)
    skipped = only(results, "bi", "*")
    assert skipped.status == SKIPPED and "known_irrelevant" in skipped.detail["reason"]


# --------------------------------------------------------------------------- monotonic_relevance


def test_monotonic_relevance_passes_minilm_on_english_ladders(bench: Bench,
                                                              judge: Judge) -> None:
    results = run_check(MonotonicRelevance, bench.suite("bi", "bi"), judge)
    ladders = only(results, "bi", SET)
    assert ladders.status == PASSED and ladders.threshold == 0.0
    assert ladders.observed > 0  # every step down the ladder lowers the score
    assert ladders.detail["ladders"] == 2 and ladders.detail["inverted"] == []


def test_monotonic_relevance_names_an_inverted_ladder(bench: Bench, judge: Judge,
                                                      pairs: pl.DataFrame) -> None:
    """The sell_shirt rungs 1 and 3 swap scores: two inverted steps on that ladder only."""
    ids, main = main_batch(bench.stored("bi"))
    docs = doc_ids(pairs, ids)
    first, third = docs.index("en-q01-d1"), docs.index("en-q01-d3")
    scores = main.scores.copy()
    scores[[first, third]] = scores[[third, first]]
    inverted = replace_variant(bench.stored("bi"), "main", scores=scores, logits=scores.copy())
    results = run_check(MonotonicRelevance, bench.suite("bi", hand={"bi": inverted}), judge)

    ladders = only(results, "bi", SET)
    assert ladders.status == FAILED and ladders.observed < 0 and ladders.threshold == 0.0
    steps = {(s["ladder"], s["ladder_rank"], s["doc_id"], s["next_doc_id"])
             for s in ladders.detail["inverted"]}
    assert steps == {("sell_shirt", 1, "en-q01-d1", "en-q01-d2"),
                     ("sell_shirt", 2, "en-q01-d2", "en-q01-d3")}
    assert ladders.observed == pytest.approx(min(s["score"] - s["next_score"]
                                                 for s in ladders.detail["inverted"]))


def test_monotonic_relevance_margin_tolerates_small_inversions(bench: Bench,
                                                               judge: Judge) -> None:
    data = bench.suite("ce", "ce")  # the untrained cross-encoder inverts its ladders
    failing = only(run_check(MonotonicRelevance, data, judge), "ce", SET)
    assert failing.status == FAILED and failing.detail["inverted"]
    assert {s["ladder"] for s in failing.detail["inverted"]} <= {"sell_shirt", "capital_australia"}
    margin = -failing.observed + 1e-6
    passing = only(run_check(MonotonicRelevance, data, judge, margin=margin), "ce", SET)
    assert passing.status == PASSED and passing.threshold == pytest.approx(-margin)


def test_monotonic_relevance_skips_without_ladders(bench: Bench, judge: Judge) -> None:
    data = filtered(bench.suite("bi", "bi"), pl.col("ladder").is_null())
    results = run_check(MonotonicRelevance, data, judge)
    skipped = only(results, "bi", "*")
    assert skipped.status == SKIPPED and "no ladders" in skipped.detail["reason"]


# --------------------------------------------------------------------------- engine_agreement

AGREEMENT_SUBJECTS = ["score_max_abs_delta", "score_p99_abs_delta", "logit_max_abs_delta",
                      "kendall_tau_min", "topk_overlap_min"]


def test_engine_agreement_clean_hf_seqcls_matches_st_cross(bench: Bench, judge: Judge) -> None:
    results = run_check(EngineAgreement, bench.suite("ce", "ce", "ce-hf"), judge)
    assert [r.subject for r in results] == AGREEMENT_SUBJECTS
    for r in results:
        assert r.engine == "ce-hf" and r.other_engine == "ce" and r.status == PASSED
        assert r.detail["pairs"] == 12
        assert r.detail["fingerprint_differs"] == {"kind": ["hf-seqcls", "st-cross"]}
    assert only(results, "ce-hf", "score_max_abs_delta").observed < 1e-5
    assert only(results, "ce-hf", "kendall_tau_min").observed == 1.0
    assert only(results, "ce-hf", "topk_overlap_min").observed == 1.0


def test_engine_agreement_catches_raw_logits(bench: Bench, judge: Judge) -> None:
    results = run_check(EngineAgreement, bench.suite("ce", "ce", "ce-logits"), judge)
    delta = only(results, "ce-logits", "score_max_abs_delta")
    assert delta.status == FAILED and delta.threshold == 0.02 and delta.observed > 0.1
    worst = delta.detail["worst_pairs"][0]
    assert abs(worst["score"] - worst["score_other"]) == pytest.approx(delta.observed)
    assert worst["score"] == pytest.approx(worst["logit"])  # the activation was skipped
    assert only(results, "ce-logits", "score_p99_abs_delta").status == FAILED
    # the logits themselves agree, and sigmoid is monotonic: the ranking is intact
    for subject in ("logit_max_abs_delta", "kendall_tau_min", "topk_overlap_min"):
        assert only(results, "ce-logits", subject).status == PASSED


def test_engine_agreement_catches_truncation_at_128_tokens(bench: Bench, judge: Judge) -> None:
    results = run_check(EngineAgreement, bench.suite("ce", "ce", "ce-trunc128"), judge)
    delta = only(results, "ce-trunc128", "score_max_abs_delta")
    assert delta.status == FAILED and delta.observed > delta.threshold
    assert delta.detail["worst_pairs"][0]["doc_id"] == LONG_DOC
    assert delta.detail["worst_pairs"][1]["score"] == pytest.approx(
        delta.detail["worst_pairs"][1]["score_other"], abs=1e-5)  # only the long doc moved
    assert delta.detail["fingerprint_differs"] == {"max_length": [128, 512]}


def test_engine_agreement_pooling_incident_fails_on_delta_despite_same_ranking(
        store: Store, judge: Judge, graded: pl.DataFrame) -> None:
    """TEI CLS pooling on a mean-pooled model: 0.290 became 0.608, every ranking unchanged."""
    ids, mean_scores = graded_scores(graded, {3.0: 0.75, 1.0: 0.52, 0.0: 0.278})
    cls_scores = mean_scores + (0.608 - 0.290)
    incident = graded["doc_id"].to_list().index("g12-d3")
    assert (mean_scores[incident], cls_scores[incident]) == (pytest.approx(0.290),
                                                             pytest.approx(0.608))
    data = hand_suite(store, "mean", {"mean": (hand_fingerprint("mean"), ids, mean_scores),
                                      "cls": (hand_fingerprint("cls"), ids, cls_scores)})
    results = run_check(EngineAgreement, data, judge)

    tau = only(results, "cls", "kendall_tau_min")
    assert tau.status == PASSED and tau.observed == 1.0
    assert only(results, "cls", "topk_overlap_min").status == PASSED
    delta = only(results, "cls", "score_max_abs_delta")
    assert delta.status == FAILED and delta.other_engine == "mean"
    assert delta.observed == pytest.approx(0.318) and delta.threshold == 0.02
    assert delta.detail["fingerprint_differs"] == {"pooling": ["cls", "mean"]}
    for worst in delta.detail["worst_pairs"]:
        assert worst["score"] - worst["score_other"] == pytest.approx(0.318)
    stored = data.paired("cls", "mean").filter(pl.col("doc_id") == "g12-d3").row(0, named=True)
    assert (stored["score_other"], stored["score"]) == (pytest.approx(0.290),
                                                        pytest.approx(0.608))
    assert only(results, "cls", "logit_max_abs_delta").status == FAILED


def test_engine_agreement_p99_status_agrees_with_observed(store: Store, judge: Judge,
                                                          graded: pl.DataFrame) -> None:
    ids, reference = graded_scores(graded, {3.0: 0.9, 1.0: 0.5, 0.0: 0.1})
    candidate = reference.copy()
    candidate[0] += 0.015  # one pair of 36 moves, within max_abs_delta; p99 (linear) 0.00975
    data = hand_suite(store, "ref", {"ref": (hand_fingerprint(), ids, reference),
                                     "cand": (hand_fingerprint(dtype="float16"), ids, candidate)})
    results = run_check(EngineAgreement, data, judge)
    assert only(results, "cand", "score_max_abs_delta").status == PASSED
    p99 = only(results, "cand", "score_p99_abs_delta")
    assert (p99.status == PASSED) == (p99.observed <= p99.threshold), (
        p99.status, p99.observed, p99.threshold)


def test_engine_agreement_rankings_skip_without_multi_doc_queries(bench: Bench,
                                                                  judge: Judge) -> None:
    one_per_query = ["en-q01-d1", "en-q06-d1", "en-q17-d1", "en-q18-d1"]
    data = filtered(bench.suite("bi", "bi", "bi-bf16"), pl.col("doc_id").is_in(one_per_query))
    results = run_check(EngineAgreement, data, judge)
    assert only(results, "bi-bf16", "score_max_abs_delta").status == PASSED  # 4 real pairs
    for subject in ("kendall_tau_min", "topk_overlap_min"):
        row = only(results, "bi-bf16", subject)
        assert row.status == SKIPPED, (subject, row.status, row.observed)


# --------------------------------------------------------------------------- retrieval_quality


def graded_run(store: Store, graded: pl.DataFrame, reference: str,
               **engines: np.ndarray) -> SuiteInput:
    ids = graded["pair_id"].to_list()
    return hand_suite(store, reference, {name: (hand_fingerprint(), ids, scores)
                                         for name, scores in engines.items()})


def test_retrieval_quality_catches_a_reversed_ranker(store: Store, judge: Judge,
                                                     graded: pl.DataFrame) -> None:
    _, good = graded_scores(graded, {3.0: 0.9, 1.0: 0.5, 0.0: 0.1})
    _, reversed_ = graded_scores(graded, {3.0: 0.1, 1.0: 0.5, 0.0: 0.9})
    data = graded_run(store, graded, "good", good=good, reversed=reversed_)
    results = run_check(RetrievalQuality, data, judge)

    assert [r.subject for r in results] == ["ndcg@10", "mrr"]
    for r in results:
        assert r.engine == "reversed" and r.other_engine == "good" and r.status == FAILED
        assert r.threshold == 0.02 and r.observed > 0.3
        assert r.detail["p_value"] < 0.05 and r.detail["queries"] == 12
        assert r.detail["baseline"] == pytest.approx(1.0)
        assert r.observed == pytest.approx(r.detail["baseline"] - r.detail["candidate"])
    # labels 3 and 1 are relevant: reversed, the first relevant doc sits at rank 2
    assert only(results, "reversed", "mrr").detail["candidate"] == pytest.approx(0.5)


def test_retrieval_quality_passes_an_engine_against_itself(store: Store, judge: Judge,
                                                           graded: pl.DataFrame) -> None:
    _, good = graded_scores(graded, {3.0: 0.9, 1.0: 0.5, 0.0: 0.1})
    data = graded_run(store, graded, "good", good=good, copy=good)
    results = run_check(RetrievalQuality, data, judge)
    assert [r.subject for r in results] == ["ndcg@10", "mrr"]
    for r in results:
        assert r.engine == "copy" and r.status == PASSED
        assert r.observed == 0.0 and r.detail["p_value"] == 1.0


def test_retrieval_quality_ignores_an_insignificant_drop(store: Store, judge: Judge,
                                                         graded: pl.DataFrame) -> None:
    """One query of twelve reversed: the mean drop exceeds max_drop, but it is not significant."""
    _, good = graded_scores(graded, {3.0: 0.9, 1.0: 0.5, 0.0: 0.1})
    one_bad = good.copy()
    one_bad[:3] = one_bad[:3][::-1]  # g01 only
    data = graded_run(store, graded, "good", good=good, one_bad=one_bad)
    ndcg = only(run_check(RetrievalQuality, data, judge), "one_bad", "ndcg@10")
    assert ndcg.observed > ndcg.threshold and ndcg.detail["p_value"] >= 0.05
    assert ndcg.status == PASSED


def test_retrieval_quality_counts_queries_improved_degraded_and_unchanged(
        store: Store, judge: Judge, graded: pl.DataFrame) -> None:
    """The reference ranks g10-g12 reversed; the candidate fixes them and reverses g01, g02."""
    _, good = graded_scores(graded, {3.0: 0.9, 1.0: 0.5, 0.0: 0.1})
    ref, cand = good.copy(), good.copy()
    for q in (10, 11, 12):  # three docs per query, in the set's order
        ref[3 * (q - 1):3 * q] = ref[3 * (q - 1):3 * q][::-1]
    for q in (1, 2):
        cand[3 * (q - 1):3 * q] = cand[3 * (q - 1):3 * q][::-1]
    data = graded_run(store, graded, "ref", ref=ref, cand=cand)
    results = run_check(RetrievalQuality, data, judge)

    for r in results:  # the same queries move on both metrics
        counts = (r.detail["improved"], r.detail["degraded"], r.detail["unchanged"])
        assert counts == (3, 2, 7), (r.subject, r.detail)
        assert r.detail["queries"] == 12 and r.status == PASSED  # equal means: no drop
        worst = r.detail["most_degraded"]
        assert [(w["set_id"], w["query_id"]) for w in worst] == [("graded", "g01"),
                                                                  ("graded", "g02")]
        assert all(w["baseline"] == pytest.approx(1.0) and w["candidate"] < 1.0 for w in worst)
    mrr = only(results, "cand", "mrr")
    assert mrr.detail["most_degraded"][0]["candidate"] == pytest.approx(0.5)
    declared = RetrievalQuality.Detail.model_validate(json.loads(mrr.detail_json()))
    assert declared.rows() == mrr.detail["most_degraded"]  # the detail's rows, as views read

    lenient = run_check(RetrievalQuality, data, judge, unchanged_below=1.0, most_degraded=1)
    for r in lenient:  # no per-query change exceeds 1.0
        assert (r.detail["improved"], r.detail["degraded"], r.detail["unchanged"]) == (0, 0, 12)
        assert r.detail["most_degraded"] == []
    one = run_check(RetrievalQuality, data, judge, most_degraded=1)
    assert [w["query_id"] for w in only(one, "cand", "ndcg@10").detail["most_degraded"]] == [
        "g01"]


def test_retrieval_quality_skips_without_graded_labels(bench: Bench, judge: Judge) -> None:
    data = filtered(bench.suite("bi", "bi", "bi-bf16"), pl.col("known_irrelevant"))
    results = run_check(RetrievalQuality, data, judge)
    skipped = only(results, "bi-bf16", "*")
    assert skipped.status == SKIPPED and skipped.other_engine == "bi"
    assert "no graded labels" in skipped.detail["reason"]


def test_retrieval_quality_skips_without_multi_doc_queries(bench: Bench, judge: Judge) -> None:
    one_per_query = ["en-q01-d1", "en-q06-d1", "en-q17-d1", "en-q18-d1"]  # labels 3, 3, 0, 0
    data = filtered(bench.suite("bi", "bi", "bi-bf16"), pl.col("doc_id").is_in(one_per_query))
    results = run_check(RetrievalQuality, data, judge)
    assert [r.status for r in results] == [SKIPPED]


# --------------------------------------------------------------------------- suites and verdicts


def result(status: str, blocking: bool = True) -> CheckResult:
    return CheckResult("finite", "e", "values", status, blocking)


@pytest.mark.parametrize("statuses,verdict", [
    ([PASSED, SKIPPED], "PASS"),
    ([PASSED, FAILED], "BLOCKED"),
    ([PASSED, ERROR], "ERROR"),  # a crashed check: the run could not be judged
    ([ERROR, FAILED], "BLOCKED"),  # a regression seen on what was judged wins
    ([PASSED, NOT_JUDGED], "PASS"),  # the engine_errors (none here) make it ERROR
    ([], "PASS"),
])
def test_suite_report_verdict(statuses: list[str], verdict: str) -> None:
    report = SuiteReport("r", "gate", "ref", tuple(result(s) for s in statuses))
    assert report.verdict == verdict
    assert report.exit_code == {"PASS": 0, "BLOCKED": 1, "ERROR": 3}[verdict]
    assert report.failing_checks == (["finite"] if verdict != "PASS" else [])


def test_suite_report_non_blocking_failures_do_not_block() -> None:
    rows = (result(FAILED, blocking=False), result(ERROR, blocking=False), result(PASSED))
    report = SuiteReport("r", "gate", "ref", rows)
    assert report.verdict == "PASS" and report.failing == [] and not report.blocked


def test_run_suite_clean_pair_passes_with_non_blocking_failures(bench: Bench) -> None:
    data = bench.suite("ce", "ce", "ce-hf")
    report = run_suite(data, UNTRAINED, suite="gate")
    assert report.suite == "gate" and report.reference == "ce" and report.run_id == data.run_id
    assert {r.check for r in report.results} == set(SUITES["gate"])
    assert not [r for r in report.results if r.status == ERROR]
    advisory = [r for r in report.results if r.status == FAILED]
    assert advisory and {r.check for r in advisory} <= set(UNTRAINED)
    assert all(not r.blocking for r in advisory)
    assert report.verdict == "PASS" and report.failing_checks == []

    blocked = run_suite(data)  # the same failures, blocking by default
    assert blocked.verdict == "BLOCKED"
    assert blocked.failing_checks == sorted({r.check for r in advisory})


def test_run_suite_blocks_on_an_incident(bench: Bench) -> None:
    report = run_suite(bench.suite("ce", "ce", "ce-softmax"), UNTRAINED)
    assert report.verdict == "BLOCKED"
    assert {"saturation", "engine_agreement"} <= set(report.failing_checks)
    assert all(r.engine == "ce-softmax" for r in report.failing)


def test_run_suite_records_error_for_a_failed_engine(bench: Bench) -> None:
    error = "PrecisionUnsupportedError: float16 is not supported on cpu"
    data = bench.suite("ce", "ce", "ce-hf", failed={"ce-fp16": error})
    report = run_suite(data, UNTRAINED)
    unjudged = [r for r in report.results if r.engine == "ce-fp16"]
    assert sorted(r.check for r in unjudged) == sorted(CHECKS)  # every check, once
    for r in unjudged:
        assert r.status == NOT_JUDGED and r.subject == "*"
        assert r.blocking == (r.check not in UNTRAINED)  # each check's own blocking flag
        # the cause is said once, in the report's engine_errors, not on every check
        assert r.detail["reason"] == "engine ce-fp16 could not score"
    assert report.engine_errors == (("ce-fp16", error),)
    # the engines that did score are judged as usual
    assert not [r for r in report.results if r.engine != "ce-fp16" and r.status == ERROR]
    assert report.verdict == "ERROR" and report.exit_code == 3
    assert report.failing == [] and report.failing_checks == []


def test_run_suite_failed_reference_errors_checks_that_need_it(bench: Bench) -> None:
    data = bench.suite("ref-fp16", "ce", "ce-hf", failed={"ref-fp16": "RuntimeError: boom"})
    report = run_suite(data, UNTRAINED)
    for name in CHECKS:
        rows = [r for r in report.results if r.check == name]
        ref_rows = [r for r in rows if r.engine == "ref-fp16"]
        assert [r.status for r in ref_rows] == [NOT_JUDGED]
        if check_class(name).needs_reference:
            others = [r for r in rows if r.engine != "ref-fp16"]
            assert sorted(r.engine for r in others) == ["ce", "ce-hf"]
            for r in others:
                assert r.status == NOT_JUDGED and r.other_engine == "ref-fp16"
                assert r.detail["reason"] == "the reference engine ref-fp16 could not score"
        else:  # judged on the engines that scored
            assert {r.engine for r in rows} >= {"ce", "ce-hf"}
    determinism = [r for r in report.results if r.check == "determinism" and r.engine == "ce"]
    assert determinism and all(r.status == PASSED for r in determinism)
    assert report.verdict == "ERROR"


def test_run_suite_records_error_for_a_crashing_check(bench: Bench,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(self, data, params, judge):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(rerankwatch.checks.finite.Finite, "run", boom)
    report = run_suite(bench.suite("ce", "ce", "ce-hf"), {**UNTRAINED, "finite": {}})
    (crash,) = [r for r in report.results if r.check == "finite"]
    assert crash.status == ERROR and crash.engine is None and crash.subject == "*"
    assert crash.detail["reason"] == "RuntimeError: kaboom" and crash.blocking
    assert report.verdict == "ERROR" and report.failing_checks == ["finite"]

    lenient = run_suite(bench.suite("ce", "ce", "ce-hf"),
                        {**UNTRAINED, "finite": {"blocking": False}})
    (crash,) = [r for r in lenient.results if r.check == "finite"]
    assert crash.status == ERROR and not crash.blocking
    assert lenient.verdict == "PASS"


def test_check_results_round_trip_through_the_store(bench: Bench, store: Store) -> None:
    data = bench.suite("ce", "ce", "ce-softmax")
    report = run_suite(data, UNTRAINED)
    store.write_check_results(report)
    stored = store.sql("select * from check_results where run_id = $r", r=data.run_id)
    assert stored.height == len(report.results)
    saturated = stored.filter((pl.col("check_name") == "saturation")
                              & (pl.col("engine_name") == "ce-softmax")
                              & (pl.col("subject") == "saturated_share")).row(0, named=True)
    assert saturated["status"] == FAILED and saturated["observed"] == 1.0
    assert json.loads(saturated["detail"])["examples"][0]["score"] == 1.0
    verdict = store.sql("select * from verdicts where run_id = $r", r=data.run_id).row(
        0, named=True)
    assert verdict["verdict"] == "BLOCKED" and verdict["candidates"] == ["ce-softmax"]
    assert "saturation" in verdict["failing_checks"]
