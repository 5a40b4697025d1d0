"""The demo cross-encoder's recipe without training: corpus, groups, loss, cache key, resolution."""

from __future__ import annotations

import pytest

from rerankwatch.demo import model as demo_model
from rerankwatch.demo.data import build_corpus, chunk, clean_wiki_line, is_prose
from rerankwatch.engines.base import resolve_model


@pytest.fixture(scope="module")
def corpus():
    return build_corpus(seed=13)


def test_wiki_cleaning_drops_markup_and_keeps_prose():
    assert clean_wiki_line("'''Alabama''' () is a state , in the US.") == \
        "Alabama is a state, in the US."
    assert not is_prose("{{Infobox | name = x}} " + "word " * 60)
    assert not is_prose("[[File:Map.png|thumb]] " + "word " * 60 + ".")
    sentence = "Alabama is a state in the southeastern region of the United States."
    assert is_prose(" ".join([sentence] * 3))
    assert all(len(p) <= 400 for p in chunk("A short sentence here. " * 60))


def test_corpus_is_deterministic_and_holds_articles_out(corpus):
    again = build_corpus(seed=13)
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


def test_groups_never_use_held_out_passages(corpus):
    groups = demo_model.training_groups(corpus, demo_model.BUDGETS["smoke"])
    budget = demo_model.BUDGETS["smoke"]
    assert len(groups) == budget.steps * budget.groups_per_step
    held = {p.pid for p in corpus.passages if p.article in corpus.heldout_articles}
    for group in groups:
        assert len(group.pids) == budget.group_size and not held & set(group.pids)
        assert group.structural[0] == 1.0  # the target passage leads every group


def test_grouped_loss_prefers_the_right_order():
    import torch

    labels = torch.tensor([[0.9, 0.4, 0.0]])
    right = demo_model.grouped_loss(torch.tensor([[3.0, 0.0, -3.0]]), labels, 0.5)
    wrong = demo_model.grouped_loss(torch.tensor([[-3.0, 0.0, 3.0]]), labels, 0.5)
    assert right < wrong


def test_each_budget_has_its_own_cache_key():
    keys = {demo_model.recipe_key(name) for name in demo_model.BUDGETS}
    assert len(keys) == len(demo_model.BUDGETS)
    assert demo_model.model_dir("smoke").name.startswith("smoke-")


def test_unbuilt_demo_model_names_the_build_command(tmp_path, monkeypatch):
    monkeypatch.setenv("RERANKWATCH_CACHE", str(tmp_path))
    monkeypatch.delenv(demo_model.BUDGET_ENV, raising=False)
    with pytest.raises(demo_model.DemoModelNotBuiltError, match="build-demo-model"):
        resolve_model(demo_model.MODEL_NAME)


def test_the_demo_loads_the_full_build_unless_a_budget_is_pinned(tmp_path, monkeypatch):
    monkeypatch.setenv("RERANKWATCH_CACHE", str(tmp_path))
    monkeypatch.delenv(demo_model.BUDGET_ENV, raising=False)
    smoke = demo_model.model_dir("smoke")
    smoke.mkdir(parents=True)
    (smoke / demo_model.BUILD_INFO).write_text("{}")
    with pytest.raises(demo_model.DemoModelNotBuiltError, match="budget full"):
        resolve_model(demo_model.MODEL_NAME)  # a smoke build only tests the plumbing
    monkeypatch.setenv(demo_model.BUDGET_ENV, "smoke")
    assert resolve_model(demo_model.MODEL_NAME) == str(smoke)


def test_weight_average_is_the_mean_of_the_snapshots():
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
