"""The report's figures, one per question a check asks, each readable on its own.

Every figure has labelled axes, a legend saying what its colours and lines mean, and a
constrained layout (titles and labels never drawn over each other: ``text_overlaps`` says
where they would be). Functions take the report's frames and return matplotlib figures; the
HTML report inlines them as PNG.
"""

from __future__ import annotations

import base64
import io
from datetime import timedelta
from itertools import combinations

import polars as pl

from rerankwatch.checks import CHECKS, check_class
from rerankwatch.core.errors import UnknownNameError

MAX_LADDERS = 12
COINCIDE = 1e-6  # two engines' ladder series closer than this are drawn as one
COLOURS = {"irrelevant": "#d62728", "relevant": "#2ca02c", "other": "#1f77b4"}
PROBE_VARIANTS = ("reload", "single", "shuffled", "mixed", "spot")  # "repeat": reload's base
# the figures a check's ``figure`` may name ({engine}: one per engine; html.figures draws them)
FIGURES = ("scatter-{engine}", "order-{engine}", "probes-{engine}", "truncation-{engine}",
           "distribution", "ladders", "trend", "quality")


def probe_judges() -> dict[str, tuple[str, str]]:
    """{probe variant: (check, subject)}: which check's result judges each probe, as the checks
    declare it (``probes``)."""
    return {variant: (name, subject) for name in CHECKS
            for variant, subject in check_class(name).probes.items()}


def figure_id(check: str, engine: str | None) -> str | None:
    """The id of the figure a result of ``check`` on ``engine`` is read on, as the check
    declares it (None: none, or a check since removed)."""
    try:
        pattern = check_class(check).figure
    except UnknownNameError:
        return None
    if pattern is None or ("{engine}" in pattern and not engine):
        return None
    return pattern.format(engine=engine)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def new_figure(count: int, width: float = 3.8, height: float = 3.2, cols: int = 3):
    """A figure of ``count`` panels (at most ``cols`` a row), laid out so nothing overlaps."""
    plt = _pyplot()
    cols = max(1, min(count, cols))
    rows = max(1, -(-count // cols))
    figure, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False,
                                layout="constrained")
    for ax in axes.flat[count:]:
        ax.axis("off")
    return figure, list(axes.flat)[:max(count, 1)]


def to_png(figure) -> str:
    """The figure as base64 PNG (closed afterwards)."""
    plt = _pyplot()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def drawn_texts(figure) -> list:
    """The text artists a drawn ``figure`` shows: its titles and legends, and per visible
    axes its title, axis labels, offset texts, the tick labels in view and its legend's."""
    texts = list(figure.texts)  # the suptitle among them
    for legend in figure.legends:
        texts += [*legend.get_texts(), legend.get_title()]
    for ax in figure.axes:
        if not ax.get_visible() or not ax.axison:
            continue
        texts += [ax.title, ax._left_title, ax._right_title, *ax.texts]
        for axis in (ax.xaxis, ax.yaxis):
            texts += [axis.label, axis.offsetText]
            texts += [tick.label1 for tick in axis._update_ticks() if tick.label1.get_visible()]
        if (legend := ax.get_legend()) is not None:
            texts += [*legend.get_texts(), legend.get_title()]
    unique = list({id(t): t for t in texts}.values())
    return [t for t in unique if t.get_visible() and str(t.get_text()).strip()]


def text_overlaps(figure) -> list[tuple[str, str]]:
    """Pairs of texts of ``figure`` whose boxes overlap once drawn (titles, axis and tick
    labels, legend entries): empty for a figure whose every word can be read."""
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in drawn_texts(figure)]
    return [(a, b) for (a, box_a), (b, box_b) in combinations(boxes, 2)
            if box_a.width > 0 and box_b.width > 0 and box_a.overlaps(box_b)]


def _kind(frame: pl.DataFrame) -> pl.Series:
    return (pl.when(pl.col("known_irrelevant")).then(pl.lit("irrelevant"))
            .when(pl.col("label") >= 2).then(pl.lit("relevant")).otherwise(pl.lit("other")))


KIND_LABELS = {"irrelevant": "known-irrelevant pair", "relevant": "relevant pair (label ≥ 2)",
               "other": "other pair"}


def scatter_figure(scores: pl.DataFrame, reference: str, engine: str):
    """Engine vs reference score per pair, coloured by relevance; agreement is the diagonal."""
    ref = scores.filter(pl.col("engine_name") == reference).select(
        "pair_id", pl.col("score").alias("ref"))
    pairs = (scores.filter(pl.col("engine_name") == engine).join(ref, on="pair_id")
             .with_columns(kind=_kind(scores)))
    figure, (ax,) = new_figure(1, 5, 4.4)
    for kind, colour in COLOURS.items():
        part = pairs.filter(pl.col("kind") == kind)
        if part.height:
            ax.scatter(part["ref"], part["score"], s=14, alpha=0.75, color=colour,
                       label=KIND_LABELS[kind])
    if pairs.height:
        low = min(pairs["ref"].min(), pairs["score"].min())
        high = max(pairs["ref"].max(), pairs["score"].max())
        ax.plot([low, high], [low, high], color="grey", lw=1, ls="--", label="same score")
    ax.set(xlabel=f"score of {reference} (reference)", ylabel=f"score of {engine}",
           title=f"{engine} vs {reference}")
    ax.legend(fontsize=7, loc="best")
    return figure


def order_figure(scores: pl.DataFrame, probes: pl.DataFrame, reference: str, engine: str):
    """Argument order: the engine's score(q, d) against the reference's swapped score(d, q)
    (on the diagonal: arguments reversed), and against its own score(d, q) (on the diagonal:
    order ignored)."""
    swapped = probes.filter(pl.col("variant") == "swapped")
    own = scores.filter(pl.col("engine_name") == engine).select("pair_id", "score")
    panels = []
    if engine != reference:
        panels.append((reference, f"score(d, q) of {reference} (reference, swapped)",
                       "nearer the diagonal than the reference's score(q, d): reversed"))
    panels.append((engine, f"score(d, q) of {engine} (swapped)",
                   "on the diagonal: argument order ignored"))
    figure, axes = new_figure(len(panels), 4.6, 4.2, cols=2)
    for ax, (source, xlabel, meaning) in zip(axes, panels, strict=True):
        pairs = own.join(swapped.filter(pl.col("engine_name") == source).select(
            "pair_id", pl.col("score").alias("swapped")), on="pair_id")
        ax.scatter(pairs["swapped"], pairs["score"], s=14, alpha=0.75, color=COLOURS["other"],
                   label="pair")
        if pairs.height:
            low = min(pairs["swapped"].min(), pairs["score"].min())
            high = max(pairs["swapped"].max(), pairs["score"].max())
            ax.plot([low, high], [low, high], color="grey", lw=1, ls="--", label=meaning)
        ax.set(xlabel=xlabel, ylabel=f"score(q, d) of {engine}",
               title="vs the reference's swapped" if source != engine else "vs its own swapped")
        ax.legend(fontsize=7, loc="best")
    figure.suptitle(f"{engine}: argument order", fontsize=11)
    return figure


def probes_figure(scores: pl.DataFrame, probes: pl.DataFrame, checks: pl.DataFrame,
                  engine: str):
    """|probe score − main score| per re-scored pair, per probe (reload, against the same
    load's repeat: determinism; single, shuffled, mixed: batch invariance; spot: the cache
    spot check), with each check's tolerance; a log axis, zeros drawn at its floor."""
    main = scores.filter(pl.col("engine_name") == engine).select(
        "pair_id", pl.col("score").alias("main"))
    own = probes.filter(pl.col("engine_name") == engine)
    repeat = own.filter(pl.col("variant") == "repeat").select(
        "pair_id", pl.col("score").alias("repeat"))
    mine = (own.filter(pl.col("variant").is_in(PROBE_VARIANTS))
            .join(main, on="pair_id", how="left").join(repeat, on="pair_id", how="left")
            .with_columns(delta=(pl.col("score") - pl.when(pl.col("variant") == "reload")
                                 .then(pl.col("repeat")).otherwise(pl.col("main"))).abs())
            .drop_nulls("delta"))
    variants = [v for v in PROBE_VARIANTS if v in set(mine["variant"])]
    judges = probe_judges()
    figure, (ax,) = new_figure(1, 6, 4)
    floor, tolerance_shown = 1e-9, False
    for x, variant in enumerate(variants):
        deltas = mine.filter(pl.col("variant") == variant)["delta"].clip(floor, None)
        ax.scatter([x] * len(deltas), deltas, s=14, alpha=0.6, color=COLOURS["other"],
                   label="pair" if x == 0 else None)
        check, subject = judges.get(variant, (None, None))
        limit = checks.filter((pl.col("check_name") == check) & (pl.col("engine_name") == engine)
                              & (pl.col("subject") == subject))["threshold"].drop_nulls()
        if limit.len():
            ax.hlines(limit[0], x - 0.35, x + 0.35, color="#c62828", lw=2,
                      label=None if tolerance_shown else "tolerance of its check")
            tolerance_shown = True
    ax.set_yscale("log")
    ax.set_xticks(range(len(variants)), [f"{v}\n({judges[v][0]})" if v in judges else v
                                         for v in variants], fontsize=7)
    ax.set(ylabel="|probe score − main score| (reload: − repeat)",
           title=f"{engine}: re-scored pairs", xlim=(-0.6, max(len(variants), 1) - 0.4))
    if variants:
        ax.legend(fontsize=7, loc="best")
    return figure


def truncation_figure(scores: pl.DataFrame, reference: str, engine: str):
    """|Δ score| vs the reference by the pair's token count, with the engine's max_length."""
    ref = scores.filter(pl.col("engine_name") == reference).select(
        "pair_id", pl.col("score").alias("ref"))
    pairs = (scores.filter(pl.col("engine_name") == engine).join(ref, on="pair_id")
             .with_columns(delta=(pl.col("score") - pl.col("ref")).abs()))
    figure, (ax,) = new_figure(1, 5.5, 4)
    if "tokens" in pairs.columns and pairs["tokens"].drop_nulls().len():
        ax.scatter(pairs["tokens"], pairs["delta"], s=14, alpha=0.7, color=COLOURS["other"],
                   label="pair")
    limit = pairs["max_length"].drop_nulls()
    if limit.len() and limit[0]:
        ax.axvline(limit[0], color="#c62828", ls="--", lw=1,
                   label=f"max_length of {engine}: {limit[0]}")
    ax.set(xlabel="tokens of query + document", ylabel=f"|Δ score| vs {reference}",
           title=f"{engine}: truncation")
    ax.legend(fontsize=7, loc="best")
    return figure


def distribution_figure(scores: pl.DataFrame, checks: pl.DataFrame):
    """Score histograms per engine by relevance, with the known-irrelevant ceiling."""
    engines = sorted(set(scores["engine_name"]))
    figure, axes = new_figure(len(engines), 3.8, 3.0)
    for ax, engine in zip(axes, engines, strict=False):
        frame = scores.filter(pl.col("engine_name") == engine).with_columns(kind=_kind(scores))
        groups = [(k, frame.filter(pl.col("kind") == k)["score"].to_list())
                  for k in ("irrelevant", "relevant") if frame.filter(pl.col("kind") == k).height]
        if groups:
            ax.hist([g for _, g in groups], bins=20, label=[KIND_LABELS[k] for k, _ in groups],
                    color=[COLOURS[k] for k, _ in groups])
        ceiling = checks.filter((pl.col("check_name") == "irrelevant_ceiling")
                                & (pl.col("engine_name") == engine))["threshold"].drop_nulls()
        if ceiling.len():
            ax.axvline(ceiling.max(), color="black", ls="--", lw=1,
                       label=f"irrelevant ceiling {ceiling.max():.3g}")
        ax.set(title=engine, xlabel="score", ylabel="pairs")
        ax.legend(fontsize=6, loc="best")
    return figure


def shown_ladders(ladders: pl.DataFrame) -> tuple[list[tuple[str, str]], int]:
    """The ladders worth a small multiple (inverted ones first, at most MAX_LADDERS; a large
    set has hundreds, unreadable and slow to draw) and how many there are in all."""
    steps = ladders.sort("ladder_rank").with_columns(
        inverted=pl.col("score").diff().over("set_id", "ladder", "engine_name") > 0)
    ranked = (steps.group_by("set_id", "ladder").agg(pl.col("inverted").any())
              .sort("inverted", "set_id", "ladder", descending=[True, False, False]))
    return list(ranked.head(MAX_LADDERS).select("set_id", "ladder").iter_rows()), ranked.height


def ladder_series(frame: pl.DataFrame, reference: str) -> list[tuple[str, pl.DataFrame]]:
    """One series per group of engines whose scores coincide on this ladder (named "a = b"),
    the reference's group first."""
    series: list[tuple[list[str], pl.DataFrame]] = []
    for (engine,), rungs in frame.sort("ladder_rank").group_by("engine_name",
                                                               maintain_order=True):
        for names, kept in series:
            if (kept.height == rungs.height
                    and (kept["score"] - rungs["score"]).abs().max() < COINCIDE):
                names.append(engine)
                break
        else:
            series.append(([engine], rungs))
    series.sort(key=lambda item: reference not in item[0])
    return [(" = ".join(names), rungs) for names, rungs in series]


def ladder_figure(scores: pl.DataFrame, reference: str):
    """Ladders as small multiples: score by rung (1 = most relevant; should fall), the
    reference drawn dashed; engines that coincide share one line. None without ladders."""
    ladders = scores.filter(pl.col("ladder").is_not_null())
    names, total = shown_ladders(ladders)
    if not names:
        return None
    figure, axes = new_figure(len(names), 3.2, 2.6, cols=4)
    labels: dict[str, object] = {}
    palette = ["#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]
    colours: dict[str, str] = {}
    for ax, (set_id, ladder) in zip(axes, names, strict=False):
        frame = ladders.filter((pl.col("set_id") == set_id) & (pl.col("ladder") == ladder))
        for label, rungs in ladder_series(frame, reference):
            is_reference = reference in label.split(" = ")
            name = f"{label} (reference)" if is_reference else label
            colour = "#444444" if is_reference else colours.setdefault(
                name, palette[len(colours) % len(palette)])
            (line,) = ax.plot(rungs["ladder_rank"], rungs["score"], marker="o", color=colour,
                              ls="--" if is_reference else "-", lw=2 if is_reference else 1.2)
            labels.setdefault(name, line)
        ax.set_title(f"{set_id}/{ladder}", fontsize=8)
        ax.set_xlabel("rung (1 = most relevant)", fontsize=7)
        ax.set_ylabel("score", fontsize=7)
        ax.tick_params(labelsize=7)
        ax.xaxis.get_major_locator().set_params(integer=True)
    figure.legend(list(labels.values()), list(labels), loc="outside lower center",
                  ncols=min(len(labels), 3), fontsize=7)
    if total > len(names):
        figure.suptitle(f"{len(names)} of {total} ladders: those with an inverted step first",
                        fontsize=9)
    return figure


def trend_figure(trend: pl.DataFrame):
    """Agreement and history metrics per engine over recent runs of the same config and
    reference, dated, with each threshold as a labelled line. None without runs."""
    import matplotlib.dates as mdates

    if trend.is_empty():
        return None
    subjects = list(dict.fromkeys(trend.sort("check_name", "subject")
                                  .select(pl.concat_str("check_name", "subject",
                                                        separator=": "))
                                  .to_series()))
    figure, axes = new_figure(len(subjects), 4.2, 3.2)
    first, last = trend["started_at"].min(), trend["started_at"].max()
    pad = max((last - first) * 0.05, timedelta(hours=12))
    for ax, subject in zip(axes, subjects, strict=False):
        check, name = subject.split(": ", 1)
        frame = trend.filter((pl.col("check_name") == check) & (pl.col("subject") == name))
        for (engine,), series in frame.group_by("engine_name", maintain_order=True):
            ax.plot(series["started_at"], series["observed"], marker="o", label=engine)
        threshold = frame["threshold"].drop_nulls()
        if threshold.len():
            ax.axhline(threshold.max(), color="#c62828", ls="--", lw=1,
                       label=f"threshold {threshold.max():.3g}")
        ax.set_xlim(first - pad, last + pad)
        locator = mdates.AutoDateLocator(maxticks=5)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        ax.set_title(subject, fontsize=9)
        ax.set_ylabel("observed", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6, loc="best")
    return figure


def quality_figure(checks: pl.DataFrame):
    """Retrieval quality: each engine's nDCG@10 / MRR drop against the reference, with the
    largest drop allowed. None when the check did not measure."""
    rows = checks.filter((pl.col("check_name") == "retrieval_quality")
                         & pl.col("observed").is_not_null())
    if rows.is_empty():
        return None
    metrics = sorted(set(rows["subject"]))
    figure, axes = new_figure(len(metrics), 4.2, 3.2)
    for ax, metric in zip(axes, metrics, strict=False):
        frame = rows.filter(pl.col("subject") == metric).sort("engine_name")
        ax.bar(frame["engine_name"], frame["observed"], color=COLOURS["other"], label="drop")
        ax.axhline(frame["threshold"].max(), color="#c62828", ls="--", lw=1,
                   label=f"largest drop allowed {frame['threshold'].max():.3g}")
        ax.set(title=f"{metric} drop vs the reference", ylabel=f"{metric} drop")
        ax.tick_params(axis="x", labelrotation=30, labelsize=7)
        ax.legend(fontsize=7, loc="best")
    return figure
