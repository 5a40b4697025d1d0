"""Engines on real models: MiniLM for the bi-encoders, the tiny seeded cross-encoder for the rest.

Every model is loaded once per module; pair lists are short so the module stays fast on CPU.
"""

from __future__ import annotations

import hashlib
import json
import logging
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from rerankwatch.core.config import EngineConfig
from rerankwatch.core.errors import RerankwatchError
from rerankwatch.engines import build_engine
from rerankwatch.engines.base import (
    TRACKED_PACKAGES,
    WEIGHT_SUFFIXES,
    Fingerprint,
    ScoreBatch,
    reports_random_init,
    weights_sha256,
)

QUERY = "How do I train for my first marathon?"


def make_engine(kind: str, model: str, precision: str = "float32", batch_size: int = 2, **extra):
    config = EngineConfig(name=f"{kind}-{precision}", kind=kind, model=model,
                          precision=precision, batch_size=batch_size, **extra)
    return build_engine(config)


def independent_sigmoid(x: np.ndarray) -> np.ndarray:
    return np.array([1.0 / (1.0 + np.exp(-float(v))) for v in x])


def independent_weights_sha(folder: Path) -> str:
    """The documented scheme: sha256 over 'relative/name:sha256(content)' lines, sorted."""
    lines = []
    for path in sorted(p for p in folder.rglob("*") if p.suffix in WEIGHT_SUFFIXES):
        lines.append(f"{path.relative_to(folder)}:{hashlib.sha256(path.read_bytes()).hexdigest()}\n")
    return hashlib.sha256("".join(lines).encode()).hexdigest()


@pytest.fixture(scope="module")
def long_doc(golden_dir: Path) -> str:
    rows = [json.loads(line) for line in (golden_dir / "golden_en.jsonl").read_text().splitlines()]
    doc = next(r["doc"] for r in rows if "long" in r["tags"] and "marathon" in r["doc"].lower())
    assert len(doc) > 3500
    return doc


@pytest.fixture(scope="module")
def pairs(long_doc: str) -> list[tuple[str, str]]:
    return [
        (QUERY, "Build up your weekly mileage slowly and include one long run each week."),
        (QUERY, long_doc),
        ("How do I sell my shirt?", "Ketchup is a condiment made from tomatoes."),
        ("capital of australia", "Canberra is the capital city of Australia."),
        ("python reverse list", "Use my_list.reverse() or slicing with [::-1]."),
    ]


@pytest.fixture(scope="module")
def st_bi(minilm_path: str):
    return make_engine("st-bi", minilm_path)


@pytest.fixture(scope="module")
def hf_bi(minilm_path: str):
    return make_engine("hf-bi", minilm_path)


@pytest.fixture(scope="module")
def st_bi_bf16(minilm_path: str):
    return make_engine("st-bi", minilm_path, "bfloat16")


@pytest.fixture(scope="module")
def st_cross(tiny_cross_encoder: str):
    return make_engine("st-cross", tiny_cross_encoder)


@pytest.fixture(scope="module")
def st_cross_bf16(tiny_cross_encoder: str):
    return make_engine("st-cross", tiny_cross_encoder, "bfloat16")


@pytest.fixture(scope="module")
def hf_seqcls(tiny_cross_encoder: str):
    return make_engine("hf-seqcls", tiny_cross_encoder)


# --------------------------------------------------------------------------- bi-encoders


@pytest.fixture(scope="module")
def bi_pairs(pairs, long_doc) -> list[tuple[str, str]]:
    """The shared pairs plus the long doc with an off-topic tail far beyond 256 tokens."""
    extended = long_doc + " Completely unrelated tail about ketchup and tomatoes." * 40
    return [*pairs, (QUERY, extended)]


@pytest.fixture(scope="module")
def bi_results(st_bi, hf_bi, bi_pairs) -> dict[str, ScoreBatch]:
    return {"st-bi": st_bi.score(bi_pairs), "hf-bi": hf_bi.score(bi_pairs)}


def test_bi_engines_agree_in_float32(bi_results, bi_pairs) -> None:
    a, b = bi_results["st-bi"], bi_results["hf-bi"]
    assert a.activation == b.activation == "cosine"
    np.testing.assert_allclose(a.scores, b.scores, rtol=0, atol=1e-5)
    np.testing.assert_allclose(a.logits, b.logits, rtol=0, atol=1e-5)
    for result in (a, b):
        np.testing.assert_array_equal(result.logits, result.scores)  # cosine: no activation
        assert result.scores.dtype == np.float64 and result.scores.shape == (len(bi_pairs),)
        assert np.all(np.abs(result.scores) <= 1.0 + 1e-9)
    # the scores carry signal: the on-topic pairs beat the ketchup pair
    assert a.scores[0] > a.scores[2] and a.scores[3] > a.scores[2]


def test_bi_engines_truncate_at_256_tokens(bi_results, bi_pairs, long_doc) -> None:
    """Text beyond max_length cannot change the score of either engine."""
    assert bi_pairs[1] == (QUERY, long_doc) and bi_pairs[-1][1].startswith(long_doc)
    for result in bi_results.values():
        assert result.scores[1] == pytest.approx(result.scores[-1], abs=1e-6)


def test_bi_engine_metadata(st_bi, hf_bi) -> None:
    for engine in (st_bi, hf_bi):
        assert engine.activation == "cosine"
        assert engine.pooling == "mean"
        assert engine.max_length == 256
        fp = engine.fingerprint()
        assert (fp.activation, fp.pooling, fp.max_length) == ("cosine", "mean", 256)
        assert fp.dtype == "float32" and fp.device == "cpu" and fp.kind == engine.kind
    assert st_bi.fingerprint().weights_sha256 == hf_bi.fingerprint().weights_sha256
    assert st_bi.fingerprint().engine_id != hf_bi.fingerprint().engine_id


def test_st_bi_honours_or_rejects_pooling_override(minilm_path) -> None:
    try:
        engine = make_engine("st-bi", minilm_path, pooling="cls")
    except (RerankwatchError, ValueError) as exc:  # rejecting the override loudly is fine too
        assert "pooling" in str(exc)
        return
    assert engine.pooling == "cls"
    assert engine.fingerprint().pooling == "cls"


# --------------------------------------------------------------------------- cross-encoders


def test_cross_engines_agree_in_float32(st_cross, hf_seqcls, pairs) -> None:
    a, b = st_cross.score(pairs), hf_seqcls.score(pairs)
    assert st_cross.activation == hf_seqcls.activation == "sigmoid"
    assert a.activation == b.activation == "sigmoid"
    np.testing.assert_allclose(a.logits, b.logits, rtol=0, atol=1e-5)
    np.testing.assert_allclose(a.scores, b.scores, rtol=0, atol=1e-5)
    for result in (a, b):
        np.testing.assert_allclose(result.scores, independent_sigmoid(result.logits),
                                   rtol=0, atol=1e-12)
        assert np.all((result.scores > 0) & (result.scores < 1))
    assert np.ptp(a.logits) > 1e-3  # the seeded head gives distinct logits per pair


def test_cross_engine_metadata(st_cross, hf_seqcls) -> None:
    for engine in (st_cross, hf_seqcls):
        fp = engine.fingerprint()
        assert fp.activation == "sigmoid" and fp.max_length == 512 and fp.dtype == "float32"


@pytest.mark.parametrize("fp32_name,bf16_name", [("st_bi", "st_bi_bf16"),
                                                 ("st_cross", "st_cross_bf16")])
def test_bfloat16_differs_from_float32_but_is_close(request, pairs, fp32_name: str,
                                                    bf16_name: str) -> None:
    fp32, bf16 = request.getfixturevalue(fp32_name), request.getfixturevalue(bf16_name)
    short = [pair for pair in pairs if len(pair[1]) < 500]  # bf16 on CPU is slow: skip the long doc
    full, half = fp32.score(short), bf16.score(short)
    assert not np.array_equal(full.scores, half.scores)
    assert np.max(np.abs(full.scores - half.scores)) < 0.05
    assert np.argmax(full.scores) == np.argmax(half.scores)
    assert bf16.fingerprint().dtype == "bfloat16"


# --------------------------------------------------------------------------- ordering, batches


@pytest.mark.parametrize("engine_name", ["st_cross", "hf_seqcls", "st_bi"])
def test_scores_come_back_in_input_order(request, engine_name: str) -> None:
    engine = request.getfixturevalue(engine_name)
    # strictly increasing lengths: the length sort reverses the order internally
    pairs = [("q", "short doc"), ("a query", "a somewhat longer document"),
             ("another query here", "a much longer document that goes on for a while"),
             ("the longest query of all of them", "the longest document " * 6)]
    forward = engine.score(pairs)
    backward = engine.score(pairs[::-1])
    assert forward.batch_index.tolist() == [1, 1, 0, 0]  # longest pairs were scored first
    np.testing.assert_allclose(forward.scores, backward.scores[::-1], rtol=0, atol=1e-5)
    np.testing.assert_allclose(forward.logits, backward.logits[::-1], rtol=0, atol=1e-5)
    singles = np.array([engine.score([pair]).scores[0] for pair in pairs])
    np.testing.assert_allclose(forward.scores, singles, rtol=0, atol=1e-5)
    assert len(set(np.round(singles, 6))) == len(pairs)  # distinct, so order is checkable


def test_batch_index_and_seconds_follow_batch_size(st_cross, pairs) -> None:
    seen: list[int] = []
    result = st_cross.score(pairs, on_batch=seen.append)  # 5 pairs, batch_size 2
    assert isinstance(result, ScoreBatch)
    assert st_cross.config.batch_size == 2
    assert np.bincount(result.batch_index).tolist() == [2, 2, 1]
    assert len(result.batch_seconds) == 3
    assert all(s > 0 for s in result.batch_seconds)
    assert result.seconds == pytest.approx(sum(result.batch_seconds))
    assert seen == [2, 2, 1]
    lengths = [len(q) + len(d) for q, d in pairs]
    longest_two = set(np.argsort(lengths)[-2:].tolist())
    assert set(np.flatnonzero(result.batch_index == 0).tolist()) == longest_two


def test_empty_pair_list(st_cross) -> None:
    result = st_cross.score([])
    assert result.scores.shape == (0,) and result.batch_seconds == ()


# --------------------------------------------------------------------------- fingerprints


def test_same_config_gives_same_engine_id(st_cross, tiny_cross_encoder) -> None:
    again = make_engine("st-cross", tiny_cross_encoder)
    assert again.fingerprint() == st_cross.fingerprint()
    assert again.fingerprint().engine_id == st_cross.fingerprint().engine_id
    assert len(st_cross.fingerprint().engine_id) == 16


def test_precision_and_kind_change_the_engine_id(st_cross, st_cross_bf16, hf_seqcls) -> None:
    ids = {e.fingerprint().engine_id for e in (st_cross, st_cross_bf16, hf_seqcls)}
    assert len(ids) == 3
    assert st_cross.fingerprint().weights_sha256 == st_cross_bf16.fingerprint().weights_sha256


def test_weights_sha256_of_tiny_model(st_cross, hf_seqcls, tiny_cross_encoder) -> None:
    folder = Path(tiny_cross_encoder)
    weight_files = [p.name for p in folder.rglob("*") if p.suffix in WEIGHT_SUFFIXES]
    assert weight_files == ["model.safetensors"]
    content_sha = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    expected = hashlib.sha256(f"model.safetensors:{content_sha}\n".encode()).hexdigest()
    assert st_cross.fingerprint().weights_sha256 == expected
    assert hf_seqcls.fingerprint().weights_sha256 == expected
    assert weights_sha256(folder) == independent_weights_sha(folder)


def test_weights_sha256_of_minilm(st_bi, minilm_path) -> None:
    assert st_bi.fingerprint().weights_sha256 == independent_weights_sha(Path(minilm_path))


def test_weights_sha256_follows_content(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"weights v1")
    (tmp_path / "config.json").write_text("{}")  # not a weight file: ignored
    first = weights_sha256(tmp_path)
    assert first == independent_weights_sha(tmp_path)
    (tmp_path / "config.json").write_text('{"changed": true}')
    assert weights_sha256(tmp_path) == first
    (tmp_path / "model.safetensors").write_bytes(b"weights v2, longer")
    assert weights_sha256(tmp_path) not in (first, "unknown")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert weights_sha256(empty) == "unknown"


def test_fingerprint_versions_are_installed_versions(st_cross, st_bi) -> None:
    installed = {d.metadata["Name"].lower() for d in metadata.distributions()}
    expected = {name: metadata.version(name) for name in TRACKED_PACKAGES
                if name.lower() in installed}  # the missing ones are omitted
    assert {"torch", "transformers", "sentence-transformers"} == set(expected)
    assert st_cross.fingerprint().versions == expected
    assert st_bi.fingerprint().versions == expected


def test_fingerprint_json_round_trip(st_bi) -> None:
    fp = st_bi.fingerprint()
    assert Fingerprint(**json.loads(fp.to_json())) == fp
    assert fp.model == st_bi.config.model


# --------------------------------------------------------------------------- load reports


def test_minilm_as_cross_encoder_reports_random_init(minilm_path, st_cross, hf_seqcls) -> None:
    hf_logger = logging.getLogger("transformers")
    before = (list(hf_logger.handlers), hf_logger.propagate)
    engine = make_engine("st-cross", minilm_path)
    assert engine.load_warnings, "a freshly initialised classifier head must be reported"
    assert reports_random_init(engine.load_warnings)
    assert any("classifier" in w for w in engine.load_warnings)
    assert (list(hf_logger.handlers), hf_logger.propagate) == before  # loggers restored
    # the tiny cross-encoder was saved with its head: nothing to report
    assert st_cross.load_warnings == [] and hf_seqcls.load_warnings == []
    assert not reports_random_init(st_cross.load_warnings)
    assert not reports_random_init(hf_seqcls.load_warnings)


def test_reports_random_init_markers() -> None:
    assert reports_random_init(["Some weights were not initialized from the model checkpoint"])
    assert reports_random_init(["x", "classifier.bias | MISSING"])
    assert not reports_random_init(["Converting SentenceTransformer model to CrossEncoder."])
    assert not reports_random_init([])


@pytest.mark.parametrize(("saved", "expected"), [
    ({"model_max_length": 256}, 256),
    ({"model_max_length": 1000000000000000019884624838656}, None),  # transformers' "no limit"
    ({}, None),
])
def test_tokenizer_max_length_reads_the_saved_tokenizer(tmp_path: Path, saved: dict,
                                                        expected: int | None) -> None:
    """What vLLM is given as max_model_len for a cross-encoder, so it truncates where
    st-cross and hf-seqcls do (vLLM alone would use the position limit)."""
    from rerankwatch.engines.heads import tokenizer_max_length

    (tmp_path / "tokenizer_config.json").write_text(json.dumps(saved))
    assert tokenizer_max_length(tmp_path) == expected
    assert tokenizer_max_length(tmp_path / "missing") is None


def test_cross_encoder_max_length_is_capped_by_the_positions(tmp_path: Path) -> None:
    from rerankwatch.engines.heads import cross_encoder_max_length

    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 512}))
    assert cross_encoder_max_length(tmp_path) == 512  # no config.json
    (tmp_path / "config.json").write_text(json.dumps({"max_position_embeddings": 128}))
    assert cross_encoder_max_length(tmp_path) == 128
