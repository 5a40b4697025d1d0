"""Expected errors read like a product: the real `rerankwatch` command prints one `error:` line
and exits with its documented code (2: input refused before anything ran; 1: the run failed or
was blocked), with no traceback unless `--debug` or RERANKWATCH_DEBUG=1 asks for it."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rerankwatch.store import Store
from tests.support.configs import TINY_CE, UNTRAINED, run_config

COMMAND = Path(sys.executable).with_name("rerankwatch")  # the installed console script
GHOST = "no-such-org/no-such-reranker"  # a hub id that cannot load offline


@pytest.fixture(scope="session")
def prefect_harness():
    """Not the shared test harness: every test here runs the command in a process of its own,
    with its own Prefect temporary server where it gets that far."""
    yield


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"PREFECT_API_URL", "RERANKWATCH_DEBUG"}}
    env["PREFECT_HOME"] = str(tmp_path_factory.mktemp("prefect"))
    env["COLUMNS"] = "200"  # one error line stays one line
    return env


def rerankwatch(env: dict[str, str], *args: str, **more: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(COMMAND), *args], env={**env, **more}, capture_output=True,
                          text=True, timeout=900, stdin=subprocess.DEVNULL)


def output(done: subprocess.CompletedProcess) -> str:
    return done.stdout + done.stderr


def error_lines(done: subprocess.CompletedProcess) -> list[str]:
    return [line for line in output(done).splitlines() if line.startswith("error:")]


def assert_one_error(done: subprocess.CompletedProcess, code: int, message: str,
                     traceback: bool = False) -> None:
    text = output(done)
    assert done.returncode == code, text
    errors = error_lines(done)
    assert len(errors) == 1 and message in errors[0], text
    assert ("Traceback (most recent call last)" in text) == traceback, text


def golden_rows(golden_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (golden_dir / "golden_en.jsonl").read_text()
            .splitlines() if line.strip()]


def write_config(tmp_path: Path, samples: Path, engines=(("tiny-ce", "st-cross", TINY_CE),),
                 reference: str = "tiny-ce") -> Path:
    config = tmp_path / "run.toml"
    config.write_text(run_config(tmp_path / "rw.duckdb", samples, reference, list(engines)))
    return config


@pytest.fixture
def bad_samples(tmp_path, golden_dir) -> Path:
    """Config whose sample set has a label that is no number on line 3."""
    rows = golden_rows(golden_dir)
    rows[2]["label"] = "high"
    samples = tmp_path / "bad.jsonl"
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return write_config(tmp_path, samples)


def test_a_bad_sample_set_is_one_error_line_before_prefect_starts(env, bad_samples, tmp_path):
    done = rerankwatch(env, "nightly", "--config", str(bad_samples))
    assert_one_error(done, 2, "bad.jsonl:3 [label]: must be a number, got 'high'")
    assert "temporary server" not in output(done)  # refused before Prefect started
    assert not (tmp_path / "rw.duckdb").exists()


def test_debug_shows_the_traceback_of_a_bad_sample_set(env, bad_samples):
    done = rerankwatch(env, "--debug", "nightly", "--config", str(bad_samples))
    assert_one_error(done, 2, "[label]: must be a number", traceback=True)
    assert "SampleSetError" in output(done)


def test_a_directory_given_as_a_sample_file_is_named_a_directory(env, tmp_path):
    folder = tmp_path / "golden_en.jsonl"
    folder.mkdir()
    done = rerankwatch(env, "score", "--config", str(write_config(tmp_path, folder)))
    assert_one_error(done, 2, f"{folder}: is a directory")
    assert "not found" not in output(done)


def test_a_bad_config_is_one_error_line(env, tmp_path, golden_dir):
    config = write_config(tmp_path, golden_dir / "golden_en.jsonl",
                          [("tiny-ce", "st-crossencoder", TINY_CE)])
    done = rerankwatch(env, "nightly", "--config", str(config))
    assert_one_error(done, 2, "unknown kind 'st-crossencoder'")
    debug = rerankwatch(env, "nightly", "--config", str(config), RERANKWATCH_DEBUG="1")
    assert_one_error(debug, 2, "unknown kind 'st-crossencoder'", traceback=True)


def test_resume_of_an_unknown_run_is_one_error_line(env, tmp_path):
    db = tmp_path / "rw.duckdb"
    Store(db).close()  # a real, empty store
    done = rerankwatch(env, "resume", "no-such-run", "--db", str(db))
    assert_one_error(done, 2, f"no run 'no-such-run' in {db}")
    debug = rerankwatch(env, "--debug", "resume", "no-such-run", "--db", str(db))
    assert_one_error(debug, 2, "no run 'no-such-run'", traceback=True)
    assert "RunNotResumable" in output(debug)


@pytest.mark.prefect  # the CLI's nightly starts its own ephemeral Prefect server
@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
def test_an_engine_that_cannot_load_is_error_with_one_verdict_line(
        env, tmp_path, golden_dir, debug):
    config = write_config(tmp_path, golden_dir / "golden_en.jsonl",
                          [("ghost", "st-cross", GHOST)], reference="ghost")
    config.write_text(config.read_text().replace(UNTRAINED, ""))
    done = rerankwatch(env, *(["--debug"] if debug else []), "nightly", "--config", str(config))
    text = output(done)
    assert done.returncode == 3, text  # ERROR: could not judge, never BLOCKED
    assert error_lines(done) == [] and "BLOCKED" not in text, text
    (line,) = [x for x in text.splitlines() if x.startswith("ERROR: ")]
    assert line.startswith("ERROR: engine ghost could not score: EngineFailed: ") and \
        f"cannot load model '{GHOST}'" in line, text  # the cause, said once in the verdict
    assert ("Traceback (most recent call last)" in text) == debug, text
    if not debug:  # Prefect's report of the failed flow stays in its UI, not on the terminal
        assert "Encountered exception during execution" not in text
        assert "Finished in state Failed" not in text


def test_the_console_drops_prefect_failure_reports_and_the_api_log_keeps_them():
    """The terminal filter of a run without --debug leaves every other handler (Prefect's API
    log handler, which feeds its UI) the whole record, traceback included."""
    from prefect.logging.handlers import PrefectConsoleHandler

    from rerankwatch.tasks import prefect_env

    stream = io.StringIO()
    console = PrefectConsoleHandler(stream=stream)
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    kept: list[logging.LogRecord] = []
    api = logging.Handler()  # stands in for Prefect's API log handler: sees records first
    api.emit = kept.append
    prefect_env.quiet_console([console])
    runs = logging.getLogger("prefect.flow_runs.rerankwatch-test")
    plain = logging.getLogger("rerankwatch.cli-errors-test")
    for logger, handlers in ((runs, [api, console]), (plain, [console])):
        logger.propagate = False  # only these handlers: not Prefect's own, nor pytest's
        logger.setLevel(logging.INFO)
        for handler in handlers:
            logger.addHandler(handler)
    try:
        try:
            raise ValueError("boom in the flow")
        except ValueError:
            runs.exception("Encountered exception during execution: %r", "boom")
            plain.exception("a plain error")
        runs.info("Finished in state Failed('boom')")
        runs.info("Finished in state Completed()")
    finally:
        for logger in (runs, plain):
            logger.handlers.clear()
            logger.propagate = True
    shown = stream.getvalue()
    assert "Encountered exception" not in shown and "Failed('boom')" not in shown
    assert "a plain error" in shown and "Traceback" not in shown
    assert "Finished in state Completed()" in shown
    assert len(kept) == 3 and kept[0].exc_info is not None  # the API log keeps it whole
    assert "Traceback" in logging.Formatter().format(kept[0])


def test_without_a_db_the_data_goes_to_rerankwatch_home_not_the_working_directory(
        env, tmp_path, golden_dir):
    """A config with no `db` (as the shipped ones): the nightly writes its store, report and
    shards under RERANKWATCH_HOME, and `sql` / `report` without --db read that store."""
    config = tmp_path / "run.toml"
    text = run_config(tmp_path / "unused.duckdb", golden_dir / "golden_en.jsonl", "tiny-ce",
                      [("tiny-ce", "st-cross", TINY_CE), ("tiny-ce-hf", "hf-seqcls", TINY_CE)])
    config.write_text("\n".join(line for line in text.splitlines()
                                if not line.startswith("db = ")) + "\n")
    home, checkout = tmp_path / "home", tmp_path / "checkout"
    checkout.mkdir()
    done = subprocess.run([str(COMMAND), "nightly", "--config", str(config)], cwd=checkout,
                          env={**env, "RERANKWATCH_HOME": str(home)}, capture_output=True,
                          text=True, timeout=900, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, output(done)
    assert list(checkout.iterdir()) == []  # nothing in the working directory
    assert (home / "rerankwatch.duckdb").is_file()
    [report] = (home / "reports").glob("*.html")
    with Store(home / "rerankwatch.duckdb", read_only=True) as store:
        [(run_id, verdict)] = store.sql("select run_id, verdict from verdicts").rows()
    assert verdict == "PASS" and report.stem == run_id
    read = subprocess.run([str(COMMAND), "sql", "select count(*) as runs from runs"],
                          cwd=checkout, env={**env, "RERANKWATCH_HOME": str(home)},
                          capture_output=True, text=True, timeout=120)
    assert read.returncode == 0 and "runs" in read.stdout, output(read)
    assert list(checkout.iterdir()) == []
