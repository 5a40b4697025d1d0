"""MkDocs hook: the reference pages are generated from the code at build time, so they cannot
drift from it. A page asks for a generated part with a marker on a line of its own:

    <!-- generated:cli -->       every command of the typer app, its arguments and options
    <!-- generated:config -->    every key of the run config (rerankwatch/core/config.py)
    <!-- generated:checks -->    every check's parameters and defaults (checks/*.py, Params)
    <!-- generated:views -->     every view of sql/views/ and its columns (from a fresh store)

and the replay table between ``<!-- replays:start -->`` and ``<!-- replays:end -->`` is
generated afresh from the replay registry (tests/unit/test_replay_declarations.py also keeps
the committed copy equal to it). ``mkdocs.yml`` names this file under ``hooks:``; the tests
import it to check the generators (tests/unit/test_docs.py).
"""

from __future__ import annotations

import ast
import inspect
import io
import re
import sys
import tempfile
import textwrap
import tokenize
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # this checkout's code, whatever the venv's editable install says
    sys.path.insert(0, str(ROOT))
MARKER = re.compile(r"^<!-- generated:(\w+) -->$", re.M)


# -- field descriptions: Field(description=...) or the comments beside the field in the source

def _source_comments(cls: type) -> dict[str, str]:
    """Each field of ``cls``'s own body with the comments written beside it: the comment
    lines right above it and the comment at the end of its line(s)."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    comments: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip()
    lines = source.splitlines()
    found = {}
    for node in ast.parse(source).body[0].body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        above, line = [], node.lineno - 1
        while line >= 1 and lines[line - 1].strip().startswith("#"):
            above.insert(0, comments.get(line, ""))
            line -= 1
        beside = [comments[n] for n in range(node.lineno, node.end_lineno + 1) if n in comments]
        found[node.target.id] = " ".join(part for part in above + beside if part)
    return found


def field_rows(model: type) -> list[tuple[str, str, str, str]]:
    """(key, type, default, description) for every field of a pydantic model, inherited ones
    included; a field's description is its ``Field(description=...)``, else its comments."""
    comments: dict[str, str] = {}
    for klass in reversed(model.__mro__):
        if "model_fields" in vars(klass) or hasattr(klass, "__annotations__"):
            comments.update(_source_comments(klass))
    rows = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        kind = (annotation.__name__ if isinstance(annotation, type)
                else str(annotation).replace("typing.", ""))
        kind = re.sub(r"\w+(?:\.\w+)+\.(\w+)", r"\1", kind)
        if field.is_required():
            default = "required"
        elif field.default_factory is not None:
            default = f"`{field.default_factory()!r}`"
        else:
            default = f"`{field.default!r}`"
        rows.append((name, kind, default, field.description or comments.get(name, "")))
    return rows


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def fields_table(model: type, skip: tuple[str, ...] = ()) -> str:
    lines = ["| key | type | default | what |", "| --- | --- | --- | --- |"]
    for name, kind, default, description in field_rows(model):
        if name not in skip:
            lines.append(f"| `{name}` | `{_cell(kind)}` | {_cell(default)} | "
                         f"{_cell(description)} |")
    return "\n".join(lines) + "\n"


# -- the generated parts

def config_reference(models: dict[str, type] | None = None) -> str:
    """Every key of a run config, table by table (top level, [[sample_sets]], [[engines]],
    [[environments]]); ``models`` replaces the models (the tests pass a subclass)."""
    from rerankwatch.core import config

    models = models or {
        "Top level": config.RunConfig, "[[sample_sets]]": config.SampleSetConfig,
        "[[engines]]": config.EngineConfig, "[[environments]]": config.EnvironmentConfig}
    parts = []
    for title, model in models.items():
        doc = inspect.getdoc(model) or ""
        parts.append(f"### {title}\n\n{doc.splitlines()[0] if doc else ''}\n\n"
                     + fields_table(model, skip=("base_dir",)))
    return "\n".join(parts)


def checks_reference() -> str:
    """Every registered check: what it catches (its module's docstring), what each subject
    measures and on which side of its threshold it must stay, its parameters
    (``[checks.<name>]``) with their defaults and descriptions (how to tune it), and the
    incident replays it is declared to catch (engines/faults.py)."""
    from rerankwatch.checks import CHECKS, check_class
    from rerankwatch.checks.base import bound
    from rerankwatch.pipeline.replay import REPLAYS

    parts = []
    for name in CHECKS:
        cls = check_class(name)
        module = inspect.getmodule(cls)
        summary = (inspect.getdoc(module) or inspect.getdoc(cls) or "").split("\n\n")[0]
        measures = "\n".join(f"- `{subject}`: {what} ({bound(cls, subject).replace('_', ' ')} "
                             f"its threshold)" for subject, what in cls.measures.items())
        caught = [f"`{r.name}`" for r in REPLAYS if name in r.expected]
        parts.append(f"### `{name}`\n\n{' '.join(summary.split())}\n\n"
                     f"What it measures:\n\n{measures}\n\n"
                     f"`[checks.{name}]` (`{module.__name__.split('.')[-1]}.py`):\n\n"
                     + fields_table(cls.Params)
                     + "\n\nIncident replays it catches: "
                     + (", ".join(caught) if caught else "none declared") + ".\n")
    return "\n".join(parts)


def view_columns(directory: Path | None = None) -> dict[str, list[tuple[str, str]]]:
    """Every view of sql/views/ with its (column, type) pairs, read from a fresh empty store."""
    import duckdb

    from rerankwatch.store import Store

    views = sorted(p.stem for p in (ROOT / "sql" / "views").glob("*.sql"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(directory or tmp) / "docs.duckdb"
        Store(path).close()
        con = duckdb.connect(str(path), read_only=True)
        try:
            return {view: [(row[0], row[1]) for row in con.execute(f'describe "{view}"').fetchall()]
                    for view in views}
        finally:
            con.close()


def views_reference() -> str:
    parts = []
    for view, columns in view_columns().items():
        text = (ROOT / "sql" / "views" / f"{view}.sql").read_text(encoding="utf-8")
        comment = " ".join(line.removeprefix("--").strip() for line in text.splitlines()
                           if line.startswith("--"))
        cols = ", ".join(f"`{name}` ({kind.lower()})" for name, kind in columns)
        parts.append(f"### `{view}`\n\n{comment}\n\nColumns: {cols}.\n")
    return "\n".join(parts)


def _commands(command, path: list[str], parent=None):
    """(path, command, context) of ``command`` and every command under it (typer ships its
    own copy of click: duck typing, not isinstance)."""
    ctx = command.context_class(command, info_name=path[-1], parent=parent)
    yield path, command, ctx
    if hasattr(command, "list_commands"):
        for name in command.list_commands(ctx):
            yield from _commands(command.get_command(ctx, name), path + [name], ctx)


def cli_root():
    """The click command of the `rerankwatch` typer app."""
    import typer

    from rerankwatch.cli import app

    return typer.main.get_command(app)


def cli_reference() -> str:
    parts = []
    for path, command, ctx in _commands(cli_root(), ["rerankwatch"]):
        if command.hidden:
            continue
        title = " ".join(path)
        usage = command.get_usage(ctx).removeprefix("Usage: ")
        rows = []
        for param in command.params:
            if getattr(param, "hidden", False):
                continue
            names = ", ".join(f"`{n}`" for n in param.opts + param.secondary_opts)
            if param.param_type_name == "argument":
                names = f"`{(param.metavar or param.name).upper()}` (argument)"
            default = param.default if not callable(param.default) else None
            shown = "" if default in (None, False, ()) or param.required else f"`{default}`"
            text = getattr(param, "help", None) or ""
            rows.append(f"| {names} | {'yes' if param.required else ''} | {_cell(shown)} | "
                        f"{_cell(' '.join(text.split()))} |")
        help_text = " ".join((command.help or "").split("\n\n")[0].split())
        block = f"### `{title}`\n\n{help_text}\n\n```text\n{usage}\n```\n"
        if rows:
            block += ("\n| option | required | default | what |\n| --- | --- | --- | --- |\n"
                      + "\n".join(rows) + "\n")
        parts.append(block)
    return "\n".join(parts)


GENERATORS = {"cli": cli_reference, "config": config_reference, "checks": checks_reference,
              "views": views_reference}


def render(markdown: str) -> str:
    """``markdown`` with every generated part filled in and the replay table made afresh."""
    from rerankwatch.pipeline.replay import TABLE_START, readme_with_replay_table

    markdown = MARKER.sub(lambda m: GENERATORS[m.group(1)]().rstrip("\n"), markdown)
    if TABLE_START in markdown:
        markdown = readme_with_replay_table(markdown)
    return markdown


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ARG001 (MkDocs hook)
    return render(markdown)
