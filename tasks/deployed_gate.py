"""The deployed upgrade gate as CI runs it (`rerankwatch gate --deployment`): trigger the
upgrade-gate deployment, follow its flow run, and read the verdict it published as data.

Only the Prefect API is needed (``PREFECT_API_URL``): the flow publishes its verdict in the
``--json`` schema as the ``gate-verdict-json`` artifact (tasks/checking.publish), so the CI
machine needs no models and no store credentials.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from rerankwatch.core.errors import ConfigError, RerankwatchError
from rerankwatch.core.records import ERROR_VERDICT, EXIT_CODES
from rerankwatch.report import ci
from rerankwatch.tasks.checking import verdict_artifact_key

FLOW = "upgrade-gate"
DEFAULT_DEPLOYMENT = f"{FLOW}/{FLOW}"
POLL_S = 2.0
DEFAULT_TIMEOUT_S = 3600.0


class DeploymentUnreachable(RerankwatchError):
    """The Prefect API cannot be reached, or the flow run cannot be followed: no verdict."""


@dataclass(frozen=True, slots=True)
class DeployedGate:
    """How a deployed gate ended: its flow run, final state and the verdict as data."""

    flow_run_id: str
    flow_run_name: str
    state: str
    payload: dict

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.payload["verdict"], EXIT_CODES[ERROR_VERDICT])


def deployment_name(name: str | None) -> str:
    """``upgrade-gate/<name>`` (a bare deployment name), or a full ``flow/deployment``."""
    if not name:
        return DEFAULT_DEPLOYMENT
    return name if "/" in name else f"{FLOW}/{name}"


def error_payload(message: str) -> dict:
    """The payload of a gate that ended without a verdict (a crash, a timeout)."""
    return ci.ci_json(ci.CiReport("gate", EXIT_CODES[ERROR_VERDICT], (), (message,)))


def run_deployed_gate(name: str | None, baseline: str | dict, candidate: str | dict,
                      timeout_s: float = DEFAULT_TIMEOUT_S,
                      on_progress: Callable[[str], None] = print) -> DeployedGate:
    """Trigger the deployment with ``baseline`` and ``candidate``, follow the flow run until it
    ends (``on_progress`` gets a line at each change of state, and every 30 s), then read its
    verdict artifact. A run that ends without one (a crash), or is still running after
    ``timeout_s``, is an ERROR payload naming the flow run and its state."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    full = deployment_name(name)
    with get_client(sync_client=True) as client:
        if (problem := client.api_healthcheck()) is not None:
            raise DeploymentUnreachable(f"cannot reach the Prefect API ({client.api_url}): "
                                        f"{type(problem).__name__}: {problem}")
        try:
            client.read_deployment_by_name(full)
        except ObjectNotFound:
            raise ConfigError(f"no deployment {full!r} on {client.api_url} (rerankwatch deploy "
                              f"registers {DEFAULT_DEPLOYMENT})") from None
        flow_run = run_deployment(full, parameters={"baseline": baseline,
                                                    "candidate": candidate}, timeout=0)
        on_progress(f"{full}: flow run {flow_run.name} ({flow_run.id}) scheduled")
        started, last, said = time.monotonic(), None, 0.0
        while True:
            run = client.read_flow_run(flow_run.id)
            state = run.state.name if run.state else "Pending"
            elapsed = time.monotonic() - started
            if state != last or elapsed - said >= 30:
                on_progress(f"{full}: flow run {run.name} {state} ({elapsed:.0f} s)")
                last, said = state, elapsed
            if run.state is not None and run.state.is_final():
                break
            if elapsed > timeout_s:
                return DeployedGate(str(run.id), run.name, state, error_payload(
                    f"flow run {run.name} ({run.id}) of {full} still {state} after "
                    f"{timeout_s:.0f} s: no verdict yet (--timeout); it goes on running"))
            time.sleep(POLL_S)
        payload = _published_payload(client, run.id)
    if payload is None:
        message = run.state.message or state
        payload = error_payload(f"flow run {run.name} ({run.id}) of {full} ended {state} "
                                f"without a verdict: {message}")
    return DeployedGate(str(run.id), run.name, state, payload)


def _published_payload(client, flow_run_id) -> dict | None:
    """The verdict the flow run published, if it published one."""
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterKey,
        FlowRunFilter,
        FlowRunFilterId,
    )

    found = client.read_artifacts(
        artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[verdict_artifact_key(
            "gate")])),
        flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return ci.payload_from_markdown(str(found[-1].data)) if found else None
