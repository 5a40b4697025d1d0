"""A check result's detail as every view shows it: read through the check's declared Detail
(``rerankwatch.checks.base.Detail``), so a new check's detail renders without edits here."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from rerankwatch.checks import check_class
from rerankwatch.core.errors import UnknownNameError


def reason(check: str, detail: dict[str, Any] | str | None) -> str:
    """The check's own one-line reason (its message, hint or reason), without the fallback to
    an offending row that ``explain`` makes: "" when it states none."""
    summary, rows = explain(check, detail)
    return "" if rows and summary.endswith(str(rows[0])) else summary


def explain(check: str, detail: dict[str, Any] | str | None) -> tuple[str, list[dict]]:
    """(one-line reason, offending rows) of one result of ``check``; ``detail`` as stored
    (a dict, or its JSON text). A detail its check cannot read (a check since removed or
    changed) falls back to its reason or message, without rows."""
    if isinstance(detail, str):
        detail = json.loads(detail) if detail else {}
    detail = detail or {}
    try:
        declared = check_class(check).Detail.model_validate(detail)
    except (UnknownNameError, ValidationError):
        return str(detail.get("message") or detail.get("reason") or ""), []
    return declared.summary(), declared.rows()
