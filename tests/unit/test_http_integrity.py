"""Response integrity of the http-rerank engine, against a real rerank server that replays
public incidents (tests/support/rerank_app.py fault modes): every wrong result list is an
HttpRerankError naming the server, the batch, the request and what was wrong, never a short,
repeated or reordered score column; the controls (results sorted by score, empty and repeated
documents answered) pass and are mapped by index."""

from __future__ import annotations

import logging
import re

import httpx
import numpy as np
import pytest

from rerankwatch.core.config import EngineConfig
from rerankwatch.engines.http_rerank import HttpRerankEngine, HttpRerankError, result_problems
from rerankwatch.engines.http_schemas import SCHEMAS
from rerankwatch.engines.st_cross import StCrossEngine
from tests.support.rerank_app import serve

QUERY = "capital of France"
# one request: an empty (whitespace-only) document and a repeated one among distinct ones
EDGE_PAIRS = [(QUERY, "Paris is the capital of France."),
              (QUERY, "   "),  # whitespace only
              (QUERY, "Lyon is known for its food."),
              (QUERY, "Paris is the capital of France.")]  # repeated
# two queries of four distinct documents: two requests, batch 0 and batch 1 at batch_size 4
PAIRS = [(QUERY, "Paris is the capital and largest city of France."),
         (QUERY, "Lyon is known for its food."),
         (QUERY, "Berlin is the capital of Germany."),
         (QUERY, "France's capital, Paris, sits on the Seine."),
         ("How do I sell my shirt?", "List your shirt on our marketplace with a price."),
         ("How do I sell my shirt?", "Ketchup is a condiment."),
         ("How do I sell my shirt?", "Shirts can be sold second hand online."),
         ("How do I sell my shirt?", "Shirt")]


@pytest.fixture(scope="module")
def app(tiny_cross_encoder):
    with serve({"tiny": ("cross", tiny_cross_encoder)}) as server:
        yield server


@pytest.fixture
def server(app):
    app.admin()  # defaults: max_batch 8, no key, no fault; counter reset
    return app


@pytest.fixture(scope="module")
def reference(tiny_cross_encoder):
    """The same model in process: what every document's score must be."""
    return StCrossEngine(EngineConfig(name="ref", kind="st-cross", model=tiny_cross_encoder))


def http_engine(url: str, schema: str, retries: int = 0, **options) -> HttpRerankEngine:
    return HttpRerankEngine(EngineConfig(
        name="remote", kind="http-rerank", model="tiny", url=url, api_schema=schema,
        batch_size=4, retries=retries, options={"backoff_s": 0.01, **options}))


WRONG_LISTS = [  # fault, schema, pairs, what the error says
    ("drop_empty", "vllm-rerank", EDGE_PAIRS,  # OpenViking PRs #1712 / #2926
     r"3 results for 4 documents \(top_n = 4\), expected 4; 1 of 4 documents have no result: "
     r"indices \[1\]; empty documents: \[1\]$"),
    ("drop_empty", "tei", EDGE_PAIRS,
     r"3 results for 4 documents, expected 4; 1 of 4 documents have no result: indices \[1\]; "
     r"empty documents: \[1\]$"),
    ("dedupe", "cohere", EDGE_PAIRS,
     r"1 of 4 documents have no result: indices \[3\]; repeated documents \(the same text as "
     r"an earlier one\): \[3\]$"),
    ("duplicate", "vllm-score", PAIRS, r"1 of 4 documents have no result: indices \[\d\]; "
                                            r"duplicate indices: \[\d\]$"),
    ("out_of_range", "tei", PAIRS, r"1 of 4 documents have no result: indices \[\d\]; "
                                        r"indices out of range 0..3: \[7\]$"),
    ("fewer", "infinity", PAIRS, r"3 results for 4 documents, expected 4; 1 of 4 documents have "
                                 r"no result: indices \[\d\]$"),  # a short response
    ("top_n_cap", "xinference", PAIRS,  # top_n ignored: the server's own default of 2
     r"2 results for 4 documents \(top_n = 4\), expected 4; 2 of 4 documents have no result: "
     r"indices \[\d, \d\]; fewer results than top_n asked for \(does the server cap or ignore "
     r"top_n\?\)$"),
    ("by_position", "cohere", PAIRS,  # ragflow #2575, rerankers #39; the echoed document shows it
     r"results name another document than the one they echo \(index \d echoes document \d.*\): "
     r"the index is not the document scored \(ragflow #2575, rerankers #39\)$"),
    ("wrong_echo", "cohere", PAIRS,  # an echo that is no document sent at all
     r"results echo another document than the one sent at their index: indices \[0, 1, 2, 3\] "
     r"\(index 0 echoes 'NOT THE DOC', sent 'Paris is the capital and largest city of "
     r"France\.'\)$"),
]


@pytest.mark.parametrize(("fault", "schema", "pairs", "message"), WRONG_LISTS,
                         ids=[f"{f}-{s}" for f, s, _, _ in WRONG_LISTS])
def test_a_wrong_result_list_is_an_engine_error_naming_server_batch_and_problem(
        fault, schema, pairs, message, server):
    server.admin(fault=fault)
    with pytest.raises(HttpRerankError) as error:
        http_engine(server.url, schema).score(pairs)
    text = str(error.value)
    path = SCHEMAS[schema].path
    head = (f"engine 'remote': POST {server.url}{path} failed after 1 attempt(s): wrong result "
            f"list: ")
    assert text.startswith(head), text
    problems, where = text.removeprefix(head).rsplit(" (batch ", 1)
    assert where == f"0, the request for query {pairs[0][0]!r} with 4 documents)"
    assert re.search(message, problems), problems


@pytest.mark.parametrize("schema", ["tei", "vllm-score", "infinity", "xinference"])
def test_results_indexed_by_rank_are_caught_by_the_reversed_request(schema, server):
    """No echoed document to compare: the same documents sent again in reverse order keep
    each value with its position, not with its document (ragflow #2575, rerankers #39)."""
    server.admin(fault="by_position")
    with pytest.raises(HttpRerankError, match=r"results do not follow their index: the same 4 "
                       r"documents sent again in reverse order got other values by index \(max "
                       r"\|Δ\| [\d.e-]+\) and the same values by position \(max \|Δ\| [\d.e-]+\)"
                       r": the server indexes its results by rank or position, not by document "
                       r"\(ragflow #2575, rerankers #39\) \(batch 0, the request for query "
                       r"'capital of France' with 4 documents\)") as error:
        http_engine(server.url, schema).score(PAIRS)
    assert f"POST {server.url}{SCHEMAS[schema].path}" in str(error.value)
    assert server.requests() == 2  # the request and the same one reversed, nothing scored


def test_the_error_names_the_batch_that_failed(server):
    """The first query's request (batch 0) is answered whole; the second query (batch 1)
    holds an empty document, which the server drops."""
    server.admin(fault="drop_empty")
    pairs = [*PAIRS[:4], *[(q, "" if i == 1 else d) for i, (q, d) in enumerate(PAIRS[4:])]]
    with pytest.raises(HttpRerankError, match=r"1 of 4 documents have no result: indices \[1\]; "
                       r"empty documents: \[1\] \(batch 1, the request for query 'How do I sell "
                       r"my shirt\?' with 4 documents\)"):
        http_engine(server.url, "tei").score(pairs)


@pytest.mark.parametrize(("fault", "schema"), [("duplicate", "vllm-score"),
                                               ("wrong_echo", "cohere")])
def test_a_wrong_result_list_is_retried_then_fails(fault, schema, server, caplog):
    server.admin(fault=fault)
    with pytest.raises(HttpRerankError, match=r"failed after 3 attempt\(s\): wrong result list"):
        http_engine(server.url, schema, retries=2).score(PAIRS)
    assert server.requests() == 3
    assert caplog.text.count("wrong result list") == 2 and "retry 2 of 2" in caplog.text


@pytest.mark.parametrize("schema", sorted(SCHEMAS))
def test_results_sorted_by_score_are_mapped_by_index(schema, server, reference, caplog):
    """Control: the server answers in score order (or reversed), never in document order; every
    document still gets its own score, and the reversed request proves the index is followed,
    at the cost of one request per engine load."""
    docs = [d for _, d in PAIRS[:4]]
    body = SCHEMAS[schema].body("tiny", QUERY, docs)
    answer = httpx.post(f"{server.url}{SCHEMAS[schema].path}", json=body, timeout=30).json()
    results = answer if SCHEMAS[schema].results is None else answer[SCHEMAS[schema].results]
    assert [r["index"] for r in results] != [0, 1, 2, 3]  # not in document order
    server.admin()
    engine = http_engine(server.url, schema)
    with caplog.at_level(logging.INFO, "rerankwatch.engines.http"):
        batch = engine.score(PAIRS)
        again = engine.score(PAIRS)
    expected = reference.score(PAIRS).scores
    np.testing.assert_allclose(batch.scores, expected, atol=1e-5)
    np.testing.assert_allclose(again.scores, expected, atol=1e-5)
    assert server.requests() == 2 + 1 + 2  # one per query, the first reversed once, again
    assert caplog.text.count("results follow their index") == 1


@pytest.mark.parametrize("schema", ["cohere", "tei"])
def test_empty_and_repeated_documents_answered_map_by_index(schema, server, reference):
    """Control: a server that answers every document (results in score order, the empty and
    the repeated document included) passes, each document with its own score."""
    batch = http_engine(server.url, schema).score(EDGE_PAIRS)
    np.testing.assert_allclose(batch.scores, reference.score(EDGE_PAIRS).scores, atol=1e-5)
    assert batch.scores[0] == pytest.approx(batch.scores[3], abs=1e-6)  # the repeated doc


def test_documents_scored_alike_leave_the_order_check_to_later_requests(server, caplog):
    """A request whose documents all score the same cannot tell index from position: it is
    sent again reversed, found inconclusive, and the next request decides."""
    alike = [(QUERY, "same words"), (QUERY, "same  words")]  # two texts, one tokenization
    engine = http_engine(server.url, "tei")
    with caplog.at_level(logging.INFO, "rerankwatch.engines.http"):
        engine.score(alike)
        assert "results follow their index" not in caplog.text
        engine.score(PAIRS[:4])
    assert "results follow their index" in caplog.text
    assert server.requests() == 2 + 2


def test_verify_index_false_skips_the_reversed_request(server, reference):
    """options.verify_index = false (for a server whose scores depend on document order):
    no extra request, and a server indexing by rank then goes unseen by the engine."""
    server.admin(fault="by_position")
    batch = http_engine(server.url, "tei", verify_index=False).score(PAIRS)
    assert server.requests() == 2
    assert np.abs(batch.scores - reference.score(PAIRS).scores).max() > 0.01
    with pytest.raises(HttpRerankError, match="verify_index must be true or false, got 'no'"):
        http_engine(server.url, "tei", verify_index="no")


def test_result_problems_names_what_no_fault_mode_sends():
    """Indices that are not integers, non-finite values, more results than documents."""
    docs = ["a", "b", "c"]
    items = [{"index": 0, "score": 0.5}, {"index": "1", "score": 0.2},
             {"index": 2, "score": float("nan")}, {"index": 1.0, "score": 0.1}]
    values, problems = result_problems(items, docs, None, "index", "score")
    assert problems == ["4 results for 3 documents, expected 3",
                        "1 of 3 documents have no result: indices [1]",
                        "indices that are not integers: ['1', 1.0]",
                        "non-finite scores at indices [2]"]
    assert values[0] == 0.5
    _, problems = result_problems([{"index": i, "score": 0.1} for i in range(3)], docs, 2,
                                  "index", "score")
    assert problems == ["3 results for 3 documents (top_n = 2), expected 2"]
    _, problems = result_problems([{"index": i, "score": 0.1} for i in range(12)] * 2,
                                  [str(i) for i in range(12)], None, "index", "score")
    assert problems == ["24 results for 12 documents, expected 12",
                        "duplicate indices: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] and 2 more"]
    # an echo (a string, as Infinity sends it) must be the document sent at that index
    _, problems = result_problems([{"index": 0, "score": 0.1, "document": "a"},
                                   {"index": 1, "score": 0.1, "document": "b "},
                                   {"index": 2, "score": 0.1, "document": {"text": "c"}}],
                                  docs, None, "index", "score")
    assert problems == ["results echo another document than the one sent at their index: "
                        "indices [1] (index 1 echoes 'b ', sent 'b')"]


@pytest.mark.parametrize("fault", ["huge", "huge_chunked"])
def test_a_body_past_the_limit_is_refused_naming_the_server_and_the_limit(fault, server,
                                                                         reference):
    """A body is read in chunks and refused once it passes options.max_response_mb (64 MB by
    default): never read whole, not retried (the same answer would come again)."""
    server.admin(fault=fault, pad_mb=2.0)
    with pytest.raises(HttpRerankError) as error:
        http_engine(server.url, "cohere", retries=2, max_response_mb=1).score(PAIRS)
    assert str(error.value) == (
        f"engine 'remote': POST {server.url}/v1/rerank: the response body is larger than "
        f"options.max_response_mb = 1 MB (1048576 bytes); raise it if the server's answers "
        f"are this large")
    assert server.requests() == 1
    server.admin(fault=fault, pad_mb=0.5)  # under the limit: scored as usual
    batch = http_engine(server.url, "cohere", max_response_mb=1).score(PAIRS)
    np.testing.assert_allclose(batch.scores, reference.score(PAIRS).scores, atol=1e-5)
    with pytest.raises(HttpRerankError, match=r"options.max_response_mb must be a number > 0, "
                                              r"got 0"):
        http_engine(server.url, "cohere", max_response_mb=0)
