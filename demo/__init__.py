"""The demo cross-encoder's build: training data, recipe and evaluation (``rerankwatch
build-demo-model``). Not part of the product's layers: it needs the ``demo`` extra (gensim,
bm25s) or a checkout with its dev dependencies."""

from importlib.util import find_spec

REQUIREMENTS = ("gensim", "bm25s")  # the `demo` extra (pyproject.toml)


def missing_requirements() -> list[str]:
    """The demo build's packages that are not installed."""
    return [name for name in REQUIREMENTS if find_spec(name) is None]
