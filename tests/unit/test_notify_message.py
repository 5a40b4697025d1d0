"""What a notification says: the verdict line, its first three reasons in words, where the
report is, and the next step (a history-only block: accept it; an ERROR: fix, then resume)."""

from __future__ import annotations

import uuid

from prefect.client.schemas.objects import FlowRun
from prefect.states import Failed

from rerankwatch.core.errors import VerdictFailed
from rerankwatch.core.records import Verdict
from rerankwatch.flows.nightly import nightly
from rerankwatch.tasks.notify import failure_markdown, verdict_result


def result(outcome: str, failing: list[str], reasons: list[str]) -> Verdict:
    return Verdict(run_id="r1", suite="nightly", outcome=outcome,
                   line=f"{outcome}: … (run r1)", reasons=tuple(reasons),
                   failing_checks=tuple(failing), report="s3://lake/reports/r1.html",
                   report_url="https://r.example/r1.html")


def body(verdict: Verdict) -> str:
    state = Failed(message=verdict.line, data=VerdictFailed(verdict))
    assert verdict_result(state) == verdict  # the hook reads the verdict back from the state
    run = FlowRun(name="calm-otter", flow_id=uuid.uuid4(), parameters={"db": "x"})
    return failure_markdown(nightly, run, state, verdict_result(state))


def test_a_history_only_block_says_its_reasons_link_and_how_to_accept_it():
    text = body(result("BLOCKED", ["history_baseline"], [f"reason {i}" for i in range(5)]))
    assert "BLOCKED: … (run r1)" in text
    assert "- reason 0" in text and "- reason 2" in text and "reason 3" not in text
    assert "… and 2 more in the report" in text
    assert "report: https://r.example/r1.html" in text
    assert 'next step: if the change is intended: `rerankwatch baseline accept r1 --reason' in text


def test_an_error_says_to_resume_and_a_plain_block_has_no_next_step():
    error = body(result("ERROR", [], ["engine e could not score: connection refused"]))
    assert "- engine e could not score: connection refused" in error
    assert "then `rerankwatch resume r1`" in error
    blocked = body(result("BLOCKED", ["argument_order"], ["cand: swapped"]))
    assert "next step" not in blocked
