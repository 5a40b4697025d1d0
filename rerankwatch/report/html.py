"""One self-contained HTML report per judged run: a summary in words, then checks, figures
and every result's details."""

from __future__ import annotations

import html
import json
from collections import Counter
from dataclasses import dataclass

import polars as pl

from rerankwatch.core.controls import visible
from rerankwatch.core.errors import RerankwatchError
from rerankwatch.core.records import NOT_JUDGED, STATUSES
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


def _esc(text: str) -> str:
    """Stored text as HTML: markup escaped, and control characters (ESC, NUL, which HTML
    cannot hold at all, a bidi override) shown as their escapes (``\\x1b``)."""
    return html.escape(visible(text, keep="\t\n\r"))


def _img(figure, element_id: str, caption: str) -> str:
    """A figure inlined as PNG under an anchor the summary links to."""
    png = to_png(figure)
    return (f'<figure id="{element_id}"><img alt="{_esc(caption)}" '
            f'src="data:image/png;base64,{png}"><figcaption>{_esc(caption)}'
            f"</figcaption></figure>")


def figures(data: ReportData, wanted: set[str]) -> dict[str, str]:
    """HTML of every figure the report shows, by id: the standard ones (each engine against
    the reference, distributions, ladders, the trend) and those a finding links to."""
    shown: dict[str, str] = {}
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


def _detail(check: str, value) -> str:
    """The check's own summary, then its offending rows as a table and the whole JSON."""
    summary, rows = explain(check, value)
    table = _table(pl.DataFrame(rows, infer_schema_length=None)) if rows else ""
    try:
        whole = json.dumps(json.loads(value) if isinstance(value, str) else value, indent=2,
                           ensure_ascii=False)
    except (TypeError, ValueError):
        whole = str(value)
    return (f"<details><summary>{_esc(summary) or 'detail'}</summary>{table}"
            f"<pre>{_esc(whole)}</pre></details>")


def _cell(column: str, value, check: str | None = None) -> str:
    if value is None:
        return ""
    if column == "detail" and check:
        return _detail(check, value)
    if isinstance(value, float):
        return number(value)
    return _esc(str(value))


def _table(frame: pl.DataFrame, row_class=None, check: str | None = None) -> str:
    head = "".join(f"<th>{_esc(c)}</th>" for c in frame.columns)
    body = []
    for row in frame.iter_rows(named=True):
        css = f' class="{row_class(row)}"' if row_class else ""
        cells = "".join(f"<td>{_cell(c, v, check)}</td>" for c, v in row.items())
        body.append(f"<tr{css}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


KEPT = ("status", "detail")  # shown even when every row has the same value
ENGINE_COLUMNS = {"engine_name": "engine", "status": "status", "kind": "kind", "model": "model",
                  "dtype": "dtype", "device": "device", "pairs": "pairs", "host": "host",
                  "work_pool": "work pool", "worker": "worker", "flow_run_id": "flow run"}


def engines_table(engines: pl.DataFrame) -> str:
    """Each engine config: status, what it ran, and where it was scored (host, work pool,
    worker, flow run; columns no engine has are left out)."""
    shown = engines.select([c for c in ENGINE_COLUMNS if c in engines.columns])
    shown = shown.select([c for c in shown.columns
                          if c in ("engine_name", "status") or shown[c].null_count() < len(shown)])
    return f'<div id="engines">{_table(shown.rename(ENGINE_COLUMNS, strict=False))}</div>'


def check_section(check: str, frame: pl.DataFrame) -> str:
    """One check's results: the threshold with its direction ("≤ 0.02"), columns that never
    vary said once above the table instead of repeated on every row."""
    shown = frame.with_columns(
        pl.struct("subject", "threshold").map_elements(
            lambda r: limit(check, r["subject"], r["threshold"]), return_dtype=pl.String)
        .alias("must be")).drop("threshold", "check_name").rename({
            "engine_name": "engine", "other_engine_name": "vs"})
    shown = shown.select("engine", "vs", "subject", "status", "blocking", "observed", "must be",
                         "detail")
    constant = [c for c in shown.columns
                if c not in KEPT and shown.height > 1 and shown[c].n_unique() == 1]
    said = ", ".join(f"{c}: {_cell(c, shown[c][0]) or '—'}" for c in constant)
    statuses = ", ".join(f"{n} {s}" for s, n in Counter(shown["status"]).most_common())
    return (f'<section id="check-{check}"><h3>{check}</h3><p class="meta">{statuses}'
            + (f"; every row: {said}" if said else "") + "</p>"
            + _table(shown.drop(constant), lambda r: r["status"], check) + "</section>")


STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:80em}
table{border-collapse:collapse;font-size:13px;margin:.6em 0}
td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top}
tr.failed td,tr.error td{background:#fde2e2}tr.skipped td{color:#777}
tr.not_judged td{background:#fff4d6}
pre{white-space:pre-wrap;max-width:60em;font-size:12px}
figure{display:inline-block;margin:.4em;vertical-align:top}figure img{max-width:100%}
figcaption{font-size:12px;color:#555}.meta{color:#555;font-size:14px}
.verdict{font-size:28px;font-weight:bold;margin:.2em 0}.PASS{color:#1a7f37}
.BLOCKED,.FAILED{color:#c62828}.ERROR{color:#a15c00}#summary{font-size:16px}
#failing li{margin:.4em 0}details>summary{cursor:pointer}"""


def render_html(data: ReportData) -> str:
    """The report page, self-contained (figures inlined as PNG): a plain-language summary
    first (each blocking failure in words, with links to its details and its figure; a clean
    run in one line, its details collapsed) and the per-query outcomes (queries improved,
    degraded, unchanged per engine and metric), then checks, figures and details."""
    verdict = data.verdicts["verdict"][0] if data.verdicts.height else "ERROR"
    found = findings(data.checks)
    unscored = data.engines.filter(pl.col("status") != "succeeded")
    links = {f: figure_id(f.check, f.engine) for f in found}
    shown = figures(data, {link for link in links.values() if link})
    counts = (data.checks.group_by("check_name", maintain_order=True)
              .agg(*(pl.col("status").eq(s).sum().alias(s)
                     for s in STATUSES))
              .rename({NOT_JUDGED: NOT_JUDGED_LABEL}))
    parts = [f"<h1>rerankwatch: {_esc(data.run['flow_name'])} run "
             f"{_esc(data.run_id)}</h1>",
             f'<p class="verdict {verdict}" id="verdict">{verdict}</p>',
             f'<p class="meta">started {data.run["started_at"]:%Y-%m-%d %H:%M %Z}, scoring '
             f"{_esc(data.run['status'])}, reference <b>{_esc(data.reference)}"
             f"</b></p>"]
    if unscored.height:  # first: why the run could not be (wholly) judged, once per engine
        items = "".join(
            f"<li>{_esc(engine_error_line(e['engine_name'], e['error'] or e['status']))}"
            "</li>" for e in unscored.iter_rows(named=True))
        parts.append(f'<h2>Could not be judged</h2><ul id="not-judged">{items}</ul>')
    if found:
        items = []
        for finding in found:
            target = links[finding]
            plot = (f', <a href="#{target}">plot</a>' if target in shown else "")
            items.append(f'<li class="finding">{_esc(finding.line)} (<a href='
                         f'"#check-{finding.check}">details</a>{plot})</li>')
        parts.append(f'<h2>Why it is {verdict}</h2><ul id="failing">{"".join(items)}</ul>')
    elif not unscored.height:
        line = pass_line(data.scores, data.engines, data.reference)
        parts.append(f'<p id="summary">{_esc(line)}</p>')
        if quiet := warnings(data.checks):
            parts.append(f'<p class="meta" id="warnings">not blocking (made so in the config), '
                         f'failed: {", ".join(quiet)}; see the details below</p>')
    if per_query := per_query_outcomes(data.checks.iter_rows(named=True)):
        items = "".join(f"<li>{_esc(entry['line'])}</li>" for entry in per_query)
        parts.append(f'<h2>Per-query outcomes</h2><ul id="per-query">{items}</ul>')
    body = ["<h2>Checks</h2>", _table(counts), "<h2>Engines</h2>", engines_table(data.engines),
            "<h2>Figures</h2>", *shown.values(), "<h2>Check details</h2>"]
    for (check,), frame in data.checks.group_by("check_name", maintain_order=True):
        body.append(check_section(check, frame))
    if found or unscored.height:
        parts += body
    else:  # a clean run: one line above, everything else one click away
        parts.append('<details id="details"><summary>checks, figures and details</summary>'
                     + "\n".join(body) + "</details>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>rerankwatch "
            f"{_esc(data.run_id)}</title><style>{STYLE}</style></head><body>"
            + "\n".join(parts) + "</body></html>")

