"""One self-contained HTML report per judged run: a summary in words, then checks, figures
and every result's details."""

from __future__ import annotations

import html
import json
from collections import Counter
from dataclasses import dataclass

import polars as pl
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from rerankwatch.core.controls import visible
from rerankwatch.core.errors import RerankwatchError
from rerankwatch.core.records import ERROR_VERDICT, NOT_JUDGED, STATUSES
from rerankwatch.report.details import explain
from rerankwatch.report.figures import (
    distribution_figure,
    figure_id,
    ladder_figure,
    order_figure,
    probes_figure,
    quality_figure,
    scatter_figure,
    to_png,
    trend_figure,
    truncation_figure,
)
from rerankwatch.report.summary import (
    NOT_JUDGED_LABEL,
    engine_error_line,
    findings,
    limit,
    number,
    pass_line,
    per_query_outcomes,
    warnings,
)
from rerankwatch.store import Store


@dataclass(frozen=True)
class ReportData:
    """Everything a report shows, read from the store (computing is kept apart from HTML)."""

    run_id: str
    run: dict
    verdicts: pl.DataFrame
    checks: pl.DataFrame
    scores: pl.DataFrame
    trend: pl.DataFrame
    engines: pl.DataFrame  # q_run_engine_status: each engine config, status and fingerprint
    probes: pl.DataFrame  # q_probe_scores: the re-scored pairs (swapped, reload, batches, spot)

    @property
    def reference(self) -> str:
        return json.loads(self.run["config"]).get("reference", "")


def stored_run(store: Store, run: str = "latest") -> tuple[str, dict]:
    """(run id, runs row) of ``run``: an id, or "latest" (the latest judged run)."""
    if run == "latest":
        latest = store.query("q_latest_run")
        if latest.is_empty():
            raise RerankwatchError("no judged run in this database yet (run `rerankwatch nightly`)")
        run = latest["run_id"][0]
    stored = store.run(run)
    if stored is None:
        raise RerankwatchError(f"no run {run!r} in {store.path}")
    return run, stored


def load_report_data(store: Store, run: str = "latest", nights: int = 14) -> ReportData:
    """Read one run's verdict, check results, scores and the agreement trend."""
    run, stored = stored_run(store, run)
    return ReportData(
        run_id=run, run=stored,
        # a resumed run is judged again: its latest judgement counts (one transaction each)
        verdicts=store.query("q_run_verdicts", run_id=run),
        checks=store.query("q_run_check_results", run_id=run),
        scores=store.query("q_run_scores", run_id=run),
        trend=store.query("q_agreement_trend", run_id=run, nights=nights),
        engines=store.query("q_run_engine_status", run_id=run),
        probes=store.query("q_probe_scores", run_id=run),
    )


def _esc(text) -> Markup:
    """Stored text as HTML: markup escaped, and control characters (ESC, NUL, which HTML
    cannot hold at all, a bidi override) shown as their escapes (``\\x1b``)."""
    return Markup(html.escape(visible(str(text), keep="\t\n\r")))


def _explain_detail(check: str, value) -> tuple[str, pl.DataFrame | None, str]:
    """(the check's own summary, its offending rows or None, the whole JSON) of a detail."""
    summary, rows = explain(check, value)
    try:
        whole = json.dumps(json.loads(value) if isinstance(value, str) else value, indent=2,
                           ensure_ascii=False)
    except (TypeError, ValueError):
        whole = str(value)
    return summary, pl.DataFrame(rows, infer_schema_length=None) if rows else None, whole


TEMPLATES = Environment(loader=PackageLoader("rerankwatch.report", "templates"),
                        autoescape=True, trim_blocks=True, lstrip_blocks=True,
                        undefined=StrictUndefined)
TEMPLATES.filters.update(esc=_esc, number=number)
TEMPLATES.globals["explain_detail"] = _explain_detail
_PARTS = TEMPLATES.get_template("parts.html.j2").module


def _img(figure, element_id: str, caption: str) -> Markup:
    """A figure inlined as PNG under an anchor the summary links to."""
    return _PARTS.figure(element_id, caption, to_png(figure))


def figures(data: ReportData, wanted: set[str]) -> dict[str, Markup]:
    """HTML of every figure the report shows, by id: the standard ones (each engine against
    the reference, distributions, ladders, the trend) and those a finding links to."""
    shown: dict[str, Markup] = {}
    scores, reference = data.scores, data.reference
    engines = sorted(set(scores["engine_name"]) - {reference})
    for engine in engines:
        shown[f"scatter-{engine}"] = _img(scatter_figure(scores, reference, engine),
                                          f"scatter-{engine}", f"{engine} vs {reference}")
    for element in sorted(wanted):
        kind, _, engine = element.partition("-")
        if element in shown or not engine:
            continue
        if kind == "order":
            figure = order_figure(scores, data.probes, reference, engine)
            caption = f"{engine}: argument order"
        elif kind == "probes":
            figure = probes_figure(scores, data.probes, data.checks, engine)
            caption = f"{engine}: re-scored pairs (reload, batches, spot check)"
        elif kind == "truncation":
            figure = truncation_figure(scores, reference, engine)
            caption = f"{engine}: |Δ score| by tokens"
        else:
            continue
        shown[element] = _img(figure, element, caption)
    shown["distribution"] = _img(distribution_figure(scores, data.checks), "distribution",
                                 "score distributions: known-irrelevant vs relevant pairs")
    for element, figure, caption in (
            ("ladders", ladder_figure(scores, reference), "relevance ladders (should fall)"),
            ("trend", trend_figure(data.trend), "agreement and history over recent runs"),
            ("quality", quality_figure(data.checks), "retrieval quality drops")):
        if figure is not None:
            shown[element] = _img(figure, element, caption)
    return shown


def _cell(column: str, value, check: str | None = None) -> Markup:
    """One table cell: a check's detail (``check``) as its summary, rows and JSON."""
    return _PARTS.cell(column, value, check)


def _table(frame: pl.DataFrame, class_column: str | None = None,
           check: str | None = None) -> Markup:
    """``frame`` as a table; ``class_column``: the column each row's CSS class comes from."""
    return _PARTS.table(frame, class_column, check)


KEPT = ("status", "detail")  # shown even when every row has the same value
ENGINE_COLUMNS = {"engine_name": "engine", "status": "status", "kind": "kind", "model": "model",
                  "dtype": "dtype", "device": "device", "pairs": "pairs", "host": "host",
                  "work_pool": "work pool", "worker": "worker", "flow_run_id": "flow run"}


def engine_rows(engines: pl.DataFrame) -> pl.DataFrame:
    """Each engine config: status, what it ran, and where it was scored (host, work pool,
    worker, flow run; columns no engine has are left out)."""
    shown = engines.select([c for c in ENGINE_COLUMNS if c in engines.columns])
    shown = shown.select([c for c in shown.columns
                          if c in ("engine_name", "status") or shown[c].null_count() < len(shown)])
    return shown.rename(ENGINE_COLUMNS, strict=False)


def check_rows(check: str, frame: pl.DataFrame) -> tuple[str, list[tuple[str, object]],
                                                          pl.DataFrame]:
    """One check's results as its section shows them: (its statuses counted, the columns
    that never vary with their one value, said once above the table instead of repeated on
    every row, the table), the threshold with its direction ("≤ 0.02")."""
    shown = frame.with_columns(
        pl.struct("subject", "threshold").map_elements(
            lambda r: limit(check, r["subject"], r["threshold"]), return_dtype=pl.String)
        .alias("must be")).drop("threshold", "check_name").rename({
            "engine_name": "engine", "other_engine_name": "vs"})
    shown = shown.select("engine", "vs", "subject", "status", "blocking", "observed", "must be",
                         "detail")
    constant = [c for c in shown.columns
                if c not in KEPT and shown.height > 1 and shown[c].n_unique() == 1]
    statuses = ", ".join(f"{n} {s}" for s, n in Counter(shown["status"]).most_common())
    return statuses, [(c, shown[c][0]) for c in constant], shown.drop(constant)


def render_html(data: ReportData) -> str:
    """The report page, self-contained (figures inlined as PNG): a plain-language summary
    first (each blocking failure in words, with links to its details and its figure; a clean
    run in one line, its details collapsed) and the per-query outcomes (queries improved,
    degraded, unchanged per engine and metric), then checks, figures and details
    (templates/report.html.j2)."""
    verdict = data.verdicts["verdict"][0] if data.verdicts.height else ERROR_VERDICT
    found = findings(data.checks)
    unscored = data.engines.filter(pl.col("status") != "succeeded")
    links = {f: figure_id(f.check, f.engine) for f in found}
    shown = figures(data, {link for link in links.values() if link})
    counts = (data.checks.group_by("check_name", maintain_order=True)
              .agg(*(pl.col("status").eq(s).sum().alias(s)
                     for s in STATUSES))
              .rename({NOT_JUDGED: NOT_JUDGED_LABEL}))
    clean = not found and not unscored.height
    return TEMPLATES.get_template("report.html.j2").render(
        run_id=data.run_id, flow_name=data.run["flow_name"], verdict=verdict,
        started=data.run["started_at"], status=data.run["status"], reference=data.reference,
        unscored=[engine_error_line(e["engine_name"], e["error"] or e["status"])
                  for e in unscored.iter_rows(named=True)],
        findings=[(f.line, f.check, links[f] if links[f] in shown else None) for f in found],
        summary=pass_line(data.scores, data.engines, data.reference) if clean else "",
        warnings=warnings(data.checks) if clean else [],
        per_query=[entry["line"] for entry in
                   per_query_outcomes(data.checks.iter_rows(named=True))],
        counts=counts, engine_rows=engine_rows(data.engines), figures=list(shown.values()),
        sections=[(check, *check_rows(check, frame)) for (check,), frame
                  in data.checks.group_by("check_name", maintain_order=True)])
