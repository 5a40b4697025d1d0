"""A pair's score does not depend on what else is in its batch (reference-free).

A probe of pairs spread over the set's lengths is scored again one pair per call (``single``),
in a shuffled order (``shuffled``) and in batches mixed with the set's longest pairs
(``mixed``); each must match the main scores within the tolerance of the engine's precision.
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

VARIANTS = ("single", "shuffled", "mixed")
HINTS = {
    "single": "a pair scored alone differs from the same pair in its batch: padding is not "
              "masked (attention mask dropped on padded batches), or scores are normalised "
              "across the documents of a request",
    "shuffled": "the same pairs in another order score differently: results are mapped by "
                "position instead of by index, or normalised across a request",
    "mixed": "short pairs batched with long ones score differently: the attention mask is "
             "dropped on padded batches, or scores are normalised across a request",
}


class ExpectBatchInvariant(gx.expectations.ExpectColumnMaxToBeBetween):
    """|score in other company - main score| stays within tolerance on every probed pair."""

    column: str = "abs_delta"
    max_value: float = 1e-3


class Detail(base.Detail):
    """What a batch_invariance result's detail holds."""

    summary_fields = ("hint", "reason")
    rows_field = "worst_pairs"
    hint: str | None = None
    pairs: int | None = None
    worst_pairs: Rows = []


class Params(PrecisionTolerances):
    # batch composition alone moves a float32 score by < 1e-6 on CPU (and by ~1e-4 with GPU
    # kernels that pick other algorithms per shape); half precisions by a few 1e-3; onnx
    # dynamic int8 quantizes activations per batch, so its scores depend on their company by
    # design (up to 0.245, median 0.09, measured on the demo cross-encoder)
    float32: float = 1e-3
    float16: float = 1e-2
    bfloat16: float = 3e-2
    int8: float = 0.3


class BatchInvariance:
    name = "batch_invariance"
    Params = Params
    Detail = Detail
    needs_reference = False
    measures: ClassVar[dict[str, str]] = {  # what each subject's observed value is
        "single": "max |Δ score| scored alone (batch of one)",
        "shuffled": "max |Δ score| in a shuffled batch",
        "mixed": "max |Δ score| batched with long pairs",
    }
    bounds: ClassVar[dict[str, str]] = {"*": AT_MOST}
    figure: ClassVar[str | None] = "probes-{engine}"
    probes: ClassVar[dict[str, str]] = {variant: variant for variant in VARIANTS}

    def run(self, data: SuiteInput, params: Params, judge: Judge) -> list[CheckResult]:
        results = []
        for engine in data.ok_engines():
            probes = data.probes.filter(pl.col("engine_name") == engine)
            main = data.engine_scores(engine).select("pair_id", "score")
            tolerance = params.tolerance(data.engine_info[engine]["dtype"])
            for variant in VARIANTS:
                again = probes.filter(pl.col("variant") == variant)
                if again.is_empty():
                    results.append(row(self, params, engine, variant, SKIPPED,
                                       reason=f"no {variant} probe was scored for this engine"))
                    continue
                pairs = probe_deltas(main, again, variant)
                success, _ = judge.validate(pairs, ExpectBatchInvariant(max_value=tolerance))
                results.append(judged(
                    self, params, engine, variant, success, pairs["abs_delta"].max(),
                    tolerance, pairs=pairs.height, hint=None if success else HINTS[variant],
                    worst_pairs=worst(pairs, "abs_delta",
                                      ["pair_id", "score", f"score_{variant}"])))
        return results
