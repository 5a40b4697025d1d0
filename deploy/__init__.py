"""Prefect deployment files shipped as package data (``rerankwatch deploy``)."""
