"""One self-contained HTML report per judged run: verdict, check table and plots."""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from rerankwatch.core.errors import RerankwatchError
from rerankwatch.report.details import explain
from rerankwatch.store import Store, open_store, reader_wait_s


@dataclass(frozen=True)
class ReportData:
    """Everything a report shows, read from the store (computing is kept apart from HTML)."""

    run_id: str
    run: dict
    verdicts: pl.DataFrame
    checks: pl.DataFrame
    scores: pl.DataFrame
    trend: pl.DataFrame

    @property
    def reference(self) -> str:
        return json.loads(self.run["config"]).get("reference", "")


def load_report_data(store: Store, run: str = "latest", nights: int = 14) -> ReportData:
    """Read one run's verdict, check results, scores and the agreement trend."""
    if run == "latest":
        latest = store.query("q_latest_run")
        if latest.is_empty():
            raise RerankwatchError("no judged run in this database yet (run `rerankwatch nightly`)")
        run = latest["run_id"][0]
    stored = store.run(run)
    if stored is None:
        raise RerankwatchError(f"no run {run!r} in {store.path}")
    return ReportData(
        run_id=run, run=stored,
        # a resumed run is judged again: its latest judgement counts (one transaction each)
        verdicts=store.query("q_run_verdicts", run_id=run),
        checks=store.query("q_run_check_results", run_id=run),
        scores=store.query("q_run_scores", run_id=run),
        trend=store.query("q_agreement_trend", run_id=run, nights=nights),
    )


MAX_LADDERS = 12


def _png(figure) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def _grid(count: int, width: float = 3.4, height: float = 3.0):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = max(1, min(count, 4))  # no engine scored (all failed): one empty panel
    rows = max(1, -(-count // cols))
    figure, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.flat[count:]:
        ax.axis("off")
    return figure, list(axes.flat)


def scatter_plots(data: ReportData) -> dict[str, str]:
    """Engine vs reference score per engine: swapped arguments show as a cloud off the diagonal."""
    reference = data.scores.filter(pl.col("engine_name") == data.reference).select(
        "pair_id", pl.col("score").alias("ref"))
    plots = {}
    for engine in sorted(set(data.scores["engine_name"]) - {data.reference}):
        pairs = data.scores.filter(pl.col("engine_name") == engine).join(reference, on="pair_id")
        figure, (ax,) = _grid(1, 4, 4)
        ax.scatter(pairs["ref"], pairs["score"], s=12, alpha=0.7,
                   c=["#d62728" if k else "#1f77b4" for k in pairs["known_irrelevant"]])
        low = min(pairs["ref"].min(), pairs["score"].min())
        high = max(pairs["ref"].max(), pairs["score"].max())
        ax.plot([low, high], [low, high], color="grey", lw=1, ls="--")
        ax.set(xlabel=f"{data.reference} (reference)", ylabel=engine,
               title=f"{engine} vs reference")
        plots[engine] = _png(figure)
    return plots


def distribution_plot(data: ReportData) -> str:
    """Score distribution per engine: known-irrelevant vs relevant (label ≥ 2) pairs."""
    engines = sorted(set(data.scores["engine_name"]))
    figure, axes = _grid(len(engines))
    for ax, engine in zip(axes, engines, strict=False):
        frame = data.scores.filter(pl.col("engine_name") == engine)
        groups = [frame.filter(pl.col("known_irrelevant"))["score"].to_list(),
                  frame.filter(pl.col("label") >= 2)["score"].to_list()]
        ax.hist(groups, bins=20, label=["known irrelevant", "relevant"],
                color=["#d62728", "#2ca02c"])
        ax.set(title=engine, xlabel="score")
        ax.legend(fontsize=7)
    return _png(figure)


def shown_ladders(ladders: pl.DataFrame) -> tuple[list[tuple[str, str]], int]:
    """The ladders worth a small multiple (inverted ones first, at most MAX_LADDERS; a large
    set has hundreds, unreadable and slow to draw) and how many there are in all."""
    steps = ladders.sort("ladder_rank").with_columns(
        inverted=pl.col("score").diff().over("set_id", "ladder", "engine_name") > 0)
    ranked = (steps.group_by("set_id", "ladder").agg(pl.col("inverted").any())
              .sort("inverted", "set_id", "ladder", descending=[True, False, False]))
    return list(ranked.head(MAX_LADDERS).select("set_id", "ladder").iter_rows()), ranked.height


def ladder_plot(data: ReportData) -> str | None:
    """Ladders as small multiples: score by rung, one line per engine (should fall)."""
    ladders = data.scores.filter(pl.col("ladder").is_not_null())
    names, total = shown_ladders(ladders)
    if not names:
        return None
    figure, axes = _grid(len(names), 3, 2.4)
    for ax, (set_id, ladder) in zip(axes, names, strict=False):
        frame = ladders.filter((pl.col("set_id") == set_id) & (pl.col("ladder") == ladder))
        for (engine,), rungs in frame.sort("ladder_rank").group_by("engine_name",
                                                                    maintain_order=True):
            ax.plot(rungs["ladder_rank"], rungs["score"], marker="o", label=engine)
        ax.set(title=f"{set_id}/{ladder}", xlabel="rank")
    axes[0].legend(fontsize=6)
    if total > len(names):
        figure.suptitle(f"{len(names)} of {total} ladders: those with an inverted step first",
                        y=1.0)
    return _png(figure)


def trend_plot(data: ReportData) -> str | None:
    """Agreement metrics per engine over the last nights."""
    if data.trend["run_id"].n_unique() < 1:
        return None
    subjects = sorted(set(data.trend["subject"]))
    figure, axes = _grid(len(subjects), 4, 3)
    for ax, subject in zip(axes, subjects, strict=False):
        frame = data.trend.filter(pl.col("subject") == subject)
        for (engine,), series in frame.group_by("engine_name", maintain_order=True):
            ax.plot(series["started_at"], series["observed"], marker="o", label=engine)
        ax.axhline(frame["threshold"].max(), color="grey", ls="--", lw=1)
        ax.set(title=subject)
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    axes[0].legend(fontsize=6)
    return _png(figure)


def _detail(check: str, value: str) -> str:
    """The check's own summary, then its offending rows as a table and the whole JSON."""
    summary, rows = explain(check, value)
    table = _table(pl.DataFrame(rows, infer_schema_length=None)) if rows else ""
    return (f"<details><summary>{html.escape(summary[:160]) or 'detail'}</summary>{table}"
            f"<pre>{html.escape(str(value))}</pre></details>")


def _cell(column: str, value, check: str | None = None) -> str:
    if value is None:
        return ""
    if column == "detail" and check:
        return _detail(check, value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _table(frame: pl.DataFrame, row_class=None, check: str | None = None) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    body = []
    for row in frame.iter_rows(named=True):
        css = f' class="{row_class(row)}"' if row_class else ""
        cells = "".join(f"<td>{_cell(c, v, check)}</td>" for c, v in row.items())
        body.append(f"<tr{css}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _img(png: str, element_id: str, alt: str) -> str:
    return f'<img id="{element_id}" alt="{html.escape(alt)}" src="data:image/png;base64,{png}">'


STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;font-size:13px;margin:1em 0}
td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top}
tr.failed td,tr.error td{background:#fde2e2}tr.skipped td{color:#777}
pre{white-space:pre-wrap;max-width:60em}.plots img{max-width:32%;margin:.3em}
.verdict{font-size:28px;font-weight:bold}.PASS{color:#1a7f37}.BLOCKED{color:#c62828}"""


def render_html(data: ReportData) -> str:
    """The report page, self-contained (plots inlined as PNG)."""
    verdict = data.verdicts["verdict"][0] if data.verdicts.height else "NOT JUDGED"
    blocking = data.checks.filter(pl.col("blocking") & pl.col("status").is_in(["failed", "error"]))
    checks = data.checks.select("check_name", "engine_name", "other_engine_name", "subject",
                                "status", "blocking", "observed", "threshold", "detail")
    counts = (checks.group_by("check_name", maintain_order=True)
              .agg(*(pl.col("status").eq(s).sum().alias(s)
                     for s in ("passed", "failed", "error", "skipped"))))
    parts = [f"<h1>rerankwatch run {html.escape(data.run_id)}</h1>",
             f'<p class="verdict {verdict}" id="verdict">{verdict}</p>',
             f"<p>flow {html.escape(data.run['flow_name'])}, started {data.run['started_at']}, "
             f"scoring {data.run['status']}, reference <b>{html.escape(data.reference)}</b></p>"]
    if blocking.height:
        items = [f'<li><a href="#check-{c}">{c}</a>: {html.escape(e or "")} {html.escape(s)}'
                 + (f' (<a href="#scatter-{e}">plot</a>)' if e and e != data.reference else "")
                 + "</li>" for c, e, s in blocking.select("check_name", "engine_name",
                                                          "subject").unique().sort("*").rows()]
        parts.append('<h2>Blocking failures</h2><ul id="failing">' + "".join(items) + "</ul>")
    parts += ["<h2>Checks</h2>", _table(counts)]
    parts.append('<h2>Engine vs reference</h2><div class="plots">' + "".join(
        _img(png, f"scatter-{engine}", f"{engine} vs reference")
        for engine, png in scatter_plots(data).items()) + "</div>")
    parts += ["<h2>Known-irrelevant vs relevant</h2>",
              _img(distribution_plot(data), "distribution", "score distributions")]
    if (ladders := ladder_plot(data)) is not None:
        parts += ["<h2>Ladders</h2>", _img(ladders, "ladders", "ladders")]
    if (trend := trend_plot(data)) is not None:
        parts += ["<h2>Agreement over recent runs</h2>", _img(trend, "trend", "agreement trend")]
    parts.append("<h2>Check details</h2>")
    for (check,), frame in checks.group_by("check_name", maintain_order=True):
        parts.append(f'<section id="check-{check}"><h3>{check}</h3>'
                     + _table(frame.drop("check_name"), lambda r: r["status"], check)
                     + "</section>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>rerankwatch "
            f"{html.escape(data.run_id)}</title><style>{STYLE}</style></head><body>"
            + "\n".join(parts) + "</body></html>")


def write_report(db: str | Path, run: str = "latest", out: str | Path | None = None,
                 nights: int = 14, on_wait=None) -> Path:
    """Write the report for ``run`` (an id or "latest") next to the DB unless ``out`` is given.
    While a writer holds the DB, wait reader_wait_s() (``on_wait`` is told), then StoreBusy."""
    if not Path(db).is_file():
        raise RerankwatchError(f"no such database: {db}")
    with open_store(db, mode="read", wait_s=reader_wait_s(), on_wait=on_wait) as store:
        data = load_report_data(store, run, nights)
    path = Path(out) if out else Path(db).parent / "reports" / f"{data.run_id}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".partial")
    tmp.write_text(render_html(data), encoding="utf-8")
    tmp.replace(path)  # never leave half a report behind
    return path
