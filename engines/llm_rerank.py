"""`llm-rerank`: a causal-LM reranker in transformers (Qwen3-Reranker, mxbai-rerank-v2 style).

Each pair becomes ``prefix + body(instruction, query, doc) + suffix`` (``llm_templates``; only
the body is truncated, so the prompt always ends with the template's answer cue), the batch is
padded on the **left**, and the score is ``p(yes) = softmax([logit(no), logit(yes)])[yes]`` at
the last token: stored as the log-odds ``logit(yes) - logit(no) (+ logit_bias)`` with a sigmoid
head, so every check reads it like a cross-encoder's. The yes / no token ids are read from the
tokenizer; a token that is not one token there is refused at load.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from rerankwatch.core.errors import ConfigError
from rerankwatch.core.records import Fingerprint, Pair
from rerankwatch.engines.base import BatchedEngine, load_transformers, to_numpy
from rerankwatch.engines.heads import head_to_scores
from rerankwatch.engines.llm_templates import LlmTemplate, option_problems, template_from_options

DEFAULT_LLM_MAX_LENGTH = 8192  # Qwen3-Reranker's published max_length


def answer_token_id(tokenizer, token: str, what: str, engine: str) -> int:
    """The id of ``token`` as one token of ``tokenizer``; a ConfigError if it is not one."""
    ids = tokenizer.convert_tokens_to_ids([token])
    vocab_id = ids[0] if ids else None
    if vocab_id is None or vocab_id == tokenizer.unk_token_id or token not in tokenizer.get_vocab():
        pieces = tokenizer.tokenize(token)
        raise ConfigError(f"engine {engine!r}: {what} {token!r} is not one token of this "
                          f"tokenizer (it splits into {pieces}); set options.{what} to the "
                          f"answer token the model was trained on")
    return int(vocab_id)


class LlmRerankEngine(BatchedEngine):
    kind = "llm-rerank"
    activation = "sigmoid"
    pooling = "last-token"
    padding_side = "left"  # the last position must be the prompt's last token in every row

    def _load(self) -> None:
        from transformers import AutoModelForCausalLM

        problems = option_problems(self.config.options)
        if problems:
            raise ConfigError(f"engine {self.config.name!r}: {'; '.join(problems)}")
        from transformers import AutoConfig

        architectures = AutoConfig.from_pretrained(self.model_ref).architectures or []
        if not any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in architectures):
            raise ConfigError(
                f"engine {self.config.name!r}: llm-rerank scores a causal LM (Qwen3-Reranker, "
                f"mxbai-rerank-v2, bge-reranker-v2-gemma), but {self.config.model!r} is "
                f"{', '.join(architectures) or 'no known architecture'}; a cross-encoder is "
                f"kind st-cross or hf-seqcls")
        self.tokenizer, self.model = load_transformers(
            AutoModelForCausalLM, self.model_ref, self.config)
        if self.tokenizer.pad_token_id is None:  # Qwen3 ships one; some causal LMs do not
            self.tokenizer.pad_token = self.tokenizer.eos_token
        positions = getattr(self.model.config, "max_position_embeddings", DEFAULT_LLM_MAX_LENGTH)
        self.max_length = self.config.max_length or min(
            self.tokenizer.model_max_length, positions, DEFAULT_LLM_MAX_LENGTH)
        self.use_template(template_from_options(self.config.options))

    def use_template(self, template: LlmTemplate) -> None:
        """Render prompts with ``template``: its answer tokens' ids, its prefix and suffix
        tokens, and the room they leave for query and document within max_length."""
        name = self.config.name
        self.template = template
        self.yes_id = answer_token_id(self.tokenizer, template.yes_token, "yes_token", name)
        self.no_id = (answer_token_id(self.tokenizer, template.no_token, "no_token", name)
                      if template.no_token else None)
        self._prefix, self._suffix = self._ids(template.prefix), self._ids(template.suffix)
        room = self.max_length - len(self._prefix) - len(self._suffix)
        if room < 8:
            raise ConfigError(f"engine {name!r}: max_length {self.max_length} leaves {room} "
                              f"tokens for query and document after the template's "
                              f"{len(self._prefix) + len(self._suffix)}")
        self._room = room

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"] if text else []

    def prompt_ids(self, queries: Sequence[str], docs: Sequence[str],
                   truncate: bool = True) -> list[list[int]]:
        """Token ids of each pair's prompt: prefix + the body cut to fit + suffix (Qwen3's
        reference code), so truncation never removes the answer cue."""
        bodies = [self.template.text(q, d) for q, d in zip(queries, docs, strict=True)]
        encoded = self.tokenizer(bodies, add_special_tokens=False, truncation=truncate,
                                 max_length=self._room if truncate else None,
                                 verbose=False)["input_ids"]
        return [self._prefix + ids + self._suffix for ids in encoded]

    def _length(self, pair: Pair) -> int:
        return len(pair[0]) + len(pair[1])  # the template adds the same to every pair

    def input_tokens(self, pairs: Sequence[Pair]) -> tuple[np.ndarray, np.ndarray]:
        """(the query's tokens alone, the whole untruncated prompt's)."""
        queries = [q for q, _ in pairs]
        alone = self.tokenizer(queries, add_special_tokens=False, verbose=False)["input_ids"]
        return np.fromiter(map(len, alone), np.int64, len(pairs)), self.pass_tokens(pairs)

    def pass_tokens(self, pairs: Sequence[Pair]) -> np.ndarray:
        prompts = self.prompt_ids([q for q, _ in pairs], [d for _, d in pairs], truncate=False)
        return np.fromiter(map(len, prompts), np.int64, len(pairs))

    def fingerprint(self) -> Fingerprint:
        found = super().fingerprint()
        return dataclasses.replace(found, extra={**found.extra, **self.template.describe(),
                                                 "padding_side": self.padding_side})

    def last_token_logits(self, ids: list[list[int]]):
        """Next-token logits at the last position of each padded row (left padding: the
        prompt's last token; position ids count real tokens only, as an unpadded prompt's)."""
        import torch

        batch = self.tokenizer.pad({"input_ids": ids}, padding=True, return_tensors="pt",
                                   padding_side=self.padding_side).to(self.config.device)
        mask = batch["attention_mask"]
        positions = (mask.long().cumsum(-1) - 1).clamp(min=0)
        with torch.inference_mode():
            out = self.model(input_ids=batch["input_ids"], attention_mask=mask,
                             position_ids=positions, logits_to_keep=1)
        return out.logits[:, -1, :]

    def _score_batch(self, queries: list[str], docs: list[str]) -> tuple[np.ndarray, np.ndarray]:
        return self.score_ids(self.prompt_ids(queries, docs))

    def score_ids(self, ids: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        """(logits, scores) of prompts given as ids: yes (minus no) at the last position."""
        self._saw(ids)  # each prompt's ids, unpadded: padding (left) is added to this batch only
        last = self.last_token_logits(ids)
        logit = to_numpy(last[:, self.yes_id])
        if self.no_id is not None:
            logit = logit - to_numpy(last[:, self.no_id])
        return head_to_scores(logit + self.template.logit_bias, "sigmoid")
