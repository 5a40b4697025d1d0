"""The demo cross-encoder without training: how the product finds a build (no demo code, no
demo extra), the build command's missing-extra error, and the recipe (corpus, groups, loss,
cache key), which needs the ``demo`` extra (gensim, bm25s)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rerankwatch.core.models import resolve_model
from rerankwatch.engines.fixtures import (
    DEMO_BUDGET_ENV,
    DEMO_BUILD_INFO,
    DEMO_MODEL,
    DemoModelNotBuiltError,
    demo_cache_root,
    demo_pointer,
)

NEEDS_DEMO = "the demo build needs the demo extra (gensim, bm25s)"


@pytest.fixture(scope="module")
def demo_model():
    return pytest.importorskip("rerankwatch.demo.model", reason=NEEDS_DEMO)


@pytest.fixture(scope="module")
def demo_data():
    return pytest.importorskip("rerankwatch.demo.data", reason=NEEDS_DEMO)


@pytest.fixture(scope="module")
def corpus(demo_data):
    return demo_data.build_corpus(seed=13)


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty model cache; the default budget (full)."""
    monkeypatch.setenv("RERANKWATCH_CACHE", str(tmp_path))
    monkeypatch.delenv(DEMO_BUDGET_ENV, raising=False)
    return tmp_path


def fake_build(name: str, age_s: float) -> Path:
    """A complete build folder (its build.json written ``age_s`` seconds ago)."""
    folder = demo_cache_root() / name
    folder.mkdir(parents=True)
    info = folder / DEMO_BUILD_INFO
    info.write_text(json.dumps({"model": DEMO_MODEL}))
    stamp = info.stat().st_mtime - age_s
    os.utime(info, (stamp, stamp))
    return folder


# --------------------------------------------------------------------------- product side


def test_unbuilt_demo_model_names_the_build_command(cache):
    with pytest.raises(DemoModelNotBuiltError, match="build-demo-model"):
        resolve_model(DEMO_MODEL)


def test_the_demo_loads_the_full_build_unless_a_budget_is_pinned(cache, monkeypatch):
    smoke = fake_build("smoke-aaaa", age_s=0)
    with pytest.raises(DemoModelNotBuiltError, match="budget full"):
        resolve_model(DEMO_MODEL)  # a smoke build only tests the plumbing
    monkeypatch.setenv(DEMO_BUDGET_ENV, "smoke")
    assert resolve_model(DEMO_MODEL) == str(smoke)


def test_the_pointer_names_the_build_the_product_loads(cache):
    # named against their age: "newest" is the build.json's mtime, not the folder name
    older, newer = fake_build("full-bbbb", age_s=3600), fake_build("full-aaaa", age_s=0)
    assert resolve_model(DEMO_MODEL) == str(newer)  # no pointer: the newest complete build
    demo_pointer("full").write_text(json.dumps({"folder": older.name, "recipe_version": "4"}))
    assert resolve_model(DEMO_MODEL) == str(older)  # the pointer wins over the newer folder
    demo_pointer("full").unlink()
    assert resolve_model(DEMO_MODEL) == str(newer)


def test_a_pointer_at_an_incomplete_build_falls_back_to_the_newest(cache):
    fake_build("full-aaaa", age_s=3600)
    newest = fake_build("full-bbbb", age_s=0)
    (demo_cache_root() / "full-cccc").mkdir()  # no build.json: never loaded
    demo_pointer("full").write_text(json.dumps({"folder": "full-cccc"}))
    assert resolve_model(DEMO_MODEL) == str(newest)


def test_the_builds_own_pointer_is_what_the_product_loads(cache, demo_model):
    older = fake_build("full-aaaa", age_s=3600)
    fake_build("full-bbbb", age_s=0)  # newer, but not the one the build pointed at
    demo_model._point_at(older, "full")
    assert resolve_model(DEMO_MODEL) == str(older) == str(demo_model.find_built())


@pytest.mark.parametrize("missing", [["gensim"], ["bm25s"], ["gensim", "bm25s"]])
def test_build_demo_model_without_the_demo_extra_exits_2(cache, monkeypatch, missing):
    import importlib.util

    import rerankwatch.demo
    from rerankwatch.cli import app

    real = importlib.util.find_spec
    monkeypatch.setattr(rerankwatch.demo, "find_spec",
                        lambda name, *a: None if name in missing else real(name, *a))
    result = CliRunner().invoke(app, ["build-demo-model", "--budget", "smoke"])
    assert result.exit_code == 2, result.output
    assert f"needs {', '.join(missing)}," in result.output
    assert "rerankwatch[demo]" in result.output
    assert not demo_cache_root().exists()  # nothing was built


# --------------------------------------------------------------------------- the recipe


def test_wiki_cleaning_drops_markup_and_keeps_prose(demo_data):
    clean_wiki_line, is_prose = demo_data.clean_wiki_line, demo_data.is_prose
    assert clean_wiki_line("'''Alabama''' () is a state , in the US.") == \
        "Alabama is a state, in the US."
    assert not is_prose("{{Infobox | name = x}} " + "word " * 60)
    assert not is_prose("[[File:Map.png|thumb]] " + "word " * 60 + ".")
    sentence = "Alabama is a state in the southeastern region of the United States."
    assert is_prose(" ".join([sentence] * 3))
    assert all(len(p) <= 400 for p in demo_data.chunk("A short sentence here. " * 60))


def test_corpus_is_deterministic_and_holds_articles_out(corpus, demo_data):
    again = demo_data.build_corpus(seed=13)
    assert corpus.passages == again.passages and corpus.train_queries == again.train_queries
    assert corpus.heldout_articles
    assert not {q.article for q in corpus.train_queries if q.kind != "fact"} \
        & corpus.heldout_articles
    assert not any("|" in p.text or "{" in p.text for p in corpus.passages)
    assert {q.kind for q in corpus.train_queries} == {"title", "section", "fact"}


def test_fact_queries_carry_entity_swaps(corpus):
    fact = next(q for q in corpus.train_queries if q.kind == "fact" and q.swapped)
    right = corpus.passages[fact.positives[0]]
    assert right.article in fact.text
    assert all(corpus.passages[p].article != right.article for p in fact.swapped)


def test_dev_split_is_disjoint_and_leaves_the_held_out_split_as_it_was(corpus, demo_data):
    assert corpus.dev_queries and corpus.dev_articles
    assert not corpus.dev_articles & corpus.heldout_articles
    split = {name: {q.qid for q in queries} for name, queries in (
        ("train", corpus.train_queries), ("dev", corpus.dev_queries),
        ("held-out", corpus.heldout_queries))}
    assert not split["train"] & split["dev"] and not split["dev"] & split["held-out"]
    assert {q.kind for q in corpus.dev_queries} == {"title", "section", "fact"}
    without_dev = demo_data.build_corpus(seed=13, dev_every=0)
    assert without_dev.heldout_queries == corpus.heldout_queries  # the held-out split is fixed
    assert {q.qid for q in without_dev.train_queries} == {
        q.qid for q in corpus.train_queries + corpus.dev_queries}
    dev_facts = {q.positives[0] for q in corpus.dev_queries if q.kind == "fact"}
    assert not dev_facts & {p for q in corpus.train_queries for p in q.swapped}
    sentences = corpus.passages[corpus.searchable:]  # short negatives, never retrieved
    assert sentences and {p.source for p in sentences} == {"sentence"}
    assert "sentence" not in {p.source for p in corpus.documents}


def test_groups_never_use_dev_or_held_out_passages(corpus, demo_model):
    budget = demo_model.Budget("test", steps=40, short_negatives=2)
    groups = demo_model.training_groups(corpus, budget)
    assert len(groups) == budget.steps * budget.groups_per_step
    unseen = corpus.heldout_articles | corpus.dev_articles
    kept = {pid for q in (*corpus.heldout_queries, *corpus.dev_queries) for pid in q.positives}
    kept |= {p.pid for p in corpus.passages if p.article in unseen and p.source != "fact"}
    dev = {q.text for q in corpus.dev_queries + corpus.heldout_queries} - {
        q.text for q in corpus.train_queries}
    sources = set()
    for group in groups:
        assert len(group.pids) == budget.group_size and not kept & set(group.pids)
        assert group.query not in dev
        assert group.structural[0] == 1.0  # the target passage leads every group
        sources |= {corpus.passages[pid].source for pid in group.pids}
    assert "sentence" in sources  # the short negatives are in


def test_grouped_loss_prefers_the_right_order(demo_model):
    import torch

    labels = torch.tensor([[0.9, 0.4, 0.0]])
    for listwise in (0.0, 1.0):
        right = demo_model.grouped_loss(torch.tensor([[3.0, 0.0, -3.0]]), labels, 0.5, listwise)
        wrong = demo_model.grouped_loss(torch.tensor([[-3.0, 0.0, 3.0]]), labels, 0.5, listwise)
        assert right < wrong


def test_each_budget_has_its_own_cache_key(demo_model):
    keys = {demo_model.recipe_key(name) for name in demo_model.BUDGETS}
    assert len(keys) == len(demo_model.BUDGETS)
    assert demo_model.model_dir("smoke").name.startswith("smoke-")


def test_weight_average_is_the_mean_of_the_snapshots(demo_model):
    import torch

    layer = torch.nn.Linear(2, 1)
    averaged = demo_model.WeightAverage(layer)
    averaged.load_into()  # no snapshot yet: the weights stay
    for value in (1.0, 2.0, 6.0):
        with torch.no_grad():
            layer.weight.fill_(value)
            layer.bias.fill_(-value)
        averaged.add()
    averaged.load_into()
    assert torch.equal(layer.weight, torch.full((1, 2), 3.0))
    assert torch.equal(layer.bias, torch.full((1,), -3.0))
