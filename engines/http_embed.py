"""`http-embed`: a bi-encoder served over an OpenAI-compatible embeddings API (Infinity, vLLM,
TEI's `/v1/embeddings`, OpenAI); the score is cosine(query, doc), as st-bi's and hf-bi's.

``POST {url}/embeddings`` with ``{"model", "input": [texts], "encoding_format": "float"}``
(``options.path`` for another route, e.g. ``/v1/embeddings``). Each call's unique queries are
embedded up front and each batch's unique documents in one request, at most ``batch_size``
texts per request. Transport, retries, backoff, the API key and redaction are
`http-rerank`'s. No vector becomes a score before the response is checked: one embedding per
text sent, each ``index`` an integer in range and given once, every vector of one length and
finite; a wrong list is retried, then fails the engine naming the server, the request and each
problem, never a short or reordered column.
"""

from __future__ import annotations

import numpy as np

from rerankwatch.engines.heads import cosine
from rerankwatch.engines.http_rerank import (
    MAX_RESPONSE_MB,
    HttpRerankEngine,
    _Retryable,
    _shown,
    _WrongResults,
    listed,
    result_list,
)

OPTIONS = {"path": "/embeddings", "backoff_s": 0.5,  # known options, defaults
           "max_response_mb": MAX_RESPONSE_MB}


def embedding_problems(items: list, sent: int) -> tuple[np.ndarray | None, list[str]]:
    """(vectors in input order, what is wrong with the list): one embedding per text, each
    index an integer in 0..sent-1 given once, vectors of one length, finite values.

    Raises _Retryable for an item without an index or a list of numbers."""
    vectors: list[np.ndarray | None] = [None] * sent
    duplicates, out_of_range, not_finite = [], [], []
    for item in items:
        try:
            index, vector = item["index"], np.asarray(item["embedding"], dtype=np.float64)
        except (KeyError, TypeError, ValueError):
            raise _Retryable(f"malformed result {str(item)[:120]!r}: needs 'index' and a "
                             f"numeric 'embedding' list") from None
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < sent:
            out_of_range.append(index)
        elif vectors[index] is not None:
            duplicates.append(index)
        else:
            vectors[index] = vector
            if not np.isfinite(vector).all():
                not_finite.append(index)
    problems = []
    if len(items) != sent:
        problems.append(f"{len(items)} embeddings for {sent} texts")
    missing = [i for i, v in enumerate(vectors) if v is None]
    if missing:
        problems.append(f"{len(missing)} of {sent} texts have no embedding: indices "
                        f"{_shown(missing)}")
    problems += listed([("duplicate indices:", sorted(set(duplicates))),
                        (f"indices that are not integers in 0..{sent - 1}:", out_of_range),
                        ("non-finite values in the embeddings at indices", not_finite)])
    shapes = {v.shape for v in vectors if v is not None}
    if len(shapes) > 1 or any(len(shape) != 1 or not shape[0] for shape in shapes):
        problems.append(f"embeddings of different or empty shapes: {sorted(shapes)}")
    if problems:
        return None, problems
    return np.stack(vectors), []


class HttpEmbedEngine(HttpRerankEngine):
    kind = "http-embed"
    activation = "cosine"
    pooling = "server"

    def _load(self) -> None:
        options = self._options(OPTIONS)
        if self.config.api_schema is not None:
            raise self._error("http-embed speaks the OpenAI embeddings API: api_schema is for "
                              "http-rerank (options.path sets the route)")
        self._connect(str(options["path"]))
        self._query_cache: dict[str, np.ndarray] = {}

    def _api(self) -> dict[str, str]:
        return {"api": "openai-embeddings"}

    def _length(self, pair) -> int:
        return len(pair[1])  # batches embed docs only; queries are embedded up front

    def _prepare(self, pairs) -> None:
        queries = list(dict.fromkeys(q for q, _ in pairs))
        self._query_cache = dict(zip(queries, self._embed(queries), strict=True))

    def _score_batch(self, queries: list[str], docs: list[str]) -> tuple[np.ndarray, np.ndarray]:
        self._batch += 1
        unique = list(dict.fromkeys(docs))
        found = dict(zip(unique, self._embed(unique), strict=True))
        scores = cosine(np.stack([self._query_cache[q] for q in queries]),
                        np.stack([found[d] for d in docs]))
        return scores, scores.copy()

    def _embed(self, texts: list[str]) -> np.ndarray:
        """One vector per text, at most ``batch_size`` texts per request."""
        size = max(1, self.config.batch_size)
        return np.concatenate([self._embed_request(texts[start:start + size])
                               for start in range(0, len(texts), size)])

    def _embed_request(self, texts: list[str]) -> np.ndarray:
        body = {"model": self.config.model, "input": texts, "encoding_format": "float"}
        return self._send(body, lambda response: self._vectors(response, len(texts)),
                          f"batch {self._batch}, a request of {len(texts)} texts")

    def _vectors(self, response, sent: int) -> np.ndarray:
        vectors, problems = embedding_problems(result_list(response, "data"), sent)
        if problems:
            raise _WrongResults(problems)
        return vectors
