"""One import package: everything is imported as ``rerankwatch.…``, and its data files are
found through importlib.resources (so an installed wheel finds them as a checkout does)."""

from __future__ import annotations

import ast
import tomllib
from importlib import resources
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("engines", "checks", "tasks", "flows", "sql", "samples", "deploy", "demo")


def python_files() -> list[Path]:
    roots = [ROOT / "rerankwatch", ROOT / "tests", ROOT / "bench",
             *(ROOT / folder for folder in FOLDERS)]
    return sorted(p for root in roots for p in root.rglob("*.py") if ".cache" not in p.parts)


def test_the_wheel_maps_every_top_level_folder_into_rerankwatch() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert {name.split(".")[0] for name in setuptools["packages"]} == {"rerankwatch"}
    assert setuptools["package-dir"] == {f"rerankwatch.{f}": f for f in FOLDERS}


@pytest.mark.parametrize("path", python_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_a_folder_as_a_top_level_package(path: Path) -> None:
    """``import engines`` works only from a checkout (and collides with a user's own module of
    that name): the folders are rerankwatch's subpackages."""
    bare = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                 [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
        bare += [n for n in names if n and n.split(".")[0] in FOLDERS]
    assert bare == []


@pytest.mark.parametrize("package,name", [
    ("rerankwatch", "default.toml"), ("rerankwatch", "default_cross.toml"),
    ("rerankwatch.samples", "golden_en.jsonl"), ("rerankwatch.samples", "golden_zh.jsonl"),
    ("rerankwatch.deploy", "prefect.yaml"), ("rerankwatch.sql", "schema/001_sample_pairs.sql"),
    ("rerankwatch.report", "templates/report.html.j2"),
])
def test_package_data_is_found_through_importlib_resources(package: str, name: str) -> None:
    assert resources.files(package).joinpath(name).is_file()


@pytest.mark.slow
def test_the_wheel_holds_one_import_package_and_its_data(tmp_path: Path) -> None:
    """`pip wheel .`: one top-level import package, the SQL, sample sets and deploy files
    inside it, the demo build beside the product; and no packaging warnings."""
    import os
    import subprocess
    import sys
    import zipfile

    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w",
         str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    assert built.returncode == 0, built.stderr[-2000:]
    assert "SetuptoolsDeprecationWarning" not in built.stderr + built.stdout
    assert "is absent from the `packages` configuration" not in built.stderr + built.stdout
    (wheel,) = tmp_path.glob("rerankwatch-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")} == {
        "rerankwatch"}
    for expected in ("rerankwatch/sql/views/latest_scores.sql",
                     "rerankwatch/sql/statements/ingest_scores.sql",
                     "rerankwatch/samples/golden_en.jsonl", "rerankwatch/deploy/prefect.yaml",
                     "rerankwatch/deploy/gpu-job-templates/docker-gpu.json",
                     "rerankwatch/engines/worker.py", "rerankwatch/demo/model.py",
                     "rerankwatch/report/templates/report.html.j2",
                     "rerankwatch/default.toml"):
        assert expected in names
    assert not any("_build_golden" in n for n in names)


def test_the_checkout_package_folder_links_every_mapped_folder() -> None:
    """rerankwatch/<folder> links to ../<folder>, so tools that walk the package's own folder
    (lint-imports) see the whole package, as installed."""
    for folder in FOLDERS:
        link = ROOT / "rerankwatch" / folder
        assert link.is_symlink() and link.resolve() == (ROOT / folder).resolve()
