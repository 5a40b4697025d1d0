"""What every check shares: its input frames, its result rows and the GE judge."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar, Protocol

import polars as pl
from pydantic import BaseModel, ConfigDict

PASSED, FAILED, SKIPPED, ERROR = "passed", "failed", "skipped", "error"


class CheckParams(BaseModel):
    """Base for a check's thresholds; every check may be made non-blocking."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    blocking: bool = True


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One row of check_results: a check's verdict on one engine (pair) and subject."""

    check: str
    engine: str | None
    subject: str
    status: str
    blocking: bool
    observed: float | None = None
    threshold: float | None = None
    detail: dict = field(default_factory=dict)
    other_engine: str | None = None

    @property
    def blocks(self) -> bool:
        return self.blocking and self.status in (FAILED, ERROR)

    def detail_json(self) -> str:
        return json.dumps(self.detail, default=_jsonable, ensure_ascii=False)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)


@dataclass(frozen=True)
class SuiteInput:
    """The frames a suite reads, all from the store's views for one run."""

    run_id: str
    reference: str
    scores: pl.DataFrame  # v_run_scores: the main scores with pair and engine columns
    probes: pl.DataFrame  # v_probe_scores: reload / swapped re-scores
    engines: pl.DataFrame  # v_run_engine_status: one row per engine config in the run

    @cached_property
    def engine_info(self) -> dict[str, dict]:
        return {row["engine_name"]: row for row in self.engines.iter_rows(named=True)}

    def ok_engines(self) -> list[str]:
        return [n for n, row in self.engine_info.items() if row["status"] == "succeeded"]

    def engine_scores(self, name: str) -> pl.DataFrame:
        return self.scores.filter(pl.col("engine_name") == name)

    def is_cross_encoder(self, name: str) -> bool:
        return self.engine_info[name]["activation"] != "cosine"

    def paired(self, name: str, other: str, column: str = "score") -> pl.DataFrame:
        """Scores of two engines joined on pair_id: ``<column>`` and ``<column>_other``."""
        left = self.engine_scores(name)
        right = self.engine_scores(other).select("pair_id", "score", "logit")
        return left.join(right, on="pair_id", suffix="_other")


def finite(value: Any) -> float | None:
    """A JSON/DB-safe float: None for missing, NaN stays out of thresholds."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


class Judge:
    """Runs Great Expectations expectations on polars frames (handed over as pandas)."""

    def __init__(self) -> None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        source = context.data_sources.add_pandas("rerankwatch")
        self._batches = source.add_dataframe_asset("frame").add_batch_definition_whole_dataframe(
            "whole")

    def validate(self, frame: pl.DataFrame, expectation) -> tuple[bool, dict]:
        """(success, GE result dict) of one expectation on one frame."""
        batch = self._batches.get_batch(batch_parameters={"dataframe": frame.to_pandas()})
        result = batch.validate(expectation, result_format="COMPLETE")
        if result.exception_info and result.exception_info.get("raised_exception"):
            raise RuntimeError(result.exception_info.get("exception_message"))
        return bool(result.success), dict(result.result)


class Check(Protocol):
    """A check: named, with thresholds, producing result rows from a SuiteInput."""

    name: ClassVar[str]
    Params: ClassVar[type[CheckParams]]
    needs_reference: ClassVar[bool]

    def run(self, data: SuiteInput, params: CheckParams, judge: Judge) -> list[CheckResult]: ...


def row(check: Check, params: CheckParams, engine: str | None, subject: str, status: str,
        observed: Any = None, threshold: Any = None, other: str | None = None,
        **detail: Any) -> CheckResult:
    """Build a CheckResult for ``check`` with its blocking flag."""
    return CheckResult(check.name, engine, subject, status, params.blocking, finite(observed),
                       finite(threshold), detail, other)


def judged(check: Check, params: CheckParams, engine: str | None, subject: str,
           success: bool, observed: Any, threshold: Any, other: str | None = None,
           **detail: Any) -> CheckResult:
    return row(check, params, engine, subject, PASSED if success else FAILED, observed,
               threshold, other, **detail)


def worst(frame: pl.DataFrame, by: str, columns: list[str], n: int = 5,
          descending: bool = True) -> list[dict]:
    """The ``n`` worst rows of ``frame`` by ``by``, as dicts for a JSON detail."""
    return frame.sort(by, descending=descending).head(n).select(columns).to_dicts()
