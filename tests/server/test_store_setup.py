"""`rerankwatch store init / check` on a real PostgreSQL catalog and moto's S3 server: a new
team's lake whose bucket does not exist yet, the environment printed for the worker, and the
checks that fail (a missing bucket) with the line that fixes them."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

from rerankwatch.cli import app
from tests.server.test_ducklake import fresh_lake
from tests.support.stores import postgres_binaries

pytestmark = [pytest.mark.skipif(
    postgres_binaries() is not None and not os.environ.get("RERANKWATCH_REQUIRE_POSTGRES"),
    reason=postgres_binaries() or "")]


@pytest.fixture
def s3_env(s3, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key, value in s3.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PGPASSWORD", "not-a-real-secret-9f3e")  # trust auth ignores it
    return s3.env


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def test_init_creates_the_lake_and_its_bucket_then_check_passes(catalog: str, s3, s3_env
                                                                ) -> None:
    spec = fresh_lake(catalog, "team_init")
    assert "team-lake" not in [b["Name"] for b in s3.client.list_buckets()["Buckets"]]
    before = cli("store", "check", "--db", spec)
    assert before.exit_code == 3 and "FAIL catalog: reachable, but no lake" in before.output
    made = cli("store", "init", "--db", spec, "--data-path", "s3://team-lake/rerankwatch")
    assert made.exit_code == 0, made.output
    assert "created the bucket team-lake" in made.output
    assert "team-lake" in [b["Name"] for b in s3.client.list_buckets()["Buckets"]]
    for name in ("RERANKWATCH_DB", "PGPASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                 "AWS_ENDPOINT_URL_S3"):
        assert f"export {name}=" in made.output
    assert "testing" not in made.output and "not-a-real-secret" not in made.output
    again = cli("store", "init", "--db", spec)
    assert again.exit_code == 0 and "exists already" in again.output, again.output
    checked = cli("store", "check", "--db", spec)
    assert checked.exit_code == 0, checked.output
    assert "ok   data path: s3://team-lake/rerankwatch/ readable and writable" in checked.output
    # the first nightly finds the lake; readers before it see an empty history, no error
    assert cli("sql", "--db", spec, "select count(*) from runs").exit_code == 0


def test_check_of_a_lake_whose_bucket_is_gone_exits_3_with_the_fix(catalog: str, s3, s3_env
                                                                   ) -> None:
    spec = fresh_lake(catalog, "team_gone")
    made = cli("store", "init", "--db", spec, "--data-path", "s3://gone-lake/x")
    assert made.exit_code == 0, made.output
    for item in s3.client.list_objects_v2(Bucket="gone-lake").get("Contents", []):
        s3.client.delete_object(Bucket="gone-lake", Key=item["Key"])
    s3.client.delete_bucket(Bucket="gone-lake")
    result = cli("store", "check", "--db", spec)
    assert result.exit_code == 3, result.output
    assert "FAIL data path: the bucket gone-lake does not exist" in result.output
    assert "aws s3 mb s3://gone-lake" in result.output


def test_init_where_the_bucket_cannot_be_created_says_what_to_create(catalog: str, s3, s3_env
                                                                     ) -> None:
    spec = fresh_lake(catalog, "team_refused")
    # moto refuses this name as S3 does (too short): the create fails as a refused one would
    result = cli("store", "init", "--db", spec, "--data-path", "s3://ab/rerankwatch")
    assert result.exit_code == 3, result.output
    assert result.output.startswith("error: the bucket ab does not exist and these "
                                    "credentials cannot create it")
    assert "create the bucket ab (aws s3 mb s3://ab" in result.output
    assert len(result.output.strip().splitlines()) == 1
    again = cli("store", "check", "--db", spec)  # nothing half-created
    assert again.exit_code == 3 and "no lake in it yet" in again.output


def test_init_of_a_postgres_lake_without_a_data_path_exits_2_naming_the_options(
        catalog: str, s3_env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RERANKWATCH_DATA_PATH", raising=False)
    spec = fresh_lake(catalog, "team_nodata")
    result = cli("store", "init", "--db", spec)
    assert result.exit_code == 2, result.output
    assert "needs a data path: --data-path" in result.output
