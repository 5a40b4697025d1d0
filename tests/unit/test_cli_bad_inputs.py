"""Bad input reached by a command is one `error:` line and exit 2, at once: a file that is no
DuckDB store, a directory as --db, a PREFECT_HOME that cannot be created."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rerankwatch.cli import app


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def error_lines(result) -> list[str]:
    return [line for line in result.output.splitlines() if not line.startswith("note:")]


@pytest.mark.parametrize("argv", [["report"], ["baseline", "history"], ["baseline", "accept",
                                  "r1", "--reason", "x"], ["sql", "select 1"]])
def test_a_file_that_is_not_duckdb_is_one_line(tmp_path: Path, argv: list[str]) -> None:
    foreign = tmp_path / "notes.duckdb"
    foreign.write_text("not a database\n")
    result = run(*argv, "--db", str(foreign))
    assert result.exit_code == 2, result.output
    assert error_lines(result) == [f"error: {foreign} is not a DuckDB database file (a store "
                                   f"is one created by rerankwatch; pass the right --db)"]
    assert foreign.read_text() == "not a database\n"


def test_score_into_a_directory_is_refused_up_front(tmp_path: Path) -> None:
    started = time.monotonic()
    result = run("score", "--db", str(tmp_path))
    assert result.exit_code == 2, result.output
    assert error_lines(result) == [f"error: {tmp_path} is a directory: the store is a DuckDB "
                                   f"file (e.g. {tmp_path / 'rerankwatch.duckdb'})"]
    assert time.monotonic() - started < 10
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [["score"], ["nightly"], ["resume", "r1"],
                                     ["gate", "--baseline", "a", "--candidate", "b"]])
def test_a_prefect_home_that_cannot_be_created_is_named(tmp_path: Path, monkeypatch,
                                                        command: list[str]) -> None:
    home = tmp_path / "missing" / "prefect"
    monkeypatch.setenv("PREFECT_HOME", str(home))
    result = run(*command, "--db", str(tmp_path / "rw.duckdb"))
    assert result.exit_code == 2, result.output
    assert error_lines(result) == [
        f"error: PREFECT_HOME {home} could not be created: its parent folder {home.parent} "
        f"does not exist (create it, or point PREFECT_HOME elsewhere)"]


LLM_CONFIG = """reference = "llm"
[[sample_sets]]
name = "golden_en"
path = "pkg:samples/golden_en.jsonl"
[[engines]]
name = "llm"
kind = "llm-rerank"
model = "fixture:tiny-llm-reranker"
options = {{ {options} }}
"""


@pytest.mark.parametrize(("options", "problem"), [
    ("logit_bias = nan", "options.logit_bias must be a finite number, got nan"),
    ('body = "{query.__init__.__globals__} {doc}"',
     "options.body field {query.__init__.__globals__} is not allowed"),
    ('body = "{query.__class__.__name__} {doc}"',
     "options.body field {query.__class__.__name__} is not allowed"),
    ('prefix = "Q: {query}"', "options.prefix holds the field {query}"),
])
def test_a_bad_llm_option_is_one_line_before_anything_runs(tmp_path: Path, options: str,
                                                            problem: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(LLM_CONFIG.format(options=options), encoding="utf-8")
    db = tmp_path / "rw.duckdb"
    result = run("score", "-c", str(config), "--db", str(db))
    assert result.exit_code == 2, result.output
    lines = error_lines(result)
    assert len(lines) == 1 and lines[0].startswith(f"error: {config}: "), result.output
    assert "engine 'llm'" in lines[0] and problem in lines[0], lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]  # nothing written
