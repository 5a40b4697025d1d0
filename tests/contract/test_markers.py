"""Markers say what a test starts on 127.0.0.1 (tests/conftest.py: STARTS, read from the
fixtures a test uses): every fixture named there exists, and a collection selects by them what
it should, with no `server` test that says nothing of what it starts."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def starts() -> dict[str, str]:
    """tests/conftest.py's STARTS, read without importing the conftest a second time."""
    tree = ast.parse((ROOT / "tests" / "conftest.py").read_text())
    [value] = [node.value for node in tree.body if isinstance(node, ast.Assign)
               and any(getattr(t, "id", None) == "STARTS" for t in node.targets)]
    return ast.literal_eval(value)


def collected(marker: str) -> list[str]:
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                           "--collect-only", "-q", "-m", marker, "tests"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 5), done.stdout[-2000:] + done.stderr[-2000:]
    return [line for line in done.stdout.splitlines() if "::" in line]


def test_every_fixture_named_as_starting_a_server_exists() -> None:
    for where, marker in starts().items():
        path, name = where.split("::")
        tree = ast.parse((ROOT / path).read_text())
        fixtures = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)
                    and any("fixture" in ast.unparse(d) for d in node.decorator_list)}
        assert name in fixtures, f"{where} ({marker}) names no fixture: its tests lost it"


def test_markers_select_what_a_test_starts() -> None:
    http, postgres, prefect = collected("http"), collected("postgres"), collected("prefect")
    assert any(t.startswith("tests/unit/test_http_rerank.py::") for t in http)
    assert any(t.startswith("tests/e2e/test_notify.py::") for t in http)
    assert any("test_ducklake.py::" in t and "postgres" in t for t in postgres)
    assert any(t.startswith("tests/server/test_fanout.py::") for t in prefect)
    assert not any(t.startswith("tests/unit/checks/") for t in [*http, *postgres, *prefect])
    # a test that refuses without a server starts none
    assert not any("refuses_without_a_server" in t for t in prefect)
    assert collected("server and not (prefect or postgres or s3 or http)") == []
