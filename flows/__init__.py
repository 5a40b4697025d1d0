"""Prefect flows: thin sequences of tasks (importing rerankwatch.tasks applies its settings)."""
