"""The store: a DuckDB file of pairs, fingerprints, runs, scores and check results, the Parquet
shards scoring writes before an ingest, and every SQL statement (``rerankwatch.sql``)."""

from rerankwatch.store.store import (
    LOCK_WAIT_ENV,
    IngestReport,
    Store,
    check_store_path,
    create_store,
    is_locked,
    new_run_id,
    open_store,
    reader_wait_s,
)

__all__ = ["LOCK_WAIT_ENV", "IngestReport", "Store", "check_store_path", "create_store",
           "is_locked", "new_run_id", "open_store", "reader_wait_s"]
