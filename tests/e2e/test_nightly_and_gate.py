"""The nightly and upgrade-gate flows end to end, the gate's CLI exit codes and CI reports
(--junit / --json), and the replays."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import polars as pl
import pytest
from junitparser import Error, Failure, JUnitXml
from typer.testing import CliRunner

from rerankwatch.cli import app
from rerankwatch.core.records import BLOCKED
from rerankwatch.demo.model import find_built
from rerankwatch.flows.nightly import nightly
from rerankwatch.pipeline.replay import REPLAYS, chosen_replays, run_replays
from rerankwatch.pipeline.replay_nights import run_nights
from rerankwatch.report.terminal import replay_rows
from rerankwatch.store import Store
from tests.support.configs import MINILM, TINY_CE, run_config


@pytest.fixture(scope="module")
def gate_setup(tmp_path_factory, golden_dir):
    tmp = tmp_path_factory.mktemp("gate")
    config = tmp / "gate.toml"
    config.write_text(run_config(tmp / "gate.duckdb", golden_dir / "golden_en.jsonl", "tiny-ce", [
        ("tiny-ce", "st-cross", TINY_CE), ("tiny-ce-hf", "hf-seqcls", TINY_CE),
        ("tiny-ce-swapped", "replay-swap-args", TINY_CE), ("minilm", "st-bi", MINILM),
        ("minilm-as-reranker", "replay-random-head", MINILM),
        ("ghost", "st-cross", "no-such-org/no-such-reranker")]))
    return config, tmp / "gate.duckdb"


def gate(config: Path, baseline: str, candidate: str, *extra: str):
    return CliRunner().invoke(app, ["gate", "--config", str(config), "--baseline", baseline,
                                    "--candidate", candidate, *extra])


def ci_args(folder: Path) -> list[str]:
    return ["--junit", str(folder / "junit.xml"), "--json", str(folder / "ci.json")]


def ci_files(folder: Path) -> tuple[JUnitXml, dict]:
    data = json.loads((folder / "ci.json").read_text())
    return JUnitXml.fromfile(str(folder / "junit.xml")), data


def cases(xml: JUnitXml) -> dict:
    return {case.name: case for suite in xml for case in suite}


def verdicts(db: Path) -> list[tuple]:
    with Store(db, read_only=True) as store:
        return store.sql("select verdict, candidates, failing_checks from verdicts "
                         "order by decided_at").rows()


def test_gate_passes_a_clean_candidate_with_exit_0(gate_setup):
    config, db = gate_setup
    out = db.parent / "ci-pass"
    result = gate(config, "tiny-ce", "tiny-ce-hf", *ci_args(out))
    assert result.exit_code == 0, result.output
    assert verdicts(db)[-1] == ("PASS", ["tiny-ce-hf"], [])
    xml, data = ci_files(out)
    (suite,) = list(xml)
    assert suite.name == "rerankwatch.gate[tiny-ce]"
    assert suite.tests > 10 and (suite.failures, suite.errors) == (0, 0)
    assert {"scoring[tiny-ce]", "scoring[tiny-ce-hf]"} <= set(cases(xml))
    assert all(c.classname.startswith("rerankwatch.gate.") for c in cases(xml).values())
    assert (data["verdict"], data["exit_code"], data["failing_checks"]) == ("PASS", 0, [])
    (run,) = data["runs"]
    assert data["run_ids"] == [run["run_id"]] and run["verdict"] == "PASS"
    engines = {e["name"]: e["fingerprint"] for e in run["engines"]}
    assert engines["tiny-ce-hf"]["kind"] == "hf-seqcls" and engines["tiny-ce"]["weights_sha256"]
    # per query and metric, improved / degraded / unchanged: in --json, first in the terminal
    # output (before the per-check table) and in the HTML report
    per_query = {e["metric"]: e for e in run["per_query"]}
    assert set(per_query) == {"ndcg@10", "mrr"}
    report = Path(re.search(r"report: (\S+\.html)", result.output).group(1)).read_text()
    for entry in per_query.values():
        assert (entry["engine"], entry["reference"]) == ("tiny-ce-hf", "tiny-ce")
        assert entry["improved"] + entry["degraded"] + entry["unchanged"] == entry["queries"] > 0
        assert entry["line"].startswith(f"tiny-ce-hf {entry['metric']} vs tiny-ce: ")
        assert result.output.index(entry["line"]) < result.output.index("gate suite, run")
        assert entry["line"] in report


def test_gate_blocks_swapped_arguments_with_exit_1(gate_setup):
    config, db = gate_setup
    out = db.parent / "ci-blocked"
    result = gate(config, "tiny-ce", "tiny-ce-swapped", *ci_args(out))
    assert result.exit_code == 1, result.output
    xml, data = ci_files(out)
    (suite,) = list(xml)
    assert suite.failures >= 1
    case = cases(xml)["argument_order[tiny-ce-swapped vs tiny-ce|matches_reference_swapped]"]
    assert case.classname == "rerankwatch.gate.argument_order"
    (failure,) = case.result
    assert isinstance(failure, Failure) and "reversed" in failure.message
    assert failure.message.startswith("observed ") and ", must be ≤ 0.5 (" in failure.message
    assert data["verdict"] == "BLOCKED" and "argument_order" in data["failing_checks"]
    swapped = [f for f in data["failures"] if f["check"] == "argument_order" and f["blocking"]]
    assert swapped and swapped[0]["threshold"] == 0.5 and swapped[0]["observed"] > 0.5
    verdict, _, failing = verdicts(db)[-1]
    assert verdict == "BLOCKED"
    assert "argument_order" in failing
    with Store(db, read_only=True) as store:
        message = store.sql(
            "select detail->>'message' as m from check_results where check_name = "
            "'argument_order' and subject = 'matches_reference_swapped' and status = 'failed'")
    assert "reversed" in message["m"][0]
    # the failure names what was compared and the report the gate wrote, as the nightly does
    assert "BLOCKED: candidate tiny-ce-swapped vs baseline tiny-ce: " in result.output
    report = Path(re.search(r"report: (\S+\.html)", result.output).group(1))
    assert 'class="verdict BLOCKED"' in report.read_text()
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        found = {a.key: str(a.data) for a in client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(
                any_=["gate-verdict", "gate-report", "gate-report-link"])))
            if report.stem in str(a.data)}
    assert set(found) == {"gate-verdict", "gate-report"}  # no link: not served over http(s)
    assert "candidate `tiny-ce-swapped` vs baseline `tiny-ce`" in found["gate-verdict"]
    assert "must be ≤ 0.5 (argument\\_order)" in found["gate-report"]
    assert "file://" not in found["gate-report"] and str(report) in found["gate-report"]


def test_gate_reuses_the_stored_baseline(gate_setup):
    config, db = gate_setup
    with Store(db, read_only=True) as store:
        reused = store.sql("select reused_from_run from run_engines where engine_name = "
                           "'tiny-ce' and reused_from_run is not null")
    assert reused.height >= 1  # the second gate above copied the first gate's baseline


def test_gate_blocks_a_random_head_with_exit_1(gate_setup):
    config, db = gate_setup
    result = gate(config, "minilm", "minilm-as-reranker")
    assert result.exit_code == 1, result.output
    verdict, _, failing = verdicts(db)[-1]
    assert verdict == "BLOCKED" and "determinism" in failing


def test_a_gate_whose_candidate_cannot_load_reports_an_engine_error(gate_setup):
    config, db = gate_setup
    out = db.parent / "ci-ghost"
    result = gate(config, "tiny-ce", "ghost", *ci_args(out))
    assert result.exit_code == 3, result.output  # ERROR, never BLOCKED
    xml, data = ci_files(out)
    (error,) = cases(xml)["scoring[ghost]"].result
    assert isinstance(error, Error) and "no-such-org/no-such-reranker" in error.message
    assert cases(xml)["scoring[tiny-ce]"].is_passed
    assert data["verdict"] == "ERROR" and data["exit_code"] == 3
    (run,) = data["runs"]
    assert run["verdict_line"].startswith("ERROR: engine ghost could not score: ")
    assert "no-such-org/no-such-reranker" in run["verdict_line"]
    assert result.output.count("no-such-org/no-such-reranker") >= 1
    not_judged = [c for c in cases(xml).values() if c.name.endswith("[ghost|*]")]
    assert not_judged and all(c.result[0].type == "rerankwatch.NotJudged" for c in not_judged)
    ghost = next(e for e in data["runs"][0]["engines"] if e["name"] == "ghost")
    assert ghost["status"] == "failed" and ghost["fingerprint"] is None


def test_gate_rejects_an_unknown_engine_with_exit_2(gate_setup):
    config, db = gate_setup
    out = db.parent / "ci-refused"
    result = gate(config, "tiny-ce", "no-such-engine", *ci_args(out))
    assert result.exit_code == 2
    assert "no-such-engine" in result.output
    xml, data = ci_files(out)  # nothing ran: the reports say why
    assert (data["verdict"], data["exit_code"], data["runs"]) == ("ERROR", 2, [])
    (error,) = next(iter(cases(xml).values())).result
    assert isinstance(error, Error) and "no-such-engine" in error.message


NIGHTLY = """
db = "{db}"
reference = "st-bi-fp32"

[[sample_sets]]
name = "golden_en"
path = "{golden}"

[[engines]]
name = "st-bi-fp32"
kind = "st-bi"
model = "embedded:all-MiniLM-L6-v2"

[[engines]]
name = "hf-bi-fp32"
kind = "hf-bi"
model = "embedded:all-MiniLM-L6-v2"

[[engines]]
name = "st-bi-bf16"
kind = "st-bi"
model = "embedded:all-MiniLM-L6-v2"
precision = "bf16"
{extra}
"""
CLS_POOLING = """
[[engines]]
name = "hf-bi-cls"
kind = "replay-cls-pooling"
model = "embedded:all-MiniLM-L6-v2"
"""


def run_nightly(tmp_path: Path, golden_dir: Path, extra: str = ""):
    config = tmp_path / "nightly.toml"
    config.write_text(NIGHTLY.format(db=tmp_path / "n.duckdb", extra=extra,
                                     golden=golden_dir / "golden_en.jsonl"))
    return nightly(str(config), return_state=True), Store(tmp_path / "n.duckdb", read_only=True)


def test_clean_nightly_on_the_embedded_default_passes(tmp_path, golden_dir):
    state, store = run_nightly(tmp_path, golden_dir)
    with store:
        assert state.is_completed(), state.message
        assert state.result().outcome == "PASS"
        results = store.sql("select check_name, status, count(*) as n from check_results "
                            "group by all")
        statuses = set(results["status"])
        assert "failed" not in statuses and "error" not in statuses
        assert set(results["check_name"]) >= {"monotonic_relevance", "engine_agreement",
                                              "determinism", "precision_drift", "finite"}
        skipped = store.sql("select detail->>'reason' as r from check_results "
                            "where check_name = 'argument_order' and status = 'skipped'")
        assert skipped.height == 3 and "bi-encoder" in skipped["r"][0]
        # where each engine config was scored: this host, this flow run, no pool or worker
        scored = store.sql("select distinct host, flow_run_id, work_pool, worker "
                           "from v_run_engine_status").rows()
        assert scored == [(socket.gethostname(), str(state.state_details.flow_run_id), None,
                           None)], scored
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=["nightly-verdict"])))
    assert any("**PASS**" in str(a.data) and state.result().run_id in str(a.data)
               for a in artifacts)
    report = Path(state.result().report)
    assert report.is_file() and 'class="verdict PASS"' in report.read_text()


def test_nightly_with_the_pooling_incident_exits_1_with_ci_reports(tmp_path, golden_dir):
    config = tmp_path / "nightly.toml"
    config.write_text(NIGHTLY.format(db=tmp_path / "n.duckdb", extra=CLS_POOLING,
                                     golden=golden_dir / "golden_en.jsonl"))
    result = CliRunner().invoke(app, ["nightly", "--config", str(config), *ci_args(tmp_path)])
    assert result.exit_code == 1, result.output
    assert BLOCKED in result.output and "engine_agreement" in result.output
    with Store(tmp_path / "n.duckdb", read_only=True) as store:
        failed = store.sql("select engine_name, subject from check_results "
                           "where status = 'failed'")
    assert set(failed["engine_name"]) == {"hf-bi-cls"}
    assert "score_max_abs_delta" in set(failed["subject"])
    xml, data = ci_files(tmp_path)
    (suite,) = list(xml)
    assert suite.name == "rerankwatch.nightly[st-bi-fp32]"
    failing = {c.name for c in suite if any(isinstance(r, Failure) for r in c.result)}
    assert "engine_agreement[hf-bi-cls vs st-bi-fp32|score_max_abs_delta]" in failing
    assert all(name.split("[")[1].startswith("hf-bi-cls") for name in failing), failing
    assert data["verdict"] == "BLOCKED" and "engine_agreement" in data["failing_checks"]
    assert {e["name"] for e in data["runs"][0]["engines"]} == {
        "st-bi-fp32", "hf-bi-fp32", "st-bi-bf16", "hf-bi-cls"}


@pytest.mark.slow
def test_every_replay_is_caught_and_clean_controls_pass(tmp_path):
    """Every replay, on the demo cross-encoder when built (else the fixture), then the nightly
    sequence: each incident caught, past its threshold; each clean control passes."""
    db = str(tmp_path / "replay.duckdb")
    outcomes = run_replays(db)
    assert [o.replay.name for o in outcomes] == [r.name for r in chosen_replays()]
    assert len(outcomes) == len([r for r in REPLAYS if find_built() or not r.needs_demo_model])
    for outcome in outcomes:
        if outcome.replay.clean:
            assert not outcome.report.blocked, (outcome.replay.name, outcome.report.failing)
        else:
            assert outcome.caught_by, f"{outcome.replay.name} was not caught"
            assert all(m is None or m > 1 for m in outcome.margins.values()), outcome.margins
            # the best catch of every replay stands well past its threshold
            assert max((m or 0) for m in outcome.margins.values()) >= 1.5 or None in \
                outcome.margins.values(), (outcome.replay.name, outcome.margins)
    caught = {o.replay.name: o.caught_by for o in outcomes}
    assert "argument_order" in caught["swap_args"]
    assert "determinism" in caught["random_head"]
    assert "saturation" in caught["softmax_single_logit"]
    assert "saturation" in caught["low_precision_activation"]
    for name in ("low_precision_activation", "default_dtype"):  # a precision not declared
        assert "declared_precision" in caught[name], (name, caught[name])
    assert "engine_agreement" in caught["cls_pooling"]
    for name in ("attention_mask_dropped", "request_minmax", "request_softmax",
                 "index_ignored", "int8_weights", "default_dtype"):
        assert "batch_invariance" in caught[name], (name, caught[name])
    for name in ("pooler_dropped", "activation_twice", "zeroed_head"):
        assert "score_scale" in caught[name], (name, caught[name])
    for name in ("llm_template_missing", "llm_yes_no_swapped", "llm_right_padding"):
        assert "engine_agreement" in caught[name], (name, caught[name])
    assert "batch_invariance" in caught["llm_right_padding"]  # batch size 1 would hide it
    for name in ("tokenizer_fallback", "sep_token_none", "segment_bos", "unicode_normalized",
                 "llm_cue_truncated", "llm_template_missing", "swap_args"):
        assert "tokenization" in caught[name], (name, caught[name])  # what the model was fed
    assert {"long_inputs", "batch_invariance"} <= set(caught["long_input_batch"])
    nights = run_nights(db)
    assert nights.ok and nights.caught_by == ("history_baseline",), nights.margins
    table = replay_rows(outcomes, nights)
    assert table.height == len(outcomes) + 1
    assert not table.filter(pl.col("caught by (margin)") == "NOT CAUGHT").height
