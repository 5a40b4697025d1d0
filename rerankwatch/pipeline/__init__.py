"""Plain-Python pipeline over the layers below: load a config, score into the store, judge a
run, replay incidents. Flows, the CLI, tests and benches all go through it."""

from rerankwatch.pipeline.config import load_config, validate_config

__all__ = ["load_config", "validate_config"]
