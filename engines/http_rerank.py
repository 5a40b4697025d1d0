"""`http-rerank`: score through a deployed rerank API (vLLM, TEI, Infinity, Xinference, Cohere).

A batch's pairs are grouped by query (one request per query, never more than ``batch_size``
documents), the results are put back in document order by their ``index``, and timeouts, 5xx,
refused connections and malformed or incomplete bodies are retried ``retries`` times with
exponential backoff. The API key never leaves the Authorization header.

No value becomes a score before its response is checked (``result_problems``): one result
per document sent (``min(top_n, documents)`` when the body sends top_n), each index an integer
in range and given once, each value finite, a document the result echoes the one sent at its
index. A wrong list is an ``HttpRerankError`` naming the server, the batch, the request and each
problem ("1 of 4 documents have no result: indices [1]; empty documents: [1]"), never a short,
repeated or reordered score column. A well-formed list can still be indexed by rank instead of
by document (ragflow #2575, rerankers #39): the first request with distinct documents is sent
again in reverse order (one more request per engine load, ``options.verify_index``), and
values that stay with their position instead of their document fail the engine.
"""

from __future__ import annotations

import logging
import os
from urllib.parse import urlsplit, urlunsplit

import httpx
import numpy as np
import tenacity

from rerankwatch.core.errors import RerankwatchError
from rerankwatch.core.records import UNDECLARED_PRECISION, Fingerprint, Pair
from rerankwatch.core.redact import redact_text, redact_url, url_credentials
from rerankwatch.core.secrets import load_secret
from rerankwatch.engines.base import BatchedEngine
from rerankwatch.engines.heads import sigmoid
from rerankwatch.engines.http_schemas import api_schema

LOG = logging.getLogger("rerankwatch.engines.http")
MAX_RESPONSE_MB = 64  # a body past this is refused, read in chunks (options.max_response_mb)
OPTIONS = {"path": "", "activation": "sigmoid", "backoff_s": 0.5,  # known options, defaults
           "verify_index": True, "max_response_mb": MAX_RESPONSE_MB}
ACTIVATIONS = ("sigmoid", "none", "cosine")
RETRY_STATUS = {408, 429}  # and every 5xx
MAX_BACKOFF_S = 30.0
PROBABILITY_LIMIT = 1e-16  # a saturated probability maps to the largest logit it can express
SHOWN = 10  # indices named per problem
ORDER_PROBES = 3  # reversed requests tried before the index check gives up as inconclusive
ORDER_MARGIN = 4.0  # one explanation (by index, by position) must fit this much better


class HttpRerankError(RerankwatchError):
    """A rerank server refused, failed or answered wrongly (after the retries, if retryable)."""


class _Retryable(Exception):
    """A failure worth another attempt: 5xx, 408/429, malformed or incomplete body."""


class _WrongResults(_Retryable):
    """A result list that does not hold exactly one result per document sent (``problems``:
    what was wrong, each naming the documents)."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("wrong result list: " + "; ".join(problems))


def _shown(indices: list) -> str:
    """At most SHOWN indices, then how many more."""
    more = f" and {len(indices) - SHOWN} more" if len(indices) > SHOWN else ""
    return f"{list(indices[:SHOWN])}{more}"


def listed(found: list[tuple[str, list]]) -> list[str]:
    """'label [indices]' for each (label, indices) that holds any."""
    return [f"{label} {_shown(indices)}" for label, indices in found if indices]


def _echoed_text(item) -> str | None:
    """The document text a result echoes (``document``: a string or ``{"text": ...}``)."""
    document = item.get("document") if isinstance(item, dict) else None
    if isinstance(document, dict):
        document = document.get("text")
    return document if isinstance(document, str) else None


def result_problems(items: list, docs: list[str], top_n: int | None, index_field: str,
                    score_field: str) -> tuple[np.ndarray, list[str]]:
    """(values in document order, what is wrong with the result list): one result per
    document sent (``min(top_n, len(docs))`` when top_n is sent), each index an integer in
    range and given once, each value finite, and an echoed document the one sent at its index.

    Raises _Retryable for an item without an index or a numeric value."""
    sent = len(docs)
    values = np.full(sent, np.nan)
    seen: set[int] = set()
    duplicates, out_of_range, not_integers, not_finite, elsewhere = [], [], [], [], []
    foreign = []  # (index, echoed text) of echoes that are no document of the request
    position = {}  # first index of each document text: where an echoed document was sent
    for i, doc in enumerate(docs):
        position.setdefault(doc, i)
    for item in items:
        try:
            index, value = item[index_field], float(item[score_field])
        except (KeyError, TypeError, ValueError):
            raise _Retryable(f"malformed result {str(item)[:120]!r}: needs {index_field!r} "
                             f"and a numeric {score_field!r}") from None
        if not isinstance(index, int) or isinstance(index, bool):
            not_integers.append(index)
        elif not 0 <= index < sent:
            out_of_range.append(index)
        elif index in seen:
            duplicates.append(index)
        else:
            seen.add(index)
            values[index] = value
            if not np.isfinite(value):
                not_finite.append(index)
            echoed = _echoed_text(item)
            if echoed is not None and echoed != docs[index]:
                if echoed in position:
                    elsewhere.append((index, position[echoed]))
                else:
                    foreign.append((index, echoed))
    missing = [i for i in range(sent) if i not in seen]
    expected = min(top_n, sent) if top_n else sent
    problems = []
    if len(items) != expected:
        asked = f" (top_n = {top_n})" if top_n else ""
        problems.append(f"{len(items)} results for {sent} documents{asked}, expected {expected}")
    if missing:
        problems.append(f"{len(missing)} of {sent} documents have no result: indices "
                        f"{_shown(missing)}")
        empty = [i for i in missing if not docs[i].strip()]
        repeated = [i for i in missing if position[docs[i]] != i]
        if empty:
            problems.append(f"empty documents: {_shown(empty)}")
        if repeated:
            problems.append(f"repeated documents (the same text as an earlier one): "
                            f"{_shown(repeated)}")
        if top_n and len(items) < expected and not empty and not repeated:
            problems.append("fewer results than top_n asked for (does the server cap or "
                            "ignore top_n?)")
    problems += listed([("duplicate indices:", sorted(set(duplicates))),
                        (f"indices out of range 0..{sent - 1}:", out_of_range),
                        ("indices that are not integers:", not_integers),
                        ("non-finite scores at indices", not_finite)])
    if elsewhere:
        shown = ", ".join(f"index {i} echoes document {j}" for i, j in elsewhere[:SHOWN])
        problems.append(f"results name another document than the one they echo ({shown}): "
                        f"the index is not the document scored (ragflow #2575, rerankers #39)")
    if foreign:
        foreign.sort()
        index, echoed = foreign[0]
        problems.append(f"results echo another document than the one sent at their index: "
                        f"indices {_shown([i for i, _ in foreign])} (index {index} echoes "
                        f"{_cut(echoed)!r}, sent {_cut(docs[index])!r})")
    return values, problems


def _cut(text: str, limit: int = 60) -> str:
    return text[:limit] + ("…" if len(text) > limit else "")


class HttpRerankEngine(BatchedEngine):
    kind = "http-rerank"

    def _load(self) -> None:
        options = self._options(OPTIONS)
        self.schema = api_schema(self.config.api_schema)
        self.activation = str(options["activation"])
        if self.activation not in ACTIVATIONS:
            raise self._error(f"options.activation {self.activation!r} is not one of "
                              f"{list(ACTIVATIONS)}")
        self.verify_index = options["verify_index"]
        if not isinstance(self.verify_index, bool):
            raise self._error(f"options.verify_index must be true or false, got "
                              f"{self.verify_index!r}")
        self._order_probes = ORDER_PROBES if self.verify_index else 0  # left to try
        self._connect(str(options["path"] or self.schema.path))
        self._query_rank: dict[str, int] = {}

    def _options(self, known: dict) -> dict:
        """``options`` over the ``known`` defaults (an unknown one fails the load), and what
        every HTTP engine sets from them and the config before it connects."""
        config = self.config
        self._key: str | None = None
        unknown = sorted(set(config.options) - set(known))
        if unknown:
            raise self._error(f"unknown option(s) {unknown}; known: {sorted(known)}")
        options = {**known, **config.options}
        self.backoff_s = float(options["backoff_s"])
        limit = options["max_response_mb"]
        if isinstance(limit, bool) or not isinstance(limit, int | float) or not limit > 0:
            raise self._error(f"options.max_response_mb must be a number > 0, got {limit!r}")
        self.max_response_mb, self.max_response_bytes = limit, int(limit * 2**20)
        self._batch = -1  # batches this engine scored, for errors: "batch 3"
        self.max_length = config.max_length or 0
        return options

    def _connect(self, path: str) -> None:
        """The endpoint (``url`` + ``path``), the API key and the HTTP client."""
        config = self.config
        self.path = path
        self.url = endpoint_url(config.url, self.path, config.name)  # logs, errors, fingerprint
        query_string = urlsplit(config.url or "").query
        self.request_url = f"{self.url}?{query_string}" if query_string else self.url
        self._key = api_key(config)
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        self.client = httpx.Client(headers=headers, timeout=config.timeout_s)

    def _check_precision(self) -> None:
        """Nothing to probe: the server owns its dtype (``precision`` is what the user declares)."""

    def declared_precision(self) -> str:
        """The precision the user declares for the server (``precision``), else "unknown": the
        checks' noise model then gives it the loosest tolerance (checks/base.py)."""
        return self.config.precision if "precision" in self.config.model_fields_set \
            else UNDECLARED_PRECISION

    def fingerprint(self) -> Fingerprint:
        return Fingerprint(
            kind=self.kind, model=self.config.model, weights_sha256="unknown",
            dtype=self.declared_precision(), device="remote", pooling=self.pooling,
            max_length=int(self.max_length), activation=self.activation, versions={},
            extra={"url": self.url, **self._api()})

    def _api(self) -> dict[str, str]:
        """What the fingerprint says of the API spoken (beside the URL)."""
        return {"api_schema": str(self.config.api_schema)}

    def _prepare(self, pairs) -> None:
        self._query_rank = {q: rank for rank, q in enumerate(dict.fromkeys(q for q, _ in pairs))}

    def _length(self, pair: Pair) -> int:
        return -self._query_rank[pair[0]]  # batches keep a query's documents together

    def _score_batch(self, queries: list[str], docs: list[str]) -> tuple[np.ndarray, np.ndarray]:
        self._batch += 1
        groups: dict[str, list[int]] = {}
        for position, query in enumerate(queries):
            groups.setdefault(query, []).append(position)
        values = np.empty(len(queries), dtype=np.float64)
        for query, positions in groups.items():
            values[positions] = self._rerank(query, [docs[p] for p in positions])
        return self._logits_and_scores(values)

    def _rerank(self, query: str, docs: list[str]) -> np.ndarray:
        """The server's value per document, in document order; the first requests with two
        or more distinct documents are sent again reversed, to prove results follow their
        index (_check_order)."""
        values = self._request(query, docs)
        if self._order_probes and len(set(docs)) > 1:
            self._check_order(query, docs, values)
        return values

    def _where(self, query: str, docs: list[str], note: str = "") -> str:
        return (f"batch {self._batch}, the request for query {query[:60]!r} with "
                f"{len(docs)} documents{note}")

    def _request(self, query: str, docs: list[str], note: str = "") -> np.ndarray:
        """One request (plus retries): the server's value per document, in document order."""
        body = self.schema.body(self.config.model, query, docs)
        return self._send(body, lambda response: self._parse(response, docs, body.get("top_n")),
                          self._where(query, docs, note))

    def _send(self, body: dict, parse, where: str) -> np.ndarray:
        """POST ``body`` and ``parse`` the response, retrying transport failures, 5xx, 408/429
        and malformed or wrong bodies ``retries`` times with exponential backoff."""
        attempts = self.config.retries + 1

        def problem(exc: BaseException) -> str:
            if isinstance(exc, httpx.TransportError):  # timeouts, refused or dropped connections
                return self._redact(f"{type(exc).__name__}: {exc}")
            if isinstance(exc, _WrongResults):  # never a short, repeated or reordered column
                return self._redact(f"{exc} ({where})")
            return self._redact(str(exc))

        def note(state: tenacity.RetryCallState) -> None:
            LOG.warning("engine %s: POST %s: %s; retry %d of %d in %.2fs", self.config.name,
                        self.url, problem(state.outcome.exception()), state.attempt_number,
                        self.config.retries, state.upcoming_sleep)

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type((httpx.TransportError, _Retryable)),
            stop=tenacity.stop_after_attempt(attempts),
            wait=tenacity.wait_exponential(multiplier=self.backoff_s, max=MAX_BACKOFF_S),
            before_sleep=note, reraise=True)
        try:
            return retrying(lambda: parse(self._post(body)))
        except (httpx.TransportError, _Retryable) as exc:
            raise self._error(f"POST {self.url} failed after {attempts} attempt(s): "
                              f"{problem(exc)}") from None

    def _check_order(self, query: str, docs: list[str], values: np.ndarray) -> None:
        """Send ``docs`` again in reverse order. Results that follow their index give every
        document its value again; a server that indexes its results by rank, or by their
        position in a list it sorted, gives every *position* its value again (ragflow #2575,
        rerankers #39). Whichever fits ORDER_MARGIN times better decides; a tie (documents
        scored alike) leaves the check to the next request, at most ORDER_PROBES times."""
        self._order_probes -= 1
        reversed_values = self._request(query, docs[::-1], ", sent again in reverse order")
        by_index = float(np.max(np.abs(values - reversed_values[::-1])))
        by_position = float(np.max(np.abs(values - reversed_values)))
        floor = 1e-9 * max(1.0, float(np.max(np.abs(values))))
        if by_position > ORDER_MARGIN * by_index + floor:
            self._order_probes = 0  # proven: results follow their index
            LOG.info("engine %s: results follow their index (the request reversed: max |Δ| "
                     "%.3g by index, %.3g by position)", self.config.name, by_index, by_position)
        elif by_index > ORDER_MARGIN * by_position + floor:
            raise self._error(
                f"POST {self.url}: results do not follow their index: the same "
                f"{len(docs)} documents sent again in reverse order got other values by index "
                f"(max |Δ| {by_index:.4g}) and the same values by position (max |Δ| "
                f"{by_position:.4g}): the server indexes its results by rank or position, not "
                f"by document (ragflow #2575, rerankers #39) ({self._where(query, docs)}); "
                f"options.verify_index = false turns this check off for a server whose scores "
                f"depend on the order of the documents")
        elif not self._order_probes:
            LOG.warning("engine %s: could not verify that results follow their index: %d "
                        "requests sent again reversed scored their documents too alike",
                        self.config.name, ORDER_PROBES)

    def _post(self, body: dict) -> httpx.Response:
        with self.client.stream("POST", self.request_url, json=body) as streamed:
            response = self._capped(streamed)
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

    def _capped(self, streamed: httpx.Response) -> httpx.Response:
        """The response read in chunks, refused once its body (decoded: a compressed bomb
        too) passes max_response_bytes; a declared Content-Length past it is refused unread."""
        limit = self.max_response_bytes
        declared = streamed.headers.get("content-length", "")
        chunks, size = [], 0
        if not (declared.isdigit() and int(declared) > limit):
            for chunk in streamed.iter_bytes():
                size += len(chunk)
                if size > limit:
                    break
                chunks.append(chunk)
        if size > limit or (declared.isdigit() and int(declared) > limit):
            raise self._error(f"POST {self.url}: the response body is larger than "
                              f"options.max_response_mb = {self.max_response_mb:g} MB "
                              f"({limit} bytes); raise it if the server's answers are this "
                              f"large")
        headers = [(k, v) for k, v in streamed.headers.multi_items()
                   if k.lower() not in ("content-encoding", "content-length",
                                        "transfer-encoding")]  # the content is decoded
        return httpx.Response(streamed.status_code, headers=headers, content=b"".join(chunks),
                              request=streamed.request)

    def _parse(self, response: httpx.Response, docs: list[str], top_n: int | None
               ) -> np.ndarray:
        """Values in document order; a body that is no result list, or a list that is not one
        result per document (result_problems), is retryable."""
        schema = self.schema
        values, problems = result_problems(result_list(response, schema.results), docs, top_n,
                                           schema.index_field, schema.score_field)
        if problems:
            raise _WrongResults(problems)
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


def result_list(response: httpx.Response, key: str | None) -> list:
    """The list of results of a JSON body, at ``key`` (None: the body itself); a body that is
    not JSON or holds no such list is retryable."""
    try:
        payload = response.json()
    except ValueError:
        raise _Retryable(f"malformed body (not JSON): {_snippet(response)}") from None
    items = payload if key is None else (
        payload.get(key) if isinstance(payload, dict) else None)
    if not isinstance(items, list):
        where = f"key {key!r}" if key else "the top level"
        raise _Retryable(f"malformed body: no result list at {where}: {_snippet(response)}")
    return items


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
