"""`rerankwatch samples import | validate | stats` on small files each test writes: BEIR, TREC,
and SQL over CSV, Parquet and DuckDB sources."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import polars as pl
import pytest
from typer.testing import CliRunner

from rerankwatch.cli import app
from rerankwatch.core.errors import SampleSetError
from rerankwatch.samples.importers import (
    ImportOptions,
    import_set,
    read_beir,
    read_sql,
    read_topics,
    read_trec,
    stratified,
)
from rerankwatch.samples.loader import load_sample_set

QUERIES = {"q1": "how do I sell my shirt", "q2": "how long to boil an egg",
           "q3": "capital of australia"}
DOCS = {f"d{i}": text for i, text in enumerate([
    "List your shirt on a resale marketplace with photos.",
    "Sell clothes online after checking for stains.",
    "Shirts come in many sizes and colours.",
    "Boil eggs for ten to twelve minutes for hard yolks.",
    "Soft-boiled eggs take about six minutes.",
    "Eggs are a source of protein.",
    "Canberra is the capital of Australia.",
    "Sydney is the largest city in Australia.",
    "Kangaroos live in Australia.",
], start=1)}
QRELS = [("q1", "d1", 3), ("q1", "d2", 2), ("q1", "d3", 1), ("q2", "d4", 3), ("q2", "d5", 2),
         ("q2", "d6", 1), ("q3", "d7", 3), ("q3", "d8", 0), ("q3", "d9", 0)]


def run(*args: str):
    return CliRunner().invoke(app, ["samples", *args])


@pytest.fixture
def beir(tmp_path) -> Path:
    folder = tmp_path / "beir"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(
        json.dumps({"_id": d, "title": "", "text": t}) + "\n" for d, t in DOCS.items()))
    (folder / "queries.jsonl").write_text("".join(
        json.dumps({"_id": q, "text": t}) + "\n" for q, t in QUERIES.items()))
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{s}\n" for q, d, s in QRELS))
    return folder


def test_a_beir_folder_becomes_a_valid_set_with_ladders_and_negatives(beir, tmp_path):
    out = tmp_path / "beir_set.jsonl"
    result = run("import", "beir", str(beir), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "3 queries, 3 ladders, 3 known-irrelevant" in result.output
    frame = load_sample_set(out, expected_set_id="beir_set")
    assert frame.filter(~pl.col("known_irrelevant")).height == len(QRELS)
    ladder = frame.filter((pl.col("query_id") == "q1")
                          & pl.col("ladder").is_not_null()).sort("ladder_rank")
    assert ladder["doc_id"].to_list() == ["d1", "d2", "d3"]  # one per grade, highest first
    assert ladder["ladder_rank"].to_list() == [1, 2, 3]
    q3 = frame.filter((pl.col("query_id") == "q3") & pl.col("ladder").is_not_null())
    assert q3["label"].to_list() == [3.0, 0.0]  # grades 3 and 0: two rungs
    negatives = frame.filter(pl.col("known_irrelevant"))
    assert negatives["label"].to_list() == [0.0] * 3
    for row in negatives.iter_rows(named=True):  # another query's document
        original = row["doc_id"].removeprefix("neg-")
        assert next(q for q, d, _ in QRELS if d == original) != row["query_id"]


def test_the_sample_is_seeded_and_stratified_by_label(beir):
    judged = read_beir(beir)
    once = stratified(judged, per_query=2, max_pairs=None, seed=7)
    assert once.equals(stratified(judged, per_query=2, max_pairs=None, seed=7))
    assert once.group_by("query_id").len()["len"].to_list() == [2, 2, 2]
    for (_,), pairs in once.group_by("query_id"):
        assert pairs["label"].n_unique() == 2  # two grades rather than two of one
    capped = stratified(judged, per_query=None, max_pairs=3, seed=7)
    assert capped.height == 3 and capped["label"].n_unique() >= 2
    seeds = {tuple(stratified(judged, None, 4, seed=s)["doc_id"]) for s in range(6)}
    assert len(seeds) > 1  # the seed chooses


def test_trec_files_import(tmp_path):
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("".join(f"{q} 0 {d} {s}\n" for q, d, s in QRELS))
    topics = tmp_path / "topics.txt"
    topics.write_text("".join(f"<top>\n<num> Number: {q}\n<title> {t}\n<desc> Description:\n"
                              f"about it\n</top>\n" for q, t in QUERIES.items()))
    collection = tmp_path / "collection.tsv"
    collection.write_text("".join(f"{d}\t{t}\n" for d, t in DOCS.items()))
    out = tmp_path / "trec.jsonl"
    result = run("import", "trec", "--qrels", str(qrels), "--topics", str(topics),
                 "--collection", str(collection), "--out", str(out), "--negatives", "0",
                 "--lang", "en")
    assert result.exit_code == 0, result.output
    frame = load_sample_set(out)
    assert frame.height == len(QRELS) and not frame["known_irrelevant"].any()
    assert set(frame["query"]) == set(QUERIES.values())
    judged = read_trec(qrels, _tsv_topics(tmp_path), collection)
    assert judged.height == len(QRELS)


def _tsv_topics(tmp_path: Path) -> Path:
    path = tmp_path / "topics.tsv"
    path.write_text("".join(f"{q}\t{t}\n" for q, t in QUERIES.items()))
    return path


@pytest.fixture
def clicks() -> pl.DataFrame:
    return pl.DataFrame({"q": [QUERIES[q] for q, _, _ in QRELS],
                         "d": [DOCS[d] for _, d, _ in QRELS], "clicks": [s for _, _, s in QRELS]})


QUERY = "select q as query, d as doc, least(clicks, 3) as label from source"


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_sql_over_a_file(tmp_path, clicks, suffix):
    source = tmp_path / f"clicks{suffix}"
    clicks.write_csv(source) if suffix == ".csv" else clicks.write_parquet(source)
    out = tmp_path / "clicks.jsonl"
    result = run("import", "sql", "--source", str(source), "--query", QUERY, "--out", str(out),
                 "--max-pairs", "6", "--seed", "3")
    assert result.exit_code == 0, result.output
    frame = load_sample_set(out)
    assert frame.filter(~pl.col("known_irrelevant")).height == 6
    assert frame["query_id"].str.starts_with("q").all()  # ids derived from the texts


def test_sql_over_a_duckdb_file(tmp_path, clicks):
    source = tmp_path / "logs.duckdb"
    with duckdb.connect(str(source)) as con:
        con.register("frame", clicks)
        con.execute("create table clicks as select * from frame")
    judged = read_sql(source, "select q as query, d as doc, clicks as label, "
                              "'x' || row_number() over () as doc_id from clicks")
    assert judged.height == len(QRELS) and judged["doc_id"][0].startswith("x")
    options = ImportOptions(set_id="logs", negatives=0)
    loaded = import_set(judged, tmp_path / "logs.jsonl", options)
    assert loaded.height == len(QRELS)


@pytest.mark.parametrize(("query", "message"), [
    ("select q as query, d as doc from source", "[label]: the query must return query, doc, "
                                                 "label"),
    ("select q as query, d as doc, clicks * 10 as label from source",
     ":1 [label]: 30 is outside the graded range"),
    ("select nonsense from source", "the query failed: Binder Error"),
])
def test_sql_errors_name_the_source_and_field(tmp_path, clicks, query, message):
    source = tmp_path / "clicks.parquet"
    clicks.write_parquet(source)
    out = tmp_path / "out.jsonl"
    result = run("import", "sql", "--source", str(source), "--query", query, "--out", str(out))
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: {source}") and message in result.output
    assert "Traceback" not in result.output and not out.exists()


def test_bad_inputs_name_file_row_and_field(beir, tmp_path):
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t3\nq1\td99\t1\n")
    with pytest.raises(SampleSetError) as caught:
        read_beir(beir)
    assert str(caught.value).endswith("test.tsv:3 [corpus-id]: unknown document id 'd99'")
    (beir / "qrels" / "test.tsv").write_text("q1\td1\thigh\n")
    with pytest.raises(SampleSetError, match=r"test.tsv:1 \[score\]: must be a number"):
        read_beir(beir)
    (beir / "corpus.jsonl").write_text('{"_id": "d1", "text": "ok"}\n{not json\n')
    with pytest.raises(SampleSetError, match=r"corpus.jsonl:2: invalid JSON"):
        read_beir(beir)
    result = run("import", "beir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o.jsonl"))
    assert result.exit_code == 2 and "BEIR folder not found" in result.output


def test_an_existing_output_is_kept_unless_forced(beir, tmp_path):
    out = tmp_path / "set.jsonl"
    out.write_text("precious\n")
    result = run("import", "beir", str(beir), "--out", str(out))
    assert result.exit_code == 2 and "exists; pass --force" in result.output
    assert out.read_text() == "precious\n"
    assert run("import", "beir", str(beir), "--out", str(out), "--force").exit_code == 0
    assert load_sample_set(out).height > 0
    assert not list(tmp_path.glob(".*partial*"))


def test_validate_and_stats(golden_dir, tmp_path):
    result = run("validate", str(golden_dir / "golden_en.jsonl"))
    assert result.exit_code == 0
    assert result.output.startswith("ok: ") and "45 pairs, 22 queries, 8 ladders, 16 known" \
        in result.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"set_id": "bad", "query_id": "q", "query": "q", "doc_id": "d",
                               "doc": "d", "label": 7, "tags": [], "lang": "en"}) + "\n")
    result = run("validate", str(bad))
    assert result.exit_code == 2 and f"error: {bad}:1 [label]: 7 is outside" in result.output
    result = run("stats", str(golden_dir / "golden_en.jsonl"), "--max-length", "128")
    assert result.exit_code == 0, result.output
    assert "longer than 128 tokens" in result.output and "known_irrelevant" in result.output
    assert "labels" in result.output


def _trec_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("".join(f"{q} 0 {d} {s}\n" for q, d, s in QRELS))
    collection = tmp_path / "collection.tsv"
    collection.write_text("".join(f"{d}\t{t}\n" for d, t in DOCS.items()))
    return qrels, _tsv_topics(tmp_path), collection


@pytest.mark.parametrize("which", [0, 1, 2])
def test_a_trec_file_that_is_not_utf8_is_one_line_naming_its_line(tmp_path, which):
    files = _trec_files(tmp_path)
    lines = files[which].read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].rstrip(b"\n") + b" caf\xe9\n"  # latin-1: invalid UTF-8
    files[which].write_bytes(b"".join(lines))
    out = tmp_path / "trec.jsonl"
    result = run("import", "trec", "--qrels", str(files[0]), "--topics", str(files[1]),
                 "--collection", str(files[2]), "--out", str(out))
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        f"error: {files[which]}:2: invalid UTF-8 at byte {len(lines[1]) - 2} of the line (0xe9);"
        f" convert the file to UTF-8"]
    assert not out.exists()


def test_validate_of_a_lone_surrogate_is_one_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"set_id": "bad", "query_id": "q", "query": "q \\ud800", "doc_id": "d", '
                   '"doc": "d", "label": 1, "tags": [], "lang": "en"}\n')
    result = run("validate", str(bad))
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        f"error: {bad}:1 [query]: holds the control character \\ud800 at offset 2 "
        f"(a lone surrogate: not valid Unicode)"]


@pytest.mark.parametrize("name", ["corpus.jsonl", "queries.jsonl"])
def test_a_duplicate_beir_id_names_both_lines(beir, tmp_path, name):
    path = beir / name
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines) + lines[1].replace('"text": "', '"text": "other '))
    out = tmp_path / "set.jsonl"
    result = run("import", "beir", str(beir), "--out", str(out))
    assert result.exit_code == 2, result.output
    key = json.loads(lines[1])["_id"]
    assert result.output.strip() == (f"error: {path}:{len(lines) + 1} [_id]: duplicate id "
                                     f"{key!r}; first on line 2")
    assert not out.exists()


def test_duplicate_trec_topics_and_documents_name_both_lines(tmp_path):
    qrels, topics, collection = _trec_files(tmp_path)
    with collection.open("a") as handle:
        handle.write("d2\tA different text under the same id.\n")
    with pytest.raises(SampleSetError) as caught:
        read_trec(qrels, topics, collection)
    assert str(caught.value) == (f"{collection}:{len(DOCS) + 1} [id]: duplicate id 'd2'; "
                                 f"first on line 2")
    with topics.open("a") as handle:
        handle.write("q3\tanother query under q3\n")
    with pytest.raises(SampleSetError, match=r"topics.tsv:4 \[id\]: duplicate id 'q3'; first "
                                             r"on line 3"):
        read_topics(topics)
    sgml = tmp_path / "topics.sgml"
    sgml.write_text("<top>\n<num> Number: 7\n<title> first\n</top>\n"
                    "<top>\n<num> Number: 7\n<title> second\n</top>\n")
    with pytest.raises(SampleSetError, match=r"topics.sgml:6 \[num\]: duplicate id '7'; first "
                                             r"on line 2"):
        read_topics(sgml)


REFUSED_IMPORT_QUERIES = [
    "copy (select 'owned' as x) to '{victim}' (format csv)",
    "copy clicks to '{other}'",
    "attach '{other}' as other",
    "install httpfs",
    "load httpfs",
    "set enable_external_access = true",
    "pragma enable_profiling",
    "select 1; delete from clicks",
    "delete from clicks",
    "select * from read_csv('{other_csv}')",
    "select * from read_text('{victim}')",
    "select * from query('select 1 as x')",
    "select * from sqlite_scan('{victim}', 'clicks')",
    "explain analyze copy (select 1) to '{other}'",
]


@pytest.mark.parametrize("query", REFUSED_IMPORT_QUERIES)
@pytest.mark.parametrize("suffix", [".duckdb", ".csv"])
def test_sql_import_runs_only_one_sandboxed_select_and_leaves_its_source_alone(
        tmp_path, clicks, suffix, query):
    """The import's query runs in the `rerankwatch sql` sandbox: one SELECT, the source
    read-only, no other file read or written; refused with one line, exit 2."""
    source = tmp_path / f"victim{suffix}"
    if suffix == ".duckdb":
        with duckdb.connect(str(source)) as con:
            con.register("frame", clicks)
            con.execute("create table clicks as select * from frame")
    else:
        clicks.write_csv(source)
    other_csv = tmp_path / "other.csv"
    other_csv.write_text("a\n1\n")
    before = source.read_bytes()
    out = tmp_path / "y.jsonl"
    text = (query.replace("{victim}", str(source)).replace("{other}", str(tmp_path / "x.csv"))
            .replace("{other_csv}", str(other_csv)))
    result = run("import", "sql", "--source", str(source), "--query", text, "--out", str(out))
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: {source}") and len(result.output.splitlines()) == 1
    assert "Traceback" not in result.output and not out.exists()
    assert source.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["other.csv", source.name])
