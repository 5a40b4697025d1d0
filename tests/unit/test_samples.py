"""load_sample_set / load_sample_sets: the shipped golden sets and every validation rule."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from rerankwatch.core.errors import SampleSetError
from rerankwatch.samples.loader import (
    REQUIRED_FIELDS,
    SCHEMA,
    load_sample_set,
    load_sample_sets,
    pair_id,
)

DROP = object()  # sentinel: leave the field out of the record


def record(**overrides) -> dict:
    """A valid pair; keyword overrides replace fields, DROP removes one."""
    base = {
        "set_id": "s1", "query_id": "q1", "query": "How do I sell my shirt?",
        "doc_id": "d1", "doc": "List it on a resale marketplace.", "label": 3,
        "tags": [], "lang": "en",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not DROP}


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
    )
    return path


def two_valid() -> list[dict]:
    return [record(), record(doc_id="d2", doc="Ketchup is made from tomatoes.", label=0,
                             tags=["known_irrelevant"])]


def assert_error(exc: pytest.ExceptionInfo, path: Path, line: int | None, field: str | None,
                 fragment: str) -> None:
    """The error names the file, the line and the field, in its attributes and its text."""
    err = exc.value
    assert err.file == str(path)
    assert err.line == line
    assert err.field == field
    text = str(err)
    assert text.startswith(str(path) if line is None else f"{path}:{line}")
    if field is not None:
        assert f"[{field}]" in text
    assert fragment in err.message


# --------------------------------------------------------------------------- shipped sets


@pytest.fixture(scope="module")
def golden(golden_dir: Path) -> pl.DataFrame:
    return load_sample_sets({
        "golden_en": golden_dir / "golden_en.jsonl",
        "golden_zh": golden_dir / "golden_zh.jsonl",
    })


def test_golden_sets_load_with_expected_size(golden: pl.DataFrame) -> None:
    assert golden.schema == pl.Schema(SCHEMA)
    assert golden.height >= 60
    counts = dict(golden.group_by("set_id").len().iter_rows())
    assert counts["golden_en"] >= 40 and counts["golden_zh"] >= 20
    assert set(golden["lang"].unique()) == {"en", "zh"}
    assert golden["pair_id"].n_unique() == golden.height
    # every pair id is the documented hash of its identity and text
    first = golden.row(0, named=True)
    assert first["pair_id"] == pair_id(first["set_id"], first["query_id"], first["doc_id"],
                                       first["query"], first["doc"])


def test_golden_known_irrelevant_toilet_query(golden: pl.DataFrame) -> None:
    rows = golden.filter(pl.col("query") == "卫生间在哪里")
    assert rows.height >= 1
    assert rows["known_irrelevant"].all()
    assert (rows["label"] == 0).all()
    assert all("known_irrelevant" in tags for tags in rows["tags"].to_list())


def test_golden_sell_shirt_ladder(golden: pl.DataFrame) -> None:
    rows = golden.filter(pl.col("query") == "How do I sell my shirt?").sort("ladder_rank")
    assert rows["ladder"].unique().to_list() == ["sell_shirt"]
    assert rows["ladder_rank"].to_list() == [1, 2, 3, 4]
    assert rows["label"].to_list() == [3.0, 2.0, 1.0, 0.0]
    assert rows["query_id"].n_unique() == 1
    # rank 4 is the off-topic, known-irrelevant rung
    assert rows["known_irrelevant"].to_list() == [False, False, False, True]


def test_golden_caffeine_ladder_has_three_ranks(golden: pl.DataFrame) -> None:
    rows = golden.filter(pl.col("query") == "如何缓解咖啡因引起的失眠?").sort("ladder_rank")
    assert rows["ladder"].unique().to_list() == ["caffeine_insomnia"]
    assert rows["ladder_rank"].to_list() == [1, 2, 3]
    labels = rows["label"].to_list()
    assert labels == sorted(labels, reverse=True) and labels[0] > labels[-1]
    assert rows["set_id"].unique().to_list() == ["golden_zh"]


def test_golden_tesla_fsd_ladder_has_two_ranks(golden: pl.DataFrame) -> None:
    rows = golden.filter(pl.col("ladder") == "tesla_fsd").sort("ladder_rank")
    assert rows["ladder_rank"].to_list() == [1, 2]
    assert rows["query_id"].n_unique() == 1
    assert "FSD" in rows["query"][0]
    assert rows["label"][0] > rows["label"][1]


def test_golden_ladders_are_well_formed(golden: pl.DataFrame) -> None:
    ladders = golden.filter(pl.col("ladder").is_not_null())
    for (set_id, name), group in ladders.group_by("set_id", "ladder"):
        group = group.sort("ladder_rank")
        assert group["ladder_rank"].to_list() == list(range(1, group.height + 1)), name
        labels = group["label"].to_list()
        assert labels == sorted(labels, reverse=True), (set_id, name)


def test_golden_en_has_several_docs_beyond_512_minilm_tokens(
    golden: pl.DataFrame, minilm_path: str
) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    en = golden.filter(pl.col("set_id") == "golden_en")
    lengths = [len(ids) for ids in tokenizer(en["doc"].to_list())["input_ids"]]
    long_docs = [n for n in lengths if n > 512]
    assert len(long_docs) >= 3
    # every doc tagged "long" really is beyond the 512-token window
    for tags, n in zip(en["tags"].to_list(), lengths, strict=True):
        if "long" in tags:
            assert n > 512


# --------------------------------------------------------------------------- shipped sets' content
# What our golden sets hold (samples/README.md, "Shipped sets"); the format's rules are the
# loader's, these are the conventions the sets were written to.


@dataclass(frozen=True)
class Shipped:
    set_id: str
    lang: str
    pairs: int
    queries: int
    ladders: dict[str, int]  # name: rungs, in file order
    ending_irrelevant: set[str]  # ladders whose last rung is a known_irrelevant doc
    known_irrelevant: int  # all of them, on ladders or not
    standalone_irrelevant: int  # single-doc queries whose one doc is known_irrelevant
    long: int
    long_ladder_tops: set[str]  # ladders whose rank 1 is a long document


SHIPPED = [
    Shipped("golden_en", "en", pairs=45, queries=22, ladders={
        "sell_shirt": 4, "boil_egg": 4, "python_reverse_list": 4, "dehydration": 4,
        "japan_visa": 4, "capital_australia": 4, "soccer_players": 3, "roth_ira": 4},
        ending_irrelevant={"sell_shirt", "boil_egg", "python_reverse_list", "dehydration",
                           "japan_visa", "capital_australia", "roth_ira"},
        known_irrelevant=16, standalone_irrelevant=9, long=3, long_ladder_tops={"roth_ira"}),
    Shipped("golden_zh", "zh", pairs=30, queries=17, ladders={
        "caffeine_insomnia": 3, "tesla_fsd": 2, "hongshaorou": 4, "python_json": 4,
        "altitude_sickness": 3, "train_ticket_change": 3},
        ending_irrelevant={"hongshaorou", "python_json"},
        known_irrelevant=9, standalone_irrelevant=7, long=3,
        long_ladder_tops={"altitude_sickness"}),
]


@pytest.fixture(scope="module", params=SHIPPED, ids=lambda s: s.set_id)
def shipped(request, golden_dir: Path) -> tuple[Shipped, pl.DataFrame, Path]:
    spec = request.param
    path = golden_dir / f"{spec.set_id}.jsonl"
    return spec, load_sample_set(path, expected_set_id=spec.set_id), path


def test_shipped_set_counts_match_the_readme(shipped) -> None:
    spec, frame, _ = shipped
    assert frame["set_id"].unique().to_list() == [spec.set_id]
    assert frame["lang"].unique().to_list() == [spec.lang]
    assert frame.height == spec.pairs
    assert frame["query_id"].n_unique() == spec.queries
    assert frame["known_irrelevant"].sum() == spec.known_irrelevant
    assert sum("long" in tags for tags in frame["tags"].to_list()) == spec.long
    sizes = frame.group_by("query_id").agg(pl.len(), pl.col("known_irrelevant").all())
    assert sizes.filter((pl.col("len") == 1) & pl.col("known_irrelevant")).height \
        == spec.standalone_irrelevant


def test_shipped_ladders(shipped) -> None:
    spec, frame, _ = shipped
    ladders = frame.filter(pl.col("ladder").is_not_null())
    assert dict(ladders.group_by("ladder", maintain_order=True).len().iter_rows()) \
        == spec.ladders
    for (name,), rungs in ladders.group_by("ladder"):
        rungs = rungs.sort("ladder_rank")
        irrelevant = rungs["known_irrelevant"].to_list()
        # a known_irrelevant doc can only be a ladder's last rung
        assert irrelevant == [False] * (rungs.height - 1) + [name in spec.ending_irrelevant]
        top_is_long = "long" in rungs["tags"][0].to_list()
        assert top_is_long == (name in spec.long_ladder_tops), name
        assert rungs["label"][0] > rungs["label"][-1], name  # a ladder has a slope


def test_shipped_ids_are_numbered_in_file_order(shipped) -> None:
    """Queries are <lang>-q01, -q02, ... in one block of lines each; docs <query_id>-d1, -d2,
    ...; a ladder takes every doc of its query, best first, so rank = doc number."""
    spec, frame, _ = shipped
    assert frame["line"].to_list() == list(range(1, frame.height + 1))  # no blank lines
    query, doc, previous = 0, 0, None
    for row in frame.iter_rows(named=True):
        if row["query_id"] != previous:
            query, doc, previous = query + 1, 0, row["query_id"]
        doc += 1
        assert row["query_id"] == f"{spec.lang}-q{query:02d}", row["line"]
        assert row["doc_id"] == f"{row['query_id']}-d{doc}", row["line"]
        assert row["ladder_rank"] in (None, doc), row["line"]
    per_query = frame.group_by("query_id").agg(
        on_ladder=pl.col("ladder").is_not_null().sum(), ladders=pl.col("ladder").n_unique(),
        docs=pl.len())
    for row in per_query.filter(pl.col("on_ladder") > 0).iter_rows(named=True):
        assert row["on_ladder"] == row["docs"] and row["ladders"] == 1, row["query_id"]
    # one query_id, one text; one text, one query_id (no query is asked twice under two ids)
    assert frame.group_by("query_id").agg(pl.col("query").n_unique())["query"].max() == 1
    assert frame.group_by("query").agg(pl.col("query_id").n_unique())["query_id"].max() == 1


def test_shipped_labels_and_tags(shipped) -> None:
    """Integer labels; only the documented tags, in the order ladder, known_irrelevant, long."""
    _, frame, _ = shipped
    assert all(label.is_integer() for label in frame["label"].to_list())
    for row in frame.iter_rows(named=True):
        expected = [f"ladder:{row['ladder']}:{row['ladder_rank']}"] if row["ladder"] else []
        expected += ["known_irrelevant"] if row["known_irrelevant"] else []
        expected += ["long"] if "long" in row["tags"] else []
        assert row["tags"] == expected, row["line"]


def test_shipped_long_docs_are_long(shipped) -> None:
    """samples/README.md: English > 3,500 characters and 600+ words; Chinese > 900 characters."""
    spec, frame, _ = shipped
    long_docs = frame.filter(pl.col("tags").list.contains("long"))["doc"].to_list()
    assert len(long_docs) == spec.long
    for doc in long_docs:
        if spec.lang == "en":
            assert len(doc) > 3500 and len(doc.split()) >= 600, doc[:60]
        else:
            assert len(doc) > 900, doc[:60]


def test_shipped_texts_are_tidy(shipped) -> None:
    """No stray whitespace; paragraphs are separated by one blank line and hold no line break."""
    _, frame, _ = shipped
    for text in frame["query"].to_list() + frame["doc"].to_list():
        paragraphs = text.split("\n\n")
        assert all(p and p == p.strip() and "\n" not in p for p in paragraphs), text[:60]
        assert "  " not in text, text[:60]


def test_shipped_files_are_canonical_jsonl(shipped) -> None:
    """One json.dumps(..., ensure_ascii=False) object per line, fields in the documented order,
    newline-terminated: diffs stay readable and show only what changed."""
    _, frame, path = shipped
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n") and "\r" not in text
    lines = text.splitlines()
    assert len(lines) == frame.height
    for line in lines:
        record = json.loads(line)
        assert list(record) == list(REQUIRED_FIELDS)
        assert json.dumps(record, ensure_ascii=False) == line


# --------------------------------------------------------------------------- valid small sets


def test_valid_jsonl_derives_ladder_and_flags(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s1.jsonl", [
        record(doc_id="d1", label=3, tags=["ladder:shirt:1", "free_form"]),
        record(doc_id="d2", label=2.5, tags=["ladder:shirt:2"]),
        record(doc_id="d3", label=0, tags=["ladder:shirt:3", "known_irrelevant"]),
    ])
    frame = load_sample_set(path, expected_set_id="s1")
    assert frame.height == 3
    assert frame["ladder"].to_list() == ["shirt"] * 3
    assert frame["ladder_rank"].to_list() == [1, 2, 3]
    assert frame["known_irrelevant"].to_list() == [False, False, True]
    assert frame["label"].to_list() == [3.0, 2.5, 0.0]
    assert frame["line"].to_list() == [1, 2, 3]
    assert frame["source_file"].unique().to_list() == [str(path)]
    assert frame["tags"][0].to_list() == ["ladder:shirt:1", "free_form"]


def test_blank_lines_are_skipped_but_counted(tmp_path: Path) -> None:
    path = tmp_path / "s1.jsonl"
    path.write_text("\n" + json.dumps(record()) + "\n   \n"
                    + json.dumps(record(doc_id="d2")) + "\n", encoding="utf-8")
    frame = load_sample_set(path)
    assert frame["line"].to_list() == [2, 4]


def test_pair_id_changes_when_text_changes(tmp_path: Path) -> None:
    a = load_sample_set(write_jsonl(tmp_path / "a.jsonl", [record()]))
    b = load_sample_set(write_jsonl(tmp_path / "b.jsonl", [record(doc="An edited doc.")]))
    c = load_sample_set(write_jsonl(tmp_path / "c.jsonl", [record()]))
    assert a["pair_id"][0] != b["pair_id"][0]
    assert a["pair_id"][0] == c["pair_id"][0]


# --------------------------------------------------------------------------- validation errors


@pytest.mark.parametrize("field", ["query", "doc", "label", "tags", "lang"])
def test_missing_field(tmp_path: Path, field: str) -> None:
    path = write_jsonl(tmp_path / "s1.jsonl", [record(), record(doc_id="d2", **{field: DROP})])
    with pytest.raises(SampleSetError) as exc:
        load_sample_set(path)
    assert_error(exc, path, 2, field, "missing field")


def test_null_field_counts_as_missing(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s1.jsonl", [record(query_id=None)])
    with pytest.raises(SampleSetError) as exc:
        load_sample_set(path)
    assert_error(exc, path, 1, "query_id", "missing field")


@pytest.mark.parametrize("value", ["", "   \t"])
def test_empty_query(tmp_path: Path, value: str) -> None:
    path = write_jsonl(tmp_path / "s1.jsonl", [record(), record(doc_id="d2", query=value)])
    with pytest.raises(SampleSetError) as exc:
        load_sample_set(path)
    assert_error(exc, path, 2, "query", "must not be empty")


def test_empty_doc(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s1.jsonl", [record(doc=" ")])
    with pytest.raises(SampleSetError) as exc:
        load_sample_set(path)
    assert_error(exc, path, 1, "doc", "must not be empty")


def test_non_string_text_field(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s1.jsonl", [record(doc_id=7)])
    with pytest.raises(SampleSetError) as exc:
        load_sample_set(path)
    assert_error(exc, path, 1, "doc_id", "must be a string")


def test_duplicate_query_doc_pair(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s1.jsonl", [
        record(), record(doc_id="d2"), record(doc="same ids, other text"),
    ])
    with pytest.raises(SampleSetError) as exc:
        load_sample_set(path)
    assert_error(exc, path, 3, "doc_id", "duplicate (query_id, doc_id)")
    assert "first on line 1" in exc.value.message


def test_same_doc_id_under_another_query_is_fine(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s1.jsonl", [record(), record(query_id="q2")])
    assert load_sample_set(path).height == 2


@pytest.mark.parametrize("label", [4, -1, 3.0001])
def test_label_out_of_range(tmp_path: Path, label: float) -> None:
    path = write_jsonl(tmp_path / "s1.jsonl", [record(), record(doc_id="d2", label=label)])
    with pytest.raises(SampleSetError) as exc:
        load_sample_set(path)
    assert_error(exc, path, 2, "label", "outside the graded range")


@pytest.mark.parametrize("label", ["2", "high", True, [1]])
def test_non_numeric_label(tmp_path: Path, label) -> None:
    path = write_jsonl(tmp_path / "s1.jsonl", [record(label=label)])
    with pytest.raises(SampleSetError) as exc:
        load_sample_set(path)
    assert_error(exc, path, 1, "label", "must be a number")


def test_nan_label(tmp_path: Path) -> None:
    path = tmp_path / "s1.jsonl"
    path.write_text(json.dumps(record(label=0)).replace('"label": 0', '"label": NaN') + "\n")
    with pytest.raises(SampleSetError) as exc:
        load_sample_set(path)
    assert_error(exc, path, 1, "label", "must be a number")


def test_huge_integer_label_is_a_sample_set_error(tmp_path: Path) -> None:
    path = tmp_path / "s1.jsonl"
    path.write_text(json.dumps(record(label=10**400)) + "\n")
    with pytest.raises(SampleSetError) as exc:
        load_sample_set(path)
    assert_error(exc, path, 1, "label", "outside the graded range")


@pytest.mark.parametrize("tag", [
    "ladder:x", "ladder:X:1", "ladder:x:0", "ladder:x:01", "ladder::1", "ladder:x:1:2",
    "ladder:x y:1",
])
def test_malformed_ladder_tag(tmp_path: Path, tag: str) -> None:
    path = write_jsonl(tmp_path / "s1.jsonl", [record(), record(doc_id="d2", tags=[tag])])
    with pytest.raises(SampleSetError) as exc:
        load_sample_set(path)
    assert_error(exc, path, 2, "tags", "malformed ladder tag")
    assert repr(tag) in exc.value.message


def test_pair_on_two_ladders(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s1.jsonl", [record(tags=["ladder:a:1", "ladder:b:1"])])
    with pytest.raises(SampleSetError) as exc:
        load_sample_set(path)
    assert_error(exc, path, 1, "tags", "one ladder only")


@pytest.mark.parametrize("tags", ["ladder:a:1", ["ok", ""], ["ok", 3]])
def test_tags_must_be_list_of_non_empty_strings(tmp_path: Path, tags) -> None:
    path = write_jsonl(tmp_path / "s1.jsonl", [record(tags=tags)])
    with pytest.raises(SampleSetError) as exc:
        load_sample_set(path)
    assert_error(exc, path, 1, "tags", "list of non-empty strings")


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "s1.jsonl"
    good = json.dumps(record()).encode("utf-8")
    bad = json.dumps(record(doc_id="d2", doc="caf\u00e9"), ensure_ascii=False).encode()
    bad = bad.replace("\u00e9".encode(), b"\xe9")  # a latin-1 byte: invalid UTF-8
    path.write_bytes(good + b"\n" + good.replace(b'"d1"', b'"d3"') + b"\n" + bad + b"\n")
    with pytest.raises(SampleSetError) as exc:
        load_sample_set(path)
    assert_error(exc, path, 3, None, "invalid UTF-8")
    offset = bad.index(b"\xe9")
    assert f"at byte {offset}" in exc.value.message


def test_invalid_json(tmp_path: Path) -> None:
    path = tmp_path / "s1.jsonl"
    path.write_text(json.dumps(record()) + "\n" + '{"set_id": "s1", "query_id": \n')
    with pytest.raises(SampleSetError) as exc:
        load_sample_set(path)
    assert_error(exc, path, 2, None, "invalid JSON")


def test_line_must_be_an_object(tmp_path: Path) -> None:
    path = tmp_path / "s1.jsonl"
    path.write_text('["not", "an", "object"]\n')
    with pytest.raises(SampleSetError) as exc:
        load_sample_set(path)
    assert_error(exc, path, 1, None, "JSON object")


@pytest.mark.parametrize("label", [1, 0.5, 3])
def test_known_irrelevant_needs_label_zero(tmp_path: Path, label: float) -> None:
    path = write_jsonl(tmp_path / "s1.jsonl", [
        record(), record(doc_id="d2", label=label, tags=["known_irrelevant"]),
    ])
    with pytest.raises(SampleSetError) as exc:
        load_sample_set(path)
    assert_error(exc, path, 2, "label", "known_irrelevant pair must have label 0")


@pytest.mark.parametrize("ranks,message", [
    ([1, 3], "ranks [1, 3] must be 1..2"),
    ([2, 3], "ranks [2, 3] must be 1..2"),
    ([1, 1], "ranks [1, 1] must be 1..2"),
    ([2], "ranks [2] must be 1..1"),
])
def test_ladder_ranks_must_be_one_to_n(tmp_path: Path, ranks: list[int], message: str) -> None:
    path = write_jsonl(tmp_path / "s1.jsonl", [record(doc_id="d0")] + [
        record(doc_id=f"d{i + 1}", tags=[f"ladder:shirt:{rank}"]) for i, rank in enumerate(ranks)
    ])
    with pytest.raises(SampleSetError) as exc:
        load_sample_set(path)
    assert_error(exc, path, 2, "tags", message)
    assert "'s1/shirt'" in exc.value.message


@pytest.mark.parametrize("labels,line,message", [
    ([3, 1, 2], 3, "rank 3 has label 2, above rank 2's 1 (line 2)"),
    ([0, 3], 2, "rank 2 has label 3, above rank 1's 0 (line 1)"),
    ([2.5, 2, 2.25], 3, "rank 3 has label 2.25, above rank 2's 2 (line 2)"),
])
def test_ladder_labels_must_not_increase_with_rank(tmp_path: Path, labels: list[float],
                                                    line: int, message: str) -> None:
    path = write_jsonl(tmp_path / "s1.jsonl", [
        record(doc_id=f"d{rank}", label=label, tags=[f"ladder:shirt:{rank}"])
        for rank, label in enumerate(labels, start=1)
    ])
    with pytest.raises(SampleSetError) as exc:
        load_sample_set(path)
    assert_error(exc, path, line, "label", message)
    assert "'s1/shirt'" in exc.value.message and "must not increase" in exc.value.message


def test_ladder_label_error_names_the_lower_rungs_line_in_any_file_order(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s1.jsonl", [
        record(doc_id="d9", label=0, tags=["known_irrelevant"]),
        record(doc_id="d3", label=2, tags=["ladder:shirt:3"]),
        record(doc_id="d1", label=3, tags=["ladder:shirt:1"]),
        record(doc_id="d2", label=1, tags=["ladder:shirt:2"]),
    ])
    with pytest.raises(SampleSetError) as exc:
        load_sample_set(path)
    assert_error(exc, path, 2, "label", "rank 3 has label 2, above rank 2's 1 (line 4)")


def test_ladder_labels_may_tie(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s1.jsonl", [
        record(doc_id="d1", label=2, tags=["ladder:shirt:1"]),
        record(doc_id="d2", label=2, tags=["ladder:shirt:2"]),
        record(doc_id="d3", label=0, tags=["ladder:shirt:3", "known_irrelevant"]),
        record(doc_id="d4", label=0, tags=["ladder:shirt:4"]),
    ])
    assert load_sample_set(path)["ladder_rank"].to_list() == [1, 2, 3, 4]


def test_parquet_ladder_labels_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "s1.parquet"
    pl.DataFrame([record(doc_id="d1", label=1.0, tags=["ladder:shirt:1"]),
                  record(doc_id="d2", label=3.0, tags=["ladder:shirt:2"])]).write_parquet(path)
    with pytest.raises(SampleSetError) as exc:
        load_sample_set(path)
    assert_error(exc, path, 2, "label", "rank 2 has label 3, above rank 1's 1 (line 1)")


def test_ladder_spanning_query_ids(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s1.jsonl", [
        record(query_id="q1", doc_id="d1", tags=["ladder:shirt:1"]),
        record(query_id="q9", doc_id="d9", label=0, tags=["unrelated"]),
        record(query_id="q2", doc_id="d2", tags=["ladder:shirt:2"]),
    ])
    with pytest.raises(SampleSetError) as exc:
        load_sample_set(path)
    assert_error(exc, path, 3, "tags", "spans several query_ids")


def test_unknown_extra_field(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s1.jsonl", [record(), record(doc_id="d2", score=0.7)])
    with pytest.raises(SampleSetError) as exc:
        load_sample_set(path)
    assert_error(exc, path, 2, "score", "unknown field")


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_zero_pairs(tmp_path: Path, content: str) -> None:
    path = tmp_path / "s1.jsonl"
    path.write_text(content)
    with pytest.raises(SampleSetError) as exc:
        load_sample_set(path)
    assert_error(exc, path, None, None, "0 pairs")


@pytest.mark.parametrize("name", ["s1.csv", "s1.json", "s1.JSONL"])
def test_unsupported_extension(tmp_path: Path, name: str) -> None:
    path = write_jsonl(tmp_path / name, [record()])
    with pytest.raises(SampleSetError) as exc:
        load_sample_set(path)
    assert_error(exc, path, None, None, "unsupported format")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.jsonl"
    with pytest.raises(SampleSetError) as exc:
        load_sample_set(path)
    assert_error(exc, path, None, None, "file not found")


def test_set_id_mismatch(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s1.jsonl", [record(), record(doc_id="d2", set_id="other")])
    unchecked = load_sample_set(path)  # without an expected id, mixed ids are allowed
    assert unchecked["set_id"].to_list() == ["s1", "other"]
    with pytest.raises(SampleSetError) as exc:
        load_sample_set(path, expected_set_id="s1")
    assert_error(exc, path, 2, "set_id", "differs from the configured set 's1'")
    assert "'other'" in exc.value.message


# --------------------------------------------------------------------------- Parquet


def test_parquet_loads_like_jsonl(tmp_path: Path) -> None:
    records = [
        record(doc_id="d1", label=3, tags=["ladder:shirt:1"]),
        record(doc_id="d2", label=1.5, tags=["ladder:shirt:2", "free"]),
        record(doc_id="d3", label=0, tags=["known_irrelevant"], doc="卫生间在哪里?", lang="zh"),
        record(query_id="q2", doc_id="d1", query="Other query", label=2, tags=[]),
    ]
    for r in records:
        r["label"] = float(r["label"])
    jsonl = write_jsonl(tmp_path / "s1.jsonl", records)
    parquet = tmp_path / "s1.parquet"
    pl.DataFrame(records, schema={
        "set_id": pl.String, "query_id": pl.String, "query": pl.String, "doc_id": pl.String,
        "doc": pl.String, "label": pl.Float64, "tags": pl.List(pl.String), "lang": pl.String,
    }).write_parquet(parquet)

    from_jsonl = load_sample_set(jsonl, expected_set_id="s1")
    from_parquet = load_sample_set(parquet, expected_set_id="s1")
    assert from_parquet.schema == from_jsonl.schema
    assert from_parquet.drop("source_file").equals(from_jsonl.drop("source_file"))
    assert from_parquet["source_file"].unique().to_list() == [str(parquet)]
    assert from_parquet["ladder_rank"].to_list() == [1, 2, None, None]


def test_parquet_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "s1.parquet"
    pl.DataFrame([record()]).drop("doc").write_parquet(path)
    with pytest.raises(SampleSetError) as exc:
        load_sample_set(path)
    assert_error(exc, path, None, "doc", "missing column")


def test_parquet_rows_are_validated(tmp_path: Path) -> None:
    path = tmp_path / "s1.parquet"
    pl.DataFrame([record(), record(doc_id="d2", label=5)]).write_parquet(path)
    with pytest.raises(SampleSetError) as exc:
        load_sample_set(path)
    assert_error(exc, path, 2, "label", "outside the graded range")


def test_corrupt_parquet(tmp_path: Path) -> None:
    path = tmp_path / "s1.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(SampleSetError) as exc:
        load_sample_set(path)
    assert_error(exc, path, None, None, "unreadable Parquet")


# --------------------------------------------------------------------------- several sets


def test_load_sample_sets_concatenates_named_sets(tmp_path: Path) -> None:
    a = write_jsonl(tmp_path / "a.jsonl", [record(set_id="a")])
    b = write_jsonl(tmp_path / "b.jsonl", [record(set_id="b"), record(set_id="b", doc_id="d2")])
    frame = load_sample_sets({"a": a, "b": b})
    assert frame["set_id"].to_list() == ["a", "b", "b"]
    assert frame["pair_id"].n_unique() == 3  # same ids/text in other sets: other pair ids


def test_load_sample_sets_fails_if_any_file_is_bad(tmp_path: Path) -> None:
    good = write_jsonl(tmp_path / "good.jsonl", [record(set_id="good")])
    bad = write_jsonl(tmp_path / "bad.jsonl", [record(set_id="bad", label=9)])
    result = None
    with pytest.raises(SampleSetError) as exc:
        result = load_sample_sets({"good": good, "bad": bad})
    assert result is None
    assert_error(exc, bad, 1, "label", "outside the graded range")


def test_load_sample_sets_checks_set_ids_against_names(tmp_path: Path) -> None:
    a = write_jsonl(tmp_path / "a.jsonl", [record(set_id="a")])
    with pytest.raises(SampleSetError) as exc:
        load_sample_sets({"golden": a})
    assert_error(exc, a, 1, "set_id", "differs from the configured set 'golden'")


# --------------------------------------------------------------------------- control characters

ESC_CLEAR = "\x1b[2J\x1b]0;pwned\x07"  # clear the screen, retitle the window (ends in BEL)


@pytest.mark.parametrize(("field", "value", "char"), [
    ("query_id", f"q{ESC_CLEAR}", "\\x1b"), ("doc_id", "d\x00", "\\x00"),
    ("set_id", "s\u202e1", "\\u202e"), ("lang", "en\x07", "\\x07"), ("doc_id", "d\x9b", "\\x9b"),
    ("query_id", "q\u2066", "\\u2066"),
])
def test_ids_refuse_control_characters(tmp_path: Path, field: str, value: str,
                                       char: str) -> None:
    path = write_jsonl(tmp_path / "s1.jsonl", [record(), record(**{"doc_id": "d2", field: value})])
    with pytest.raises(SampleSetError) as exc:
        load_sample_set(path)
    assert_error(exc, path, 2, field, f"control character {char}")


def test_tags_refuse_control_characters(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s1.jsonl", [record(tags=["free", f"x{ESC_CLEAR}"])])
    with pytest.raises(SampleSetError) as exc:
        load_sample_set(path)
    assert_error(exc, path, 1, "tags", "control character \\x1b")


@pytest.mark.parametrize("field", ["query", "doc"])
def test_texts_refuse_control_characters_but_tab_and_line_breaks(tmp_path: Path,
                                                                  field: str) -> None:
    ok = write_jsonl(tmp_path / "ok.jsonl", [record(**{field: "a\tb\r\nc\n\nd"})])
    assert load_sample_set(ok).height == 1
    path = write_jsonl(tmp_path / "s1.jsonl", [record(**{field: f"text{ESC_CLEAR}"})])
    with pytest.raises(SampleSetError) as exc:
        load_sample_set(path)
    assert_error(exc, path, 1, field, "control character \\x1b at offset 4")
    assert "'control_chars'" in exc.value.message


def test_a_pair_tagged_control_chars_keeps_them_in_its_texts(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s1.jsonl", [
        record(doc=f"doc{ESC_CLEAR}\x00\u202e", tags=["control_chars"]),
        record(doc_id="d2", doc=f"x{ESC_CLEAR}"),
    ])
    with pytest.raises(SampleSetError) as exc:  # the opt-in is per pair
        load_sample_set(path)
    assert_error(exc, path, 2, "doc", "control character")
    path = write_jsonl(tmp_path / "s1.jsonl", [
        record(doc=f"doc{ESC_CLEAR}\x00\u202e", tags=["control_chars"])])
    assert load_sample_set(path)["doc"][0] == f"doc{ESC_CLEAR}\x00\u202e"


def test_a_lone_surrogate_is_one_error_naming_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "s1.jsonl"
    path.write_text(json.dumps(record()) + "\n"
                    + json.dumps(record(doc_id="d2")).replace("List it", "\\ud800 List it")
                    + "\n", encoding="utf-8")
    for tags in ([], ["control_chars"]):
        with pytest.raises(SampleSetError) as exc:
            load_sample_set(path)
        assert_error(exc, path, 2, "doc", "control character \\ud800")
        assert "lone surrogate" in exc.value.message
        path.write_text(path.read_text().replace('"tags": []', f'"tags": {json.dumps(tags)}'))
