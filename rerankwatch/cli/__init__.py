"""The `rerankwatch` command line.

Commands import the flows, the pipeline and the demo inside their functions: not to dodge a
cycle (the CLI is the top layer) but so `rerankwatch --help` and `rerankwatch sql` start without
loading Prefect, torch or GX.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from rerankwatch.cli import errors
from rerankwatch.cli.baseline import app as baseline_app
from rerankwatch.cli.errors import fail, fail_with, say_error
from rerankwatch.cli.options import StoreConfigOpt, StoreDbOpt, store_db
from rerankwatch.cli.samples import app as samples_app
from rerankwatch.cli.sql import fail_busy, note_wait, sql as sql_command
from rerankwatch.cli.store import app as store_app
from rerankwatch.core.errors import RerankwatchError, StoreBusy, StoreSpecError
from rerankwatch.core.home import db_or_default, default_replay_db
from rerankwatch.core.records import ERROR_VERDICT, EXIT_BAD_INPUT, EXIT_CODES, worst_verdict
from rerankwatch.core.settings import settings
from rerankwatch.engines.fixtures import DEMO_BUILD_COMMAND, DEMO_CROSS_CONFIG, find_demo_model
from rerankwatch.tasks import prefect_env

prefect_env.apply()
app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__.splitlines()[0])

ConfigOpt = Annotated[str | None, typer.Option("--config", "-c",
                      help="Run config (TOML). Default: the embedded all-MiniLM-L6-v2 config, "
                           "then the demo cross-encoder's when it is built.")]
DbOpt = Annotated[str | None, typer.Option(
    "--db", help="DuckDB file, or a DuckLake store (ducklake:sqlite:PATH, "
                 "ducklake:postgres:CONNINFO); overrides the config.")]
StoreOpt = Annotated[str | None, typer.Option(
    "--db", help="DuckDB file or ducklake:... store (default: $RERANKWATCH_DB, else "
                 "$RERANKWATCH_HOME/rerankwatch.duckdb; the home is ~/.rerankwatch unless set).")]


DEBUG_ENV = "RERANKWATCH_DEBUG"


@app.callback()
def _root(debug: Annotated[bool, typer.Option(
        "--debug", envvar=DEBUG_ENV,
        help="Show the traceback of an error, and Prefect's own report of a failed flow.",
)] = False) -> None:
    """Batch scoring and regression monitoring for reranker engines."""
    errors.debug = debug  # tracebacks and Prefect's whole console log
    if debug:  # the flows this command runs log an engine's traceback where it failed
        import os

        os.environ[DEBUG_ENV] = "1"


def _check_config(config: str | None):
    """The validated RunConfig, its sample sets validated too: a bad config or sample set
    exits 2 here, in one line, before Prefect starts. (The flow validates the sets again: a
    deployment runs it without this CLI.)"""
    from rerankwatch.pipeline import load_config
    from rerankwatch.pipeline.scoring import load_pairs

    try:
        loaded = load_config(config)
        load_pairs(loaded)
    except RerankwatchError as exc:
        fail_with(exc, 2)
    return loaded


def _check_prefect_home() -> None:
    """A PREFECT_HOME that cannot be created exits 2 naming it, first thing (before Prefect is
    imported: it warns, and its server times out after 90 s)."""
    try:
        prefect_env.ensure_home()
    except RerankwatchError as exc:
        fail_with(exc, EXIT_BAD_INPUT)


def _check_db(db: str) -> None:
    """A store path that cannot be one (a directory) exits 2 now, not after Prefect's setup
    and the store's retries."""
    from rerankwatch.store import check_store_path

    try:
        check_store_path(db)
    except RerankwatchError as exc:
        fail_with(exc, 2)


def _configs(config: str | None) -> list[str | None]:
    """The given config; else the embedded default (bi-encoder), then, when it is built, the
    demo cross-encoder's config as a second run (every run compares engines with one
    reference, and a cosine is no probability)."""
    if config is not None:
        return [config]
    if find_demo_model() is None:
        typer.secho(f"note: the demo cross-encoder is not built, so only the bi-encoder default "
                    f"runs; `{DEMO_BUILD_COMMAND}` adds it", fg=typer.colors.YELLOW, err=True)
        return [None]
    return [None, DEMO_CROSS_CONFIG]


def _finish(state, what: str) -> str:
    """The verdict of a flow that ended in one (PASS, BLOCKED, ERROR); a flow that completed
    without one (score-matrix) is PASS. A flow that stopped short of a verdict exits here with
    its error said once: 2 for input the flow refused (config, sample set, unknown run), 3
    (ERROR) for anything else: the run could not be judged, which is no regression."""
    from rerankwatch.core.errors import (
        ConfigError,
        RunNotResumable,
        SampleSetError,
        UnknownNameError,
    )
    from rerankwatch.core.records import EXIT_CODES, PASS
    from rerankwatch.tasks.notify import verdict_result

    if (verdict := verdict_result(state)) is not None:
        return verdict.outcome
    if state.is_completed():
        return PASS
    error = EXIT_CODES[ERROR_VERDICT]
    exc = _flow_error(state)
    if isinstance(exc, StoreBusy):
        fail_busy(exc, hint=False)
    if isinstance(exc, RerankwatchError):
        refused = (ConfigError, SampleSetError, UnknownNameError, RunNotResumable)
        fail_with(exc, EXIT_BAD_INPUT if isinstance(exc, refused) else error)
    if exc is not None:  # a bug, not an expected error: name its type
        hint = "" if errors.debug else "; rerun with --debug for the traceback"
        fail_with(exc, error, f"the {what} flow failed: {type(exc).__name__}: {exc}{hint}")
    fail(state.message or f"the {what} flow failed", error)


def _exit_with(verdicts: list[str]) -> None:
    """Exit with the code of the worst verdict: 1 BLOCKED, else 3 ERROR, else 0 PASS."""
    code = EXIT_CODES[worst_verdict(verdicts)]
    if code:
        raise typer.Exit(code)


def _flow_error(state) -> BaseException | None:
    """The exception a failed or crashed flow run raised, if Prefect still holds it (not
    Prefect's stand-in for a state without one: its message says it then)."""
    from prefect.exceptions import CancelledRun, CrashedRun, FailedRun
    from prefect.states import get_state_exception

    try:
        exc = get_state_exception(state)
    except Exception:  # e.g. a result that cannot be read back
        return None
    return None if isinstance(exc, FailedRun | CrashedRun | CancelledRun) else exc


def _start_prefect() -> None:
    """Start Prefect's temporary server from this (main) thread, bound to this process: a
    command killed even by SIGKILL leaves no server behind (rerankwatch.tasks.prefect_server).
    Called after the cheap checks, so a bad config or run exits without starting it."""
    from rerankwatch.tasks.prefect_server import start_bound_server

    if not errors.debug:
        prefect_env.quiet_console()
    start_bound_server()


ForceOpt = Annotated[bool, typer.Option(
    "--force", help="Rescore pairs an identical engine fingerprint already scored.")]


JunitOpt = Annotated[Path | None, typer.Option(
    "--junit", help="Also write a JUnit XML report here (one test case per check × engine × "
                    "subject), whatever the outcome; see docs/ci.md.")]
JsonOpt = Annotated[Path | None, typer.Option(
    "--json", help="Also write a JSON report here (verdict, failing checks, engines with "
                   "their fingerprints), whatever the outcome.")]


def _state_error(state) -> str | None:
    """Why a flow stopped short of a verdict (None: it ended in one)."""
    from rerankwatch.tasks.notify import verdict_result

    if state.is_completed() or verdict_result(state) is not None:
        return None
    exc = _flow_error(state)
    if exc is None:
        return str(state.message or "the flow failed")
    return str(exc) if isinstance(exc, RerankwatchError) else f"{type(exc).__name__}: {exc}"


@contextmanager
def _ci_reports(command: str, junit: Path | None, json_file: Path | None) -> Iterator[list]:
    """Collect (db, flow state) of each flow the command runs; when it ends, with any exit
    code, say the verdict of each run it judged (its line, then its reasons: the same lines a
    deployed gate's client prints) and write the requested --junit / --json reports (an input
    refused before anything ran: the reports say so, verdict ERROR). A report that cannot be
    written turns exit 0 into 3."""
    flows: list = []
    errors.last_error = None
    try:
        yield flows
    except typer.Exit as exc:
        _close(command, exc.exit_code, flows, junit, json_file)
        raise
    except Exception as exc:
        _close(command, EXIT_CODES[ERROR_VERDICT], flows, junit, json_file,
               f"{type(exc).__name__}: {exc}")
        raise
    if not _close(command, 0, flows, junit, json_file):  # CI has nothing to read: ERROR
        raise typer.Exit(EXIT_CODES[ERROR_VERDICT])


def _close(command: str, code: int, flows: list, junit: Path | None,
           json_file: Path | None, error: str | None = None) -> bool:
    """The verdict lines of the runs ``flows`` opened, and the requested CI reports."""
    from rerankwatch.report.ci import FlowRun, build_ci_report, ci_json
    from rerankwatch.tasks.notify import verdict_result

    runs = [FlowRun(Path(db), str(state.state_details.flow_run_id or "") or None,
                    _state_error(state), getattr(verdict_result(state), "run_id", None))
            for db, state in flows]
    refused = None if flows or code == 0 else (error or errors.last_error or f"exit {code}")
    if not runs and junit is None and json_file is None:
        return True
    try:
        payload = ci_json(build_ci_report(command, code, runs, refused, on_wait=note_wait))
    except (OSError, StoreBusy, RerankwatchError) as exc:
        say_error(f"the verdict could not be read back: {exc}", raw=True)
        return False
    if runs:
        _print_verdict(payload, errors=False)
    return _write_reports(payload, junit, json_file)


def _print_verdict(payload: dict, errors: bool = True) -> None:
    from rerankwatch.report.ci import verdict_lines
    from rerankwatch.report.terminal import print_verdict_lines

    print_verdict_lines(verdict_lines(payload, errors))


def _write_reports(payload: dict, junit: Path | None, json_file: Path | None) -> bool:
    from rerankwatch.report.ci import write_ci_reports

    if junit is None and json_file is None:
        return True
    try:
        paths = write_ci_reports(payload, junit, json_file)
    except OSError as exc:
        say_error(f"the CI report could not be written: {exc}", raw=True)
        return False
    typer.echo(f"CI report ({payload['verdict']}) written: {', '.join(map(str, paths))}",
               err=True)
    return True


def _run_each(config: str | None, db: str | None, force: bool, flow, what: str,
              ci: list | None = None) -> None:
    """Validate every config first (exit 2), then run ``flow`` on each; exit with the worst
    verdict (1 BLOCKED, 3 ERROR). ``ci`` collects (db, state) of each flow for the verdict
    lines and CI reports."""
    _check_prefect_home()
    paths = _configs(config)
    loaded = [_check_config(path) for path in paths]
    for each in loaded:
        _check_db(db or each.db_path)
    _start_prefect()
    states = [flow(path, db, force, return_state=True) for path in paths]
    if ci is not None:
        ci += [(db or c.db_path, state) for c, state in zip(loaded, states, strict=True)]
    _exit_with([_finish(state, what) for state in states])


@app.command()
def score(config: ConfigOpt = None, db: DbOpt = None, force: ForceOpt = False) -> None:
    """Score every configured engine config on its sample sets and store the results."""
    from rerankwatch.flows.score_matrix import score_matrix

    _run_each(config, db, force, score_matrix, "score-matrix")


@app.command()
def nightly(config: ConfigOpt = None, db: DbOpt = None, force: ForceOpt = False,
            junit: JunitOpt = None, json_file: JsonOpt = None) -> None:
    """Score everything, run the suite: exit 0 PASS, 1 BLOCKED (a blocking check failed), 3
    ERROR (could not judge: an engine did not load or score, a store or server unreachable)."""
    from rerankwatch.flows.nightly import nightly as nightly_flow

    with _ci_reports("nightly", junit, json_file) as ci:
        _run_each(config, db, force, nightly_flow, "nightly", ci)


@app.command()
def resume(
    run: Annotated[str, typer.Argument(help="Id of a failed or interrupted run.")],
    db: StoreOpt = None,
    force: ForceOpt = False,
) -> None:
    """Finish a failed or killed run: score only what it lacks, then judge it like its flow."""
    from rerankwatch.pipeline.scoring import check_resumable

    _check_prefect_home()
    try:
        db = str(db_or_default(db))
        check_resumable(db, run)
    except StoreBusy as exc:
        fail_busy(exc, hint=False)
    except RerankwatchError as exc:
        fail_with(exc, 2)
    _start_prefect()
    from rerankwatch.flows.resume import resume as resume_flow

    with _ci_reports("resume", None, None) as ci:
        state = resume_flow(run, db, force, return_state=True)
        ci.append((db, state))
        _exit_with([_finish(state, "resume")])


@app.command()
def gate(
    baseline: Annotated[str, typer.Option(help="Engine name in the config (the reference).")],
    candidate: Annotated[str, typer.Option(help="Engine name in the config to judge.")],
    config: ConfigOpt = None, db: DbOpt = None,
    junit: JunitOpt = None, json_file: JsonOpt = None,
    deployment: Annotated[str | None, typer.Option(
        "--deployment", help="Run the deployed upgrade-gate flow instead (`--deployment` alone: "
             "upgrade-gate/upgrade-gate; or NAME, FLOW/NAME) on the workers, through the Prefect "
             "API (PREFECT_API_URL) alone: this machine needs no models and no store "
             "credentials. Its config and store are the deployment's.")] = None,
    timeout: Annotated[float, typer.Option(
        "--timeout", min=1, help="With --deployment: seconds to wait for the verdict before "
                                 "exit 3 (the flow run goes on).")] = 3600.0,
) -> None:
    """Judge a candidate engine against a baseline: exit 0 PASS, 1 BLOCKED, 3 ERROR (it could
    not be judged: an engine that did not load or score, a store or server unreachable)."""
    baseline, candidate = _engine_arg("--baseline", baseline), _engine_arg("--candidate",
                                                                           candidate)
    if deployment is not None:
        if config is not None or db is not None:
            fail("--config and --db belong to the deployment (set by `rerankwatch deploy`); "
                  "with --deployment give only --baseline and --candidate", EXIT_BAD_INPUT)
        _deployed_gate(deployment, baseline, candidate, timeout, junit, json_file)
        return
    with _ci_reports("gate", junit, json_file) as ci:
        _check_prefect_home()
        loaded = _check_config(config)
        from rerankwatch.pipeline.judging import gate_config

        try:
            gate_config(loaded, baseline, candidate)
        except RerankwatchError as exc:
            fail_with(exc, 2)
        _check_db(db or loaded.db_path)
        _start_prefect()
        from rerankwatch.flows.upgrade_gate import upgrade_gate

        state = upgrade_gate(baseline, candidate, config, db, return_state=True)
        ci.append((db or loaded.db_path, state))
        _exit_with([_finish(state, "upgrade-gate")])


def _engine_arg(option: str, value: str) -> str | dict:
    """An engine name, or an inline engine config given as a JSON object."""
    import json

    if not value.lstrip().startswith("{"):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        fail(f"{option}: not a JSON object ({exc.msg} at character {exc.pos}); give an engine "
              f"name or an inline engine config such as '{{\"name\": \"next\", "
              f"\"kind\": \"st-cross\", \"model\": \"...\"}}'", EXIT_BAD_INPUT)


def _deployed_gate(name: str, baseline: str | dict, candidate: str | dict, timeout: float,
                   junit: Path | None, json_file: Path | None) -> None:
    """Trigger and follow the deployed gate; say its verdict as the local gate says it, write
    the CI reports from the verdict it published, exit 0/1/2/3."""
    from prefect.settings import get_current_settings

    from rerankwatch.core.errors import ConfigError
    from rerankwatch.report.ci import CiReport, ci_json
    from rerankwatch.tasks.deployed_gate import DeploymentUnreachable, run_deployed_gate

    def refused(message: str, code: int) -> None:
        _write_reports(ci_json(CiReport("gate", code, (), (message,))), junit, json_file)
        fail(message, code)

    if not get_current_settings().api.url:
        refused("--deployment needs a Prefect server: set PREFECT_API_URL", EXIT_BAD_INPUT)
    try:
        outcome = run_deployed_gate(name, baseline, candidate, timeout,
                                    on_progress=lambda line: typer.echo(line, err=True))
    except ConfigError as exc:
        refused(str(exc), EXIT_BAD_INPUT)
    except (DeploymentUnreachable, OSError) as exc:
        refused(str(exc), EXIT_CODES[ERROR_VERDICT])
    from rerankwatch.report.terminal import print_per_query

    # the per-check table is in the worker's log; its per-query outcomes are said here first
    print_per_query([e["line"] for run in outcome.payload["runs"]
                     for e in run.get("per_query", [])])
    _print_verdict(outcome.payload)
    if not _write_reports(outcome.payload, junit, json_file) and outcome.exit_code == 0:
        raise typer.Exit(EXIT_CODES[ERROR_VERDICT])  # CI has nothing to read
    if outcome.exit_code:
        raise typer.Exit(outcome.exit_code)


@app.command()
def replay(
    db: Annotated[str | None, typer.Option(help="DuckDB file for the replay runs (default: "
                                                "$RERANKWATCH_HOME/replay.duckdb).")] = None,
    only: Annotated[list[str] | None, typer.Option(help="Run only these replays.")] = None,
) -> None:
    """Replay every known incident (on the demo cross-encoder once built, else the fixture
    cross-encoder, and the embedded bi-encoder), the clean controls, and a nightly sequence
    whose third night only the history check can catch; prints what caught each, by how much."""
    from rerankwatch.pipeline.replay import NIGHTS, chosen_replays, run_replay
    from rerankwatch.pipeline.replay_nights import run_nights
    from rerankwatch.report import terminal as views

    try:
        db = str(db_or_default(db, default_replay_db()))
        chosen = chosen_replays(only)
        outcomes = [run_replay(r, db) for r in chosen]
        nights = run_nights(db) if not only or NIGHTS in only else None
    except StoreBusy as exc:
        fail_busy(exc, hint=False)
    except (ValueError, RerankwatchError) as exc:
        fail_with(exc, 2)
    views.print_replays(outcomes, nights)
    if not only and find_demo_model() is None:
        typer.secho(f"note: the replays ran on the untrained fixture cross-encoder (ladders and "
                    f"ceilings not blocking); `{DEMO_BUILD_COMMAND}` replays them on the demo "
                    f"model", fg=typer.colors.YELLOW, err=True)
    if not all(o.ok for o in outcomes) or (nights is not None and not nights.ok):
        fail("a replay was not caught, or a clean control was blocked")


@app.command("build-demo-model")
def build_demo_model(
    budget: Annotated[str | None, typer.Option(
        help="full (~9 min on 2 CPU cores; what the demo loads) or smoke (4 steps; plumbing only). "
             "Default: $RERANKWATCH_DEMO_BUDGET, else full.")] = None,
    force: Annotated[bool, typer.Option(help="Rebuild even when cached.")] = False,
) -> None:
    """Train the demo cross-encoder (embedded:demo-cross-encoder) into the cache, once per
    recipe and machine, and print its evaluation."""
    from rerankwatch.demo import missing_requirements

    missing = missing_requirements()
    if missing:
        fail(f"building the demo cross-encoder needs {', '.join(missing)}, which this "
              f"environment lacks: pip install 'rerankwatch[demo]' (or, in a checkout, "
              f"make venv)", 2)
    from rerankwatch.demo import model as demo_model
    from rerankwatch.demo.evaluate import print_evaluation

    name = budget or settings().demo_budget
    if name not in demo_model.BUDGETS:
        fail(f"unknown budget {name!r}; use one of {', '.join(demo_model.BUDGETS)}", 2)
    cached = demo_model.is_built(name) and not force
    folder = demo_model.build(name, force)
    print_evaluation(demo_model.build_info(folder))
    typer.echo(f"{'cached' if cached else 'built'}: {folder}")


@app.command()
def report(
    run: Annotated[str, typer.Option(help="Run id, or 'latest' judged run.")] = "latest",
    db: StoreDbOpt = None,
    config: StoreConfigOpt = None,
    out: Annotated[str | None, typer.Option(
        help="HTML file (default: the stored report when it is a local path, else a copy in "
             "this store's local reports folder).")] = None,
    nights: Annotated[int, typer.Option(help="Runs shown in the agreement trend.")] = 14,
    rebuild: Annotated[bool, typer.Option(
        "--rebuild", help="Build the report from the store even when one is stored.")] = False,
    open_it: Annotated[bool, typer.Option(
        "--open", help="Open the report in a web browser.")] = False,
) -> None:
    """Get one self-contained HTML report (verdict, check table and plots): the stored one,
    fetched from where the run's flow wrote it, else built from the store."""
    import webbrowser

    from rerankwatch.core.errors import StorageError
    from rerankwatch.report.stored import get_report

    try:
        got = get_report(store_db(db, config), run, out, rebuild, nights, on_wait=note_wait,
                         on_note=lambda note: typer.echo(f"note: {note}", err=True))
    except StoreBusy as exc:
        fail_busy(exc)
    except StorageError as exc:  # infrastructure, not the user's input
        fail_with(exc, 3)
    except RerankwatchError as exc:
        fail_with(exc, 2)
    if got.fetched:
        typer.echo(f"report fetched: {got.path} (stored at {got.location.where})")
    else:
        typer.echo(f"report written: {got.path}" + (
            f" (stored at {got.location.where})" if got.stored
            and str(got.path) != got.location.where else ""))
    if got.location.url:
        typer.echo(f"link: {got.location.url}")
    if open_it:
        try:
            opened = webbrowser.open(got.path.resolve().as_uri())
        except webbrowser.Error:
            opened = False
        if not opened:
            typer.echo(f"no web browser available here: open {got.path} yourself")


app.command("sql")(sql_command)
app.add_typer(baseline_app, name="baseline")
app.add_typer(samples_app, name="samples")
app.add_typer(store_app, name="store")


@app.command()
def deploy(
    timezone: Annotated[str | None, typer.Option(
        help="IANA timezone of the nightly cron (0 2 * * *). "
             "Default: $RERANKWATCH_NIGHTLY_TIMEZONE, else UTC.")] = None,
    api_url: Annotated[str | None, typer.Option(
        "--api-url", help="Prefect API, e.g. http://127.0.0.1:4200/api. Default: PREFECT_API_URL.",
    )] = None,
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", help="Run config the deployments run (the nightly's schedule "
                               "included). Default: the embedded default.")] = None,
    db: Annotated[str | None, typer.Option(
        "--db", help="Store the deployments write (a DuckDB file or a ducklake:... store). "
                     "Default: the config's db, else $RERANKWATCH_HOME/rerankwatch.duckdb on "
                     "the worker.")] = None,
) -> None:
    """Register deploy/prefect.yaml's deployments with a Prefect server (and its process pool);
    --config / --db become every deployment's parameters, the scheduled nightly's included."""
    from rerankwatch.tasks.deployments import DeployError, deploy as deploy_all

    try:
        deploy_all(timezone, api_url, config, db, on_line=typer.echo, on_note=note_wait)
    except DeployError as exc:
        fail(str(exc), exc.code)
    except RerankwatchError as exc:  # a config that does not validate: nothing deployed
        fail_with(exc, 2)


# options whose value may be left out (`gate --deployment`): typer has no optional values
OPTIONAL_VALUES = {"--deployment": "upgrade-gate/upgrade-gate"}


def optional_values(argv: list[str]) -> list[str]:
    """``argv`` with each OPTIONAL_VALUES option that has no value (last, or followed by
    another option) given its default."""
    out = []
    for index, arg in enumerate(argv):
        following = argv[index + 1] if index + 1 < len(argv) else None
        if arg in OPTIONAL_VALUES and (following is None or following.startswith("-")):
            arg = f"{arg}={OPTIONAL_VALUES[arg]}"
        out.append(arg)
    return out


def main() -> None:
    import sys

    try:
        app(args=optional_values(sys.argv[1:]))
    except StoreSpecError as exc:  # a bad --db reached by any command: one line, exit 2
        if errors.debug:
            raise
        say_error(f"--db: {exc}", raw=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
