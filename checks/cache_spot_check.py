"""Copied scores still reproduce: a cache that cannot lie.

Scores are copied from an earlier run when the engine's fingerprint is identical (weights,
every file of the model folder that shapes a score, dtype, package versions, ...). Whatever
the fingerprint misses would let a run pass on scores it never computed, so every run that
copied main scores re-scores a small seeded sample of them afresh (probe variant ``spot``:
whole batches, as the run that scored them batched them, ``pipeline.scoring.score_spot``) and
this check holds the copies to the fresh scores, naming the run(s) the copies came from.
"""

from __future__ import annotations

from typing import ClassVar

import great_expectations as gx
import polars as pl

from rerankwatch.checks import base
from rerankwatch.checks.base import (
    AT_MOST,
    Judge,
    PrecisionTolerances,
    Rows,
    SuiteInput,
    judged,
    probe_deltas,
    row,
    worst,
)
from rerankwatch.core.records import SKIPPED, CheckResult

INCOMPLETE = "fingerprint incomplete: cached scores no longer reproduce"


class ExpectCopiesReproduce(gx.expectations.ExpectColumnMaxToBeBetween):
    """|fresh score - copied score| is within tolerance on every spot-checked pair."""

    column: str = "abs_delta"
    max_value: float = 1e-4


class Detail(base.Detail):
    """What a cache_spot_check result's detail holds."""

    summary_fields = ("message", "reason")
    rows_field = "worst_pairs"
    message: str | None = None
    copied_from: str | None = None
    pairs: int | None = None
    worst_pairs: Rows = []


class Params(PrecisionTolerances):
    # Measured on CPU, golden_en + golden_zh: the spot re-scores whole batches as they were
    # scored, and a cross-encoder then reproduces its copies exactly (|delta| 0 in float32,
    # bfloat16 and onnx int8), a bi-encoder to 1.1e-3 in bfloat16 (its texts are embedded in
    # other company). A batch no longer whole (a pair left the sets) meets other company:
    # float32 moves by <= 6.3e-7, float16 8.5e-4, bfloat16 4.3e-3, but int8 (onnxruntime's
    # dynamic quantization scales activations per batch) by up to 0.25. What a cache that
    # lies shows is far larger: the MiniLM tokenizer with lowercasing off moves up to 0.415.
    float32: float = 1e-4
    float16: float = 1e-2
    bfloat16: float = 2e-2
    int8: float = 1e-2


class CacheSpotCheck:
    name = "cache_spot_check"
    Params = Params
    Detail = Detail
    needs_reference = False
    measures: ClassVar[dict[str, str]] = {  # what each subject's observed value is
        "copied_scores": "max |copied score − fresh re-score|",
    }
    bounds: ClassVar[dict[str, str]] = {"*": AT_MOST}
    figure: ClassVar[str | None] = "probes-{engine}"
    probes: ClassVar[dict[str, str]] = {"spot": "copied_scores"}

    def run(self, data: SuiteInput, params: Params, judge: Judge) -> list[CheckResult]:
        results = []
        for engine in data.ok_engines():
            info = data.engine_info[engine]
            spot = data.probes.filter((pl.col("engine_name") == engine)
                                      & (pl.col("variant") == "spot"))
            if spot.is_empty():
                reason = ("no score was copied from an earlier run" if not info["reused_pairs"]
                          else "copied scores were not spot-checked (probes were not scored)")
                results.append(row(self, params, engine, "copied_scores", SKIPPED,
                                   reason=reason))
                continue
            pairs = probe_deltas(data.engine_scores(engine).select("pair_id", "score"), spot,
                                 "fresh", keep=("copied_from",))
            tolerance = params.tolerance(info["dtype"])
            success, _ = judge.validate(pairs, ExpectCopiesReproduce(max_value=tolerance))
            # the run(s) that scored the copies (a run copied from a copy names the original)
            sources = sorted(pairs["copied_from"].drop_nulls().unique())
            source = ", ".join(sources) or info["reused_from_run"] or "earlier runs"
            results.append(judged(
                self, params, engine, "copied_scores", success, pairs["abs_delta"].max(),
                tolerance, copied_from=source, pairs=pairs.height,
                message=None if success else (
                    f"{INCOMPLETE}: re-scored now, {pairs.height} pairs copied from "
                    f"{source} differ by up to {pairs['abs_delta'].max():.4g} (tolerance "
                    f"{tolerance:g}); something that shapes the scores changed without "
                    f"changing the fingerprint: run with --force, and report it"),
                worst_pairs=worst(pairs, "abs_delta",
                                  ["pair_id", "score", "score_fresh", "copied_from"])))
        return results
