"""Import evaluation data a team already has as a sample set: a BEIR folder, TREC qrels with
topics and a collection, or a SQL query over a DuckDB / Parquet / CSV source (click logs).

Every importer reads its source into one frame of judged pairs (query_id, query, doc_id, doc,
label), then the same steps run: a seeded sample stratified by label (``per_query``,
``max_pairs``), ladders where a query has distinct grades, known-irrelevant pairs drawn from
other queries' documents, and the loader's own validation before the file appears (written
to a temporary file, loaded back by ``load_sample_set``, then renamed: nothing half written).
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from rerankwatch.core import sandbox
from rerankwatch.core.errors import QueryRefused, SampleSetError
from rerankwatch.core.files import atomic_path
from rerankwatch.samples.loader import LABEL_RANGE, load_sample_set

JUDGED = {"query_id": pl.String, "query": pl.String, "doc_id": pl.String, "doc": pl.String,
          "label": pl.Float64}
SQL_COLUMNS = ("query", "doc", "label")  # required of a SQL source; query_id, doc_id optional
SQL_SUFFIXES = {".duckdb": "duckdb", ".db": "duckdb", ".parquet": "parquet", ".csv": "csv",
                ".tsv": "tsv"}


@dataclass(frozen=True)
class ImportOptions:
    set_id: str
    lang: str = "en"
    per_query: int | None = None  # pairs kept per query (stratified by label)
    max_pairs: int | None = None  # pairs kept in all (stratified by label)
    seed: int = 0
    negatives: int = 1  # known-irrelevant pairs per query, drawn from other queries' docs
    ladders: bool = True


def _fail(path: Path | str, line: int | None, field: str | None, message: str) -> SampleSetError:
    return SampleSetError(str(path), line, field, message)


def _need(path: Path, what: str) -> Path:
    if not path.is_file():
        raise _fail(path, None, None, f"{what} not found")
    return path


def _text(path: Path, what: str) -> str:
    """The file's text; invalid UTF-8 is an error naming its line and byte (not a traceback)."""
    raw = _need(path, what).read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1)
        raise _fail(path, line, None, f"invalid UTF-8 at byte {column} of the line "
                                      f"(0x{raw[exc.start]:02x}); convert the file to UTF-8"
                    ) from None


def _add(found: dict[str, tuple[int, str]], path: Path, line: int, field: str, key: str,
         text: str) -> None:
    """found[key] = (line, text), refusing a second entry (never "the last one wins")."""
    if key in found:
        raise _fail(path, line, field, f"duplicate id {key!r}; first on line {found[key][0]}")
    found[key] = (line, text)


def _texts(found: dict[str, tuple[int, str]]) -> dict[str, str]:
    return {key: text for key, (_, text) in found.items()}


def _jsonl(path: Path, id_fields: tuple[str, ...], text_fields: tuple[str, ...]
           ) -> dict[str, str]:
    """{id: text} of a JSONL file (BEIR's corpus/queries: ``_id``, ``title`` + ``text``)."""
    found: dict[str, tuple[int, str]] = {}
    for number, raw in enumerate(_need(path, "file").read_bytes().splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise _fail(path, number, None, f"invalid JSON: {exc}") from None
        if not isinstance(record, dict):
            raise _fail(path, number, None, "each line must be a JSON object")
        key = next((f for f in id_fields if f in record), None)
        if key is None:
            raise _fail(path, number, id_fields[0], "missing field")
        text = " ".join(str(record[f]).strip() for f in text_fields
                        if isinstance(record.get(f), str) and record[f].strip())
        if not text:
            raise _fail(path, number, text_fields[-1], "missing or empty text")
        _add(found, path, number, key, str(record[key]), text)
    return _texts(found)


def _label(path: Path, line: int, field: str, value: str) -> float:
    try:
        label = float(value)
    except ValueError:
        raise _fail(path, line, field, f"must be a number, got {value!r}") from None
    if not LABEL_RANGE[0] <= label <= LABEL_RANGE[1]:
        raise _fail(path, line, field, f"{label:g} is outside the graded range {LABEL_RANGE}")
    return label


def _judged(path: Path, qrels: list[tuple[int, str, str, float]], queries: dict[str, str],
            docs: dict[str, str], query_field: str, doc_field: str) -> pl.DataFrame:
    """The judged pairs of ``qrels`` (line, query id, doc id, label) with their texts; a qrel
    naming an unknown query or document is an error naming its line."""
    rows = []
    for line, query_id, doc_id, label in qrels:
        if query_id not in queries:
            raise _fail(path, line, query_field, f"unknown query id {query_id!r}")
        if doc_id not in docs:
            raise _fail(path, line, doc_field, f"unknown document id {doc_id!r}")
        rows.append((query_id, queries[query_id], doc_id, docs[doc_id], label))
    if not rows:
        raise _fail(path, None, None, "no judged pairs")
    return pl.DataFrame(rows, schema=JUDGED, orient="row")


def read_beir(folder: str | Path, split: str = "test") -> pl.DataFrame:
    """A BEIR folder: ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl``
    (``_id``, ``text``), ``qrels/<split>.tsv`` (``query-id``, ``corpus-id``, ``score``)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise _fail(folder, None, None, "BEIR folder not found")
    qrels_path = _need(folder / "qrels" / f"{split}.tsv", f"qrels for split {split!r}")
    docs = _jsonl(folder / "corpus.jsonl", ("_id",), ("title", "text"))
    queries = _jsonl(folder / "queries.jsonl", ("_id",), ("text",))
    qrels = []
    rows = csv.reader(io.StringIO(_text(qrels_path, "qrels"), newline=""), delimiter="\t")
    for number, row in enumerate(rows, start=1):
        if not row or (number == 1 and row[0] == "query-id"):
            continue
        if len(row) < 3:
            raise _fail(qrels_path, number, "score",
                        f"expected query-id, corpus-id, score; got {len(row)} column(s)")
        qrels.append((number, row[0], row[1], _label(qrels_path, number, "score", row[2])))
    return _judged(qrels_path, qrels, queries, docs, "query-id", "corpus-id")


TOPIC = re.compile(r"<num>\s*(?:Number:)?\s*(?P<id>\S+).*?<title>\s*(?:Topic:)?\s*(?P<text>.*?)"
                   r"\s*(?=<desc>|<narr>|</top>)", re.S)


def read_topics(path: Path) -> dict[str, str]:
    """TREC topics: classic ``<top><num>…<title>…</top>`` SGML, or ``id<TAB>text`` lines."""
    text = _text(path, "topics file")
    topics: dict[str, tuple[int, str]] = {}
    if "<top>" in text:
        for match in TOPIC.finditer(text):
            _add(topics, path, text.count("\n", 0, match.start("id")) + 1, "num", match["id"],
                 " ".join(match["text"].split()))
        if not topics:
            raise _fail(path, None, "title", "no <num> / <title> topics found")
        return _texts(topics)
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("\t", 1)
        if len(parts) != 2 or not parts[1].strip():
            raise _fail(path, number, "text", "expected <topic id> TAB <query text>")
        _add(topics, path, number, "id", parts[0].strip(), parts[1].strip())
    return _texts(topics)


def read_collection(path: Path) -> dict[str, str]:
    """A collection: ``docid<TAB>text`` lines (MS MARCO), or JSONL (``id`` / ``docid`` /
    ``_id`` with ``contents`` / ``text``, Pyserini and BEIR style)."""
    _need(path, "collection file")
    if path.suffix == ".jsonl":
        return _jsonl(path, ("id", "docid", "_id"), ("title", "contents", "text"))
    docs: dict[str, tuple[int, str]] = {}
    for number, line in enumerate(_text(path, "collection file").split("\n"), start=1):
        if not line.strip():
            continue
        parts = line.rstrip("\r").split("\t", 1)
        if len(parts) != 2 or not parts[1].strip():
            raise _fail(path, number, "text", "expected <doc id> TAB <document text>")
        _add(docs, path, number, "id", parts[0].strip(), parts[1].strip())
    return _texts(docs)


def read_trec(qrels: str | Path, topics: str | Path, collection: str | Path) -> pl.DataFrame:
    """TREC qrels (``qid iteration docid relevance``), topics and a collection."""
    qrels, topics, collection = Path(qrels), Path(topics), Path(collection)
    judged = []
    for number, line in enumerate(_text(qrels, "qrels file").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 4:
            raise _fail(qrels, number, "relevance",
                        f"expected qid iteration docid relevance; got {len(parts)} field(s)")
        judged.append((number, parts[0], parts[2], _label(qrels, number, "relevance", parts[3])))
    return _judged(qrels, judged, read_topics(topics), read_collection(collection), "qid",
                   "docid")


def read_sql(source: str | Path, query: str) -> pl.DataFrame:
    """The rows of ``query`` over ``source``: a DuckDB file (opened read-only; the query names
    its tables) or a Parquet / CSV / TSV file (the query reads it as ``source``), under the
    sandbox of `rerankwatch sql` (core/sandbox.py: one SELECT, no other file). It must
    return ``query``, ``doc`` and ``label``; ``query_id`` and ``doc_id`` are derived from the
    texts when absent."""
    import duckdb

    source = Path(source)
    kind = SQL_SUFFIXES.get(source.suffix.lower())
    if kind is None:
        raise _fail(source, None, None, f"unsupported source (use {', '.join(SQL_SUFFIXES)})")
    _need(source, "source")
    try:
        query = sandbox.read_only_statement(query)
    except QueryRefused as exc:
        raise _fail(source, None, "query", str(exc)) from None
    try:
        if kind == "duckdb":
            con = sandbox.connect(str(source))
        else:
            frame = (pl.read_parquet(source) if kind == "parquet" else
                     pl.read_csv(source, separator="\t" if kind == "tsv" else ",",
                                 infer_schema_length=10_000))
            con = sandbox.connect()
            con.register("source", frame)  # the one table the query reads
        with con:
            rows = con.sql(query).pl()
    except (duckdb.Error, pl.exceptions.PolarsError, OSError) as exc:
        raise _fail(source, None, None, f"the query failed: {str(exc).splitlines()[0]}") from None
    missing = [c for c in SQL_COLUMNS if c not in rows.columns]
    if missing:
        raise _fail(source, None, missing[0],
                    f"the query must return {', '.join(SQL_COLUMNS)} (got "
                    f"{', '.join(rows.columns) or 'no columns'})")
    for column in ("query", "doc"):
        empty = rows.with_row_index("row").filter(
            pl.col(column).is_null() | (pl.col(column).cast(pl.String).str.strip_chars() == ""))
        if empty.height:
            raise _fail(source, int(empty["row"][0]) + 1, column, "empty in the query's result")
    try:
        labels = rows["label"].cast(pl.Float64, strict=True)
    except pl.exceptions.PolarsError:
        raise _fail(source, None, "label", "must be numeric in the query's result") from None
    bad = rows.with_row_index("row").filter(~labels.is_between(*LABEL_RANGE) | labels.is_null())
    if bad.height:
        raise _fail(source, int(bad["row"][0]) + 1, "label",
                    f"{bad['label'][0]!r} is outside the graded range {LABEL_RANGE}")
    text_id = pl.col("query").cast(pl.String).hash(seed=1).cast(pl.String)
    return rows.with_columns(
        query=pl.col("query").cast(pl.String), doc=pl.col("doc").cast(pl.String), label=labels,
        query_id=(pl.col("query_id").cast(pl.String) if "query_id" in rows.columns
                  else pl.lit("q") + text_id.str.slice(0, 12)),
        doc_id=(pl.col("doc_id").cast(pl.String) if "doc_id" in rows.columns
                else pl.lit("d") + pl.col("doc").cast(pl.String).hash(seed=2).cast(pl.String)
                .str.slice(0, 12)),
    ).select(list(JUDGED)).unique(["query_id", "doc_id"], keep="first", maintain_order=True)


def stratified(judged: pl.DataFrame, per_query: int | None, max_pairs: int | None,
               seed: int) -> pl.DataFrame:
    """A seeded sample stratified by label: per query, grades taken in turn (the highest
    first), each grade's pairs in a seeded order; overall, each grade's share kept (pairs
    ordered by their rank within their grade, as a share of it)."""
    ordered = judged.sample(fraction=1.0, shuffle=True, seed=seed).with_row_index("_draw")
    if per_query is not None:
        ordered = (ordered.with_columns(_turn=pl.col("_draw").rank("ordinal")
                                        .over("query_id", "label"))
                   .sort("_turn", "label", "_draw", descending=[False, True, False])
                   .group_by("query_id", maintain_order=True).head(per_query).drop("_turn"))
    if max_pairs is not None and ordered.height > max_pairs:
        ordered = (ordered.with_columns(
            _share=(pl.col("_draw").rank("ordinal").over("label") - 0.5)
            / pl.len().over("label")).sort("_share", "_draw").head(max_pairs).drop("_share"))
    return ordered.sort("query_id", "label", "_draw", descending=[False, True, False])


def _ladder_name(query_id: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9_]+", "_", query_id.lower()).strip("_") or "q"
    name, n = f"q_{base}", 2
    while name in taken:
        name, n = f"q_{base}_{n}", n + 1
    taken.add(name)
    return name


def build_set(judged: pl.DataFrame, options: ImportOptions) -> list[dict]:
    """The sample set's rows: the stratified sample, a ladder per query with distinct grades
    (one pair per grade, the highest first), and ``negatives`` known-irrelevant pairs per query
    (documents of other queries, label 0)."""
    kept = stratified(judged, options.per_query, options.max_pairs, options.seed)
    rows, taken = [], set()
    docs = kept.select("doc_id", "doc", "query_id").unique("doc_id", maintain_order=True)
    for index, ((query_id,), pairs) in enumerate(kept.group_by("query_id",
                                                                maintain_order=True)):
        ladder: dict[str, int] = {}
        if options.ladders and pairs["label"].n_unique() > 1:
            name = _ladder_name(query_id, taken)
            firsts = pairs.unique("label", keep="first", maintain_order=True)
            ladder = {d: rank for rank, d in enumerate(firsts["doc_id"], start=1)}
        for pair in pairs.iter_rows(named=True):
            tags = [f"ladder:{name}:{ladder[pair['doc_id']]}"] if pair["doc_id"] in ladder else []
            rows.append(_row(options, pair, tags))
        others = docs.filter(pl.col("query_id") != query_id).filter(
            ~pl.col("doc_id").is_in(pairs["doc_id"].implode()))
        for other in others.sample(min(options.negatives, others.height),
                                   seed=options.seed + index).iter_rows(named=True):
            rows.append(_row(options, {"query_id": query_id, "query": pairs["query"][0],
                                       "doc_id": f"neg-{other['doc_id']}",
                                       "doc": other["doc"], "label": 0.0},
                             ["known_irrelevant", "imported_negative"]))
    return rows


def _row(options: ImportOptions, pair: dict, tags: list[str]) -> dict:
    label = pair["label"]
    return {"set_id": options.set_id, "query_id": pair["query_id"], "query": pair["query"],
            "doc_id": pair["doc_id"], "doc": pair["doc"],
            "label": int(label) if float(label).is_integer() else label, "tags": tags,
            "lang": options.lang}


def write_set(rows: list[dict], out: str | Path, set_id: str, force: bool = False
              ) -> pl.DataFrame:
    """Write ``rows`` as JSONL at ``out`` only once the loader accepts them (a temporary file
    loaded back, then renamed); an existing file is kept unless ``force``."""
    out = Path(out)
    if out.suffix != ".jsonl":
        raise _fail(out, None, None, "the output must be a .jsonl file")
    if out.exists() and not force:
        raise _fail(out, None, None, "exists; pass --force to replace it")
    with atomic_path(out, suffix=".partial.jsonl") as partial:  # loaded back as JSONL
        with partial.open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        try:
            loaded = load_sample_set(partial, expected_set_id=set_id)
        except SampleSetError as exc:  # name the file it would have been, not the temporary
            raise _fail(out, exc.line, exc.field, f"{exc.message} (imported row; nothing "
                                                  f"written)") from None
    return loaded


def import_set(judged: pl.DataFrame, out: str | Path, options: ImportOptions,
               force: bool = False) -> pl.DataFrame:
    """Sample, derive ladders and negatives, validate and write; the loaded set."""
    return write_set(build_set(judged, options), out, options.set_id, force)
