"""Product overhead: the whole nightly flow's wall time ÷ the raw engine calls' scoring time.

Run from the repo root: ``python bench/nightly_overhead.py [--pairs 20000]``.
A sample set of real English text is built offline from the shortened Wikipedia dump that the
``gensim`` wheel ships (queries: article title + section heading; docs: plain paragraphs, wiki
markup stripped; ladders and known-irrelevant pairs included), written as JSONL in a temp dir.
Two fp32 engine configs score it, by default ``st-cross`` and ``hf-seqcls`` on the seeded
``fixture:tiny-cross-encoder``; ``--engines demo-ce``: the same two on the built demo
cross-encoder (a real MiniLM-L6 reranker, 128 tokens); ``--engines minilm``: ``st-bi`` and
``hf-bi`` on all-MiniLM-L6-v2 (about 10 pairs/s on 2 cores at 512 tokens: a few hundred pairs).
``flows.nightly`` runs on a fresh store as ``rerankwatch nightly`` does: Prefect (its
ephemeral server included), sample validation, scoring with its probes and reload, store
writes, the suite, the HTML report. ratio = nightly wall ÷ the time spent inside the engines'
``score`` calls on the main pairs during that nightly (timed around each call: the model
compute, measured in the same minutes; target ≤ 1.15). For comparison, each config's
``score`` is also timed as one call over all pairs outside the flow, before and after it (on
a shared machine those swing with the load of the minute they run in).
"""

from __future__ import annotations

import argparse
import bz2
import functools
import json
import os
import random
import re
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("PREFECT_HOME", str(ROOT / ".prefect"))  # as `make`: a warm Prefect DB
sys.path.insert(0, str(ROOT))

import polars as pl  # noqa: E402

from rerankwatch.tasks import prefect_env  # noqa: E402

prefect_env.apply()

TARGET = 1.15
# name, kind, model: the first config is the reference
ENGINES = {
    "fixture": [("st-cross-fp32", "st-cross", "fixture:tiny-cross-encoder"),
                ("hf-seqcls-fp32", "hf-seqcls", "fixture:tiny-cross-encoder")],
    "minilm": [("st-bi-fp32", "st-bi", "embedded:all-MiniLM-L6-v2"),
               ("hf-bi-fp32", "hf-bi", "embedded:all-MiniLM-L6-v2")],
    "demo-ce": [("st-cross-fp32", "st-cross", "embedded:demo-cross-encoder"),
                ("hf-seqcls-fp32", "hf-seqcls", "embedded:demo-cross-encoder")],
}
# an untrained fixture says nothing about relevance: as `rerankwatch replay`, report only
ADVISORY = {"fixture": ["monotonic_relevance", "irrelevant_ceiling"], "minilm": [], "demo-ce": []}
DUMP = "test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
HEADING = re.compile(r"^=+\s*(.+?)\s*=+$")
PARAGRAPH_CHARS = (200, 1200)
LADDER_EVERY = 10  # every 10th query also ranks: its section, same article, off-topic
# the phases timed inside the flow: (module, function)
SCORING = "rerankwatch.pipeline.scoring"
PHASES = [(SCORING, "load_pairs"), (SCORING, "begin_run"), (SCORING, "score_and_store"),
          (SCORING, "end_run"), ("rerankwatch.pipeline.judging", "judge_run"),
          ("rerankwatch.report.stored", "store_report")]


def wiki_sections() -> list[tuple[str, str, list[str]]]:
    """(title, heading, plain paragraphs) of every article section in gensim's Wikipedia dump."""
    import gensim
    from gensim.corpora.wikicorpus import extract_pages, filter_wiki

    dump = Path(gensim.__file__).parent / DUMP
    sections = []
    with bz2.open(dump) as handle:
        for title, text, _ in extract_pages(handle, filter_namespaces=("0",)):
            if text.lstrip().upper().startswith("#REDIRECT"):
                continue
            heading, paragraphs = "overview", []
            for line in filter_wiki(text).splitlines() + ["== end =="]:
                line = line.strip().replace("'''", "").replace("''", "")
                if match := HEADING.match(line):
                    if paragraphs:
                        sections.append((title, heading, paragraphs))
                    heading, paragraphs = match.group(1), []
                elif (PARAGRAPH_CHARS[0] <= len(line) <= PARAGRAPH_CHARS[1]
                      and not any(bad in line for bad in ("|", "File:", "{", "}"))):
                    paragraphs.append(line)
    return sections


def sample_rows(n_pairs: int, seed: int = 0) -> list[dict]:
    """About ``n_pairs`` sample pairs (samples/README.md): per section query, its own
    paragraphs, one of another section of the article, off-topic ones, a known-irrelevant."""
    rng = random.Random(seed)
    sections = wiki_sections()
    paragraphs = list(dict.fromkeys((t, p) for t, _, ps in sections for p in ps))
    ids = {p: f"p{i}" for i, (_, p) in enumerate(paragraphs)}
    by_title = defaultdict(list)
    for title, _, ps in sections:
        by_title[title] += ps
    per_query = max(4, -(-n_pairs // len(sections)))
    rows: list[dict] = []
    for q, (title, heading, own) in enumerate(sections):
        if len(rows) >= n_pairs:
            break
        query_id = f"w{q:05d}"
        other_section = [p for p in by_title[title] if p not in own]
        off_topic = [p for t, p in rng.sample(paragraphs, per_query + 8) if t != title]
        docs = [(own[0], 3.0), *[(p, 2.0) for p in own[1:3]],
                *[(p, 1.0) for p in other_section[:1]]]
        docs += [(p, 0.0) for p in off_topic[: per_query - len(docs) - 1]]
        irrelevant = off_topic[-1]
        ladder = [own[0], *other_section[:1], irrelevant] if q % LADDER_EVERY == 0 else []
        seen = set()
        for doc, label in [*docs, (irrelevant, 0.0)]:
            if ids[doc] in seen:
                continue
            seen.add(ids[doc])
            tags = ["known_irrelevant"] if doc == irrelevant else []
            if doc in ladder:
                tags.append(f"ladder:{query_id}:{ladder.index(doc) + 1}")
            rows.append({"set_id": "wiki_en", "query_id": query_id,
                         "query": f"{title}: {heading}" if heading != "overview" else title,
                         "doc_id": ids[doc], "doc": doc, "label": label, "tags": tags,
                         "lang": "en"})
    return rows[:n_pairs] if len(rows) > n_pairs else rows


def write_inputs(folder: Path, n_pairs: int, batch_size: int, engines: str) -> Path:
    """The JSONL sample set and the run config (TOML); returns the config's path."""
    rows = sample_rows(n_pairs)
    last_query = rows[-1]["query_id"]  # a cut query may have lost ladder rungs: drop its tags
    rows = [dict(r, tags=[]) if r["query_id"] == last_query else r for r in rows]
    (folder / "wiki_en.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    configs = "".join(
        f'[[engines]]\nname = "{name}"\nkind = "{kind}"\nmodel = "{model}"\n'
        f'precision = "float32"\nbatch_size = {batch_size}\n\n'
        for name, kind, model in ENGINES[engines])
    advisory = "".join(f"[checks.{name}]\nblocking = false\n\n" for name in ADVISORY[engines])
    config = folder / "nightly.toml"
    config.write_text(f'db = "{folder / "bench.duckdb"}"\nreference = "{ENGINES[engines][0][0]}"'
                      '\n\n[[sample_sets]]\nname = "wiki_en"\npath = "wiki_en.jsonl"\n\n'
                      + configs + advisory)
    return config


def reference_seconds(config_path: Path) -> dict[str, float]:
    """Per engine config: one loaded engine's ``score`` over the pairs the nightly scores."""
    from rerankwatch.engines import build_engine
    from rerankwatch.pipeline import load_config
    from rerankwatch.pipeline.scoring import load_pairs

    config = load_config(config_path)
    pairs = load_pairs(config)
    seconds = {}
    for engine_config in config.engines:
        subset = pairs.filter(pl.col("set_id").is_in(config.sets_for(engine_config)))
        texts = list(zip(subset["query"], subset["doc"], strict=True))
        engine = build_engine(engine_config)
        started = time.perf_counter()
        engine.score(texts)
        seconds[engine_config.name] = time.perf_counter() - started
        del engine
    return seconds


def timed_phases(seconds: dict[str, float]) -> None:
    """Wrap the plain functions the flow's tasks call, to say where the wall time went."""
    import importlib

    for module_name, name in PHASES:
        module = importlib.import_module(module_name)
        inner = getattr(module, name)

        @functools.wraps(inner)
        def wrapper(*args, _inner=inner, _name=name, **kwargs):
            started = time.perf_counter()
            seconds.setdefault("_first_start", started)
            try:
                return _inner(*args, **kwargs)
            finally:
                seconds[_name] += time.perf_counter() - started

        setattr(module, name, wrapper)


def timed_engine_calls(seconds: dict[str, float]) -> None:
    """Time every engine ``score`` call made while the main pairs are scored (score_chunks)."""
    from rerankwatch.engines.base import BatchedEngine
    from rerankwatch.pipeline import scoring

    score, score_chunks = BatchedEngine.score, scoring.score_chunks
    main = [False]

    @functools.wraps(score)
    def timed_score(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return score(self, *args, **kwargs)
        finally:
            if main[0]:
                seconds["engine.score"] += time.perf_counter() - started

    @functools.wraps(score_chunks)
    def main_chunks(*args, **kwargs):
        main[0] = True
        try:
            return score_chunks(*args, **kwargs)
        finally:
            main[0] = False

    BatchedEngine.score = timed_score
    scoring.score_chunks = main_chunks


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=20_000, help="pairs (default 20000)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--engines", choices=list(ENGINES), default="fixture")
    parser.add_argument("--keep", help="write the sample set, config, store and report here")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        config_path = write_inputs(folder, args.pairs, args.batch_size, args.engines)
        before = reference_seconds(config_path)

        from rerankwatch.flows.nightly import nightly

        phases: dict[str, float] = defaultdict(float)
        timed_phases(phases)
        timed_engine_calls(phases)
        started = time.perf_counter()
        state = nightly(str(config_path), return_state=True)
        wall = time.perf_counter() - started
        phases = dict(phases)  # the flow's own; the reference below loads pairs too
        after = reference_seconds(config_path)
        from rerankwatch.store import Store

        with Store(folder / "bench.duckdb", read_only=True) as store:
            engines = store.sql("select engine_name, status, pairs "
                                "from v_run_engine_status order by engine_name")
            verdict = store.sql("select verdict from verdicts")["verdict"].to_list()
        if engines.filter(pl.col("status") != "succeeded").height or not verdict:
            raise SystemExit(f"the nightly did not finish: {state.message}\n{engines}")
    raw = phases.pop("engine.score")
    one_call = sum(before.values()) / 2 + sum(after.values()) / 2
    pairs = int(engines["pairs"].sum())
    first = phases.pop("_first_start") - started
    in_flow = ", ".join(f"{k} {v:.1f}s" for k, v in phases.items())
    engine_s = ", ".join(f"{n} {before[n]:.1f}s/{after[n]:.1f}s" for n in before)
    print(f"nightly_overhead: ratio={wall / raw:.3f} (ours {pairs / wall:.1f}/s, reference "
          f"{pairs / raw:.1f}/s) [target ≤ {TARGET}; {args.engines}, {pairs:,} pairs, "
          f"nightly {wall:.1f}s, its engine.score calls {raw:.1f}s, verdict {verdict[0]}; "
          f"in the flow: Prefect start {first:.1f}s, {in_flow}, the rest "
          f"{wall - first - sum(phases.values()):.1f}s; one score call outside the flow, "
          f"before/after: {engine_s} (nightly ÷ their mean {wall / one_call:.3f})]", flush=True)


if __name__ == "__main__":
    main()
