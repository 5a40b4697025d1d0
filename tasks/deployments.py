"""`rerankwatch deploy`: register deploy/prefect.yaml's deployments with a Prefect server (and
the work pools they use), the run config and store given becoming every deployment's
parameters, the scheduled nightly's included.

Nothing here prints: what it says goes to ``on_line`` (what was done) and ``on_note`` (a note);
why nothing (more) was deployed is a DeployError carrying the CLI's exit code. A config that does
not validate raises its own RerankwatchError (bad input: exit 2).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from rerankwatch.core.errors import RerankwatchError
from rerankwatch.core.settings import settings
from rerankwatch.core.store_spec import check_lake, is_lake, shown_db

DEPLOY_TIMEOUT_S = 600
SCORE_ENGINE = "flows/score_engine.py:score_engine"


class DeployError(RerankwatchError):
    """Nothing (more) was deployed; ``code``: the exit code (2: bad input, 1: the deploy
    failed)."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def _ignore(_: str) -> None:
    pass


def deploy_parameters(config: Path | None, db: str | None,
                      on_note: Callable[[str], None] = _ignore) -> dict[str, str]:
    """config_path / db as absolute paths (a worker runs flows from the repository root, not
    from here); the config is validated first, so a bad one deploys nothing (exit 2)."""
    from rerankwatch.pipeline import load_config

    parameters, loaded = {}, None
    if config is not None:
        loaded = load_config(config)
        parameters["config_path"] = str(config.expanduser().resolve())
    if db is not None and is_lake(db):
        try:
            check_lake(db)
        except ValueError as exc:
            raise DeployError(f"--db: {exc}", 2) from None
        parameters["db"] = db  # the same catalog from every worker
    elif db is not None:
        parameters["db"] = str(Path(db).expanduser().resolve())
    if loaded is not None and loaded.db and "db" in parameters:
        ours = loaded.db if is_lake(loaded.db) else str(Path(loaded.db).expanduser().resolve())
        if ours != parameters["db"]:  # README step 3's --db once hid a team's lake this way
            on_note(f"--db {shown_db(parameters['db'])} overrides the config's db "
                    f"{shown_db(loaded.db)}: every deployment writes to the --db store")
    return parameters


def config_pools(config: Path | None) -> list[str]:
    """The work pools the config's engine configs (or their environments) name."""
    from rerankwatch.pipeline import load_config

    run = load_config(config)
    return list(dict.fromkeys(p for e in run.engines if (p := run.pool_for(e)[0])))


def ensure_process_pool(name: str, on_line: Callable[[str], None] = _ignore) -> str:
    """Create the work pool as a process pool unless it exists; its type."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker

    with get_client(sync_client=True) as client:
        if (problem := client.api_healthcheck()) is not None:
            raise DeployError(f"cannot reach the Prefect API: {type(problem).__name__}: "
                              f"{problem}")
        try:
            found = client.read_work_pool(name)
            on_line(f"work pool {name!r} exists (type {found.type})")
            return found.type
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(
                name=name, type="process", description="rerankwatch: local and CPU runs",
                base_job_template=ProcessWorker.get_default_base_job_template()))
            on_line(f"created work pool {name!r} (type process; for docker or kubernetes, "
                    f"create it first: deploy/README.md)")
            return "process"


def deploy(timezone: str | None = None, api_url: str | None = None,
           config: Path | None = None, db: str | None = None,
           on_line: Callable[[str], None] = _ignore,
           on_note: Callable[[str], None] = _ignore) -> None:
    """Register deploy/prefect.yaml's deployments (a score-engine deployment per work pool an
    engine config names) with the Prefect server at ``api_url`` (default: PREFECT_API_URL),
    through `prefect deploy`; ``config`` / ``db`` become every deployment's parameters and
    ``timezone`` (default: $RERANKWATCH_NIGHTLY_TIMEZONE, else UTC) the nightly cron's."""
    import subprocess
    import sys
    import tempfile
    import zoneinfo
    from importlib import resources

    import yaml
    from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

    # package data, found the same way from a checkout and from an installed wheel: the
    # entrypoints (flows/<name>.py) resolve against the folder holding the flows package
    prefect_file = Path(str(resources.files("rerankwatch.deploy").joinpath("prefect.yaml")))
    root = Path(str(resources.files("rerankwatch.flows"))).resolve().parent
    if not prefect_file.is_file():
        raise DeployError(f"{prefect_file} not found: this rerankwatch installation lacks its "
                          f"deploy files (reinstall the package)", 2)
    timezone = timezone or settings().nightly_timezone
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise DeployError(f"unknown timezone {timezone!r} (use an IANA name such as "
                          f"Europe/Berlin)", 2) from None
    parameters = deploy_parameters(config, db, on_note)  # a bad config deploys nothing
    pools = config_pools(config)
    api_url = api_url or get_current_settings().api.url
    if not api_url:
        raise DeployError("no Prefect server configured: set PREFECT_API_URL (or pass "
                          "--api-url); deployments on the ephemeral server would vanish with "
                          "it", 2)
    spec = yaml.safe_load(prefect_file.read_text())
    pool = spec["definitions"]["work_pools"]["process"]["name"]
    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        types = {name: ensure_process_pool(name, on_line)
                 for name in dict.fromkeys([pool, *pools])}
    score_engine = next(d for d in spec["deployments"] if d["entrypoint"] == SCORE_ENGINE)
    for name in pools:  # a score-engine deployment per work pool an engine config names
        if name != score_engine["work_pool"]["name"]:
            child = {**score_engine, "name": name, "work_pool": {
                "name": name, "work_queue_name": "default", "job_variables": {}}}
            if types[name] != "process":  # a container runs the repository in its image
                child["pull"] = spec["definitions"]["pull_in_image"]
            spec["deployments"].append(child)
    on_line(f"deploying {prefect_file} (nightly timezone {timezone})")
    if parameters:
        on_line("parameters of every deployment: " + ", ".join(
            f"{key}={value}" for key, value in parameters.items()))
    env = {**os.environ, "PREFECT_API_URL": api_url,
           "RERANKWATCH_NIGHTLY_TIMEZONE": timezone}
    with tempfile.TemporaryDirectory(prefix="rerankwatch-deploy-") as folder:
        if parameters or pools:  # the same deployments, with these parameters as defaults
            for deployment in spec["deployments"]:
                if deployment["entrypoint"] != score_engine["entrypoint"]:
                    deployment["parameters"] = {**(deployment.get("parameters") or {}),
                                                **parameters}
            prefect_file = Path(folder) / "prefect.yaml"
            prefect_file.write_text(yaml.safe_dump(spec, sort_keys=False))
        # entrypoints and the default pull step resolve against the repository root
        command = [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all",
                   "--prefect-file", str(prefect_file)]
        try:
            done = subprocess.run(command, cwd=root, env=env, timeout=DEPLOY_TIMEOUT_S,
                                  check=False)
        except subprocess.TimeoutExpired:
            raise DeployError(f"prefect deploy did not finish within {DEPLOY_TIMEOUT_S} s"
                              ) from None
    if done.returncode != 0:
        raise DeployError(f"prefect deploy exited with {done.returncode}")
