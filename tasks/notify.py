"""Flow state hooks: tell someone when a run is BLOCKED or ERROR, or a flow crashes."""

from __future__ import annotations

import json

from prefect.logging.loggers import flow_run_logger
from prefect.settings import get_current_settings

from rerankwatch.core.errors import VerdictFailed
from rerankwatch.core.records import BLOCKED, ERROR_VERDICT, Verdict
from rerankwatch.tasks import channels as notify

MAX_PARAMETERS_CHARS = 500
MAX_REASONS = 3
HISTORY_CHECK = "history_baseline"


def verdict_result(state) -> Verdict | None:
    """The verdict a flow ended with (tasks.checking.verdict_state's data), else None (a crash,
    an error before judging, a flow that judges nothing)."""
    try:
        result = state.result(raise_on_failure=False)
    except Exception:  # a result that cannot be read back: say the state's message instead
        return None
    if isinstance(result, VerdictFailed):
        return result.verdict
    return result if isinstance(result, Verdict) else None


def notify_failure(flow, flow_run, state) -> None:
    """``on_failure`` / ``on_crashed`` hook: send the verdict (``rerankwatch: nightly
    BLOCKED``, ``… ERROR``) or the failure, if a channel is configured."""
    logger = flow_run_logger(flow_run, flow)
    if notify.configured_channel() is None:
        logger.debug("no failure notification configured")
        return
    verdict = verdict_result(state)
    outcome = verdict.outcome if verdict else "failed"
    if notify.send(f"rerankwatch: {flow.name} {outcome}",
                   failure_markdown(flow, flow_run, state, verdict)):
        logger.info("failure notification sent")
    else:
        logger.warning("failure notification could not be sent (see the rerankwatch.notify "
                       "log)")


def next_step(verdict: Verdict) -> str | None:
    """What to do about a verdict, where there is one thing to do."""
    if verdict.outcome == BLOCKED and verdict.failing_checks == (HISTORY_CHECK,):
        return (f"if the change is intended: `rerankwatch baseline accept {verdict.run_id} "
                f"--reason \"…\"`")
    if verdict.outcome == ERROR_VERDICT:
        return f"fix what could not score, then `rerankwatch resume {verdict.run_id}`"
    return None


def failure_markdown(flow, flow_run, state, verdict: Verdict | None = None) -> str:
    """The notification body: the verdict line, its first reasons in words, the report, the
    next step; then flow, run and parameters."""
    parameters = json.dumps(flow_run.parameters or {}, default=str, sort_keys=True)
    if len(parameters) > MAX_PARAMETERS_CHARS:
        parameters = parameters[:MAX_PARAMETERS_CHARS] + "…"
    lines = [f"**{flow.name}** run `{flow_run.name}` ended **{state.name}**.", "",
             str(state.message or "(no state message)"), ""]
    if verdict:
        reasons = verdict.reasons
        lines += [f"- {reason}" for reason in reasons[:MAX_REASONS]]
        if len(reasons) > MAX_REASONS:
            lines.append(f"- … and {len(reasons) - MAX_REASONS} more in the report")
        report = verdict.report_url or verdict.report
        if report:
            lines += ["", f"report: {report}"]
        if step := next_step(verdict):
            lines += ["", f"next step: {step}"]
        lines.append("")
    lines += [f"- flow run id: `{flow_run.id}`", f"- parameters: `{parameters}`"]
    ui_url = get_current_settings().ui_url
    if ui_url and ui_url.startswith("http"):
        lines.append(f"- details: {ui_url.rstrip('/')}/runs/flow-run/{flow_run.id}")
    return "\n".join(lines)
