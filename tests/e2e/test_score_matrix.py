"""The score-matrix flow end to end under Prefect, on the shipped golden set and real models."""

from __future__ import annotations

from pathlib import Path

import pytest

from rerankwatch.flows.score_matrix import score_matrix
from rerankwatch.store import Store

ENGINE = """
[[engines]]
name = "{name}"
kind = "{kind}"
model = "{model}"
precision = "{precision}"
sets = ["golden_en"]
"""


def write_config(tmp_path: Path, engines: list[tuple[str, str, str, str]],
                 golden_dir: Path, reference: str, extra_sets: str = "") -> Path:
    body = [f'db = "{tmp_path / "rw.duckdb"}"', f'reference = "{reference}"',
            f'[[sample_sets]]\nname = "golden_en"\npath = "{golden_dir / "golden_en.jsonl"}"',
            extra_sets]
    body += [ENGINE.format(name=n, kind=k, model=m, precision=p) for n, k, m, p in engines]
    path = tmp_path / "config.toml"
    path.write_text("\n".join(body))
    return path


@pytest.fixture(scope="module")
def golden_run(tmp_path_factory, golden_dir):
    tmp_path = tmp_path_factory.mktemp("golden-run")
    config = write_config(tmp_path, [
        ("st-bi-fp32", "st-bi", "embedded:all-MiniLM-L6-v2", "float32"),
        ("hf-bi-fp32", "hf-bi", "embedded:all-MiniLM-L6-v2", "float32"),
        ("st-bi-bf16", "st-bi", "embedded:all-MiniLM-L6-v2", "bf16"),
    ], golden_dir, reference="st-bi-fp32")
    run_id = score_matrix(str(config))
    store = Store(tmp_path / "rw.duckdb", read_only=True)
    yield run_id, store
    store.close()


def test_run_is_recorded_with_every_engine(golden_run):
    run_id, store = golden_run
    runs = store.sql("select status, error from runs where run_id = $r", r=run_id)
    assert runs.rows() == [("succeeded", None)]
    counts = store.sql("select engine_name, count(*) as n from scores where run_id = $r "
                       "and variant = 'main' group by 1 order by 1", r=run_id)
    assert counts.rows() == [("hf-bi-fp32", 45), ("st-bi-bf16", 45), ("st-bi-fp32", 45)]
    dtypes = store.sql("select distinct dtype from v_run_scores where run_id = $r order by 1",
                       r=run_id)
    assert dtypes["dtype"].to_list() == ["bfloat16", "float32"]


def test_st_bi_and_hf_bi_agree_in_float32(golden_run):
    run_id, store = golden_run
    delta = store.sql(
        "select max(abs(a.score - b.score)) as d from scores a join scores b using (pair_id) "
        "where a.run_id = $r and b.run_id = $r and a.engine_name = 'st-bi-fp32' "
        "and b.engine_name = 'hf-bi-fp32' and a.variant = 'main' and b.variant = 'main'",
        r=run_id)
    assert delta["d"][0] < 1e-5


def test_every_english_ladder_is_ordered(golden_run):
    run_id, store = golden_run
    ladders = store.sql(
        "select ladder, ladder_rank, score from v_run_scores where run_id = $r "
        "and engine_name = 'st-bi-fp32' and ladder is not null order by ladder, ladder_rank",
        r=run_id)
    assert ladders["ladder"].n_unique() >= 5
    for (ladder,), group in ladders.group_by("ladder"):
        scores = group.sort("ladder_rank")["score"].to_list()
        assert scores == sorted(scores, reverse=True), f"ladder {ladder} out of order: {scores}"


def test_english_known_irrelevant_stay_below_0_3_cosine(golden_run):
    run_id, store = golden_run
    worst = store.sql("select max(score) as m, count(*) as n from v_run_scores where run_id = $r "
                      "and known_irrelevant and engine_name like '%fp32'", r=run_id)
    assert worst["n"][0] >= 16
    assert worst["m"][0] < 0.3


def test_failed_engine_keeps_finished_scores_and_marks_run_failed(tmp_path, golden_dir):
    config = write_config(tmp_path, [
        ("st-bi-fp32", "st-bi", "embedded:all-MiniLM-L6-v2", "float32"),
        # a hub id is not checked with the config (offline): the engine fails at load
        ("broken", "hf-bi", "no-such-org/no-such-model", "float32"),
    ], golden_dir, reference="st-bi-fp32")
    state = score_matrix(str(config), return_state=True)
    assert state.is_failed()
    with Store(tmp_path / "rw.duckdb", read_only=True) as store:
        run = store.sql("select run_id, status, error from runs")
        assert run["status"].to_list() == ["failed"]
        assert "broken" in run["error"][0]
        engines = store.sql("select engine_name, status, error from run_engines order by 1")
        assert engines["status"].to_list() == ["failed", "succeeded"]
        assert "no-such-model" in engines["error"][0]
        kept = store.sql("select count(*) as n from scores where engine_name = 'st-bi-fp32' "
                         "and variant = 'main'")
        assert kept["n"][0] == 45


def test_invalid_sample_set_writes_nothing(tmp_path, golden_dir):
    bad = tmp_path / "bad.jsonl"
    good_lines = (golden_dir / "golden_en.jsonl").read_text().splitlines()
    bad.write_text("\n".join(good_lines[:4] + [good_lines[4].replace('"label": 3', '"label": 7')]))
    config = tmp_path / "config.toml"
    config.write_text(
        f'db = "{tmp_path / "rw.duckdb"}"\nreference = "a"\n'
        f'[[sample_sets]]\nname = "golden_en"\npath = "{bad}"\n'
        + ENGINE.format(name="a", kind="st-bi", model="embedded:all-MiniLM-L6-v2",
                        precision="float32"))
    state = score_matrix(str(config), return_state=True)
    assert state.is_failed()
    assert "bad.jsonl:5 [label]" in str(state.message) + repr(state.result(raise_on_failure=False))
    assert not (tmp_path / "rw.duckdb").exists()
