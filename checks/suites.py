"""Which checks each suite runs, and the runner that turns a SuiteInput into a SuiteReport."""

from __future__ import annotations

from pydantic import ValidationError

from rerankwatch.checks import CHECKS, check_class
from rerankwatch.checks.base import Judge, SuiteInput
from rerankwatch.core.errors import ConfigError
from rerankwatch.core.records import ERROR, NOT_JUDGED, CheckResult, SuiteReport

SUITES: dict[str, list[str]] = {
    "nightly": list(CHECKS),
    "gate": list(CHECKS),
}


def check_params(overrides: dict[str, dict]) -> dict[str, object]:
    """Validated thresholds for every check (config overrides on documented defaults)."""
    for name in overrides:
        check_class(name)  # unknown names fail with the list of checks
    params = {}
    for name in CHECKS:
        try:
            params[name] = check_class(name).Params(**overrides.get(name, {}))
        except ValidationError as exc:
            raise ConfigError(f"[checks.{name}]: {exc.errors()[0]['loc']}: "
                              f"{exc.errors()[0]['msg']}") from None
    return params


def run_suite(data: SuiteInput, overrides: dict[str, dict] | None = None,
              suite: str = "nightly") -> SuiteReport:
    """Run every check of ``suite``. A check that needs an engine config that could not score
    is NOT_JUDGED (the engine's cause is said once, in the report's engine_errors); a
    crashing check records "error": it must never read as passed."""
    params = check_params(overrides or {})
    judge = Judge()
    failed = {n: r["error"] or f"engine {r['status']}" for n, r in data.engine_info.items()
              if r["status"] != "succeeded"}
    results: list[CheckResult] = []
    for name in SUITES[suite]:
        check, p = check_class(name)(), params[name]
        results += [CheckResult(name, engine, "*", NOT_JUDGED, p.blocking,
                                detail={"reason": f"engine {engine} could not score"})
                    for engine in failed]
        if check.needs_reference and data.reference in failed:
            results += [CheckResult(name, engine, "*", NOT_JUDGED, p.blocking,
                                    other_engine=data.reference,
                                    detail={"reason": f"the reference engine {data.reference} "
                                                      f"could not score"})
                        for engine in data.ok_engines() if engine != data.reference]
            continue
        try:
            results += check.run(data, p, judge)
        except Exception as exc:  # a crashing check must never read as passed
            results.append(CheckResult(name, None, "*", ERROR, p.blocking,
                                       detail={"reason": f"{type(exc).__name__}: {exc}"}))
    return SuiteReport(data.run_id, suite, data.reference, tuple(results),
                       engine_errors=tuple(failed.items()))
