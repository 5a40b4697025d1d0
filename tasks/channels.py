"""Failure notifications: a Prefect notification block, else a plain webhook, else nothing.

Configured by environment (so a worker can carry it without touching flow parameters):

- ``RERANKWATCH_NOTIFY_BLOCK``: a saved notification block, as ``<block-type-slug>/<name>``
  (e.g. ``custom-webhook/rerankwatch-alerts``, ``slack-webhook/rerankwatch``).
- ``RERANKWATCH_WEBHOOK_URL``: a URL that receives ``POST {"title": ..., "text": ...}``.

A webhook URL usually embeds a token, so it is never logged, and neither are error messages
that could quote it (HTTP clients often put the URL in theirs).
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import urllib.request

from rerankwatch.core.settings import settings

BLOCK_ENV = "RERANKWATCH_NOTIFY_BLOCK"
WEBHOOK_ENV = "RERANKWATCH_WEBHOOK_URL"
TIMEOUT_SECONDS = 10.0
URL_LOGGERS = ("httpx", "httpcore", "urllib3", "apprise")

logger = logging.getLogger("rerankwatch.notify")


def configured_channel() -> str | None:
    """Which channel :func:`send` would use: ``"block"``, ``"webhook"`` or None."""
    if settings().notify_block:
        return "block"
    if settings().webhook_url.get_secret_value():
        return "webhook"
    return None


def send(title: str, body: str) -> bool:
    """Send ``title`` and a markdown ``body``; True if sent, False if unconfigured or failed.

    Never raises: a broken notification channel must not mask the failure it reports.
    """
    channel = configured_channel()
    if channel is None:
        logger.debug("no notification channel configured (%s / %s)", BLOCK_ENV, WEBHOOK_ENV)
        return False
    try:
        if channel == "block":
            _send_block(settings().notify_block, title, body)
        else:
            _send_webhook(settings().webhook_url.get_secret_value(), title, body)
    except Exception as exc:  # reported below, without its message
        logger.warning("notification via %s failed: %s", _describe(channel), _safe_reason(exc))
        return False
    logger.info("notification sent via %s", _describe(channel))
    return True


def _describe(channel: str) -> str:
    # the block's name is not a secret (its URL field is); the webhook URL is
    return f"block {settings().notify_block!r}" if channel == "block" else "webhook"


def _safe_reason(exc: BaseException) -> str:
    """Exception type and HTTP status only: messages often quote the URL."""
    status = getattr(exc, "code", None) or getattr(getattr(exc, "response", None),
                                                   "status_code", None)
    return f"{type(exc).__name__}" + (f" (HTTP {status})" if isinstance(status, int) else "")


def _send_block(slug: str, title: str, body: str) -> None:
    from prefect.blocks.core import Block  # only this channel needs prefect

    if "/" not in slug:
        raise ValueError(f"{BLOCK_ENV} must be '<block-type-slug>/<name>'")
    block = Block.load(slug, _sync=True)
    notify = getattr(block, "notify", None)
    if notify is None:
        raise TypeError(f"block {slug!r} is a {type(block).__name__}, not a notification block")
    # Apprise-based blocks swallow delivery failures unless asked to raise
    raising = getattr(block, "raise_on_failure", contextlib.nullcontext)
    with raising(), _quiet(*URL_LOGGERS):
        # Prefect's own blocks dispatch sync/async by context; ask for sync explicitly
        result = (notify(body, subject=title, _sync=True) if hasattr(notify, "aio")
                  else notify(body, subject=title))
        if inspect.isawaitable(result):
            from prefect.utilities.asyncutils import run_coro_as_sync

            run_coro_as_sync(result)


@contextlib.contextmanager
def _quiet(*names: str):
    """Raise these loggers to WARNING for a while: httpx logs every request URL at INFO."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(max(lg.level, logging.WARNING))
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _send_webhook(url: str, title: str, body: str) -> None:
    if not url.lower().startswith(("http://", "https://")):
        raise ValueError(f"{WEBHOOK_ENV} must be an http(s) URL")
    payload = json.dumps({"title": title, "text": body}).encode("utf-8")
    request = urllib.request.Request(
        url, data=payload, method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "rerankwatch"})
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
        response.read()
