"""Where an engine config was scored: the host, and under Prefect the flow run, work pool and
worker. The orchestration layer says it (``scoring_as``) around the scoring of one engine
config; the store records it with the engine's status in ``run_engines``. Outside any flow
(plain functions, tests) it is the host alone.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ScoredBy:
    host: str
    flow_run_id: str | None = None
    work_pool: str | None = None
    worker: str | None = None

    def columns(self) -> dict[str, str | None]:
        return asdict(self)


_CURRENT: ContextVar[ScoredBy | None] = ContextVar("rerankwatch_scored_by", default=None)


def scored_by() -> ScoredBy:
    """Who scores now: what ``scoring_as`` set, else this host."""
    return _CURRENT.get() or ScoredBy(host=socket.gethostname())


@contextlib.contextmanager
def scoring_as(who: ScoredBy) -> Iterator[ScoredBy]:
    token = _CURRENT.set(who)
    try:
        yield who
    finally:
        _CURRENT.reset(token)
