"""The http-rerank engine against a real rerank server (tests/support/rerank_app.py): every
schema agrees with the in-process engines, batches respect the server's limit, the API key is
sent and never shown, and every fault is retried a bounded number of times, then fails (wrong
result lists: tests/unit/test_http_integrity.py)."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from rerankwatch.core.config import EngineConfig
from rerankwatch.core.errors import ConfigError
from rerankwatch.engines.http_embed import HttpEmbedEngine
from rerankwatch.engines.http_rerank import HttpRerankEngine, HttpRerankError
from rerankwatch.engines.http_schemas import SCHEMAS
from rerankwatch.engines.st_bi import StBiEngine
from rerankwatch.engines.st_cross import StCrossEngine
from rerankwatch.pipeline import load_config
from tests.support.rerank_app import free_port, serve

# three queries, interleaved, documents of different lengths: grouping and reordering matter
PAIRS = [
    ("How do I sell my shirt?", "List your shirt on our marketplace with photos and a price."),
    ("capital of France", "Paris is the capital and largest city of France."),
    ("How do I sell my shirt?", "Ketchup is a condiment."),
    ("what is a cross-encoder", "A model that reads the query and the document together."),
    ("capital of France", "Lyon is known for its food."),
    ("How do I sell my shirt?", "Shirts can be sold second hand online or at a flea market."),
    ("what is a cross-encoder", "Bananas are yellow."),
    ("capital of France", "France's capital, Paris, sits on the Seine."),
    ("what is a cross-encoder", "Cross-encoders score a pair jointly; bi-encoders embed apart."),
    ("How do I sell my shirt?", "Shirt"),
    ("capital of France", "Berlin is the capital of Germany."),
    ("what is a cross-encoder", "It outputs one relevance logit per pair."),
]
KEY_ENV = "RERANKWATCH_TEST_RERANK_KEY"


@pytest.fixture(scope="module")
def app(tiny_cross_encoder, minilm_path):
    with serve({"tiny": ("cross", tiny_cross_encoder), "minilm": ("bi", minilm_path)}) as server:
        yield server


@pytest.fixture
def server(app):
    app.admin()  # defaults: max_batch 8, no key, no fault; counter reset
    return app


@pytest.fixture(scope="module")
def cross_reference(tiny_cross_encoder):
    config = EngineConfig(name="ref", kind="st-cross", model=tiny_cross_encoder)
    return StCrossEngine(config).score(PAIRS)


def http_engine(url: str, schema: str = "vllm-rerank", model: str = "tiny",
                **fields) -> HttpRerankEngine:
    options = {"backoff_s": 0.01, **fields.pop("options", {})}
    config = EngineConfig(name="remote", kind="http-rerank", model=model, url=url,
                          api_schema=schema, batch_size=fields.pop("batch_size", 4),
                          options=options, **fields)
    return HttpRerankEngine(config)


@pytest.mark.parametrize("schema", sorted(SCHEMAS))
def test_every_schema_agrees_with_the_in_process_cross_encoder(schema, server, cross_reference):
    batch = http_engine(server.url, schema).score(PAIRS)
    assert batch.activation == "sigmoid"
    np.testing.assert_allclose(batch.scores, cross_reference.scores, atol=1e-5)
    np.testing.assert_allclose(batch.logits, cross_reference.logits, atol=1e-4)
    # batch_size 4 and 4 documents per query: one request per query, plus the first one sent
    # again reversed (results follow their index), nothing more
    assert server.requests() == 3 + 1


@pytest.mark.parametrize("schema", ["cohere", "vllm-score"])
def test_a_served_bi_encoder_agrees_with_st_bi(schema, server, minilm_path):
    reference = StBiEngine(EngineConfig(name="ref", kind="st-bi", model=minilm_path)).score(PAIRS)
    engine = http_engine(server.url, schema, model="minilm", options={"activation": "cosine"})
    batch = engine.score(PAIRS)
    assert batch.activation == "cosine"
    np.testing.assert_allclose(batch.scores, reference.scores, atol=1e-5)


def test_batches_never_exceed_the_server_limit(server, cross_reference):
    server.admin(max_batch=3)
    batch = http_engine(server.url, batch_size=3).score(PAIRS)
    np.testing.assert_allclose(batch.scores, cross_reference.scores, atol=1e-5)
    assert len(batch.batch_seconds) == 4  # 12 pairs, 3 per batch
    # a query's documents stay together: 3 + (1, 2) + (2, 1) + 3 documents per request, and
    # the first request again reversed
    assert server.requests() == 6 + 1


def test_a_batch_size_above_the_server_limit_fails_clearly_without_retries(server):
    server.admin(max_batch=3)
    with pytest.raises(HttpRerankError, match=r"HTTP 413.*lower batch_size \(now 4\)") as error:
        http_engine(server.url, batch_size=4, retries=3).score(PAIRS)
    assert "'remote'" in str(error.value) and "/rerank" in str(error.value)
    assert server.requests() == 1


def test_the_api_key_comes_from_the_environment(server, monkeypatch, cross_reference):
    key = "sk-env-" + "x" * 24
    server.admin(api_key=key)
    monkeypatch.setenv(KEY_ENV, key)
    batch = http_engine(server.url, api_key_env=KEY_ENV).score(PAIRS)
    np.testing.assert_allclose(batch.scores, cross_reference.scores, atol=1e-5)
    assert key not in http_engine(server.url, api_key_env=KEY_ENV).fingerprint().to_json()


def test_a_missing_key_variable_fails_at_load_naming_it(server, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(HttpRerankError, match=f"environment variable '{KEY_ENV}'.*not set"):
        http_engine(server.url, api_key_env=KEY_ENV)
    assert server.requests() == 0


def test_a_wrong_key_is_one_clear_401_not_a_retry_storm(server, monkeypatch):
    server.admin(api_key="the-right-key")
    wrong = "sk-wrong-" + "y" * 24
    monkeypatch.setenv(KEY_ENV, wrong)
    with pytest.raises(HttpRerankError, match=f"HTTP 401, not authorized.*'{KEY_ENV}'") as error:
        http_engine(server.url, api_key_env=KEY_ENV, retries=3).score(PAIRS)
    assert wrong not in str(error.value)
    assert server.requests() == 1


def test_no_key_against_a_server_that_wants_one(server):
    server.admin(api_key="the-right-key")
    with pytest.raises(HttpRerankError, match="HTTP 401.*no key: set api_key_env"):
        http_engine(server.url).score(PAIRS)


FAULTS = [  # fault settings, what the error says
    ({"fault": "slow", "sleep_s": 2.0}, "ReadTimeout"),
    ({"fault": "5xx"}, "HTTP 503"),
    ({"fault": "malformed"}, r"malformed body \(not JSON\)"),
    ({"fault": "fewer"}, r"1 of 4 documents have no result: indices \[\d\]"),
]


@pytest.mark.parametrize(("settings", "message"), FAULTS, ids=[f["fault"] for f, _ in FAULTS])
def test_each_fault_is_retried_then_fails_clearly(settings, message, server):
    server.admin(**settings)
    engine = http_engine(server.url, retries=2, timeout_s=0.5)
    with pytest.raises(HttpRerankError, match=f"'remote': POST {server.url}/rerank failed after "
                                              f"3 attempt\\(s\\): .*{message}"):
        engine.score(PAIRS)
    assert server.requests() == 3  # the first try and two retries, nothing more


def test_a_refused_connection_is_retried_then_fails_clearly():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(HttpRerankError, match=r"failed after 2 attempt\(s\): ConnectError"):
        http_engine(url, retries=1).score(PAIRS)


def test_a_server_that_recovers_within_the_retries_scores_everything(server, cross_reference,
                                                                     caplog):
    server.admin(fault="fail_first", fault_count=2)
    batch = http_engine(server.url, retries=2).score(PAIRS)
    np.testing.assert_allclose(batch.scores, cross_reference.scores, atol=1e-5)
    assert server.requests() == 2 + 3 + 1  # failures, one request per query, the reversed one
    assert caplog.text.count("HTTP 503") == 2 and "retry 2 of 2" in caplog.text


def test_scores_outside_0_1_under_sigmoid_are_a_configuration_error(server):
    engine = http_engine(server.url, "cohere")  # expects probabilities: raw logits are a mistake
    logits, scores = engine._logits_and_scores(np.array([0.25, 0.5]))
    np.testing.assert_allclose(logits, [np.log(1 / 3), 0.0], atol=1e-12)
    with pytest.raises(HttpRerankError, match=r"outside \[0, 1\].*activation = 'none'"):
        engine._logits_and_scores(np.array([1.5, -0.2]))


def test_fingerprint_names_the_remote_without_its_query_string(server):
    fingerprint = http_engine(server.url + "/?tenant=abc", "tei").fingerprint()
    assert (fingerprint.kind, fingerprint.weights_sha256, fingerprint.device) == (
        "http-rerank", "unknown", "remote")
    assert fingerprint.extra == {"url": f"{server.url}/rerank", "api_schema": "tei"}
    assert fingerprint.activation == "sigmoid"
    # no declared precision: "unknown", judged with the loosest tolerances (checks/base.py)
    assert fingerprint.dtype == "unknown"
    assert http_engine(server.url, "tei", precision="float16").fingerprint().dtype == "float16"


def test_credentials_in_the_url_and_unknown_options_are_refused():
    secret = "pw-" + "z" * 12
    for url, what in ((f"http://user:{secret}@127.0.0.1:9", "user info"),
                      (f"http://127.0.0.1:9/?api_key={secret}", "query parameter 'api_key'")):
        with pytest.raises(ValidationError, match="url holds credentials") as refused:
            http_engine(url)  # the config refuses it
        assert what in str(refused.value) and secret not in str(refused.value)
        # an engine handed an unvalidated config refuses it at load, still without the secret
        unchecked = EngineConfig.model_construct(**{**EngineConfig(
            name="remote", kind="http-rerank", model="tiny", url="http://127.0.0.1:9",
            api_schema="tei").model_dump(), "url": url})
        with pytest.raises(HttpRerankError, match="not in the url") as at_load:
            HttpRerankEngine(unchecked)
        assert what in str(at_load.value) and secret not in str(at_load.value)
    with pytest.raises(HttpRerankError, match=r"unknown option\(s\) \['timeout'\]"):
        http_engine("http://127.0.0.1:9", options={"timeout": 3})


def test_a_url_that_is_no_http_url_is_named_without_its_credentials():
    config = EngineConfig.model_construct(**{**EngineConfig(
        name="remote", kind="http-rerank", model="tiny", url="http://127.0.0.1:9",
        api_schema="tei").model_dump(), "url": "ftp://user:pw-secret@127.0.0.1:9"})
    with pytest.raises(HttpRerankError, match="needs url") as error:
        HttpRerankEngine(config)
    assert "pw-secret" not in str(error.value) and "ftp://***@127.0.0.1:9" in str(error.value)


def test_an_unknown_api_schema_fails_config_validation_listing_the_names(tmp_path, golden_dir):
    config = tmp_path / "http.toml"
    config.write_text(f"""reference = "remote"
[[sample_sets]]
name = "golden_en"
path = "{golden_dir / 'golden_en.jsonl'}"
[[engines]]
name = "remote"
kind = "http-rerank"
model = "tiny"
url = "http://127.0.0.1:9"
api_schema = "vllm-scores"
""")
    with pytest.raises(ConfigError, match="unknown api_schema 'vllm-scores'; available: "
                                          "vllm-score, vllm-rerank, tei, infinity"):
        load_config(config)


# --- http-embed: a bi-encoder behind an OpenAI-compatible embeddings API ---------------------


def embed_engine(url: str, model: str = "minilm", **fields) -> HttpEmbedEngine:
    config = EngineConfig(name="remote-bi", kind="http-embed", model=model, url=url,
                          batch_size=fields.pop("batch_size", 4),
                          options={"backoff_s": 0.01, **fields.pop("options", {})}, **fields)
    return HttpEmbedEngine(config)


def test_http_embed_agrees_with_st_bi_and_sends_at_most_batch_size_texts(server, minilm_path):
    reference = StBiEngine(EngineConfig(name="ref", kind="st-bi", model=minilm_path)).score(PAIRS)
    batch = embed_engine(server.url).score(PAIRS)
    assert batch.activation == "cosine"
    np.testing.assert_allclose(batch.scores, reference.scores, atol=1e-5)
    # the 3 queries in one request, then 12 documents in batches of 4 (the server caps at 8)
    assert server.requests() == 1 + 3
    fingerprint = embed_engine(server.url).fingerprint()
    assert fingerprint.activation == "cosine" and fingerprint.extra["url"].endswith("/embeddings")


@pytest.mark.parametrize("fault, problem", [
    ("fewer", r"2 embeddings for 3 texts; 1 of 3 texts have no embedding: indices \[0\]"),
    ("duplicate", r"duplicate indices: \[2\]")])
def test_http_embed_retries_then_refuses_a_wrong_embedding_list(server, fault, problem):
    server.admin(fault=fault)
    with pytest.raises(HttpRerankError, match=problem):
        embed_engine(server.url, retries=1).score(PAIRS)
    assert server.requests() == 2  # the queries' request and its one retry, nothing stored


def test_http_embed_on_a_cross_encoder_fails_with_the_servers_refusal(server):
    with pytest.raises(HttpRerankError, match=r"HTTP 400: .*does not support `embed`"):
        embed_engine(server.url, model="tiny").score(PAIRS)
    assert server.requests() == 1  # a 4xx is not retried


def test_http_embed_takes_no_api_schema(server):
    with pytest.raises(HttpRerankError, match="api_schema is for http-rerank"):
        embed_engine(server.url, api_schema="infinity")
