"""`http-rerank`: score through a deployed rerank API (vLLM, TEI, Infinity, Xinference, Cohere).

A batch's pairs are grouped by query (one request per query, never more than ``batch_size``
documents), the results are put back in document order by their ``index``, and timeouts, 5xx,
refused connections and malformed or incomplete bodies are retried ``retries`` times with
exponential backoff. The API key never leaves the Authorization header.
"""

from __future__ import annotations

import logging
import os
import time
from urllib.parse import urlsplit, urlunsplit

import httpx
import numpy as np

from rerankwatch.core.errors import RerankwatchError
from rerankwatch.core.records import Fingerprint, Pair
from rerankwatch.core.redact import redact_text, redact_url, url_credentials
from rerankwatch.core.secrets import load_secret
from rerankwatch.engines.base import BatchedEngine
from rerankwatch.engines.heads import sigmoid
from rerankwatch.engines.http_schemas import api_schema

LOG = logging.getLogger("rerankwatch.engines.http")
OPTIONS = {"path": "", "activation": "sigmoid", "backoff_s": 0.5}  # known options, defaults
ACTIVATIONS = ("sigmoid", "none", "cosine")
RETRY_STATUS = {408, 429}  # and every 5xx
MAX_BACKOFF_S = 30.0
PROBABILITY_LIMIT = 1e-16  # a saturated probability maps to the largest logit it can express


class HttpRerankError(RerankwatchError):
    """A rerank server refused, failed or answered wrongly (after the retries, if retryable)."""


class _Retryable(Exception):
    """A failure worth another attempt: 5xx, 408/429, malformed or incomplete body."""


class _Incomplete(_Retryable):
    """A result list that does not hold exactly one result per document sent."""

    def __init__(self, results: int, missing: list[int], duplicates: list, out_of_range: list):
        self.results, self.missing = results, missing
        self.duplicates, self.out_of_range = duplicates, out_of_range
        super().__init__("incomplete response")

    def describe(self, docs: list[str], top_n: int | None) -> str:
        """What was wrong, naming the documents: which are missing (and whether they are empty
        or repeated documents), which indices came twice or out of range, top_n ignored."""
        sent = len(docs)
        problems = []
        if self.missing:
            shown = self.missing[:10]
            problems.append(f"{len(self.missing)} of {sent} documents have no result "
                            f"(indices {shown})")
            empty = [i for i in self.missing if not docs[i].strip()]
            repeated = [i for i in self.missing if docs.count(docs[i]) > 1]
            if empty:
                problems.append(f"empty documents without a result: {empty[:10]}")
            if repeated:
                problems.append(f"repeated documents without a result: {repeated[:10]}")
        if self.duplicates:
            problems.append(f"duplicate indices {self.duplicates[:10]}")
        if self.out_of_range:
            problems.append(f"indices out of range 0..{sent - 1}: {self.out_of_range[:10]}")
        if top_n and self.results < top_n:
            problems.append(f"{self.results} results for top_n = {top_n}: the server caps or "
                            f"ignores top_n")
        return "incomplete response: " + "; ".join(problems)


class HttpRerankEngine(BatchedEngine):
    kind = "http-rerank"

    def _load(self) -> None:
        config = self.config
        self._key: str | None = None
        unknown = sorted(set(config.options) - set(OPTIONS))
        if unknown:
            raise self._error(f"unknown option(s) {unknown}; known: {sorted(OPTIONS)}")
        options = {**OPTIONS, **config.options}
        self.schema = api_schema(config.api_schema)
        self.activation = str(options["activation"])
        if self.activation not in ACTIVATIONS:
            raise self._error(f"options.activation {self.activation!r} is not one of "
                              f"{list(ACTIVATIONS)}")
        self.backoff_s = float(options["backoff_s"])
        self.max_length = config.max_length or 0
        self.path = str(options["path"] or self.schema.path)
        self.url = endpoint_url(config.url, self.path, config.name)  # logs, errors, fingerprint
        query_string = urlsplit(config.url or "").query
        self.request_url = f"{self.url}?{query_string}" if query_string else self.url
        self._key = api_key(config)
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        self.client = httpx.Client(headers=headers, timeout=config.timeout_s)
        self._query_rank: dict[str, int] = {}

    def _check_precision(self) -> None:
        """Nothing to probe: the server owns its dtype (``precision`` is what the user declares)."""

    def fingerprint(self) -> Fingerprint:
        return Fingerprint(
            kind=self.kind, model=self.config.model, weights_sha256="unknown",
            dtype=self.config.precision, device="remote", pooling=self.pooling,
            max_length=int(self.max_length), activation=self.activation, versions={},
            extra={"url": self.url, "api_schema": str(self.config.api_schema)})

    def _prepare(self, pairs) -> None:
        self._query_rank = {q: rank for rank, q in enumerate(dict.fromkeys(q for q, _ in pairs))}

    def _length(self, pair: Pair) -> int:
        return -self._query_rank[pair[0]]  # batches keep a query's documents together

    def _score_batch(self, queries: list[str], docs: list[str]) -> tuple[np.ndarray, np.ndarray]:
        groups: dict[str, list[int]] = {}
        for position, query in enumerate(queries):
            groups.setdefault(query, []).append(position)
        values = np.empty(len(queries), dtype=np.float64)
        for query, positions in groups.items():
            values[positions] = self._rerank(query, [docs[p] for p in positions])
        return self._logits_and_scores(values)

    def _rerank(self, query: str, docs: list[str]) -> np.ndarray:
        """One request (plus retries): the server's value per document, in document order."""
        body = self.schema.body(self.config.model, query, docs)
        attempts = self.config.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                return self._parse(self._post(body), len(docs))
            except httpx.TransportError as exc:  # timeouts, refused or dropped connections
                problem = f"{type(exc).__name__}: {exc}"
            except _Incomplete as exc:  # never a short or repeated score column
                problem = (f"{exc.describe(docs, body.get('top_n'))} (the request for query "
                           f"{query[:60]!r} with {len(docs)} documents)")
            except _Retryable as exc:
                problem = str(exc)
            problem = self._redact(problem)
            if attempt < attempts:
                delay = min(MAX_BACKOFF_S, self.backoff_s * 2 ** (attempt - 1))
                LOG.warning("engine %s: POST %s: %s; retry %d of %d in %.2fs", self.config.name,
                            self.url, problem, attempt, self.config.retries, delay)
                time.sleep(delay)
        raise self._error(f"POST {self.url} failed after {attempts} attempt(s): {problem}")

    def _post(self, body: dict) -> httpx.Response:
        response = self.client.post(self.request_url, json=body)
        status = response.status_code
        if status in RETRY_STATUS or status >= 500:
            raise _Retryable(f"HTTP {status}: {_snippet(response)}")
        if status in (401, 403):
            source = (f"the key from environment variable {self.config.api_key_env!r}"
                      if self.config.api_key_env else
                      f"the key from Prefect Secret block {self.config.api_key_secret!r}"
                      if self.config.api_key_secret else "no key: set api_key_env or "
                      "api_key_secret")
            raise self._error(f"POST {self.url}: HTTP {status}, not authorized with {source}")
        if status >= 400:
            hint = (f"; the server takes fewer documents per request: lower batch_size "
                    f"(now {self.config.batch_size})" if status == 413 else "")
            raise self._error(f"POST {self.url}: HTTP {status}: {_snippet(response)}{hint}")
        return response

    def _parse(self, response: httpx.Response, sent: int) -> np.ndarray:
        """Values in document order; anything missing, repeated or out of range is retryable."""
        schema = self.schema
        try:
            payload = response.json()
        except ValueError:
            raise _Retryable(f"malformed body (not JSON): {_snippet(response)}") from None
        items = payload if schema.results is None else (
            payload.get(schema.results) if isinstance(payload, dict) else None)
        if not isinstance(items, list):
            where = f"key {schema.results!r}" if schema.results else "the top level"
            raise _Retryable(f"malformed body: no result list at {where}: {_snippet(response)}")
        values = np.full(sent, np.nan)
        seen, duplicates, out_of_range = set(), [], []
        for item in items:
            try:
                index, value = item[schema.index_field], float(item[schema.score_field])
            except (KeyError, TypeError, ValueError):
                raise _Retryable(f"malformed result {str(item)[:120]!r}: needs "
                                 f"{schema.index_field!r} and a numeric "
                                 f"{schema.score_field!r}") from None
            if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < sent:
                out_of_range.append(index)
            elif index in seen:
                duplicates.append(index)
            else:
                seen.add(index)
                values[index] = value
        missing = [i for i in range(sent) if i not in seen]
        if missing or duplicates or out_of_range:
            raise _Incomplete(len(items), missing, duplicates, out_of_range)
        return values

    def _logits_and_scores(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.activation != "sigmoid":
            return values, values.copy()
        if self.schema.returns == "logits":
            return values, sigmoid(values)
        if values.min() < 0 or values.max() > 1:
            raise self._error(f"activation 'sigmoid', but the server returned scores outside "
                              f"[0, 1] ({values.min():.4g} .. {values.max():.4g}); set "
                              f"options.activation = 'none' if it returns raw logits")
        clipped = np.clip(values, PROBABILITY_LIMIT, 1 - PROBABILITY_LIMIT)
        return np.log(clipped) - np.log1p(-clipped), values

    def _redact(self, text: str) -> str:
        text = redact_text(text)
        return text.replace(self._key, "***") if self._key else text

    def _error(self, message: str) -> HttpRerankError:
        return HttpRerankError(self._redact(f"engine {self.config.name!r}: {message}"))


def endpoint_url(url: str | None, path: str, engine: str) -> str:
    """``url`` + the schema's path, without the query string; refuses credentials in the URL
    (user info, credential-named query parameters), as the config validation does for a
    config it parsed. Errors never repeat a credential."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HttpRerankError(f"engine {engine!r}: http-rerank needs url = 'http(s)://host[:port]'"
                              f", got {redact_url(url or '')!r}")
    found = url_credentials(url)
    if found:
        raise HttpRerankError(f"engine {engine!r}: url holds credentials ({', '.join(found)}); "
                              f"put the key in api_key_env or api_key_secret, not in the url")
    base = urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
    return base + "/" + path.lstrip("/")


def api_key(config) -> str | None:
    """The API key from ``api_key_env`` or a Prefect Secret block; None when neither is set."""
    if config.api_key_env and config.api_key_secret:
        raise HttpRerankError(f"engine {config.name!r}: set api_key_env or api_key_secret, "
                              f"not both")
    if config.api_key_env:
        key, source = os.environ.get(config.api_key_env, ""), \
            f"environment variable {config.api_key_env!r} (api_key_env)"
    elif config.api_key_secret:
        key, source = _secret(config.api_key_secret, config.name), \
            f"Prefect Secret block {config.api_key_secret!r} (api_key_secret)"
    else:
        return None
    key = str(key).strip()
    if not key:
        raise HttpRerankError(f"engine {config.name!r}: {source} is not set or empty")
    if not key.isascii() or not key.isprintable() or " " in key:
        raise HttpRerankError(f"engine {config.name!r}: {source} holds characters a header "
                              f"cannot carry")
    return key


def _secret(name: str, engine: str) -> str:
    # the store is registered by the orchestration layer (Prefect Secret blocks)
    try:
        return load_secret(name)
    except Exception as exc:  # no store, a missing block, no reachable Prefect API
        raise HttpRerankError(f"engine {engine!r}: cannot load Prefect Secret block {name!r} "
                              f"(api_key_secret): {type(exc).__name__}: {exc}") from None


def _snippet(response: httpx.Response, limit: int = 200) -> str:
    text = " ".join(response.text.split())
    return repr(text[:limit] + ("…" if len(text) > limit else ""))
