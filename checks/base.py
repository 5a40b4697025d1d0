"""What every check shares: its input frames, its result rows and the GE judge."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar, Protocol

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict

# a check's vocabulary, re-exported from the records every layer shares
from rerankwatch.core.records import (
    ERROR as ERROR,
    FAILED as FAILED,
    PASSED as PASSED,
    SKIPPED as SKIPPED,
    UNDECLARED_PRECISION as UNDECLARED_PRECISION,
    CheckResult as CheckResult,
)

PAIRED_BLOCK_COLUMNS = ["score", "score_other", "logit", "logit_other", "label"]
PAIRED_COLUMNS = ("score", "logit", "tokens")  # what paired() puts beside the other engine's


Rows = list[dict[str, Any]]


class Detail(BaseModel):
    """What a check's result detail holds. Each check declares its own subclass (its fields,
    typed), and every view renders any check's detail from that declaration alone: the first
    non-empty of ``summary_fields`` is the one-line reason, ``rows_field`` the table of
    offending rows. A check that writes an undeclared key fails (extra fields are forbidden)."""

    model_config = ConfigDict(extra="forbid")
    summary_fields: ClassVar[tuple[str, ...]] = ("message", "hint", "reason")
    rows_field: ClassVar[str | None] = None
    reason: str | None = None  # why a row was skipped or errored

    def summary(self) -> str:
        """One line: the first non-empty summary field, else the first offending row."""
        for name in self.summary_fields:
            value = getattr(self, name, None)
            if value:
                return str(value)
        rows = self.rows()
        return f"{self.rows_field}: {rows[0]}" if rows else ""

    def rows(self) -> Rows:
        """The offending rows this detail lists (empty when it lists none)."""
        return list(getattr(self, self.rows_field) or []) if self.rows_field else []


class CheckParams(BaseModel):
    """Base for a check's thresholds; every check may be made non-blocking."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    blocking: bool = True


# The precisions an engine config can declare; "unknown" is an engine behind a server that did
# not declare one (an http-* engine without ``precision``): it gets the loosest tolerance.
FLOAT_PRECISIONS = ("float32", "float16", "bfloat16")


class PrecisionTolerances(CheckParams):
    """The noise model of a check that compares two scorings of the same pairs: one tolerance
    per precision an engine computes in (the fields), and for two engines the looser of theirs.

    What each precision must allow is the call-to-call noise of its arithmetic: GPU kernels
    (other reduction orders, split-K matmuls, atomics) and served engines (dynamic batching,
    vLLM #27433) move a logit by about one unit in the last place (ulp) of the model's
    precision between two calls. Through a sigmoid, ±1 ulp of logit on each of two calls moves
    a score by at most (measured over logits in [-20, 20], steepest near |logit| = 2):
    bfloat16 3.2e-3, float16 4.1e-4, float32 5.0e-8 (``tests/unit/checks/test_noise_model.py``
    recomputes them). An engine that declares no precision (``UNDECLARED_PRECISION``) gets the
    loosest float tolerance. Tighten a field for a deterministic setup (CPU, or vLLM's
    batch-invariant mode ``VLLM_BATCH_INVARIANT=1``): docs/checks.md, "Noise and precision"."""

    float32: float
    float16: float
    bfloat16: float
    int8: float

    def tolerance(self, *precisions: str) -> float:
        """The loosest tolerance of ``precisions`` (an unknown or undeclared one: the loosest
        float precision's)."""
        loosest = max(getattr(self, p) for p in FLOAT_PRECISIONS)
        return max(getattr(self, p) if p in (*FLOAT_PRECISIONS, "int8") else loosest
                   for p in precisions)


def probe_deltas(main: pl.DataFrame, probe: pl.DataFrame, name: str,
                 keep: tuple[str, ...] = ()) -> pl.DataFrame:
    """``main`` (pair_id, score, ...) joined on pair_id with ``probe``'s score as ``score_<name>``
    (and its ``keep`` columns), with ``abs_delta`` = |score - score_<name>|: how two scorings of
    the same pairs differ, for every check that compares them."""
    return main.join(probe.select("pair_id", pl.col("score").alias(f"score_{name}"), *keep),
                     on="pair_id").with_columns(
        (pl.col("score") - pl.col(f"score_{name}")).abs().alias("abs_delta"))


@dataclass(frozen=True)
class SuiteInput:
    """The frames a suite reads, all from the store's views for one run."""

    run_id: str
    reference: str
    scores: pl.DataFrame  # v_run_scores: the main scores with the pair columns checks read
    # v_probe_scores' re-scores of the run (repeat, reload, swapped, batch variants, spot):
    # engine_name, pair_id, variant, logit, score, copied_from
    probes: pl.DataFrame
    engines: pl.DataFrame  # v_run_engine_status: one row per engine config in the run
    # q_history_baselines: per engine, the accepted runs it is held to ("last", "pinned")
    baselines: pl.DataFrame | None = None
    history: pl.DataFrame | None = None  # q_history_scores: those runs' main scores
    # q_token_samples: ids and token strings of the sampled pairs, this run's and those runs'
    token_samples: pl.DataFrame | None = None
    suite: str = "nightly"
    _paired: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    _locks: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    _lock: Any = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def _once(self, key: tuple, compute) -> Any:
        """``compute()``, kept under ``key``: computed once however many check threads ask at
        the same time (two copies of 10 M paired rows at once cost a suite its memory bound,
        issue 31)."""
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._paired:
                self._paired[key] = compute()
        return self._paired[key]

    @cached_property
    def engine_info(self) -> dict[str, dict]:
        return {row["engine_name"]: row for row in self.engines.iter_rows(named=True)}

    @cached_property
    def _by_engine(self) -> dict[str, pl.DataFrame]:
        runs = self.scores.select(pl.col("engine_name").rle()).unnest("engine_name")
        if runs["value"].is_unique().all():  # engine after engine (as stored): slices, no copy
            starts = [0, *runs["len"].cum_sum()]
            return {name: self.scores.slice(start, length) for name, start, length
                    in zip(runs["value"], starts, runs["len"], strict=False)}
        split = self.scores.partition_by("engine_name", as_dict=True, maintain_order=True)
        return {name: frame for (name,), frame in split.items()}

    def ok_engines(self) -> list[str]:
        return [n for n, row in self.engine_info.items() if row["status"] == "succeeded"]

    def engine_scores(self, name: str) -> pl.DataFrame:
        return self._by_engine.get(name, self.scores.clear())

    def is_cross_encoder(self, name: str) -> bool:
        return self.engine_info[name]["activation"] != "cosine"

    def paired(self, name: str, other: str) -> pl.DataFrame:
        """Scores of two engines joined on pair_id: ``score``, ``logit`` and ``tokens``, and
        the other engine's as ``score_other``, ``logit_other``, ``tokens_other``.

        Computed once per engine pair; scores of the same pairs in the same order (the usual
        case: both engines scored the same sets) are put side by side without a join."""
        def compute() -> pl.DataFrame:
            left, right = self.engine_scores(name), self.engine_scores(other)
            columns = [c for c in PAIRED_COLUMNS if c in right.columns]
            if left["pair_id"].equals(right["pair_id"]):
                return left.with_columns(right.select(columns).rename(
                    {c: f"{c}_other" for c in columns}))
            return left.join(right.select("pair_id", *columns), on="pair_id", suffix="_other")

        return self._once((name, other), compute)

    def paired_blocks(self, name: str, other: str) -> list[tuple[pl.DataFrame, dict]]:
        """``paired(name, other)`` as query_blocks of PAIRED_BLOCK_COLUMNS, computed once."""
        def compute() -> list[tuple[pl.DataFrame, dict]]:
            frame = self.paired(name, other)
            return query_blocks(frame, PAIRED_BLOCK_COLUMNS, self.layout(frame))

        return self._once((name, other, "blocks"), compute)

    def layout(self, frame: pl.DataFrame) -> QueryLayout:
        """``frame``'s QueryLayout: the last one computed when it fits (engines that scored the
        same pairs in the same order share one), else a new one."""
        layout = self._paired.get("layout")
        if layout is None or not layout.fits(frame):
            layout = self._paired["layout"] = QueryLayout.of(frame)
        return layout

    @cached_property
    def _history_parts(self) -> dict[tuple[str, str], pl.DataFrame]:
        if self.history is None or self.history.is_empty():
            return {}
        keys = ["baseline_run_id", "source_name"]
        runs = self.history.select(pl.struct(keys).rle()).unnest(keys[0]).unnest("value")
        if runs.select(pl.struct(keys).is_unique().all()).item():  # stored as read: slices
            starts = [0, *runs["len"].cum_sum()]
            return {(run, source): self.history.slice(start, length) for run, source, start, length
                    in zip(runs[keys[0]], runs[keys[1]], starts, runs["len"], strict=False)}
        return self.history.partition_by(keys, as_dict=True, maintain_order=True)

    def history_scores(self, run_id: str, source: str) -> pl.DataFrame:
        """The main scores (q_history_scores' rows) of ``source`` in the accepted run
        ``run_id``; empty when the history holds none."""
        found = self._history_parts.get((run_id, source))
        if found is not None:
            return found
        return self.history.clear() if self.history is not None else pl.DataFrame(
            schema={"baseline_run_id": pl.String, "source_name": pl.String,
                    "pair_id": pl.String, "score": pl.Float64, "logit": pl.Float64})

    def versus_history(self, name: str, run_id: str, source: str) -> pl.DataFrame:
        """``name``'s scores of the pairs it scored tonight and ``source`` scored in the
        accepted run ``run_id``, with that run's ``score_other`` and ``logit_other``; computed
        once (history_baseline and score_scale both read the last accepted run)."""
        def compute() -> pl.DataFrame:
            mine = self.engine_scores(name)
            then = self.history_scores(run_id, source).select(
                "pair_id", pl.col("score").alias("score_other"),
                pl.col("logit").alias("logit_other"))
            if mine["pair_id"].equals(then["pair_id"]):  # the same pairs in the same order
                return mine.with_columns(then.drop("pair_id"))
            return mine.join(then, on="pair_id")

        return self._once(("history", name, run_id, source), compute)


@dataclass(frozen=True)
class QueryLayout:
    """Where each query's rows sit in a frame: queries sorted by size, rows in frame order."""

    set_ids: pl.Series  # the frame's own key columns, to tell whether it fits another frame
    query_ids: pl.Series
    keys: pl.DataFrame  # (set_id, query_id) of each query, in layout order
    rows: np.ndarray  # the frame's row indices, query after query
    sizes: np.ndarray  # rows per query
    in_place: bool = False  # rows are 0, 1, 2, ...: the frame's columns need no gather

    @classmethod
    def of(cls, frame: pl.DataFrame) -> QueryLayout:
        """``frame``'s layout. Where each query's rows sit one after another (as a store
        reads them), from where the keys change: no group_by over every row (at 10 M rows
        that took 1.5 s and 0.8 GiB for a moment, issue 31); else grouped."""
        return cls._of_runs(frame) or cls._grouped(frame)

    @classmethod
    def _of_runs(cls, frame: pl.DataFrame) -> QueryLayout | None:
        """The layout from the runs of equal (set_id, query_id) keys; None when a query's
        rows are split over two runs or more."""
        n = frame.height
        changed = None
        for column in ("set_id", "query_id"):
            values = frame[column]
            differs = values.slice(1).ne_missing(values.slice(0, max(n - 1, 0)))
            changed = differs if changed is None else changed | differs
        starts = np.r_[np.zeros(min(n, 1), np.int64), changed.arg_true().to_numpy() + 1]
        keys = frame.select("set_id", "query_id")[starts]
        if keys.is_duplicated().any():
            return None
        runs = np.diff(np.r_[starts, n]).astype(np.uint32)
        order = np.argsort(runs, kind="stable")  # by size, in frame order within one size
        sizes = runs[order]
        if (order == np.arange(len(order))).all():  # already by size: the rows as they are
            rows = np.arange(n, dtype=np.uint32 if n < 2**32 else np.int64)
            return cls(frame["set_id"], frame["query_id"], keys, rows, sizes, bool(n))
        rows = (np.repeat(starts[order] - np.r_[0, np.cumsum(sizes)[:-1]], sizes)
                + np.arange(n)).astype(np.uint32 if n < 2**32 else np.int64)
        return cls(frame["set_id"], frame["query_id"], keys[order], rows, sizes, False)

    @classmethod
    def _grouped(cls, frame: pl.DataFrame) -> QueryLayout:
        grouped = (frame.select("set_id", "query_id").with_row_index("_row")
                   .group_by("set_id", "query_id", maintain_order=True)
                   .agg("_row", _size=pl.len())
                   .sort("_size", maintain_order=True))
        rows = grouped["_row"].explode().to_numpy()
        return cls(frame["set_id"], frame["query_id"], grouped.select("set_id", "query_id"),
                   rows, grouped["_size"].to_numpy(),
                   bool(len(rows) and rows[0] == 0 and (np.diff(rows) == 1).all()))

    def fits(self, frame: pl.DataFrame) -> bool:
        return frame["query_id"].equals(self.query_ids) and frame["set_id"].equals(self.set_ids)


def query_blocks(frame: pl.DataFrame, columns: list[str], layout: QueryLayout | None = None
                 ) -> list[tuple[pl.DataFrame, dict[str, np.ndarray]]]:
    """The queries of ``frame`` stacked by size, for vectorized per-query statistics.

    One item per query size k: the (set_id, query_id) keys of its G queries and each of
    ``columns`` as a float [G, k] matrix whose rows keep the frame's order within a query
    (views of the frame's columns when its queries already sit one after another)."""
    layout = layout or QueryLayout.of(frame)
    values = {c: frame[c].cast(pl.Float64).to_numpy() for c in columns}
    if not layout.in_place:
        values = {c: v[layout.rows] for c, v in values.items()}
    sizes = layout.sizes
    if not len(sizes):
        return []
    starts = np.flatnonzero(np.r_[True, sizes[1:] != sizes[:-1]])
    offsets = np.r_[0, np.cumsum(sizes)]
    blocks = []
    for first, last in zip(starts, np.r_[starts[1:], len(sizes)], strict=True):
        k, lo, hi = int(sizes[first]), offsets[first], offsets[last]
        blocks.append((layout.keys.slice(first, last - first),
                       {c: v[lo:hi].reshape(-1, k) for c, v in values.items()}))
    return blocks


def finite(value: Any) -> float | None:
    """A JSON/DB-safe float: None for missing, NaN stays out of thresholds."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


class Judge:
    """Runs Great Expectations expectations on polars frames (handed over as pandas).

    Checks hand over small frames (per-query or one-row aggregates); only the columns an
    expectation reads cross over to pandas."""

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
        column = getattr(expectation, "column", None)
        if column in frame.columns and not getattr(expectation, "row_condition", None):
            frame = frame.select(column)  # list and text columns are slow to hand over
        batch = self._batches.get_batch(batch_parameters={"dataframe": frame.to_pandas()})
        result = batch.validate(expectation, result_format="SUMMARY")
        if result.exception_info and result.exception_info.get("raised_exception"):
            raise RuntimeError(result.exception_info.get("exception_message"))
        return bool(result.success), dict(result.result)


# Which side of its threshold a result's ``observed`` value must stay on, per subject, as each
# check declares in its ``bounds`` ClassVar: AT_MOST (higher is worse: a delta, a share, a
# ceiling), AT_LEAST (a Kendall τ, an overlap) or EXACTLY (a count).
AT_MOST, AT_LEAST, EXACTLY = "at_most", "at_least", "exactly"
BOUNDS = (AT_MOST, AT_LEAST, EXACTLY)


class Check(Protocol):
    """A check: named, with thresholds, producing result rows from a SuiteInput, and what the
    report says about its results (every view reads these declarations, never a table of its
    own):

    - ``measures``: what each subject's observed value is, in words ("*": every subject not
      named, its set named after it: "highest score of a known-irrelevant pair in golden_en");
    - ``bounds``: per subject, which side of its threshold the observed value must stay on
      (AT_MOST, AT_LEAST or EXACTLY); "*" is every subject not named, so every check has one;
    - ``figure``: the id of the report figure its results are read on, ``{engine}`` filled in
      with the result's engine for a figure per engine (None: no figure shows them);
    - ``probes``: the probe variants it judges (re-scored pairs: reload, single, …), each with
      the subject of its result rows that judges it ({}: none); the probes figure labels each
      variant with its check and draws that result's threshold."""

    name: ClassVar[str]
    Params: ClassVar[type[CheckParams]]
    Detail: ClassVar[type[Detail]]
    needs_reference: ClassVar[bool]
    measures: ClassVar[dict[str, str]]
    bounds: ClassVar[dict[str, str]]
    figure: ClassVar[str | None]
    probes: ClassVar[dict[str, str]]

    def run(self, data: SuiteInput, params: CheckParams, judge: Judge) -> list[CheckResult]: ...


def bound(check: Check | type, subject: str) -> str:
    """AT_MOST, AT_LEAST or EXACTLY: where ``check``'s ``subject`` must stay (vs its threshold)."""
    return check.bounds.get(subject, check.bounds["*"])


def row(check: Check, params: CheckParams, engine: str | None, subject: str, status: str,
        observed: Any = None, threshold: Any = None, other: str | None = None,
        **detail: Any) -> CheckResult:
    """Build a CheckResult for ``check`` with its blocking flag; ``detail`` must fit the
    check's declared Detail."""
    check.Detail.model_validate(detail)  # an undeclared or mistyped key is the check's bug
    return CheckResult(check.name, engine, subject, status, params.blocking, finite(observed),
                       finite(threshold), detail, other)


def judged(check: Check, params: CheckParams, engine: str | None, subject: str,
           success: bool, observed: Any, threshold: Any, other: str | None = None,
           **detail: Any) -> CheckResult:
    return row(check, params, engine, subject, PASSED if success else FAILED, observed,
               threshold, other, **detail)


def worst(frame: pl.DataFrame, by: str, columns: list[str], n: int = 5,
          descending: bool = True) -> list[dict]:
    """The ``n`` worst rows of ``frame`` by ``by``, as dicts for a JSON detail (found on the
    one column, then only those rows gathered: frames of millions of rows stay where they are)."""
    ranked = frame.select(by).with_row_index("_row")
    top = ranked.top_k(n, by=by) if descending else ranked.bottom_k(n, by=by)
    return frame[top["_row"]].sort(by, descending=descending).select(columns).to_dicts()
