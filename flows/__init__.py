"""Prefect flows: thin sequences of tasks."""

from rerankwatch import prefect_env

prefect_env.apply()
