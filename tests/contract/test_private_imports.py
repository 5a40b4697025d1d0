"""No rerankwatch module uses another module's private (underscore) names: ``from X import
_name``, ``import X`` then ``X._name``, or ``from package import module`` then
``module._name``, where X is another rerankwatch module. `make lint` runs this file (ruff has
no such rule). A module's own private names, and dunders, are its own business."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "rerankwatch"
# (module, imported private name) pairs allowed: none (the CLI's error path is public now,
# rerankwatch/cli/errors.py). Add nothing here.
KNOWN: set[tuple[str, str]] = set()


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _modules() -> dict[str, Path]:
    """Every module of the package (rerankwatch/<folder> links resolved), by dotted name."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(("rerankwatch", *parts))] = path
    return found


def _absolute(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base[:len(base) - node.level + (1 if is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def violations(module: str, path: Path, modules: dict[str, Path]) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_package = path.name == "__init__.py"
    aliases: dict[str, str] = {}  # local name -> another rerankwatch module
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules and alias.name != module:
                    aliases[alias.asname or alias.name.split(".")[0]] = alias.name
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(module, node, is_package)
            if not source.startswith("rerankwatch") or source == module:
                continue
            for alias in node.names:
                if _private(alias.name) and (module, f"{source}.{alias.name}") not in KNOWN:
                    found.append(f"{path}:{node.lineno}: from {source} import {alias.name}")
                elif f"{source}.{alias.name}" in modules:
                    aliases[alias.asname or alias.name] = f"{source}.{alias.name}"
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and _private(node.attr)
                and isinstance(node.value, ast.Name) and node.value.id in aliases
                and aliases[node.value.id] != module
                and (module, f"{aliases[node.value.id]}.{node.attr}") not in KNOWN):
            found.append(f"{path}:{node.lineno}: {aliases[node.value.id]}.{node.attr}")
    return found


def test_no_module_uses_another_modules_private_names() -> None:
    modules = _modules()
    found = [v for name, path in modules.items() for v in violations(name, path, modules)]
    assert not found, "private names used across modules:\n" + "\n".join(found)


def test_the_check_sees_a_private_import(tmp_path) -> None:
    path = tmp_path / "m.py"
    path.write_text("from rerankwatch.pipeline import scoring\n"
                    "from rerankwatch.store.store import _hidden\n"
                    "scoring._store('x')\n")
    modules = {"rerankwatch.pipeline.scoring": path, "rerankwatch.x.m": path}
    assert len(violations("rerankwatch.x.m", path, modules)) == 2
