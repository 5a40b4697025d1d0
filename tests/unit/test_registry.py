"""The engine registry and the generic lazy registry helpers."""

from __future__ import annotations

import pathlib

import pytest

import rerankwatch.engines as engines
from rerankwatch.core.config import EngineConfig
from rerankwatch.core.errors import RerankwatchError, UnknownNameError
from rerankwatch.core.registry import build_registry, resolve
from rerankwatch.engines import ENGINES, build_engine, engine_class

CORE_KINDS = ["hf-bi", "hf-seqcls", "st-bi", "st-cross"]
AVAILABLE = ", ".join(sorted(ENGINES))


def test_engine_kinds_are_registered() -> None:
    assert set(CORE_KINDS) <= set(ENGINES)
    assert all(":" in target for target in ENGINES.values())


@pytest.mark.parametrize("kind,module,cls", [
    ("st-cross", "rerankwatch.engines.st_cross", "StCrossEngine"),
    ("st-bi", "rerankwatch.engines.st_bi", "StBiEngine"),
    ("hf-seqcls", "rerankwatch.engines.hf_seqcls", "HfSeqClsEngine"),
    ("hf-bi", "rerankwatch.engines.hf_bi", "HfBiEngine"),
])
def test_engine_class_resolves_each_kind(kind: str, module: str, cls: str) -> None:
    engine = engine_class(kind)
    assert engine.__module__ == module and engine.__name__ == cls
    assert engine.kind == kind  # the class records the kind it is registered under


def test_unknown_kind_lists_names_and_suggests_closest() -> None:
    with pytest.raises(UnknownNameError) as exc:
        engine_class("st-cros")
    text = str(exc.value)
    assert text == (f"unknown engine kind 'st-cros'. Available: {AVAILABLE}. "
                    "Did you mean 'st-cross'?")
    assert all(kind in text for kind in CORE_KINDS)
    # usable both as a KeyError and as a rerankwatch error the CLI reports cleanly
    assert isinstance(exc.value, KeyError) and isinstance(exc.value, RerankwatchError)


@pytest.mark.parametrize("typo,closest", [("hf_bi", "hf-bi"), ("hf-seqcl", "hf-seqcls"),
                                          ("st_bi", "st-bi")])
def test_unknown_kind_suggestions(typo: str, closest: str) -> None:
    with pytest.raises(UnknownNameError, match=f"Did you mean '{closest}'\\?"):
        engine_class(typo)


def test_unknown_kind_without_close_match_has_no_hint() -> None:
    with pytest.raises(UnknownNameError) as exc:
        engine_class("onnxruntime")
    assert "Did you mean" not in str(exc.value)
    assert f"Available: {AVAILABLE}." in str(exc.value)


def test_build_engine_with_unknown_kind_fails_before_loading() -> None:
    config = EngineConfig(name="x", kind="st-crosss", model="does-not-exist")
    with pytest.raises(UnknownNameError, match="Did you mean 'st-cross'"):
        build_engine(config)


def test_build_registry_rejects_duplicates() -> None:
    with pytest.raises(ValueError, match="duplicate widget name 'a' in registry"):
        build_registry("widget", [("a", "x:y"), ("b", "x:z"), ("a", "x:w")])


def test_build_registry_keeps_order_and_targets() -> None:
    registry = build_registry("widget", [("b", "m:B"), ("a", "m:A")])
    assert list(registry.items()) == [("b", "m:B"), ("a", "m:A")]


def test_resolve_imports_lazily_registered_attribute() -> None:
    registry = build_registry("thing", [("path", "pathlib:PurePosixPath")])
    assert resolve("thing", registry, "path") is pathlib.PurePosixPath
    with pytest.raises(UnknownNameError, match="unknown thing 'paht'.*Did you mean 'path'"):
        resolve("thing", registry, "paht")


def test_engines_module_registry_is_the_one_used() -> None:
    assert engines.ENGINES is ENGINES
    assert ENGINES["st-cross"] == "rerankwatch.engines.st_cross:StCrossEngine"
