"""`rerankwatch samples`: import, validate and describe sample sets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rerankwatch.cli.errors import fail_with
from rerankwatch.core.errors import RerankwatchError

app = typer.Typer(no_args_is_help=True, help="Import, validate and describe sample sets.")
imports = typer.Typer(no_args_is_help=True,
                      help="Import a sample set from a BEIR folder, TREC files or a SQL query.")
app.add_typer(imports, name="import")

OutOpt = Annotated[Path, typer.Option("--out", "-o", help="The sample set to write (.jsonl).")]
SetIdOpt = Annotated[str | None, typer.Option(
    "--set-id", help="The set's name (set_id). Default: the output file's stem.")]
LangOpt = Annotated[str, typer.Option(help="Language code of every pair.")]
PerQueryOpt = Annotated[int | None, typer.Option(
    "--per-query", min=1, help="Judged pairs kept per query, stratified by label.")]
MaxPairsOpt = Annotated[int | None, typer.Option(
    "--max-pairs", min=1, help="Judged pairs kept in all, stratified by label.")]
SeedOpt = Annotated[int, typer.Option(help="Seed of the sample and of the negatives.")]
NegativesOpt = Annotated[int, typer.Option(
    min=0, help="Known-irrelevant pairs added per query: documents of other queries, label 0.")]
NoLaddersOpt = Annotated[bool, typer.Option(
    "--no-ladders", help="Derive no ladders (default: one per query with distinct grades).")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Replace an existing output file.")]


def sample_file(file: str) -> Path:
    """A sample set's file: a path, or ``pkg:samples/<file>`` resolved as a config does."""
    from rerankwatch.core.config import package_path

    return package_path(file) if file.startswith("pkg:") else Path(file)


def _import(read, out: Path, set_id: str | None, lang: str, per_query: int | None,
            max_pairs: int | None, seed: int, negatives: int, no_ladders: bool,
            force: bool) -> None:
    from rerankwatch.samples.importers import ImportOptions, import_set

    options = ImportOptions(set_id=set_id or out.stem, lang=lang, per_query=per_query,
                            max_pairs=max_pairs, seed=seed, negatives=negatives,
                            ladders=not no_ladders)
    try:
        loaded = import_set(read(), out, options, force)
    except RerankwatchError as exc:
        fail_with(exc, 2)
    ladders = loaded["ladder"].drop_nulls().n_unique()
    typer.echo(f"wrote {out}: set {options.set_id}, {loaded.height} pairs, "
               f"{loaded['query_id'].n_unique()} queries, {ladders} ladders, "
               f"{int(loaded['known_irrelevant'].sum())} known-irrelevant")


@imports.command("beir")
def import_beir(
    folder: Annotated[Path, typer.Argument(help="BEIR folder: corpus.jsonl, queries.jsonl, "
                                                "qrels/<split>.tsv.")],
    out: OutOpt, split: Annotated[str, typer.Option(help="The qrels split.")] = "test",
    set_id: SetIdOpt = None, lang: LangOpt = "en", per_query: PerQueryOpt = None,
    max_pairs: MaxPairsOpt = None, seed: SeedOpt = 0, negatives: NegativesOpt = 1,
    no_ladders: NoLaddersOpt = False, force: ForceOpt = False,
) -> None:
    """From a BEIR dataset folder."""
    from rerankwatch.samples.importers import read_beir

    _import(lambda: read_beir(folder, split), out, set_id, lang, per_query, max_pairs, seed,
            negatives, no_ladders, force)


@imports.command("trec")
def import_trec(
    qrels: Annotated[Path, typer.Option(help="qrels: qid iteration docid relevance.")],
    topics: Annotated[Path, typer.Option(help="Topics: TREC <top> SGML, or id TAB text.")],
    collection: Annotated[Path, typer.Option(help="Documents: docid TAB text, or JSONL.")],
    out: OutOpt, set_id: SetIdOpt = None, lang: LangOpt = "en", per_query: PerQueryOpt = None,
    max_pairs: MaxPairsOpt = None, seed: SeedOpt = 0, negatives: NegativesOpt = 1,
    no_ladders: NoLaddersOpt = False, force: ForceOpt = False,
) -> None:
    """From TREC qrels, topics and a collection file."""
    from rerankwatch.samples.importers import read_trec

    _import(lambda: read_trec(qrels, topics, collection), out, set_id, lang, per_query,
            max_pairs, seed, negatives, no_ladders, force)


@imports.command("sql")
def import_sql(
    source: Annotated[Path, typer.Option(help="A DuckDB file (the query names its tables), or "
                                              "a Parquet / CSV / TSV file (read as `source`).")],
    query: Annotated[str, typer.Option(help="SQL returning query, doc, label (and optionally "
                                            "query_id, doc_id).")],
    out: OutOpt, set_id: SetIdOpt = None, lang: LangOpt = "en", per_query: PerQueryOpt = None,
    max_pairs: MaxPairsOpt = None, seed: SeedOpt = 0, negatives: NegativesOpt = 1,
    no_ladders: NoLaddersOpt = False, force: ForceOpt = False,
) -> None:
    """From a SQL query over a DuckDB, Parquet or CSV source (e.g. click logs)."""
    from rerankwatch.samples.importers import read_sql

    _import(lambda: read_sql(source, query), out, set_id, lang, per_query, max_pairs, seed,
            negatives, no_ladders, force)


@app.command()
def validate(file: Annotated[str, typer.Argument(
        help="A sample set (.jsonl or .parquet), or pkg:samples/<file> as in a config.")]
             ) -> None:
    """Validate a sample set as a run would: exit 0 with a summary, 2 naming file, line, field."""
    from rerankwatch.samples.loader import load_sample_set

    try:
        frame = load_sample_set(sample_file(file))
    except RerankwatchError as exc:
        fail_with(exc, 2)
    typer.echo(f"ok: {file}: {frame.height} pairs, {frame['query_id'].n_unique()} queries, "
               f"{frame['ladder'].drop_nulls().n_unique()} ladders, "
               f"{int(frame['known_irrelevant'].sum())} known-irrelevant")


@app.command()
def stats(
    file: Annotated[str, typer.Argument(
        help="A sample set (.jsonl or .parquet), or pkg:samples/<file> as in a config.")],
    tokenizer: Annotated[str, typer.Option(
        help="Tokenizer (model alias, hub id or folder) counting long pairs.")]
    = "embedded:all-MiniLM-L6-v2",
    max_length: Annotated[int | None, typer.Option(
        "--max-length", min=8, help="Tokens a pair may have (default: the tokenizer's, "
                                    "at most 512).")] = None,
) -> None:
    """Pairs, queries, languages, label histogram, ladders, known-irrelevant and long pairs."""
    from rerankwatch.pipeline.sample_stats import sample_stats
    from rerankwatch.report.terminal import CONSOLE, frame_table
    from rerankwatch.samples.loader import load_sample_set

    try:
        found = sample_stats(load_sample_set(sample_file(file)), tokenizer, max_length)
    except RerankwatchError as exc:
        fail_with(exc, 2)
    except OSError as exc:  # a tokenizer that cannot be loaded
        fail_with(RerankwatchError(f"tokenizer {tokenizer!r} could not be loaded: {exc}"), 2)
    CONSOLE.print(frame_table(found.overview, title=f"{file} (tokens: {found.tokenizer})"))
    CONSOLE.print(frame_table(found.labels, title="labels"))
