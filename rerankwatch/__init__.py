"""rerankwatch: batch scoring and regression monitoring for reranker engines."""

__version__ = "0.1.0"
