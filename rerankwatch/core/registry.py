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


def closest(name: str | None, names: Iterable[str]) -> str | None:
    """The known name closest to a mistyped ``name`` (difflib), or None."""
    close = difflib.get_close_matches(name or "", list(names), n=1)
    return close[0] if close else None


def unknown_name(what: str, names: Iterable[str], name: str | None) -> UnknownNameError:
    """The error for an unknown ``name``: the available names and the closest one."""
    names = sorted(names)
    close = closest(name, names)
    hint = f" Did you mean {close!r}?" if close else ""
    return UnknownNameError(f"unknown {what} {name!r}. Available: {', '.join(names)}.{hint}")


def resolve(what: str, registry: dict[str, str], name: str) -> Any:
    """Import and return the registry entry for ``name``."""
    if name not in registry:
        raise unknown_name(what, registry, name)
    module, _, attr = registry[name].partition(":")
    return getattr(importlib.import_module(module), attr)
