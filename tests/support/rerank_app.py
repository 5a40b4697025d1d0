"""A rerank server for tests: real models, every API schema on its real path, real failures.

It does no math of its own: a cross-encoder scores through sentence-transformers' CrossEncoder,
a bi-encoder through SentenceTransformer embeddings and cosine similarity. It enforces a
maximum number of documents per request (413), optional Bearer auth (401), returns results in
a different order than sent (by score, or reversed), echoes each result's document on the
Cohere-style paths unless ``return_documents`` is false (as vLLM, Cohere v1 and Jina do), and
has fault modes for retry tests:

    slow        sleep ``sleep_s`` before answering (past the client's timeout)
    5xx         answer 503
    malformed   answer 200 with a body that is not JSON
    fewer       drop the last result (a short response)
    fail_first  answer 503 to the next ``fault_count`` requests, then recover

and fault modes that replay public incidents of response integrity (the client must refuse
each, never map a short or repeated result list by position):

    drop_empty    drop the results of empty or whitespace-only documents (OpenViking PRs #1712
                  / #2926)
    dedupe        answer each distinct document once: a repeated document gets no result
    duplicate     repeat the first result's index in place of the last one's
    out_of_range  give the last result an index past the documents sent
    top_n_cap     top_n ignored: at most 2 results (the server's own default) whatever
                  ``top_n`` asks
    by_position   results sorted by score, each indexed by its rank instead of its document
                  (ragflow #2575, rerankers #39): a well-formed list; an echoed document
                  still names the document scored, and the same documents sent in another
                  order keep each value with its position
    huge          a well-formed answer padded to ``pad_mb`` MB (a ``padding`` field), sent with
                  its Content-Length
    huge_chunked  the same, streamed in 64 KiB chunks without a Content-Length
    wrong_echo    every result echoes ``{"text": "NOT THE DOC"}`` as its document: a text the
                  request never sent (the client must check the echo against the document
                  sent at that index, not only against the request's other documents)

Models come from ``RERANK_APP_MODELS`` (JSON: {"name": ["cross" | "bi", "path"]}; the first is
the default when a request names none). Settings change at runtime through ``POST /_admin``
(which also resets the request counter that ``GET /_stats`` reports). Tests start it with
``serve()``: ``python -m uvicorn`` on 127.0.0.1 and a free port, killed on exit.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from tests.support.process import free_port, running_server

ROOT = Path(__file__).resolve().parents[2]
MODELS_ENV = "RERANK_APP_MODELS"
FAULTS = {None, "slow", "5xx", "malformed", "fewer", "fail_first", "drop_empty", "dedupe",
          "duplicate", "out_of_range", "top_n_cap", "by_position", "wrong_echo",
          "huge", "huge_chunked"}


@dataclass
class Settings:
    max_batch: int = 8
    api_key: str | None = None
    fault: str | None = None
    fault_count: int = 0
    sleep_s: float = 5.0
    serve_as: dict | None = None  # model name asked for -> model that answers (an upgrade)
    pad_mb: float = 2.0  # fault huge / huge_chunked: the body's size


SETTINGS = Settings()
MODELS: dict[str, tuple[str, object]] = {}
STATS = {"requests": 0}
LOCK = threading.Lock()


class Refused(Exception):
    def __init__(self, response: Response):
        self.response = response


@asynccontextmanager
async def lifespan(_app: FastAPI):
    from sentence_transformers import CrossEncoder, SentenceTransformer

    for name, (kind, path) in json.loads(os.environ[MODELS_ENV]).items():
        model = CrossEncoder(path, device="cpu") if kind == "cross" else SentenceTransformer(
            path, device="cpu")
        MODELS[name] = (kind, model)
    yield


app = FastAPI(lifespan=lifespan)


@app.exception_handler(Refused)
async def _refused(_request: Request, exc: Refused) -> Response:
    return exc.response


def _error(status: int, message: str) -> Refused:
    return Refused(JSONResponse({"error": {"message": message, "code": status}}, status))


def _predict(model_name: str | None, query: str, docs: list[str], raw: bool) -> list[float]:
    """The model's scores: cross-encoder (activated unless ``raw``) or cosine of embeddings."""
    import torch
    from sentence_transformers import util

    name = model_name or next(iter(MODELS))
    name = (SETTINGS.serve_as or {}).get(name, name)  # upgraded behind the same name and URL
    if name not in MODELS:
        raise _error(404, f"The model `{name}` does not exist.")
    kind, model = MODELS[name]
    if kind == "cross":
        scores = model.predict([(query, d) for d in docs], show_progress_bar=False,
                               activation_fn=torch.nn.Identity() if raw else None)
        return [float(s) for s in scores]
    embeddings = model.encode([query, *docs], convert_to_tensor=True, show_progress_bar=False)
    return [float(s) for s in util.cos_sim(embeddings[:1], embeddings[1:])[0]]


def _admit(request: Request, docs: list) -> None:
    """Count the request, then what a real server checks first: auth, batch size, faults."""
    with LOCK:
        STATS["requests"] += 1
        fail_now = SETTINGS.fault == "fail_first" and SETTINGS.fault_count > 0
        if fail_now:
            SETTINGS.fault_count -= 1
    if SETTINGS.api_key and request.headers.get("authorization") != f"Bearer {SETTINGS.api_key}":
        raise _error(401, "invalid or missing API key")
    if not isinstance(docs, list) or not docs:
        raise _error(422, "documents must be a non-empty list")
    if len(docs) > SETTINGS.max_batch:
        raise _error(413, f"batch size {len(docs)} > maximum allowed batch size "
                          f"{SETTINGS.max_batch}")
    if SETTINGS.fault == "5xx" or fail_now:
        raise _error(503, "injected failure")
    if SETTINGS.fault == "malformed":
        raise Refused(Response('{"results": [{"index": 0, "relev', media_type="application/json"))
    if SETTINGS.fault == "slow":
        time.sleep(SETTINGS.sleep_s)


def _shape(results: list[dict], docs: list[str], key: str) -> list[dict]:
    """The result list as the configured fault leaves it (``docs``: what was sent, ``key``:
    the score field)."""
    fault = SETTINGS.fault
    if fault == "fewer":
        return results[:-1]
    if fault == "drop_empty":
        return [r for r in results if docs[r["index"]].strip()]
    if fault == "dedupe":
        first = {d: i for i, d in reversed(list(enumerate(docs)))}
        return [r for r in results if first[docs[r["index"]]] == r["index"]]
    if fault == "duplicate" and len(results) > 1:
        return [*results[:-1], {**results[-1], "index": results[0]["index"]}]
    if fault == "out_of_range":
        return [*results[:-1], {**results[-1], "index": len(docs) + 3}]
    if fault == "top_n_cap":
        return results[:2]
    if fault == "wrong_echo":
        return [{**r, "document": {"text": "NOT THE DOC"}} for r in results]
    if fault == "by_position":
        ranked = sorted(results, key=lambda r: -r[key])
        return [{**r, "index": rank} for rank, r in enumerate(ranked)]
    return results


def _by_score(results: list[dict], key: str, top_n: int | None) -> list[dict]:
    ranked = sorted(results, key=lambda r: -r[key])
    return ranked[:top_n] if top_n else ranked


@app.get("/health")
def health() -> dict:
    return {"status": "ok", "models": list(MODELS)}


@app.post("/score")
def score(request: Request, body: dict) -> dict:
    """vLLM: {model, text_1 | queries, text_2 | documents} -> {data: [{index, score}]}."""
    query, docs = body.get("text_1", body.get("queries")), body.get("text_2", body.get("documents"))
    docs = [docs] if isinstance(docs, str) else docs
    _admit(request, docs)
    scores = _predict(body.get("model"), query, docs, raw=False)
    data = [{"index": i, "object": "score", "score": s} for i, s in enumerate(scores)]
    return {"id": f"score-{uuid.uuid4().hex}", "object": "list", "model": body.get("model"),
            "data": _shape(data[::-1], docs, "score"), "usage": {}}


@app.post("/rerank")
def rerank(request: Request, body: dict):
    """TEI when the body has ``texts``, else the Cohere-style rerank of vLLM and Infinity."""
    if "texts" in body:
        _admit(request, body["texts"])
        scores = _predict(None, body["query"], body["texts"], raw=bool(body.get("raw_scores")))
        return _shape(_by_score([{"index": i, "score": s} for i, s in enumerate(scores)],
                                "score", None), body["texts"], "score")
    return rerank_v1(request, body)


@app.post("/v1/rerank")
@app.post("/v2/rerank")
def rerank_v1(request: Request, body: dict) -> dict:
    """Cohere / Jina / Xinference / vLLM: {model, query, documents, top_n} -> {results}."""
    docs = body.get("documents")
    _admit(request, docs)
    scores = _predict(body.get("model"), body["query"], docs, raw=False)
    echo = body.get("return_documents", True) is not False
    results = [{"index": i, "relevance_score": s, **({"document": {"text": d}} if echo else {})}
               for i, (s, d) in enumerate(zip(scores, docs, strict=True))]
    answer = {"id": f"rerank-{uuid.uuid4().hex}", "model": body.get("model"),
              "results": _shape(_by_score(results, "relevance_score", body.get("top_n")), docs,
                                "relevance_score"),
              "usage": {"total_tokens": 0}}
    return _padded(answer) if SETTINGS.fault in ("huge", "huge_chunked") else answer


def _padded(answer: dict) -> Response:
    """``answer`` with a ``padding`` string making the body ``pad_mb`` MB: whole, or streamed
    in chunks without a Content-Length (fault huge_chunked)."""
    data = json.dumps({**answer, "padding": " " * int(SETTINGS.pad_mb * 2**20)}).encode()
    if SETTINGS.fault == "huge":
        return Response(data, media_type="application/json")
    chunks = (data[i:i + 65536] for i in range(0, len(data), 65536))
    return StreamingResponse(chunks, media_type="application/json")


@app.post("/embeddings")
@app.post("/v1/embeddings")
def embeddings(request: Request, body: dict) -> dict:
    """OpenAI / Infinity / vLLM: {model, input} -> {data: [{index, embedding}]} of a bi-encoder
    (reversed; ``fewer`` and ``duplicate`` apply)."""
    texts = body.get("input")
    texts = [texts] if isinstance(texts, str) else texts
    _admit(request, texts)
    name = body.get("model") or next(iter(MODELS))
    if MODELS.get(name, ("",))[0] != "bi":
        raise _error(400, f"model `{name}` does not support `embed`")
    vectors = MODELS[name][1].encode(texts, show_progress_bar=False)
    data = [{"object": "embedding", "index": i, "embedding": [float(x) for x in vector]}
            for i, vector in enumerate(vectors)]
    return {"object": "list", "model": name, "data": _shape(data[::-1], texts, "index"),
            "usage": {"prompt_tokens": 0, "total_tokens": 0}}


@app.post("/_admin")
def admin(body: dict) -> dict:
    """Change settings (tests only); resets the request counter."""
    if body.get("fault") not in FAULTS:
        raise _error(422, f"fault must be one of {sorted(map(str, FAULTS))}")
    with LOCK:
        for key, value in body.items():
            setattr(SETTINGS, key, value)
        STATS["requests"] = 0
    return asdict(SETTINGS) | {"api_key": bool(SETTINGS.api_key)}


@app.get("/_stats")
def stats() -> dict:
    return dict(STATS)


# --- for tests: start and stop the app in a subprocess --------------------------------------


@dataclass
class RerankApp:
    url: str

    def admin(self, **settings) -> dict:
        """Reset to defaults, then apply ``settings``."""
        import httpx

        body = asdict(Settings()) | settings
        response = httpx.post(f"{self.url}/_admin", json=body, timeout=10)
        response.raise_for_status()
        return response.json()

    def requests(self) -> int:
        import httpx

        return httpx.get(f"{self.url}/_stats", timeout=10).json()["requests"]


@contextlib.contextmanager
def serve(models: dict[str, tuple[str, str]], startup_s: float = 180) -> Iterator[RerankApp]:
    """Run the app on 127.0.0.1:<free port> until the block exits; fails with its log."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "tests.support.rerank_app:app", "--host",
               "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    env = {**os.environ, MODELS_ENV: json.dumps(models), "HF_HUB_OFFLINE": "1"}
    with running_server(command, port, startup_s, "rerank app", env=env, cwd=ROOT) as url:
        yield RerankApp(url)
