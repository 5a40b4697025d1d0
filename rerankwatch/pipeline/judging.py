"""Plain steps after scoring: run a suite over a stored run and record its verdict."""

from __future__ import annotations

from pydantic import ValidationError

from rerankwatch.checks.base import SuiteInput
from rerankwatch.checks.suites import run_suite
from rerankwatch.core.config import EngineConfig, RunConfig
from rerankwatch.core.errors import ConfigError
from rerankwatch.core.records import SuiteReport
from rerankwatch.pipeline import baselines, scoring
from rerankwatch.store import open_store

AUTO_ACCEPTED_BY = "rerankwatch"  # who accepts a run whose suite passed


def history_sources(config: RunConfig, suite: str) -> dict[str, str]:
    """Whose accepted history each engine config is held to: its own name's; in a gate, a
    candidate is held to the baseline engine's (the reference's) history."""
    return {e.name: config.reference if suite == "gate" else e.name for e in config.engines}


def judge_run(config: RunConfig, run_id: str, suite: str) -> SuiteReport:
    """Read the run's frames from the store, run the suite (the store closed meanwhile, so
    readers get in), store every result row; waits for the store as scoring does. A run whose
    verdict is PASS is accepted: each engine config's scores become its history baseline; a
    passing gate's candidate is approved in that gate run instead, and no baseline changes (a
    BLOCKED or ERROR run changes nothing)."""
    with open_store(config.db_path, wait_s=scoring.INGEST_WAIT_S) as store:
        data = SuiteInput(run_id=run_id, reference=config.reference, suite=suite,
                          **store.suite_frames(run_id, history_sources(config, suite)))
    report = run_suite(data, config.checks, suite)
    with open_store(config.db_path, wait_s=scoring.INGEST_WAIT_S, migrate=False) as store:
        store.write_check_results(report)
        if report.passed:
            baselines.record_pass(store, run_id, suite, data.ok_engines(), config.reference,
                                  AUTO_ACCEPTED_BY)
    return report


def gate_config(config: RunConfig, baseline: str | dict, candidate: str | dict) -> RunConfig:
    """A RunConfig holding just baseline (the reference) and candidate.

    Each side is an engine name from ``config`` or an inline engine config (a dict).
    """
    def pick(side: str, value: str | dict) -> EngineConfig:
        if isinstance(value, dict):
            try:
                return EngineConfig.model_validate(value)
            except ValidationError as exc:
                error = exc.errors()[0]
                raise ConfigError(f"inline {side} engine config: "
                                  f"{'.'.join(map(str, error['loc']))}: {error['msg']}") from None
        names = [e.name for e in config.engines]
        if value not in names:
            raise ConfigError(f"{side} engine {value!r} is not in the config: {names}")
        return config.engine(value)

    base, cand = pick("baseline", baseline), pick("candidate", candidate)
    if base.name == cand.name:
        raise ConfigError(f"baseline and candidate must differ, both are {base.name!r}")
    data = config.model_dump()
    data.update(engines=[base.model_dump(), cand.model_dump()], reference=base.name)
    return RunConfig.model_validate(data)
