"""Where a judged run's HTML report is kept, so a teammate opens it instead of rebuilding it.

    the run config sets reports_url   <reports_url>/<run>.html        a folder or s3://…
    a DuckLake store                  <data_path>/reports/<run>.html  beside the lake's data
    a DuckDB file                     reports/<run>.html              next to the file

The location is read from the store alone (the run's stored config, the lake's data path), so
the worker that writes a report and a teammate who fetches it agree on it without sharing a
config file. ``$RERANKWATCH_REPORT_URL`` is the http(s) address where that reports folder is
served (a bucket's website, a static site): a report's link is ``<base>/<run>.html``.
Files go through pyarrow's filesystems (rerankwatch.store.shared), S3's endpoint and keys from
the environment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from rerankwatch.core.errors import RerankwatchError, StorageError
from rerankwatch.core.files import atomic_write
from rerankwatch.core.settings import settings
from rerankwatch.core.store_spec import local_dir, store_exists
from rerankwatch.report.html import load_report_data, render_html, stored_run
from rerankwatch.store import Store, open_store, reader_wait_s
from rerankwatch.store.shared import get_file, put_file

REPORT_URL_ENV = "RERANKWATCH_REPORT_URL"


@dataclass(frozen=True, slots=True)
class ReportLocation:
    """Where one run's report is kept: ``where``, a local path or an ``s3://`` URL, and its
    http(s) ``url`` when ``$RERANKWATCH_REPORT_URL`` serves the reports folder."""

    run_id: str
    where: str
    url: str | None

    @property
    def local(self) -> bool:
        return "://" not in self.where


@dataclass(frozen=True, slots=True)
class FetchedReport:
    """A report on this machine: ``fetched`` from its location, or built from the store."""

    path: Path
    location: ReportLocation
    fetched: bool
    stored: bool  # whether the location holds it now


def reports_folder(store: Store, config: dict) -> str:
    """The reports folder of a run with this stored ``config`` (see the module's table)."""
    url = config.get("reports_url")
    if url:
        if url.startswith("file://"):
            url = url.removeprefix("file://")
        if "://" in url:
            return url.rstrip("/")
        path = Path(url).expanduser()
        return str((Path(config.get("base_dir") or ".") / path).resolve())
    if store.lake:
        data_path = store.query("q_lake_data_path")["data_path"][0]
        return f"{data_path.rstrip('/')}/reports"
    return str((local_dir(store.path) / "reports").resolve())


def report_link(run_id: str) -> str | None:
    """The report's http(s) address under ``$RERANKWATCH_REPORT_URL``, else None (a file://
    base, or a path on some host, is never offered as a link)."""
    base = settings().report_url.strip()
    if not base.startswith(("http://", "https://")):
        return None
    return f"{base.rstrip('/')}/{quote(f'{run_id}.html')}"


def locate_report(store: Store, run: str = "latest") -> ReportLocation:
    """Where the report of ``run`` (an id, or "latest": the latest judged run) is kept."""
    run, stored = stored_run(store, run)
    config = json.loads(stored["config"] or "{}")
    return ReportLocation(run, f"{reports_folder(store, config)}/{run}.html", report_link(run))


def _open(db: str | Path, on_wait=None) -> Store:
    if not store_exists(db):
        raise RerankwatchError(f"no such database: {db}")
    return open_store(db, mode="read", wait_s=reader_wait_s(), on_wait=on_wait)


def store_report(db: str | Path, run_id: str, nights: int = 14, on_wait=None
                 ) -> ReportLocation:
    """Build the report of ``run_id`` and write it whole at its location (what a flow does
    for every judged run); StorageError when that storage cannot be reached."""
    with _open(db, on_wait) as store:
        location = locate_report(store, run_id)
        data = load_report_data(store, location.run_id, nights)
    put_file(location.where, render_html(data).encode("utf-8"))
    return location


def get_report(db: str | Path, run: str = "latest", out: str | Path | None = None,
               rebuild: bool = False, nights: int = 14, on_wait=None, on_note=None
               ) -> FetchedReport:
    """The report of ``run`` on this machine: the stored one fetched from its location, or
    (none stored, or ``rebuild``) built from the store and stored there for the team.

    It lands at ``out``, else at its location when that is a local path, else in this
    store's local reports folder (a cache). A location that cannot be reached raises
    StorageError; a built report that cannot be stored there is kept locally and
    ``on_note`` is told why."""
    with _open(db, on_wait) as store:
        location = locate_report(store, run)
        body = None if rebuild else get_file(location.where)
        data = load_report_data(store, location.run_id, nights) if body is None else None
    fetched, stored = body is not None, body is not None
    if body is None:
        body = render_html(data).encode("utf-8")
        try:
            put_file(location.where, body)
            stored = True
        except StorageError as exc:
            if on_note is not None:
                on_note(f"the report is not stored for the team: {exc}")
    if out is not None:
        path = Path(out)
    elif location.local and stored:
        return FetchedReport(Path(location.where), location, fetched, stored)
    else:
        path = local_dir(db) / "reports" / f"{location.run_id}.html"
    atomic_write(path, body)  # never leave half a report behind
    return FetchedReport(path, location, fetched, stored)
