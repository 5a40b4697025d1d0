"""One Prefect test harness for every flow test in the session; the demo cross-encoder."""

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


@pytest.fixture(scope="session")
def demo_ce():
    """The current recipe's full build of the demo cross-encoder (built now when missing; a
    smoke build or an older recipe's build cannot stand in), and the folder the product loads
    for it."""
    from rerankwatch.demo import model as demo_model

    saved = os.environ.pop(demo_model.BUDGET_ENV, None)
    try:
        folder = demo_model.build("full")  # cached: only points the product at it again
        assert demo_model.demo_model_path() == str(folder)
        yield str(folder)
    finally:
        if saved is not None:
            os.environ[demo_model.BUDGET_ENV] = saved
