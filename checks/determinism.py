"""Loaded twice, fresh, an engine config scores identically, with no freshly initialized weights."""

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
from rerankwatch.core.records import RANDOM_INIT_MARKERS, SKIPPED, CheckResult


class ExpectReloadIdentical(gx.expectations.ExpectColumnMaxToBeBetween):
    """|score after a fresh reload - score| is within tolerance on every probed pair."""

    column: str = "abs_delta"
    max_value: float = 1e-5


class ExpectNoRandomInitReport(gx.expectations.ExpectColumnValuesToNotMatchRegexList):
    """No load-report line says weights were newly initialized."""

    column: str = "message"
    regex_list: list = list(RANDOM_INIT_MARKERS)


class Detail(base.Detail):
    """What a determinism result's detail holds."""

    summary_fields = ("hint", "reason")
    rows_field = "worst_pairs"
    hint: str | None = None
    pairs: int | None = None
    worst_pairs: Rows = []
    load_report: list[str] = []


class Params(PrecisionTolerances):
    # max |Δ score| between two loads scoring the same probe (base.PrecisionTolerances): about
    # 3x what ±1 ulp of logit noise per call can move a sigmoid score (bfloat16 3.2e-3, float16
    # 4.1e-4); float32 200x its 5e-8, room for GPU reduction order, while a random head moves
    # scores by 0.03 and more (the random_head replays: ×2.9e3). On CPU every precision
    # reproduces exactly (0): tighten for a deterministic setup.
    float32: float = 1e-5
    float16: float = 1.5e-3
    bfloat16: float = 1e-2
    int8: float = 1e-3  # onnxruntime's dynamic quantization is deterministic for a given batch


class Determinism:
    name = "determinism"
    Params = Params
    Detail = Detail
    needs_reference = False
    measures: ClassVar[dict[str, str]] = {  # what each subject's observed value is
        "reload": "max |Δ score| after a fresh reload",
        "load_report": "load-report lines saying weights were newly initialized",
    }
    bounds: ClassVar[dict[str, str]] = {"*": AT_MOST}
    figure: ClassVar[str | None] = "probes-{engine}"
    probes: ClassVar[dict[str, str]] = {"reload": "reload"}

    def run(self, data: SuiteInput, params: Params, judge: Judge) -> list[CheckResult]:
        results = []
        for engine in data.ok_engines():
            probes = data.probes.filter(pl.col("engine_name") == engine)
            first = probes.filter(pl.col("variant") == "repeat")
            reloaded = probes.filter(pl.col("variant") == "reload")
            if first.is_empty() or reloaded.is_empty():
                results.append(row(self, params, engine, "reload", SKIPPED,
                                   reason="no repeat/reload probe was scored for this engine"))
            else:
                tolerance = params.tolerance(data.engine_info[engine]["dtype"])
                pairs = probe_deltas(first.select("pair_id", "score"), reloaded, "reload")
                success, _ = judge.validate(pairs, ExpectReloadIdentical(max_value=tolerance))
                results.append(judged(
                    self, params, engine, "reload", success, pairs["abs_delta"].max(),
                    tolerance, pairs=pairs.height,
                    worst_pairs=worst(pairs, "abs_delta", ["pair_id", "score", "score_reload"])))
            warnings = data.engine_info[engine]["load_warnings"] or []
            report = pl.DataFrame({"message": warnings}, schema={"message": pl.String})
            success, result = judge.validate(report, ExpectNoRandomInitReport())
            results.append(judged(
                self, params, engine, "load_report", success, result.get("unexpected_count", 0),
                0, load_report=[w for w in warnings if any(m in w for m in RANDOM_INIT_MARKERS)],
                hint=None if success else "weights were newly (randomly) initialized at load: "
                     "is the model path an embedding model rather than a reranker?"))
        return results
