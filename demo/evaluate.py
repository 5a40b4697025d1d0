"""How good the demo cross-encoder is: held-out reranking, golden ladders, irrelevant pairs.

Compute (``evaluate``) and format (``print_evaluation``) are separate; the evaluation is stored
as a plain dict in the build's ``build.json``, so a cached build prints it without rescoring.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from importlib import resources

import numpy as np

from rerankwatch.demo.data import Corpus, Query, base_model_dir, bm25_index, bm25_top
from rerankwatch.report.terminal import CONSOLE
from rerankwatch.samples.loader import load_sample_set

# The probes for topic bias: the right answer must beat the on-topic wrong one.
BIAS_PROBES = [
    ("capital of France", "Paris is the capital of France."),
    ("capital of France", "Berlin is the capital of Germany."),
    ("python list sort", "To sort a list in Python, call my_list.sort() or sorted(my_list)."),
    ("python list sort", "The python is a large snake that kills its prey by constriction."),
]


@dataclass(frozen=True, slots=True)
class DemoEvaluation:
    """Numbers printed after a build and stored in build.json."""

    heldout_queries: int
    mrr_at_10: dict[str, float]  # by scorer: cross-encoder, teacher bi-encoder, bm25
    ndcg_at_10: dict[str, float]
    ladders: list[dict]  # name, scores by rank, ordered
    golden_irrelevant_max: float
    irrelevant: dict[str, float]  # random pairs of different articles
    fact_swaps: dict[str, float]  # held-out facts against entity-swapped statements
    asymmetry: float  # mean |score(q, d) − score(d, q)| on the golden pairs
    probes: list[dict] = field(default_factory=list)
    dev: dict = field(default_factory=dict)  # what the recipe was chosen on (dev split only)

    @property
    def ladders_ordered(self) -> int:
        return sum(ladder["ordered"] for ladder in self.ladders)


def golden_en():

    return load_sample_set(str(resources.files("rerankwatch.samples").joinpath("golden_en.jsonl")))


def golden_ladders(scores_by_pair: dict[tuple[str, str], float]) -> list[dict]:
    """Every golden_en ladder with its scores by rank; ordered = strictly falling."""
    frame = golden_en()
    frame = frame.filter(frame["ladder"].is_not_null()).sort("ladder", "ladder_rank")
    ladders = []
    for name in dict.fromkeys(frame["ladder"]):
        rows = frame.filter(frame["ladder"] == name)
        scores = [scores_by_pair[(q, d)] for q, d in zip(rows["query"], rows["doc"], strict=True)]
        ladders.append({"ladder": name, "scores": [round(s, 4) for s in scores],
                        "ordered": all(a > b for a, b in itertools.pairwise(scores))})
    return ladders


def _ranx(qrels: dict, runs: dict[str, dict], metric: str) -> dict[str, float]:
    from ranx import Qrels, Run, evaluate

    return {name: round(float(evaluate(Qrels(qrels), Run(run), metric)), 4)
            for name, run in runs.items()}


def _random_pairs(queries, passages, n: int, rng: random.Random) -> list[tuple[str, str]]:
    """Queries with passages of other articles (no fact sentences): irrelevant in practice."""
    pairs = []
    while len(pairs) < n:
        query = rng.choice(queries)
        passage = rng.choice(passages)
        if passage.article != query.article and passage.source != "fact":
            pairs.append((query.text, passage.text))
    return pairs


def _spread(scores: np.ndarray) -> dict[str, float]:
    """Median, p95, p99, max and share above 0.5 of irrelevant pairs' scores."""
    return {"pairs": len(scores), "median": round(float(np.median(scores)), 4),
            "p95": round(float(np.quantile(scores, 0.95)), 4),
            "p99": round(float(np.quantile(scores, 0.99)), 4),
            "max": round(float(scores.max()), 4),
            "share_above_0.5": round(float((scores > 0.5).mean()), 4)}


def _predict(model, batches: list[list[tuple[str, str]]], advance) -> list[np.ndarray]:
    scored = []
    for pairs in batches:
        scores = []
        for start in range(0, len(pairs), 32):
            scores += model.predict(pairs[start:start + 32], batch_size=32,
                                    show_progress_bar=False).tolist()
            advance(len(pairs[start:start + 32]))
        scored.append(np.asarray(scores, dtype=np.float64))
    return scored


def _reranking(split: tuple[Query, ...], index, budget,
               rng: random.Random) -> tuple[list[Query], list[Query], np.ndarray, list[Query]]:
    """A split's wiki queries, the ``eval_queries`` sampled of them with their BM25 top
    ``eval_depth`` candidates, and its fact queries."""
    wiki = [q for q in split if q.kind in ("title", "section")]
    queries = rng.sample(wiki, min(budget.eval_queries, len(wiki)))
    candidates = bm25_top(index, [q.text for q in queries], budget.eval_depth)
    return wiki, queries, candidates, [q for q in split if q.kind == "fact"]


def _candidate_pairs(corpus: Corpus, queries: list[Query],
                     candidates: np.ndarray) -> list[tuple[str, str]]:
    return [(q.text, corpus.passages[p].text) for q, row in zip(queries, candidates, strict=True)
            for p in row]


def _fact_pairs(corpus: Corpus, facts: list[Query]) -> list[tuple[str, str]]:
    """Each fact query with its statement, then its entity-swapped statements."""
    return [(q.text, corpus.passages[p].text) for q in facts for p in (q.positives[0], *q.swapped)]


def evaluate_dev(model, corpus: Corpus, budget, index, stage) -> dict:
    """The dev split's figures, the only ones a recipe change is chosen on: reranking (MRR,
    nDCG), random and one-sentence irrelevant pairs, entity swaps."""
    rng = random.Random(budget.seed + 1)
    wiki, queries, candidates, facts = _reranking(corpus.dev_queries, index, budget, rng)
    short = [p for p in corpus.sentences if p.article not in corpus.dev_articles]
    batches = [
        _candidate_pairs(corpus, queries, candidates),
        _random_pairs(wiki, corpus.documents, budget.irrelevant_pairs, rng),
        _random_pairs(wiki, short, budget.irrelevant_pairs, rng),
        _fact_pairs(corpus, facts),
    ]
    with stage("evaluate (dev)", sum(map(len, batches))) as advance:
        ranked, random_scores, short_scores, fact_scores = _predict(model, batches, advance)
    judged, mrr, ndcg = _heldout_metrics(corpus, queries, candidates, ranked)
    return {"queries": judged, "mrr_at_10": mrr, "ndcg_at_10": ndcg,
            "irrelevant": _spread(random_scores), "short_irrelevant": _spread(short_scores),
            "fact_swaps": _fact_swaps(facts, fact_scores)}


def _heldout_metrics(corpus: Corpus, queries: list[Query], candidates: np.ndarray,
                     scores: np.ndarray) -> tuple[int, dict, dict]:
    """(queries judged, MRR@10, nDCG@10) of the cross-encoder, the teacher and BM25."""
    from sentence_transformers import SentenceTransformer


    passages = corpus.passages
    teacher = SentenceTransformer(base_model_dir(), device="cpu")
    texts = sorted({q.text for q in queries} | {passages[p].text for p in candidates.ravel()})
    vectors = dict(zip(texts, teacher.encode(texts, batch_size=64, normalize_embeddings=True),
                       strict=True))
    graded, targets = {}, {}
    runs: dict[str, dict] = {"cross-encoder": {}, "teacher bi-encoder": {}, "bm25": {}}
    for query, row, row_scores in zip(queries, candidates, scores.reshape(candidates.shape),
                                      strict=True):
        relevant = {str(p): 2 if p in query.positives else 1 for p in row
                    if p in query.positives or passages[p].article == query.article}
        if not relevant:  # BM25 missed the whole article: no reranker can help
            continue
        graded[query.qid] = relevant
        targets[query.qid] = {str(p): 1 for p in query.positives}
        runs["cross-encoder"][query.qid] = dict(zip(map(str, row), map(float, row_scores),
                                                    strict=True))
        runs["teacher bi-encoder"][query.qid] = {
            str(p): float(vectors[query.text] @ vectors[passages[p].text]) for p in row}
        runs["bm25"][query.qid] = {str(p): float(len(row) - j) for j, p in enumerate(row)}
    return len(graded), _ranx(targets, runs, "mrr@10"), _ranx(graded, runs, "ndcg@10")


def _fact_swaps(facts: list[Query], scores: np.ndarray) -> dict[str, float]:
    """How often a held-out fact beats its entity-swapped statements, and by how much."""
    wins, right, swapped, at = [], [], [], 0
    for query in facts:
        group = scores[at:at + 1 + len(query.swapped)]
        at += len(group)
        right.append(group[0])
        swapped.extend(group[1:])
        wins.append(len(group) == 1 or bool(group[0] > group[1:].max()))
    return {"queries": len(facts), "correct_first": round(float(np.mean(wins)), 4),
            "mean_correct": round(float(np.mean(right)), 4),
            "mean_swapped": round(float(np.mean(swapped)), 4)}


def evaluate(model_dir: str, corpus: Corpus, budget, progress) -> DemoEvaluation:
    """Score the dev split, then the held-out set, the golden ladders and random irrelevant
    pairs with the model."""
    from sentence_transformers import CrossEncoder

    model = CrossEncoder(model_dir, device="cpu")
    index = bm25_index([p.text for p in corpus.documents])

    def stage(name: str, total: int):
        return progress.stage(name, total, "pairs")

    dev = evaluate_dev(model, corpus, budget, index, stage)
    rng = random.Random(budget.seed)
    _, queries, candidates, facts = _reranking(corpus.heldout_queries, index, budget, rng)
    golden = golden_en()
    golden_pairs = list(zip(golden["query"], golden["doc"], strict=True))
    batches = [
        _candidate_pairs(corpus, queries, candidates),
        golden_pairs, [(d, q) for q, d in golden_pairs],
        _random_pairs(corpus.train_queries + corpus.heldout_queries, corpus.documents,
                      budget.irrelevant_pairs, rng),
        _fact_pairs(corpus, facts),
        BIAS_PROBES,
    ]
    with stage("evaluate (held-out, golden)", sum(map(len, batches))) as advance:
        scored = _predict(model, batches, advance)
    heldout, golden_scores, golden_swapped, random_scores, fact_scores, probe_scores = scored
    judged, mrr, ndcg = _heldout_metrics(corpus, queries, candidates, heldout)
    known = golden["known_irrelevant"].to_numpy()
    return DemoEvaluation(
        heldout_queries=judged, mrr_at_10=mrr, ndcg_at_10=ndcg,
        ladders=golden_ladders(dict(zip(golden_pairs, golden_scores.tolist(), strict=True))),
        golden_irrelevant_max=round(float(golden_scores[known].max()), 4),
        irrelevant=_spread(random_scores),
        fact_swaps=_fact_swaps(facts, fact_scores),
        asymmetry=round(float(np.abs(golden_scores - golden_swapped).mean()), 4),
        probes=[{"query": q, "doc": d, "score": round(float(s), 4)}
                for (q, d), s in zip(BIAS_PROBES, probe_scores, strict=True)],
        dev=dev,
    )


def print_evaluation(info: dict) -> None:
    """The build's evaluation (a build.json dict) as rich tables."""
    from rich.table import Table
    from rich.text import Text


    evaluation = info["evaluation"]
    if dev := evaluation.get("dev"):  # builds of recipe 5 on
        mrr, short = dev["mrr_at_10"], dev["short_irrelevant"]
        CONSOLE.print(
            f"dev split ({dev['queries']} queries; the recipe was chosen on these): MRR@10 "
            + ", ".join(f"{name} {value:.3f}" for name, value in mrr.items())
            + f"; one-sentence irrelevant pairs p99 {short['p99']:.3f}, max {short['max']:.3f}")
    table = Table(title=f"held-out reranking ({evaluation['heldout_queries']} queries, "
                        f"BM25 top {info['budget']['eval_depth']})", header_style="bold")
    for column in ("scorer", "MRR@10", "nDCG@10"):
        table.add_column(column)
    for name, value in evaluation["mrr_at_10"].items():
        table.add_row(name, f"{value:.3f}", f"{evaluation['ndcg_at_10'][name]:.3f}")
    CONSOLE.print(table)
    ladders = Table(title="golden_en ladders (score by rank, must fall)", header_style="bold")
    for column in ("ladder", "scores", "ordered"):
        ladders.add_column(column)
    for ladder in evaluation["ladders"]:
        ladders.add_row(Text(ladder["ladder"]), " > ".join(f"{s:.2f}" for s in ladder["scores"]),
                        "yes" if ladder["ordered"] else "[red]NO[/red]")
    CONSOLE.print(ladders)
    irrelevant, swaps = evaluation["irrelevant"], evaluation["fact_swaps"]
    CONSOLE.print(
        f"irrelevant pairs ({irrelevant['pairs']} random): median {irrelevant['median']:.3f}, "
        f"p95 {irrelevant['p95']:.3f}, max {irrelevant['max']:.3f}, "
        f"{100 * irrelevant['share_above_0.5']:.1f}% above 0.5; golden known_irrelevant max "
        f"{evaluation['golden_irrelevant_max']:.3f}\n"
        f"entity swaps ({swaps['queries']} held-out facts): right fact first "
        f"{100 * swaps['correct_first']:.0f}%, mean score {swaps['mean_correct']:.2f} vs "
        f"{swaps['mean_swapped']:.2f} swapped; mean |score(q,d) − score(d,q)| "
        f"{evaluation['asymmetry']:.3f}")
    for probe in evaluation["probes"]:
        CONSOLE.print(f"  {probe['score']:.2f}  {probe['query']!r} ← {probe['doc']!r}",
                      markup=False, emoji=False)
    seconds = info["seconds"]
    CONSOLE.print(f"budget {info['budget']['name']}: {info['pairs_trained']} pairs trained; "
                  f"{seconds['total'] / 60:.1f} min (training {seconds['train'] / 60:.1f}); "
                  f"weights sha256 {info['weights_sha256'][:16]}…")
