"""Load and validate sample sets (JSONL or Parquet) into one polars frame."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from pathlib import Path

import polars as pl

from rerankwatch.core.controls import TEXT_WHITESPACE, control_char, escaped
from rerankwatch.core.errors import SampleSetError

REQUIRED_FIELDS = ("set_id", "query_id", "query", "doc_id", "doc", "label", "tags", "lang")
LADDER_TAG = re.compile(r"^ladder:(?P<name>[a-z0-9_]+):(?P<rank>[1-9][0-9]*)$")
LABEL_RANGE = (0.0, 3.0)
IDS = ("set_id", "query_id", "doc_id", "lang")
TEXTS = ("query", "doc")
CONTROL_TAG = "control_chars"  # a pair whose texts may hold control characters on purpose
SURROGATES = "".join(map(chr, range(0xD800, 0xE000)))
SCHEMA = {
    "pair_id": pl.String, "set_id": pl.String, "query_id": pl.String, "query": pl.String,
    "doc_id": pl.String, "doc": pl.String, "label": pl.Float64, "tags": pl.List(pl.String),
    "lang": pl.String, "ladder": pl.String, "ladder_rank": pl.Int64,
    "known_irrelevant": pl.Boolean, "source_file": pl.String, "line": pl.Int64,
}


def pair_id(set_id: str, query_id: str, doc_id: str, query: str, doc: str) -> str:
    """Stable id of a pair; changes when its text changes, so edited pairs are rescored."""
    payload = json.dumps([set_id, query_id, doc_id, query, doc], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:20]


def _read_jsonl(path: Path) -> list[tuple[int, dict]]:
    rows = []
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SampleSetError(
                str(path), number, None, f"invalid UTF-8 at byte {exc.start}"
            ) from None
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SampleSetError(str(path), number, None, f"invalid JSON: {exc.msg}") from None
        if not isinstance(record, dict):
            raise SampleSetError(str(path), number, None, "each line must be a JSON object")
        rows.append((number, record))
    return rows


def _read_parquet(path: Path) -> list[tuple[int, dict]]:
    try:
        frame = pl.read_parquet(path)
    except Exception as exc:  # polars raises several types for corrupt files
        raise SampleSetError(str(path), None, None, f"unreadable Parquet: {exc}") from None
    missing = [f for f in REQUIRED_FIELDS if f not in frame.columns]
    if missing:
        raise SampleSetError(str(path), None, missing[0], "missing column")
    return list(enumerate(frame.to_dicts(), start=1))


def _check_row(path: Path, line: int, record: dict) -> dict:
    def fail(field: str | None, message: str) -> SampleSetError:
        return SampleSetError(str(path), line, field, message)

    for field in REQUIRED_FIELDS:
        if field not in record or record[field] is None:
            raise fail(field, "missing field")
    extra = sorted(set(record) - set(REQUIRED_FIELDS))
    if extra:
        raise fail(extra[0], f"unknown field (allowed: {', '.join(REQUIRED_FIELDS)})")
    for field in ("set_id", "query_id", "query", "doc_id", "doc", "lang"):
        value = record[field]
        if not isinstance(value, str):
            raise fail(field, f"must be a string, got {type(value).__name__}")
        if not value.strip():
            raise fail(field, "must not be empty")
    tags = record["tags"]
    if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
        raise fail("tags", "must be a list of non-empty strings")
    for field, value, allowed in _controls_allowed(record, tags):
        if (char := control_char(value, allowed)) is not None:
            raise fail(field, f"holds the control character {escaped(char)} at offset "
                              f"{value.index(char)}" + _control_hint(field, char))
    label = record["label"]
    # label != label is NaN; it also avoids float() on huge ints, which overflows
    if isinstance(label, bool) or not isinstance(label, int | float) or label != label:
        raise fail("label", f"must be a number, got {label!r}")
    if not LABEL_RANGE[0] <= label <= LABEL_RANGE[1]:
        raise fail("label", f"{label} is outside the graded range {LABEL_RANGE}")
    ladder, rank = None, None
    for tag in tags:
        if tag.startswith("ladder"):
            match = LADDER_TAG.match(tag)
            if not match:
                raise fail("tags", f"malformed ladder tag {tag!r}; expected ladder:<name>:<rank>")
            if ladder is not None:
                raise fail("tags", "a pair can sit on one ladder only")
            ladder, rank = match["name"], int(match["rank"])
    known_irrelevant = "known_irrelevant" in tags
    if known_irrelevant and label != 0:
        raise fail("label", "a known_irrelevant pair must have label 0")
    return {
        **{f: record[f] for f in REQUIRED_FIELDS},
        "label": float(label),
        "pair_id": pair_id(*(record[f] for f in ("set_id", "query_id", "doc_id", "query", "doc"))),
        "ladder": ladder, "ladder_rank": rank, "known_irrelevant": known_irrelevant,
        "source_file": str(path), "line": line,
    }


def _controls_allowed(record: dict, tags: list[str]):
    """(field, value, the control characters it may hold) of every string of a row: none in
    ids and tags; tab and line breaks in texts, or any but a lone surrogate (never valid
    Unicode) in a pair tagged ``control_chars``."""
    texts = CONTROL_TAG in tags
    for field in IDS:
        yield field, record[field], ""
    for tag in tags:
        yield "tags", tag, ""
    for field in TEXTS:
        value = record[field]
        yield field, value, _all_but_surrogates(value) if texts else TEXT_WHITESPACE


def _all_but_surrogates(value: str) -> str:
    return "".join(c for c in value if c not in SURROGATES)


def _control_hint(field: str, char: str) -> str:
    if char in SURROGATES:
        return " (a lone surrogate: not valid Unicode)"
    if field in TEXTS:
        return f" (texts may hold tab and line breaks; tag the pair {CONTROL_TAG!r} to keep others)"
    return " (ids and tags may hold none)"


def _check_ladders(path: Path, rows: list[dict]) -> None:
    ladders: dict[str, list[dict]] = {}
    for row in rows:
        if row["ladder"]:
            ladders.setdefault(f"{row['set_id']}/{row['ladder']}", []).append(row)
    for name, members in ladders.items():
        if len({m["query_id"] for m in members}) != 1:
            raise SampleSetError(str(path), members[1]["line"], "tags",
                                 f"ladder {name!r} spans several query_ids")
        ranks = sorted(m["ladder_rank"] for m in members)
        if ranks != list(range(1, len(members) + 1)):
            raise SampleSetError(str(path), members[0]["line"], "tags",
                                 f"ladder {name!r} ranks {ranks} must be 1..{len(members)}")
        ranked = sorted(members, key=lambda m: m["ladder_rank"])
        for above, below in itertools.pairwise(ranked):
            if below["label"] > above["label"]:
                raise SampleSetError(
                    str(path), below["line"], "label",
                    f"ladder {name!r} rank {below['ladder_rank']} has label {below['label']:g}, "
                    f"above rank {above['ladder_rank']}'s {above['label']:g} (line "
                    f"{above['line']}); labels must not increase with rank")


def load_sample_set(path: str | Path, expected_set_id: str | None = None) -> pl.DataFrame:
    """Read one JSONL or Parquet sample set, validating every row; raises SampleSetError."""
    path = Path(path)
    if path.is_dir():
        raise SampleSetError(str(path), None, None, "is a directory, not a sample file")
    if not path.is_file():
        raise SampleSetError(str(path), None, None, "file not found")
    readers = {".jsonl": _read_jsonl, ".parquet": _read_parquet}
    if path.suffix not in readers:
        raise SampleSetError(str(path), None, None, "unsupported format (use .jsonl or .parquet)")
    rows, seen = [], {}
    for line, record in readers[path.suffix](path):
        row = _check_row(path, line, record)
        if expected_set_id and row["set_id"] != expected_set_id:
            raise SampleSetError(str(path), line, "set_id",
                                 f"{row['set_id']!r} differs from the configured set "
                                 f"{expected_set_id!r}")
        key = (row["set_id"], row["query_id"], row["doc_id"])
        if key in seen:
            raise SampleSetError(str(path), line, "doc_id",
                                 f"duplicate (query_id, doc_id) {key[1:]}; first on line "
                                 f"{seen[key]}")
        seen[key] = line
        rows.append(row)
    if not rows:
        raise SampleSetError(str(path), None, None, "sample set has 0 pairs")
    _check_ladders(path, rows)
    return pl.DataFrame(rows, schema=SCHEMA)


def load_sample_sets(paths: dict[str, Path]) -> pl.DataFrame:
    """Load several named sets; all are validated before anything is returned."""
    return pl.concat([load_sample_set(p, expected_set_id=name) for name, p in paths.items()])
