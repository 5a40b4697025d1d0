"""The docs are tested: every fenced block of README.md and docs/**/*.md that is a command line,
a config or a query is held to the code (each `rerankwatch …` line parses against the real
CLI, each ```toml block validates, each ```sql block runs against a store), and the generated
reference pages (docs/hooks.py) follow the code."""

from __future__ import annotations

import importlib.util
import re
import shlex
import tomllib
from pathlib import Path

import duckdb
import pytest

from rerankwatch.checks import CHECKS, check_class
from rerankwatch.core import config as config_models
from rerankwatch.pipeline import load_config

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.M | re.S)
FRAGMENT = "# fragment"
# option values the CLI checks itself (not a click Choice): a doc naming another value drifted
KNOWN_VALUES = {("build-demo-model", "--budget"): ("full", "smoke")}


def _hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hooks = _hooks()


def blocks(lang: str | None = None) -> list[tuple[str, str]]:
    """(where, body) of every fenced block (of ``lang``), README and docs pages."""
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            if lang is None or match.group(1) == lang:
                line = text[:match.start()].count("\n") + 1
                found.append((f"{page.relative_to(ROOT)}:{line}", match.group(2)))
    return found


# -- command lines

def command_lines(body: str) -> list[str]:
    """The `rerankwatch …` command lines of a block (continuation lines joined, leading
    variable assignments and a `$ ` prompt dropped)."""
    joined = re.sub(r"\\\n\s*", " ", body)
    lines = []
    for line in joined.splitlines():
        line = line.strip().removeprefix("$ ").removeprefix("- ")
        words = line.split()
        while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
            words.pop(0)
        if words and words[0] == "rerankwatch":
            lines.append(" ".join(words))
    return lines


def command_problems(line: str, root=None) -> list[str]:
    """What in one `rerankwatch …` command line the CLI does not have: a command, an option,
    a value of ``KNOWN_VALUES``."""
    root = root or hooks.cli_root()
    words = shlex.split(line, comments=True)[1:]
    command, path = root, []
    problems = []
    while words:
        word = words.pop(0)
        if word.startswith("-"):
            name = word.split("=", 1)[0]
            params = {opt: p for p in command.params for opt in p.opts + p.secondary_opts}
            if name not in params:
                problems.append(f"{' '.join(['rerankwatch', *path])}: no option {name}")
                continue
            param = params[name]
            if not param.is_flag and "=" not in word and words:
                value = words.pop(0)
                allowed = KNOWN_VALUES.get((" ".join(path), name))
                if allowed and "<" not in value and value not in allowed:
                    problems.append(f"{' '.join(path)} {name}: no value {value!r} "
                                    f"(one of {', '.join(allowed)})")
        elif hasattr(command, "list_commands"):
            sub = command.get_command(None, word)
            if sub is None:
                problems.append(f"{' '.join(['rerankwatch', *path])}: no command {word!r}")
                break
            command, path = sub, path + [word]
    return problems


def test_every_documented_command_line_parses():
    root = hooks.cli_root()
    lines = [(where, line) for where, body in blocks() for line in command_lines(body)]
    assert len(lines) >= 15  # the walkthroughs are found
    problems = [f"{where}: {line}: {p}" for where, line in lines
                for p in command_problems(line, root)]
    assert not problems, "\n".join(problems)


def test_every_command_of_the_readme_commands_table_exists():
    """The commands tables (README, docs/commands.md) name commands and options the CLI has,
    and values it accepts (`[--budget full|smoke]`)."""
    root = hooks.cli_root()
    problems = []
    for page in (ROOT / "README.md", ROOT / "docs" / "commands.md"):
        for cell in re.findall(r"^\| `(rerankwatch [^`]+)`", page.read_text(), re.M):
            cell = cell.replace("\\|", "|")
            words = re.sub(r"[\[\]]", " ", cell).split()
            path = [w.split("|")[0] for w in words[1:4] if re.fullmatch(r"[a-z][a-z|-]*", w)]
            options = re.findall(r"(--[a-z-]+)(?: ([a-z|]+)(?=[\s\]]|$))?", cell)
            for option, values in options or [("", "")]:
                for value in (values.split("|") if values else [""]):
                    line = " ".join(["rerankwatch", *path[:1]])
                    # a group's subcommand (`baseline accept`, `samples import beir`, …)
                    sub = root.get_command(None, path[0]) if path else None
                    if sub is not None and hasattr(sub, "list_commands"):
                        line = " ".join(["rerankwatch", *path[:2]])
                        inner = sub.get_command(None, path[1]) if len(path) > 1 else None
                        if inner is not None and hasattr(inner, "list_commands"):
                            line = " ".join(["rerankwatch", *path[:3]])
                    if option:
                        line += f" {option}" + (f" {value}" if value else "")
                    problems += [f"{page.name}: {cell}: {p}" for p in command_problems(line, root)
                                 if "no value" in p or "no option" in p or "no command" in p]
    assert not problems, "\n".join(problems)


def test_a_made_up_option_fails_the_check():
    assert command_problems("rerankwatch nightly --config x.toml") == []
    assert command_problems("rerankwatch nightly --no-such-option 3") == [
        "rerankwatch nightly: no option --no-such-option"]
    assert command_problems("rerankwatch store frobnicate")
    assert command_problems("rerankwatch build-demo-model --budget ci")  # the old drift


# -- configs

def fragment_problems(text: str) -> list[str]:
    """Keys of a config fragment that no config model (or check's Params) has."""
    data = tomllib.loads(text)
    models = {"sample_sets": config_models.SampleSetConfig,
              "engines": config_models.EngineConfig,
              "environments": config_models.EnvironmentConfig}
    top = set(config_models.RunConfig.model_fields)
    problems = []
    for key, value in data.items():
        if key not in top:
            problems.append(f"no config key {key!r}")
        elif key in models:
            fields = set(models[key].model_fields)
            problems += [f"no key {k!r} in [[{key}]]" for item in value for k in item
                         if k not in fields]
        elif key == "checks":
            for name, params in value.items():
                if name not in CHECKS:
                    problems.append(f"no check {name!r}")
                    continue
                fields = set(check_class(name).Params.model_fields)
                problems += [f"no parameter {k!r} in [checks.{name}]" for k in params
                             if k not in fields]
    return problems


def config_problems(text: str, tmp_path: Path) -> list[str]:
    if text.lstrip().startswith(FRAGMENT):
        return fragment_problems(text)
    path = tmp_path / "doc.toml"
    path.write_text(text, encoding="utf-8")
    try:
        load_config(path)
    except Exception as exc:  # noqa: BLE001 (the message is the finding)
        return [str(exc)]
    return []


def test_every_documented_config_validates(tmp_path):
    found = blocks("toml")
    assert len(found) >= 10
    problems = [f"{where}: {p}" for where, body in found for p in config_problems(body, tmp_path)]
    assert not problems, "\n".join(problems)


def test_a_made_up_config_key_fails_the_check(tmp_path):
    whole = ('reference = "a"\n[[sample_sets]]\nname = "golden_en"\n'
             'path = "pkg:samples/golden_en.jsonl"\n'
             '[[engines]]\nname = "a"\nkind = "st-bi"\nmodel = "embedded:all-MiniLM-L6-v2"\n')
    assert config_problems(whole, tmp_path) == []
    assert config_problems(whole + "batch_sise = 8\n", tmp_path)  # a made-up engine key
    fragment = f"{FRAGMENT}\n[checks.determinism]\nfloat32 = 1e-7\n"
    assert config_problems(fragment, tmp_path) == []
    assert config_problems(fragment + "float64 = 1e-9\n", tmp_path) == [
        "no parameter 'float64' in [checks.determinism]"]
    assert config_problems(f"{FRAGMENT}\nshard_url = 's3://b/p'\n", tmp_path) == [
        "no config key 'shard_url'"]


# -- queries

@pytest.fixture(scope="module")
def history_db(tmp_path_factory) -> Path:
    """Two nightly runs with check results, verdicts and scores: the store the SQL view tests
    build (tests/unit/test_sql_views.py), cheap and real."""
    from tests.unit.test_sql_views import build_store

    return build_store(tmp_path_factory.mktemp("docs-sql"), "nightly")


def sql_problems(body: str, db: Path) -> list[str]:
    con = duckdb.connect(str(db), read_only=True)
    problems = []
    try:
        for statement in body.split(";"):
            code = "\n".join(line for line in statement.splitlines()
                             if not line.strip().startswith("--"))
            if code.strip():
                try:
                    con.execute(code).fetchall()
                except duckdb.Error as exc:
                    problems.append(f"{code.strip()[:60]}…: {exc}")
    finally:
        con.close()
    return problems


def test_every_documented_query_runs(history_db):
    found = blocks("sql")
    assert len(found) >= 4
    problems = [f"{where}: {p}" for where, body in found for p in sql_problems(body, history_db)]
    assert not problems, "\n".join(problems)


def test_a_query_naming_a_made_up_view_fails_the_check(history_db):
    assert sql_problems("select count(*) from check_history;", history_db) == []
    assert sql_problems("select * from v_verdicts;", history_db)  # the old deploy/README drift


def test_every_view_name_in_the_prose_exists(history_db):
    """A `v_…` name or a name called a view in the prose is a view or table of the store."""
    con = duckdb.connect(str(history_db), read_only=True)
    known = {row[0] for row in con.execute(
        "select table_name from information_schema.tables").fetchall()}
    con.close()
    named = {(page.name, name) for page in PAGES
             for name in re.findall(r"`(v_[a-z_]+)`", page.read_text(encoding="utf-8"))}
    assert {(page, name) for page, name in named if name not in known} == set()


# -- the drift the docs once had

def test_the_quick_start_names_every_engine_of_the_default_config():
    default = load_config(None)
    for page in (ROOT / "README.md", ROOT / "docs" / "getting-started.md"):
        quick = page.read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
        missing = [e.name for e in default.engines
                   if f"`{e.kind}`" not in quick and f"`{e.name}`" not in quick]
        assert not missing, (page.name, missing)
        assert all(env.name in quick for env in default.environments), page.name


def test_architecture_names_fan_out_and_the_team_store():
    text = (ROOT / "docs" / "architecture.md").read_text()
    for module in ("score_engine.py", "lake.py", "copy.py", "shared.py", "dispatch"):
        assert module in text, module
    assert "the one scoring path" not in text


# -- the generated pages follow the code

def test_the_generated_config_reference_changes_with_the_model():
    from pydantic import Field

    class Extended(config_models.EngineConfig):
        warmup_batches: int = Field(default=2, description="batches scored before timing")

    before = hooks.config_reference({"[[engines]]": config_models.EngineConfig})
    after = hooks.config_reference({"[[engines]]": Extended})
    assert "warmup_batches" not in before
    assert "| `warmup_batches` | `int` | `2` | batches scored before timing |" in after
    # comments beside a field are its description when it has no Field(description=...)
    assert "`environment`" in before and "isolated venv" in before


def test_the_generated_pages_cover_the_registries(history_db):
    checks = hooks.checks_reference()
    assert all(f"### `{name}`" in checks for name in CHECKS)
    assert "`max_saturated_share` | `float` | `0.01`" in checks
    views = hooks.view_columns()
    assert set(views) == {p.stem for p in (ROOT / "sql" / "views").glob("*.sql")}
    assert ("delta_prev", "DOUBLE") in views["score_drift"]
    cli = hooks.cli_reference()
    assert "### `rerankwatch store copy`" in cli and "`--budget`" in cli
    page = hooks.render("<!-- generated:config -->\n")
    assert "`shards_url`" in page
