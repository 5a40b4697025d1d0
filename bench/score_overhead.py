"""Pipeline overhead: our engine's ``score`` pairs/s divided by raw sentence-transformers pairs/s.

Run from the repo root: ``python bench/score_overhead.py [--pairs 400] [--batch-size 32]``.
A ratio near 1.0 means the engine adds little on top of the library call it wraps.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from rerankwatch.core.config import EngineConfig  # noqa: E402
from rerankwatch.engines import build_engine  # noqa: E402
from rerankwatch.engines.base import resolve_model  # noqa: E402
from rerankwatch.engines.fixtures import build_tiny_cross_encoder  # noqa: E402
from rerankwatch.samples.loader import load_sample_set  # noqa: E402

CASES = ("st-bi", "st-cross")


def make_pairs(n: int) -> list[tuple[str, str]]:
    """n deterministic (query, doc) pairs: golden_en's unique queries x unique docs, interleaved."""
    frame = load_sample_set(ROOT / "samples" / "golden_en.jsonl")
    queries = frame["query"].unique(maintain_order=True).to_list()
    docs = frame["doc"].unique(maintain_order=True).to_list()
    nq, nd = len(queries), len(docs)  # i -> (d + i // nd, d): all nq*nd combos, then repeats
    return [(queries[(i % nd + i // nd) % nq], docs[i % nd]) for i in range(n)]


def raw_bi(model, pairs, batch_size: int) -> np.ndarray:
    """Reference: encode the unique queries and the docs, then row-wise cosine (float64)."""
    queries = list(dict.fromkeys(q for q, _ in pairs))
    kw = dict(batch_size=batch_size, show_progress_bar=False)
    lookup = dict(zip(queries, model.encode(queries, **kw), strict=True))
    q = np.stack([lookup[q] for q, _ in pairs]).astype(np.float64)
    d = model.encode([d for _, d in pairs], **kw).astype(np.float64)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return np.einsum("ij,ij->i", q, d)


def setup(case: str, batch_size: int, tmp: str):
    """(our engine, raw scoring callable) for one case; models are loaded here, not timed."""
    if case == "st-bi":
        from sentence_transformers import SentenceTransformer

        model = "embedded:all-MiniLM-L6-v2"
        raw_model = SentenceTransformer(resolve_model(model), device="cpu")
        raw = lambda pairs: raw_bi(raw_model, pairs, batch_size)  # noqa: E731
    else:
        from sentence_transformers import CrossEncoder

        model = str(build_tiny_cross_encoder(Path(tmp) / "tiny-ce"))
        raw_model = CrossEncoder(model, device="cpu")
        raw = lambda pairs: raw_model.predict(  # noqa: E731
            pairs, batch_size=batch_size, show_progress_bar=False
        )
    engine = build_engine(EngineConfig(name=f"bench-{case}", kind=case, model=model,
                                       batch_size=batch_size))
    return engine, raw


def ours_fn(engine):
    """engine.score as a fresh run sees it: the st-bi query cache starts empty every call."""
    def run(pairs):
        return engine.score(pairs).scores
    return run


def best_times(ours, raw, pairs, repeat: int) -> tuple[float, float]:
    """Warm each side once, then best-of-``repeat`` seconds, alternating which goes first."""
    np.testing.assert_allclose(ours(pairs), raw(pairs), rtol=1e-4, atol=1e-5)  # also the warm-up
    best = {"ours": float("inf"), "raw": float("inf")}
    for r in range(repeat):
        order = [("ours", ours), ("raw", raw)]
        for name, fn in order if r % 2 == 0 else order[::-1]:
            started = time.perf_counter()
            fn(pairs)
            best[name] = min(best[name], time.perf_counter() - started)
    return best["ours"], best["raw"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=400, help="number of pairs (default 400)")
    parser.add_argument("--batch-size", type=int, default=32, help="batch size for both sides")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per side; best is kept")
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    args = parser.parse_args(argv)

    pairs = make_pairs(args.pairs)
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.cases:
            engine, raw = setup(case, args.batch_size, tmp)
            ours_s, raw_s = best_times(ours_fn(engine), raw, pairs, args.repeat)
            ours_rate, raw_rate = len(pairs) / ours_s, len(pairs) / raw_s
            print(f"{case}: ratio={ours_rate / raw_rate:.3f} "
                  f"(ours {ours_rate:.1f}/s, reference {raw_rate:.1f}/s)", flush=True)


if __name__ == "__main__":
    main()
