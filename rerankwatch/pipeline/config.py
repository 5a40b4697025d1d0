"""A run config held to the registries: engine kinds, API schemas and check thresholds.

``rerankwatch.core.config`` checks a config's structure on its own; names that only the engine
and check registries know are checked here, still before anything runs or is written.
"""

from __future__ import annotations

from pathlib import Path

from rerankwatch.checks.suites import check_params
from rerankwatch.core.config import DEFAULT_CONFIG, RunConfig, parse_config
from rerankwatch.core.errors import ConfigError
from rerankwatch.core.registry import closest
from rerankwatch.engines import ENGINES
from rerankwatch.engines.http_schemas import SCHEMAS
from rerankwatch.engines.llm_templates import (
    OPTIONS as LLM_OPTIONS,
    is_llm_reranker,
    option_problems,
)
from rerankwatch.engines.vllm_offline import OPTIONS as VLLM_OPTIONS


def registry_problems(config: RunConfig) -> list[str]:
    """What a structurally valid config names that no registry knows."""
    problems = []
    for engine in config.engines:
        for kind in filter(None, (engine.kind, engine.wraps)):
            if kind not in ENGINES:
                close = closest(kind, ENGINES)
                problems.append(f"engine {engine.name!r}: unknown kind {kind!r}; available: "
                                f"{', '.join(ENGINES)}"
                                + (f" (did you mean {close!r}?)" if close else ""))
        if engine.kind == "http-rerank" and engine.api_schema not in SCHEMAS:
            problems.append(f"engine {engine.name!r}: unknown api_schema "
                            f"{engine.api_schema!r}; available: {', '.join(SCHEMAS)}")
        if engine.kind == "http-embed" and engine.api_schema is not None:
            problems.append(f"engine {engine.name!r}: http-embed speaks the OpenAI embeddings "
                            f"API; api_schema is for http-rerank (options.path sets the route)")
        if engine.kind == "llm-rerank" or (engine.kind == "vllm"
                                           and is_llm_reranker(engine.options)):
            problems += [f"engine {engine.name!r}: {problem}" for problem in option_problems(
                engine.options, LLM_OPTIONS + (VLLM_OPTIONS if engine.kind == "vllm" else ()))]
    return problems


def validate_config(config: RunConfig, source: str = "config") -> RunConfig:
    """``config`` itself, or a ConfigError naming every unknown engine kind and API schema, or
    the first unknown check or threshold."""
    problems = registry_problems(config)
    if problems:
        raise ConfigError(f"{source}: {'; '.join(problems)}")
    check_params(config.checks)
    return config


def load_config(path: str | Path | None = None) -> RunConfig:
    """Read and validate a TOML run config (the packaged default when ``path`` is None)."""
    return validate_config(parse_config(path), str(path) if path is not None else DEFAULT_CONFIG)
