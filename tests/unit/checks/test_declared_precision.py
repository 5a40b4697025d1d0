"""declared_precision on real engine scores: a float32 engine computes off the half-precision
grids; a model loaded in bfloat16 (the default_dtype replay) or a sigmoid computed in float16
(low_precision_activation) under a float32 config is caught, each on its own subject."""

from __future__ import annotations

import pytest

from rerankwatch.checks.base import Judge
from rerankwatch.checks.declared_precision import DeclaredPrecision
from rerankwatch.core.config import EngineConfig
from rerankwatch.core.records import FAILED, PASSED, SKIPPED
from rerankwatch.store import Store
from tests.support.configs import MINILM, TINY_CE
from tests.support.suite_runs import golden_en, score_run, suite_input


@pytest.fixture(scope="module")
def judge() -> Judge:
    return Judge()


def judged(tmp_path, golden_dir, engine: EngineConfig, judge: Judge) -> dict[str, object]:
    db = tmp_path / "p.duckdb"
    run_id = score_run(db, engine.name, [engine], golden_en(golden_dir), probes=False)
    with Store(db) as store:
        data = suite_input(store, run_id, engine.name)
    return {r.subject: r for r in DeclaredPrecision().run(data, DeclaredPrecision.Params(),
                                                            judge)}


@pytest.mark.parametrize("kind", ["st-cross", "hf-seqcls", "onnx"])
def test_float32_engines_compute_off_the_half_precision_grids(tmp_path, golden_dir, judge, kind):
    results = judged(tmp_path, golden_dir, EngineConfig(name="e", kind=kind, model=TINY_CE),
                     judge)
    assert {s: r.status for s, r in results.items()} == {"logits": PASSED, "scores": PASSED}
    assert results["logits"].observed < 0.01 and results["logits"].detail["values"] == 45


@pytest.mark.parametrize("kind, failing", [
    ("replay-default-dtype", "logits"),  # the model runs in bfloat16: logits on its grid
    ("replay-low-precision-activation", "scores"),  # the sigmoid runs in float16
])
def test_a_precision_the_config_does_not_declare_is_caught(tmp_path, golden_dir, judge, kind,
                                                             failing):
    results = judged(tmp_path, golden_dir, EngineConfig(name="e", kind=kind, model=TINY_CE),
                     judge)
    assert [s for s, r in results.items() if r.status == FAILED] == [failing]
    assert results[failing].observed == 1.0
    assert "half-precision grid" in results[failing].detail["hint"]
    assert results[failing].detail["examples"]


@pytest.mark.parametrize("engine, reason", [
    (EngineConfig(name="e", kind="st-cross", model=TINY_CE, precision="bfloat16"),
     "declared precision 'bfloat16'"),
    (EngineConfig(name="e", kind="st-bi", model=MINILM), "cosine scores"),
])
def test_lower_declared_precisions_and_cosines_are_not_judged(tmp_path, golden_dir, judge,
                                                               engine, reason):
    results = judged(tmp_path, golden_dir, engine, judge)
    assert {r.status for r in results.values()} == {SKIPPED}
    assert reason in results["logits"].detail["reason"]
