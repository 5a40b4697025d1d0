"""The store: a DuckDB file of pairs, fingerprints, runs, scores and check results, the Parquet
shards scoring writes before an ingest, and every SQL statement (``rerankwatch.sql``)."""

from rerankwatch.store.store import IngestReport, Store, is_locked, new_run_id, open_store

__all__ = ["IngestReport", "Store", "is_locked", "new_run_id", "open_store"]
