"""Flow state hooks: tell someone when a gate blocks or a nightly fails."""

from __future__ import annotations

import json

from prefect.logging.loggers import flow_run_logger
from prefect.settings import get_current_settings

from rerankwatch.tasks import channels as notify

MAX_PARAMETERS_CHARS = 500


def notify_failure(flow, flow_run, state) -> None:
    """``on_failure`` hook: send the failure (e.g. ``BLOCKED: argument_order``) if configured."""
    logger = flow_run_logger(flow_run, flow)
    if notify.configured_channel() is None:
        logger.debug("no failure notification configured")
        return
    message = str(state.message or state.name)
    verdict = "BLOCKED" if "BLOCKED" in message else "failed"
    if notify.send(f"rerankwatch: {flow.name} {verdict}", failure_markdown(flow, flow_run, state)):
        logger.info("failure notification sent")
    else:
        logger.warning("failure notification could not be sent (see the rerankwatch.notify "
                       "log)")


def failure_markdown(flow, flow_run, state) -> str:
    """The notification body: flow, run, state message and where to look."""
    parameters = json.dumps(flow_run.parameters or {}, default=str, sort_keys=True)
    if len(parameters) > MAX_PARAMETERS_CHARS:
        parameters = parameters[:MAX_PARAMETERS_CHARS] + "…"
    lines = [
        f"**{flow.name}** run `{flow_run.name}` ended **{state.name}**.",
        "",
        str(state.message or "(no state message)"),
        "",
        f"- flow run id: `{flow_run.id}`",
        f"- parameters: `{parameters}`",
    ]
    ui_url = get_current_settings().ui_url
    if ui_url and ui_url.startswith("http"):
        lines.append(f"- details: {ui_url.rstrip('/')}/runs/flow-run/{flow_run.id}")
    return "\n".join(lines)
