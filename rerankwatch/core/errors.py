"""The few named exceptions rerankwatch raises."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rerankwatch.core.records import Verdict


class RerankwatchError(Exception):
    """Base class: every error the CLI reports without a traceback."""


class SampleSetError(RerankwatchError):
    """A sample set failed validation; names the file, line and field."""

    def __init__(self, file: str, line: int | None, field: str | None, message: str):
        self.file, self.line, self.field, self.message = file, line, field, message
        where = file if line is None else f"{file}:{line}"
        if field:
            where += f" [{field}]"
        super().__init__(f"{where}: {message}")


class ConfigError(RerankwatchError):
    """The run configuration is invalid."""


class StoreSpecError(ConfigError, ValueError):
    """A ``db`` that names no usable store (a malformed DuckLake spec, or one holding a
    password); its message never repeats the spec."""


class NotAStore(ConfigError):
    """A store path that names a directory, or a file that is not a DuckDB database."""


class UnknownNameError(RerankwatchError, KeyError):
    """A registry lookup failed; the message lists the available names."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class PrecisionUnsupportedError(RerankwatchError):
    """The requested dtype cannot run on this device."""


class EngineFailed(RerankwatchError):
    """One or more engine configs failed during a run."""


class QueryRefused(RerankwatchError):
    """A `rerankwatch sql` query is not one read-only statement, or the store cannot answer."""


class VerdictFailed(RerankwatchError):
    """A run judged BLOCKED or ERROR: the data of its flow's Failed state (a verdict reached,
    not a crash). ``verdict``: the run's ``core.records.Verdict``."""

    def __init__(self, verdict: Verdict):
        super().__init__(verdict.line)
        self.verdict = verdict


class QueryTimedOut(RerankwatchError):
    """A `rerankwatch sql` query ran past its --timeout and was interrupted."""


class ShardError(RerankwatchError):
    """A score shard cannot be ingested; names the file (it is moved aside, never dropped)."""


class RunNotResumable(RerankwatchError):
    """A run cannot be resumed: unknown, still being scored elsewhere, or already complete."""


class StoreBusy(RerankwatchError):
    """Another process held the store past the wait; names that process when DuckDB does."""

    def __init__(self, path: str, waited_s: float, pid: int | None = None,
                 holder: str | None = None):
        self.path, self.waited_s, self.pid, self.holder = path, waited_s, pid, holder
        who = f"PID {pid} ({holder})" if pid is not None else "another process"
        super().__init__(f"the store {path} is busy: {who} holds it "
                         f"(gave up after {waited_s:g} s)")


class BaselineError(RerankwatchError):
    """A run or engine config that cannot be accepted as a history baseline."""


class StorageError(RerankwatchError):
    """Shared storage (``shards_url``, a DuckLake store or its data path) cannot be reached,
    or lacks what a run put there."""


class StoreMissing(StorageError):
    """A DuckLake store whose catalog holds no lake yet (`rerankwatch store init` creates it)."""
