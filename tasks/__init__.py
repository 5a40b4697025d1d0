"""Prefect tasks: short wrappers around plain functions, and what Prefect brings to the layers
below: its settings (applied before prefect is imported), the Secret-block store, notifications."""

from rerankwatch.tasks import prefect_env, secrets

prefect_env.apply()
secrets.register()
