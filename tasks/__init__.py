"""Prefect tasks: short wrappers around plain functions."""

from rerankwatch import prefect_env

prefect_env.apply()
