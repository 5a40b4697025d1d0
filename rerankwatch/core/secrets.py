"""Where an engine's API key comes from, without the engine knowing the secret store.

``api_key_env`` reads the environment. ``api_key_secret`` names a secret in a store that an
upper layer registers (the Prefect layer registers Prefect Secret blocks when it is imported),
so engines never import an orchestrator.
"""

from __future__ import annotations

from collections.abc import Callable

from rerankwatch.core.errors import ConfigError

_STORES: dict[str, Callable[[str], str]] = {}
DEFAULT_STORE = "prefect"


def register_secret_store(name: str, load: Callable[[str], str]) -> None:
    """Make ``load(secret_name) -> value`` the secret store called ``name``."""
    _STORES[name] = load


def load_secret(name: str, store: str = DEFAULT_STORE) -> str:
    """The value of secret ``name``; raises ConfigError when no such store is registered and
    whatever the store raises when the secret cannot be read."""
    if store not in _STORES:
        raise ConfigError(f"no {store!r} secret store is registered: import rerankwatch.tasks "
                          f"(the CLI and every flow do) before reading secret {name!r}")
    return _STORES[store](name)
