"""Rerank API schemas the `http-rerank` engine speaks: one declared mapping per server family.

Plain data, no imports beyond the standard library, so config validation can list the names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from rerankwatch.core.registry import unknown_name

Body = Callable[[str, str, list[str]], dict]


@dataclass(frozen=True, slots=True)
class ApiSchema:
    """Where to POST one query with its documents, and where the per-document values are."""

    path: str
    body: Body  # (model, query, docs) -> JSON body
    results: str | None  # key of the result list; None: the body itself is the list
    index_field: str
    score_field: str
    returns: Literal["scores", "logits"]  # what the server's value is: activated or raw


def _rerank_body(model: str, query: str, docs: list[str]) -> dict:
    """Cohere / Jina / vLLM rerank: top_n = every document, so none is left out."""
    return {"model": model, "query": query, "documents": docs, "top_n": len(docs)}


VLLM_TRUNCATE = {"truncate_prompt_tokens": -1}  # cut at max_model_len, as offline engines do


SCHEMAS: dict[str, ApiSchema] = {
    # vLLM `POST /score`; `text_1`/`text_2` are accepted by every vLLM release with /score
    # (newer ones also take `queries`/`documents`); scores are activated (use_activation=True)
    "vllm-score": ApiSchema(
        "/score", lambda model, query, docs: {"model": model, "text_1": query, "text_2": docs,
                                              **VLLM_TRUNCATE},
        "data", "index", "score", "scores"),
    # vLLM `POST /rerank` (also served at /v1/rerank and /v2/rerank)
    "vllm-rerank": ApiSchema(
        "/rerank", lambda model, query, docs: {**_rerank_body(model, query, docs), **VLLM_TRUNCATE},
        "results", "index", "relevance_score", "scores"),
    # TEI `POST /rerank`: raw_scores=true returns the logit; the engine applies the sigmoid, so
    # the stored logit is exact. truncate=true cuts at the model's limit, as in-process engines do.
    "tei": ApiSchema(
        "/rerank", lambda model, query, docs: {"query": query, "texts": docs, "raw_scores": True,
                                               "truncate": True, "return_text": False},
        None, "index", "score", "logits"),
    # Infinity `POST /rerank`: sigmoid scores (raw_scores is not sent: releases before it
    # existed would ignore it and return probabilities the engine would misread as logits)
    "infinity": ApiSchema(
        "/rerank", lambda model, query, docs: {"model": model, "query": query, "documents": docs,
                                               "return_documents": False},
        "results", "index", "relevance_score", "scores"),
    # Xinference `POST /v1/rerank` (model = the model UID)
    "xinference": ApiSchema(
        "/v1/rerank", lambda model, query, docs: {**_rerank_body(model, query, docs),
                                                  "return_documents": False},
        "results", "index", "relevance_score", "scores"),
    # Cohere and Jina `POST /v1/rerank` (Cohere v2: options.path = "/v2/rerank")
    "cohere": ApiSchema("/v1/rerank", _rerank_body, "results", "index", "relevance_score",
                        "scores"),
}


def api_schema(name: str | None) -> ApiSchema:
    """The schema registered as ``name``; an unknown one lists the available names."""
    if name not in SCHEMAS:
        raise unknown_name("api_schema", SCHEMAS, name)
    return SCHEMAS[name]
