"""Secret-looking values never reach the store: the redaction rules on their own, then a real
scored run whose config holds secrets in fields the validation lets through (an engine option
named like a credential, an environment variable, a URL with a token in an option or a
requirement), with the DuckDB file and everything next to it searched byte by byte."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from rerankwatch.core.config import RunConfig
from rerankwatch.core.redact import MASK, is_secret_name, redact_config, redact_text, redact_url
from rerankwatch.pipeline import load_config
from rerankwatch.pipeline.run import run_and_judge
from rerankwatch.store import Store


@pytest.mark.parametrize("name", [
    "key", "api_key", "API-KEY", "apikey", "x-api-key", "token", "access_token", "accessToken",
    "HF_TOKEN", "AUTH_TOKEN", "secret", "client_secret", "AWS_SECRET_ACCESS_KEY", "password",
    "db_passwd", "pwd", "sig", "X-Amz-Signature", "X-Amz-Credential", "auth", "Authorization"])
def test_names_that_look_like_credentials(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", [
    "path", "activation", "backoff_s", "version", "tenant", "tokenizer", "keyword", "monkey",
    "TOKENIZERS_PARALLELISM", "author", "signal", "max_keys_shown"])
def test_names_that_do_not(name: str) -> None:
    assert not is_secret_name(name)


@pytest.mark.parametrize(("url", "expected"), [
    ("http://user:pw-1@host:8000/v1", f"http://{MASK}@host:8000/v1"),
    ("https://ghp_abc@github.com/o/r.git", f"https://{MASK}@github.com/o/r.git"),
    ("http://host/x?api_key=k1&version=2", f"http://host/x?api_key={MASK}&version=2"),
    ("http://host/x?version=2&sig=a%2Fb#frag", f"http://host/x?version=2&sig={MASK}#frag"),
    ("http://host:8000/rerank", "http://host:8000/rerank"),
    ("not a url", "not a url"),
    ("https://h/rerank;api_key=k5;v=1", f"https://h/rerank;api_key={MASK};v=1"),
    ("https://fn.example/api/rerank?code=k6&x=1", f"https://fn.example/api/rerank?code={MASK}&x=1"),
    ("https://h/v1/token=k7/rerank", f"https://h/v1/token={MASK}/rerank"),
    ("https://h/v1/api_key/k8/rerank?version=2", f"https://h/v1/api_key/{MASK}/rerank?version=2"),
    ("https://h/v1/sk-proj0123456789abcdef/rerank", f"https://h/v1/{MASK}/rerank"),
    ("https://h/blob/abc?sv=2024&sas=k9&sig=k10", f"https://h/blob/abc?sv=2024&sas={MASK}&sig={MASK}"),
    ("https://h/v1/languages/en_code/rerank?language_code=en",
     "https://h/v1/languages/en_code/rerank?language_code=en"),
])
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_text_masks_every_url_in_free_text() -> None:
    text = ("POST http://u:pw-2@h/rerank?token=t-3 failed; "
            "see https://h2/x?key=k-4&page=1 or git+https://tok-5@gitlab.example/p.git")
    redacted = redact_text(text)
    for secret in ("pw-2", "t-3", "k-4", "tok-5"):
        assert secret not in redacted
    assert "POST http://" in redacted and "page=1" in redacted and "gitlab.example/p.git" in (
        redacted)


def test_redact_config_masks_credential_keys_of_free_form_mappings_only() -> None:
    config = {
        "reference": "a",
        "engines": [{"name": "a", "kind": "http-rerank", "model": "m",
                     "api_key_env": "RERANK_KEY", "api_key_secret": None,
                     "options": {"api_token": "o-1", "path": "/rerank", "retries_key": 3,
                                 "endpoint": "https://u:o-2@h/x"}}],
        "environments": [{"name": "e", "requirements": ["p @ https://h/p.whl?token=r-1"],
                          "env": {"HF_TOKEN": "e-1", "TOKENIZERS_PARALLELISM": "false"}}],
    }
    redacted = redact_config(config)
    text = json.dumps(redacted)
    for secret in ("o-1", "o-2", "r-1", "e-1"):
        assert secret not in text
    engine, environment = redacted["engines"][0], redacted["environments"][0]
    assert engine["options"]["api_token"] == MASK and engine["options"]["path"] == "/rerank"
    # the names of where a key comes from are no secret
    assert engine["api_key_env"] == "RERANK_KEY"
    # a credential-named variable is left out, not masked: a resumed run's worker inherits it
    # from the environment it runs in instead of receiving the mask
    assert environment["env"] == {"TOKENIZERS_PARALLELISM": "false"}
    assert config["engines"][0]["options"]["api_token"] == "o-1"  # the input is left alone


SECRETS = {
    "option": "opt-SECRET-7f3a9c",
    "option_url": "url-SECRET-81bd2e",
    "env": "env-SECRET-c4d0e5",
    "requirement": "req-SECRET-96aa1f",
}


def test_a_scored_run_stores_no_secret(tmp_path: Path, golden_dir: Path,
                                       caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "store" / "run.duckdb"
    path = tmp_path / "run.toml"
    path.write_text(f"""db = "{db}"
reference = "ref"

[[sample_sets]]
name = "golden_en"
path = "{golden_dir / 'golden_en.jsonl'}"

[[engines]]
name = "ref"
kind = "st-cross"
model = "fixture:tiny-cross-encoder"
options = {{ api_token = "{SECRETS['option']}", mirror = "https://u:{SECRETS['option_url']}@h/m" }}

[[engines]]
name = "cand"
kind = "st-cross"
model = "fixture:tiny-cross-encoder"
batch_size = 8

[[environments]]
name = "unused"
requirements = ["pkg @ https://pkgs.example/pkg.whl?token={SECRETS['requirement']}"]
env = {{ HF_TOKEN = "{SECRETS['env']}" }}
""", encoding="utf-8")
    config = load_config(path)  # none of these is refused: they are redacted where stored
    assert config.engine("ref").options["api_token"] == SECRETS["option"]
    caplog.set_level(logging.DEBUG)

    run_id, report = run_and_judge(config, "test", "nightly")

    assert report.run_id == run_id
    files = [p for p in db.parent.rglob("*") if p.is_file()]
    assert db in files
    for name, secret in SECRETS.items():
        holding = [str(file) for file in files if secret.encode() in file.read_bytes()]
        assert not holding, (name, holding)
        assert secret not in caplog.text, name
    with Store(db, read_only=True) as store:
        assert store.run(run_id)["status"] == "succeeded"
        stored = json.loads(store.run(run_id)["config"])
    assert stored["engines"][0]["options"]["api_token"] == MASK
    assert stored["environments"][0]["env"] == {}
    assert stored["reference"] == "ref" and stored["engines"][1]["batch_size"] == 8
    # what a resume rebuilds from the stored config is still a valid config
    rebuilt = RunConfig.model_validate(stored)
    assert rebuilt.engine("ref").options["api_token"] == MASK
