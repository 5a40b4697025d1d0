"""A DuckLake store with its data in a bucket on moto's S3 server (loopback, started and stopped by
PID): each run's report is an object beside the lake's data, a teammate's `rerankwatch report
--run` fetches that object, and a bucket it cannot reach exits 3."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rerankwatch.cli import app
from rerankwatch.core.home import HOME_ENV
from rerankwatch.core.store_spec import local_dir
from rerankwatch.report.stored import store_report
from rerankwatch.store.copy import copy_store
from tests.support.prefect_server import free_port
from tests.support.stores import BUCKET, moto_s3
from tests.unit.test_sql_views import NEW, db_path  # noqa: F401 - two hand-made runs


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with moto_s3(tmp_path_factory.mktemp("moto")) as server:
        yield server


def test_a_lake_on_s3_keeps_its_reports_in_the_bucket_for_the_team(
        s3, db_path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    for key, value in s3.env.items():
        monkeypatch.setenv(key, value)
    spec = f"ducklake:sqlite:{tmp_path / 'lake.sqlite'}"
    copy_store(db_path, spec, f"s3://{BUCKET}/team-lake")

    monkeypatch.setenv(HOME_ENV, str(tmp_path / "worker-home"))
    location = store_report(spec, NEW)
    assert location.where == f"s3://{BUCKET}/team-lake/reports/{NEW}.html"
    stored = s3.client.get_object(Bucket=BUCKET, Key=f"team-lake/reports/{NEW}.html")
    body = stored["Body"].read()
    assert body.startswith(b"<!doctype html>")
    s3.client.put_object(Bucket=BUCKET, Key=f"team-lake/reports/{NEW}.html",
                         Body=body + b"<!-- as stored -->")  # only a fetch returns this

    monkeypatch.setenv(HOME_ENV, str(tmp_path / "teammate-home"))
    got = CliRunner().invoke(app, ["report", "--db", spec, "--run", NEW])
    assert got.exit_code == 0, got.output
    cached = local_dir(spec) / "reports" / f"{NEW}.html"
    assert str(cached).startswith(str(tmp_path / "teammate-home"))
    assert f"report fetched: {cached} (stored at {location.where})" in got.output
    assert cached.read_bytes() == body + b"<!-- as stored -->"

    # the bucket out of reach (nothing listens there): infrastructure, exit 3, one line
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("RERANKWATCH_STORAGE_TIMEOUT_S", "2")
    down = CliRunner().invoke(app, ["report", "--db", spec, "--run", NEW])
    assert down.exit_code == 3, down.output
    (line,) = down.output.strip().splitlines()
    assert line.startswith(f"error: storage {location.where}: cannot read"), line
