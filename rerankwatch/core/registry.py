"""Lazy "module:Class" registries with helpful unknown-name errors."""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterable
from typing import Any

from rerankwatch.core.errors import UnknownNameError


def build_registry(what: str, entries: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Build a name -> "module:attr" registry; a duplicate name fails at import."""
    registry: dict[str, str] = {}
    for name, target in entries:
        if name in registry:
            raise ValueError(f"duplicate {what} name {name!r} in registry")
        registry[name] = target
    return registry


def resolve(what: str, registry: dict[str, str], name: str) -> Any:
    """Import and return the registry entry for ``name``."""
    if name not in registry:
        close = difflib.get_close_matches(name, registry, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownNameError(
            f"unknown {what} {name!r}. Available: {', '.join(sorted(registry))}.{hint}"
        )
    module, _, attr = registry[name].partition(":")
    return getattr(importlib.import_module(module), attr)
