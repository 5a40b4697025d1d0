"""Prefect Secret blocks as rerankwatch's secret store (an engine's ``api_key_secret``)."""

from __future__ import annotations

from rerankwatch.core.secrets import register_secret_store


def prefect_secret(name: str) -> str:
    """The value of the Prefect Secret block ``name``."""
    from prefect.blocks.system import Secret  # only an engine with api_key_secret pays for it

    return str(Secret.load(name).get())


def register() -> None:
    register_secret_store("prefect", prefect_secret)
