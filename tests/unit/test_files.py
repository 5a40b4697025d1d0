"""rerankwatch.core.files: a file written whole or not at all, never its temporary."""

from __future__ import annotations

from pathlib import Path

import pytest

from rerankwatch.core.files import atomic_path, atomic_write


def test_atomic_write_replaces_text_and_bytes_and_makes_the_folder(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b.txt"
    assert atomic_write(path, "één\n") == path and path.read_text(encoding="utf-8") == "één\n"
    atomic_write(path, b"\x00raw")
    assert path.read_bytes() == b"\x00raw"
    assert [p.name for p in path.parent.iterdir()] == ["b.txt"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(path, suffix=".partial.jsonl") as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".out.jsonl.")
        assert tmp.suffix == ".jsonl"
        tmp.write_text("half")
        raise RuntimeError("stopped")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]
