"""Batch invariance on real engine scores: clean engines score a pair alike whatever its batch;
the batch-dependent incident replays (engines/faults.py) do not."""

from __future__ import annotations

import polars as pl
import pytest

from rerankwatch.checks.base import Judge
from rerankwatch.checks.batch_invariance import BatchInvariance
from rerankwatch.core.config import EngineConfig
from rerankwatch.core.records import FAILED, PASSED
from rerankwatch.pipeline.batch_probes import BATCH_PROBE_PAIRS, batch_probe
from rerankwatch.store import Store
from tests.support.configs import MINILM, TINY_CE
from tests.support.suite_runs import golden_en, score_run, suite_input


@pytest.fixture(scope="module")
def judge() -> Judge:
    return Judge()


def invariance(tmp_path, golden_dir, engine: EngineConfig, judge: Judge) -> dict[str, object]:
    db = tmp_path / "b.duckdb"
    run_id = score_run(db, engine.name, [engine], golden_en(golden_dir))
    with Store(db) as store:
        data = suite_input(store, run_id, engine.name)
    probes = data.probes.filter(pl.col("variant").is_in(["single", "shuffled", "mixed"]))
    assert probes.group_by("variant").len()["len"].to_list() == [BATCH_PROBE_PAIRS] * 3
    results = BatchInvariance().run(data, BatchInvariance.Params(), judge)
    return {r.subject: r for r in results}


@pytest.mark.parametrize("kind, model", [("st-cross", TINY_CE), ("hf-seqcls", TINY_CE),
                                         ("st-bi", MINILM)])
def test_clean_engines_are_batch_invariant(tmp_path, golden_dir, judge, kind, model):
    results = invariance(tmp_path, golden_dir, EngineConfig(name="e", kind=kind, model=model),
                         judge)
    assert {s: r.status for s, r in results.items()} == {
        "single": PASSED, "shuffled": PASSED, "mixed": PASSED}
    assert max(r.observed for r in results.values()) < 1e-5


@pytest.mark.parametrize("kind, options, failing", [
    ("replay-attention-mask-dropped", {}, {"single", "shuffled", "mixed"}),
    ("replay-request-normalization", {}, {"single", "shuffled", "mixed"}),
    ("replay-index-ignored", {}, {"single", "shuffled", "mixed"}),
])
def test_batch_dependent_bugs_are_caught(tmp_path, golden_dir, judge, kind, options, failing):
    engine = EngineConfig(name="e", kind=kind, model=TINY_CE, options=options)
    results = invariance(tmp_path, golden_dir, engine, judge)
    assert {s for s, r in results.items() if r.status == FAILED} == failing
    single = results["single"]
    assert single.detail["worst_pairs"] and "score_single" in single.detail["worst_pairs"][0]
    assert single.detail["hint"]


def test_the_probe_spans_the_lengths_of_the_set(golden_dir):
    pairs = golden_en(golden_dir)
    probe = batch_probe(pairs)
    lengths = pairs.select(pl.col("query").str.len_chars() + pl.col("doc").str.len_chars())
    probed = probe.select(pl.col("query").str.len_chars() + pl.col("doc").str.len_chars())
    assert probe.height == BATCH_PROBE_PAIRS and probe["pair_id"].is_unique().all()
    assert probed.to_series().min() == lengths.to_series().min()
    assert probed.to_series().max() == lengths.to_series().max()
