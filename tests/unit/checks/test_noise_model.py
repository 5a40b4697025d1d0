"""The checks' noise model: what one ulp of call-to-call noise does to a score in each
precision, and the tolerances that follow from it (checks/base.py PrecisionTolerances).

A bfloat16 engine whose logits move by one ulp between two calls (GPU kernels, a served engine
with dynamic batching) must pass every check that compares two scorings; a random head must
still fail ``determinism`` by a wide margin."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rerankwatch.checks.base import Judge
from rerankwatch.checks.batch_invariance import BatchInvariance
from rerankwatch.checks.cache_spot_check import CacheSpotCheck
from rerankwatch.checks.determinism import Determinism
from rerankwatch.checks.history_baseline import HistoryBaseline
from rerankwatch.core.config import EngineConfig
from rerankwatch.core.records import FAILED, PASSED
from rerankwatch.store import Store
from tests.support.configs import MINILM, TINY_CE
from tests.support.suite_runs import golden_en, score_run, suite_input

# the |Δ score| two calls can differ by when each moves the logit by one ulp, at the steepest
# point of the sigmoid (the figures PrecisionTolerances documents)
DOCUMENTED = {"bfloat16": 3.2e-3, "float16": 4.1e-4, "float32": 5.0e-8}


def one_ulp_score_noise(dtype: torch.dtype) -> float:
    logits = torch.tensor(np.linspace(-20, 20, 400_001), dtype=dtype)
    up = torch.nextafter(logits, torch.tensor(float("inf"), dtype=dtype)).double()
    down = torch.nextafter(logits, torch.tensor(float("-inf"), dtype=dtype)).double()
    return float((torch.sigmoid(up) - torch.sigmoid(down)).abs().max())


@pytest.mark.parametrize("precision", sorted(DOCUMENTED))
def test_the_documented_noise_is_what_one_ulp_does(precision):
    measured = one_ulp_score_noise(getattr(torch, precision))
    assert measured == pytest.approx(DOCUMENTED[precision], rel=0.05)
    # every check comparing two scorings of the same pairs allows at least twice that
    for check in (Determinism, BatchInvariance, CacheSpotCheck, HistoryBaseline):
        assert check.Params().tolerance(precision) >= 2 * measured, check.name


def test_an_undeclared_precision_gets_the_loosest_float_tolerance():
    params = Determinism.Params()
    assert params.tolerance("unknown") == params.bfloat16 == max(
        params.float32, params.float16, params.bfloat16)
    assert params.tolerance("float32", "bfloat16") == params.bfloat16
    assert BatchInvariance.Params().tolerance("unknown") == BatchInvariance.Params().bfloat16


@pytest.fixture(scope="module")
def judge() -> Judge:
    return Judge()


def determinism(tmp_path, golden_dir, engine: EngineConfig, judge: Judge,
                **params) -> dict[str, object]:
    db = tmp_path / "noise.duckdb"
    run_id = score_run(db, engine.name, [engine], golden_en(golden_dir))
    with Store(db) as store:
        data = suite_input(store, run_id, engine.name)
    results = {(r.check, r.subject): r for r in
               Determinism().run(data, Determinism.Params(**params), judge)
               + BatchInvariance().run(data, BatchInvariance.Params(), judge)}
    return results


def test_one_ulp_of_bfloat16_noise_per_call_passes_and_was_a_false_alarm(tmp_path, golden_dir,
                                                                          judge):
    engine = EngineConfig(name="noisy", kind="replay-call-noise", model=TINY_CE,
                          precision="bfloat16")
    results = determinism(tmp_path, golden_dir, engine, judge)
    reload = results[("determinism", "reload")]
    assert reload.status == PASSED and 0 < reload.observed <= reload.threshold
    assert {r.status for (check, _), r in results.items() if check == "batch_invariance"} == {
        PASSED}
    # the tolerance every precision had before the noise model blocks the same scores
    old = determinism(tmp_path / "old", golden_dir, engine, judge, float32=1e-6,
                      float16=1e-6, bfloat16=1e-6, int8=1e-6)
    assert old[("determinism", "reload")].status == FAILED


def test_a_random_head_still_fails_determinism_by_a_wide_margin(tmp_path, golden_dir, judge):
    engine = EngineConfig(name="random", kind="replay-random-head", model=MINILM)
    reload = determinism(tmp_path, golden_dir, engine, judge)[("determinism", "reload")]
    assert reload.status == FAILED
    assert reload.observed / reload.threshold > 100  # float32: 1e-5
