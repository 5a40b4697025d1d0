"""A run session: what every step of one run shares, made once when the run starts (or is
reopened) and passed to each step instead of a ``db_path`` string and a shard folder
recomputed at each call site.

It holds the run's config, where its store is, where its shards wait to be ingested, and
the run id. It holds no open connection: each step opens the store for as long as it needs it
(``RunSession.open``), so readers (`rerankwatch sql`, another run's ingest) get in between.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

from rerankwatch.core.config import RunConfig
from rerankwatch.store import IngestReport, Store, is_locked, open_store, shards

# the wait messages keep the logger they always had: scoring's (its steps are the ones waiting)
LOG = logging.getLogger("rerankwatch.pipeline.scoring")
INGEST_WAIT_S = 120.0  # how long a required ingest waits while another process holds the DB


def open_db(db: str | Path, wait_s: float = INGEST_WAIT_S, migrate: bool = False,
            data_path: str | None = None) -> Store:
    """The store at ``db``, read-write, waiting up to ``wait_s`` while another process holds
    it (said once on the scoring log)."""
    return open_store(db, wait_s=wait_s, migrate=migrate, on_wait=LOG.warning,
                      data_path=data_path)


def ingest_shards(db: str | Path, directory: Path, run_id: str,
                  wait_s: float = 0.0) -> IngestReport | None:
    """Load the run's shards waiting in ``directory`` (only its own: another run scoring into
    the same folder ingests its own). While another process holds the DB, retry for ``wait_s``
    seconds, then raise its lock error; with ``wait_s`` 0, return None at once (the shards
    wait on disk for the next ingest)."""
    try:
        with open_db(db, wait_s) as store:
            return store.ingest_shards(directory, run_id)
    except Exception as exc:
        if wait_s or not is_locked(exc):
            raise
        return None


@dataclass(frozen=True)
class RunSession:
    """One run: its config, its store (``db``: a DuckDB path or a lake spec, the config's),
    its shard folder (``shard_dir``: where this process's scoring writes and the store ingests
    from) and its id."""

    config: RunConfig
    run_id: str

    @property
    def db(self) -> Path | str:
        return self.config.db_path

    @functools.cached_property
    def shard_dir(self) -> Path:  # worked out once per session
        return shards.shard_dir(self.db)

    def open(self, wait_s: float = INGEST_WAIT_S, migrate: bool = False) -> Store:
        """The run's store, read-write, for one step (close it when the step is done)."""
        return open_db(self.db, wait_s, migrate)

    def ingest(self, wait_s: float = 0.0) -> IngestReport | None:
        """Load this run's shards waiting in its shard folder (``ingest_shards``)."""
        return ingest_shards(self.db, self.shard_dir, self.run_id, wait_s)
