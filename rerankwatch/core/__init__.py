"""The bottom layer: config models, errors, registries, model aliases and the records that cross
layers. It imports nothing else of rerankwatch."""
