"""Which checks each suite runs, and the runner that turns a SuiteInput into a SuiteReport."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

from pydantic import ValidationError

from rerankwatch.checks import CHECKS, check_class
from rerankwatch.checks.base import Judge, SuiteInput
from rerankwatch.core.errors import ConfigError
from rerankwatch.core.records import ERROR, NOT_JUDGED, CheckResult, SuiteReport

# One list of checks: a nightly and an upgrade gate judge engines by the same checks (nothing
# in the docs asks a gate to skip or add one). The suites differ by name only: a gate's pass
# is no acceptance a later run is held to (q_history_baselines), its report names the
# candidate, and history_baseline's skip says whose accepted run a candidate waits for
# (``SuiteInput.suite``). A suite that should run other checks gets a list of its own here,
# with the reason beside it.
EVERY_CHECK = list(CHECKS)
SUITES: dict[str, list[str]] = {"nightly": EVERY_CHECK, "gate": EVERY_CHECK}


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


# checks run side by side on this many threads (their numpy and polars work leaves Python's
# lock; each thread has a Great Expectations context of its own): at millions of pairs a
# suite is bound by that work, and a nightly machine has the cores (issue 31)
SUITE_THREADS = min(2, os.cpu_count() or 1)


def run_suite(data: SuiteInput, overrides: dict[str, dict] | None = None,
              suite: str = "nightly", threads: int = SUITE_THREADS) -> SuiteReport:
    """Run every check of ``suite``. A check that needs an engine config that could not score
    is NOT_JUDGED (the engine's cause is said once, in the report's engine_errors); a
    crashing check records "error": it must never read as passed. Checks run on ``threads``
    threads; the results keep the suite's order."""
    params = check_params(overrides or {})
    failed = {n: r["error"] or f"engine {r['status']}" for n, r in data.engine_info.items()
              if r["status"] != "succeeded"}
    local = threading.local()

    def one(name: str) -> list[CheckResult]:
        if not hasattr(local, "judge"):
            local.judge = Judge()
        return check_results(name, data, params[name], local.judge, failed)

    if threads <= 1:
        per_check = [one(name) for name in SUITES[suite]]
    else:
        data.engine_info  # noqa: B018 - computed once, before the threads read it
        with ThreadPoolExecutor(threads, thread_name_prefix="rerankwatch-check") as pool:
            per_check = list(pool.map(one, SUITES[suite]))
    return SuiteReport(data.run_id, suite, data.reference,
                       tuple(r for results in per_check for r in results),
                       engine_errors=tuple(failed.items()))


def check_results(name: str, data: SuiteInput, params: object, judge: Judge,
                  failed: dict[str, str]) -> list[CheckResult]:
    """One check's result rows: NOT_JUDGED for the engine configs that could not score (and
    for all when it needs the reference and the reference could not score), else its own."""
    check = check_class(name)()
    results = [CheckResult(name, engine, "*", NOT_JUDGED, params.blocking,
                           detail={"reason": f"engine {engine} could not score"})
               for engine in failed]
    if check.needs_reference and data.reference in failed:
        return results + [CheckResult(name, engine, "*", NOT_JUDGED, params.blocking,
                                      other_engine=data.reference,
                                      detail={"reason": f"the reference engine "
                                                        f"{data.reference} could not score"})
                          for engine in data.ok_engines() if engine != data.reference]
    try:
        return results + check.run(data, params, judge)
    except Exception as exc:  # a crashing check must never read as passed
        return results + [CheckResult(name, None, "*", ERROR, params.blocking,
                                      detail={"reason": f"{type(exc).__name__}: {exc}"})]
