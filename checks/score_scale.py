"""The scale of the scores: a change that keeps every ranking but compresses, shifts or
stretches the scores (a dropped pooler, an activation applied twice, a normalisation) fails
even when it is uniform.

Each engine is compared with the run's reference on the pairs both scored; a run of one engine
(no reference to compare with) is compared with its last accepted run. Compared: the spread
(interquartile range ratio, folded so that compressing by 2 and stretching by 2 both read 2),
and the mean score of the top-rung pairs (ladder rank 1) and of the known-irrelevant pairs.
Scores of different kinds (a bi-encoder's cosine against a cross-encoder's probability) are
not compared.
"""

from __future__ import annotations

from typing import ClassVar

import great_expectations as gx
import numpy as np
import polars as pl

from rerankwatch.checks import base
from rerankwatch.checks.base import AT_MOST, CheckParams, Judge, SuiteInput, judged, row
from rerankwatch.core.records import SKIPPED, CheckResult

BOUNDED = ("sigmoid", "softmax", "cosine")  # scores on a fixed scale; "none": raw logits


class ExpectSpreadRatioWithin(gx.expectations.ExpectColumnMaxToBeBetween):
    """The score spread (IQR) ratio to the compared scores, folded, stays within bounds."""

    column: str = "spread_ratio"
    max_value: float = 1.25


class ExpectMeanShiftWithin(gx.expectations.ExpectColumnMaxToBeBetween):
    """The mean score of a group of pairs moves at most this much."""

    column: str = "mean_shift"
    max_value: float = 0.05


class Detail(base.Detail):
    """What a score_scale result's detail holds."""

    summary_fields = ("message", "reason")
    message: str | None = None
    compared_with: str | None = None  # "reference" | "accepted run <id>"
    pairs: int | None = None
    iqr: float | None = None
    iqr_other: float | None = None
    std_ratio: float | None = None
    mean: float | None = None
    mean_other: float | None = None
    unit: str | None = None  # "score" or "reference IQR" (raw logits)


class Params(CheckParams):
    max_spread_ratio: float = 1.25  # IQR ratio either way (fp16/bf16/onnx stay below 1.02)
    max_mean_shift: float = 0.05  # mean score of top-rung / known-irrelevant pairs; raw
    # logits ("none" activation): in units of the reference's IQR
    min_pairs: int = 4  # fewer pairs in a group: skipped


def iqr(values: np.ndarray) -> float:
    q1, q3 = np.quantile(values, [0.25, 0.75])
    return float(q3 - q1)


def fold(ratio: float) -> float:
    """A ratio as its distance from 1 either way: 0.5 and 2 both read 2."""
    if not np.isfinite(ratio) or ratio <= 0:
        return float("inf")
    return float(max(ratio, 1.0 / ratio))


class ScoreScale:
    name = "score_scale"
    Params = Params
    Detail = Detail
    needs_reference = True  # (a run of one engine: its reference is itself)
    measures: ClassVar[dict[str, str]] = {  # what each subject's observed value is
        "spread_ratio": "score spread (IQR) ratio to the reference, folded",
        "top_rung_mean": "|shift| of the mean top-rung score vs the reference",
        "irrelevant_mean": "|shift| of the mean known-irrelevant score vs the reference",
    }
    bounds: ClassVar[dict[str, str]] = {"*": AT_MOST}
    figure: ClassVar[str | None] = "scatter-{engine}"
    probes: ClassVar[dict[str, str]] = {}

    def run(self, data: SuiteInput, params: Params, judge: Judge) -> list[CheckResult]:
        results = []
        ok = data.ok_engines()
        for engine in ok:
            if engine != data.reference:
                if data.engine_info[engine]["activation"] != \
                        data.engine_info[data.reference]["activation"]:
                    results.append(row(self, params, engine, "spread_ratio", SKIPPED,
                                       other=data.reference, reason="scores of a different "
                                       "kind than the reference's: not on one scale"))
                    continue
                pairs = data.paired(engine, data.reference)
                results += self._compare(params, judge, engine, pairs, data.reference,
                                         "reference", data.engine_info[engine]["activation"])
            elif len(ok) == 1:  # no reference to compare with: the accepted history
                pairs, accepted = self._history_pairs(data, engine)
                if pairs is None:
                    results.append(row(self, params, engine, "spread_ratio", SKIPPED,
                                       reason="a single engine with no accepted run yet: "
                                              "nothing to compare its scale with"))
                    continue
                results += self._compare(params, judge, engine, pairs, None,
                                         f"accepted run {accepted}",
                                         data.engine_info[engine]["activation"])
        return results

    @staticmethod
    def _history_pairs(data: SuiteInput, engine: str) -> tuple[pl.DataFrame | None, str | None]:
        if data.baselines is None or data.baselines.is_empty():
            return None, None
        last = data.baselines.filter((pl.col("engine_name") == engine)
                                     & (pl.col("baseline") == "last"))
        if last.is_empty():
            return None, None
        run_id, source = last["baseline_run_id"][0], last["source_name"][0]
        pairs = data.versus_history(engine, run_id, source)
        return (pairs if pairs.height else None), run_id

    def _compare(self, params: Params, judge: Judge, engine: str, pairs: pl.DataFrame,
                 other: str | None, compared_with: str, activation: str) -> list[CheckResult]:
        score, ref = pairs["score"].to_numpy(), pairs["score_other"].to_numpy()
        iqr_now, iqr_ref = iqr(score), iqr(ref)
        ratio = fold(iqr_now / iqr_ref) if iqr_ref > 0 else (1.0 if iqr_now == 0 else np.inf)
        std_ref = float(np.std(ref))
        common = {"compared_with": compared_with, "pairs": pairs.height}
        spread = pl.DataFrame({"spread_ratio": [min(ratio, 1e9)]})
        success, _ = judge.validate(spread, ExpectSpreadRatioWithin(
            max_value=params.max_spread_ratio))
        results = [judged(
            self, params, engine, "spread_ratio", success, min(ratio, 1e9),
            params.max_spread_ratio, other=other, **common, iqr=iqr_now, iqr_other=iqr_ref,
            std_ratio=float(np.std(score)) / std_ref if std_ref > 0 else None,
            message=None if success else (
                f"scores {'compressed' if iqr_now < iqr_ref else 'stretched'} "
                f"{ratio:.3g}x against the {compared_with} (IQR {iqr_now:.4g} vs "
                f"{iqr_ref:.4g}), whatever the ranking"))]
        bounded = activation in BOUNDED
        unit = 1.0 if bounded or iqr_ref <= 0 else iqr_ref
        groups = (("top_rung_mean", pl.col("ladder_rank") == 1),
                  ("irrelevant_mean", pl.col("known_irrelevant")))
        for subject, where in groups:
            group = pairs.filter(where.fill_null(False))
            if group.height < params.min_pairs:
                results.append(row(self, params, engine, subject, SKIPPED, other=other,
                                   **common, reason=f"{group.height} such pairs (fewer than "
                                                    f"{params.min_pairs})"))
                continue
            mean, mean_ref = float(group["score"].mean()), float(group["score_other"].mean())
            shift = abs(mean - mean_ref) / unit
            frame = pl.DataFrame({"mean_shift": [shift]})
            success, _ = judge.validate(frame, ExpectMeanShiftWithin(
                max_value=params.max_mean_shift))
            what = "top-rung" if subject == "top_rung_mean" else "known-irrelevant"
            results.append(judged(
                self, params, engine, subject, success, shift, params.max_mean_shift,
                other=other, **{**common, "pairs": group.height}, mean=mean,
                mean_other=mean_ref, unit="score" if unit == 1.0 else "reference IQR",
                message=None if success else (
                    f"mean {what} score {mean:.4g} vs {mean_ref:.4g} for the "
                    f"{compared_with}: shifted by {shift:.3g}")))
        return results
