"""Check registration and parameters: every check is registered under its name, overrides apply on
defaults, unknown names and threshold keys are refused.

The bench these tests read: tests/support/check_bench.py."""

from __future__ import annotations

import pytest

from rerankwatch.checks import CHECKS, check_class
from rerankwatch.checks.suites import SUITES, check_params
from rerankwatch.core.errors import ConfigError, UnknownNameError

# --------------------------------------------------------------------------- registry, params


def test_every_check_is_registered_with_its_name() -> None:
    assert SUITES["nightly"] == list(CHECKS)
    assert SUITES["gate"] is SUITES["nightly"]  # one list on purpose (checks/suites.py)
    assert all(set(names) <= set(CHECKS) for names in SUITES.values())
    for name in CHECKS:
        cls = check_class(name)
        assert cls.name == name
        assert isinstance(cls.needs_reference, bool)
        assert cls.Params().blocking is True  # every check blocks unless configured not to
    assert {n for n in CHECKS if check_class(n).needs_reference} == {
        "engine_agreement", "retrieval_quality", "truncation", "score_scale"}


def test_check_params_applies_overrides_on_defaults() -> None:
    params = check_params({"precision_drift": {"tolerance": 0.5},
                           "saturation": {"blocking": False}})
    assert set(params) == set(CHECKS)
    assert params["precision_drift"].tolerance == 0.5 and params["precision_drift"].blocking
    assert params["saturation"].blocking is False
    assert params["saturation"].max_saturated_share == 0.01  # untouched default
    assert params["determinism"].tolerance("float32") == 1e-5


def test_check_params_rejects_unknown_check_names() -> None:
    with pytest.raises(UnknownNameError) as info:
        check_params({"determinsm": {}})
    message = str(info.value)
    assert "'determinsm'" in message and "Did you mean 'determinism'?" in message
    assert all(name in message for name in CHECKS)  # the available names are listed


@pytest.mark.parametrize("overrides,key", [
    ({"precision_drift": {"tolerence": 0.1}}, "tolerence"),
    ({"engine_agreement": {"max_abs_delta": "lots"}}, "max_abs_delta"),
    ({"finite": {"threshold": 1}}, "threshold"),
])
def test_check_params_rejects_bad_threshold_keys(overrides: dict, key: str) -> None:
    (name,) = overrides
    with pytest.raises(ConfigError, match=rf"\[checks\.{name}\].*{key}"):
        check_params(overrides)
