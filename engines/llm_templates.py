"""Prompt templates of LLM rerankers: a causal LM scores ``p(yes)`` at the last token of a prompt.

Pure Python (no torch): the run config is checked against it before anything loads, and the
``llm-rerank`` (transformers) and ``vllm`` engines render the same prompts from it.

A template is ``prefix + body + suffix``; ``body`` holds ``{instruction}``, ``{query}`` and
``{doc}``, in that order. The score is ``softmax([logit(no), logit(yes)])[yes]`` at the last
token, i.e. ``sigmoid(logit(yes) - logit(no) + logit_bias)``; without a ``no`` token (the
bge-reranker-v2-gemma style) it is ``sigmoid(logit(yes) + logit_bias)``.

Engine options (all optional): ``template`` (a preset below, default ``qwen3``), ``instruction``,
``prefix``, ``body``, ``suffix`` (override the preset's), ``yes_token``, ``no_token`` (``""``:
none), ``logit_bias`` (a float added to the log-odds, for models that publish one).
"""

from __future__ import annotations

import hashlib
import math
import string
from dataclasses import dataclass, replace

QWEN3_INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query"


@dataclass(frozen=True)
class LlmTemplate:
    prefix: str
    body: str
    suffix: str
    instruction: str
    yes_token: str = "yes"
    no_token: str = "no"  # "": score the yes logit alone
    logit_bias: float = 0.0

    def text(self, query: str, doc: str) -> str:
        """The part of the prompt between prefix and suffix (the part truncation may cut)."""
        return self.body.format(instruction=self.instruction, query=query, doc=doc)

    def prompt(self, query: str, doc: str) -> str:
        return self.prefix + self.text(query, doc) + self.suffix

    def split(self, query: str, doc: str) -> tuple[str, str]:
        """The prompt cut before the document: (query side, document side), as vLLM's
        ``score(queries, documents)`` concatenates them for an LLM reranker."""
        head, tail = self._around_doc()
        fields = {"instruction": self.instruction, "query": query}
        return self.prefix + head.format(**fields), doc + tail.format(**fields) + self.suffix

    def _around_doc(self) -> tuple[str, str]:
        """The body before and after its one ``{doc}`` field, each still a format string (a
        literal ``{{doc}}`` is no field)."""
        head, parts = "", []
        for literal, field, _, _ in string.Formatter().parse(self.body):
            literal = literal.replace("{", "{{").replace("}", "}}")
            if field == "doc":
                head, parts = "".join(parts) + literal, []
                continue
            parts.append(literal + ("{" + field + "}" if field is not None else ""))
        return head, "".join(parts)

    def fit(self, tokenizer, query: str, doc: str, room: int) -> str:
        """``doc`` cut where ``llm-rerank`` cuts the body to ``room`` tokens (the body's tokens
        kept from the left, the template's prefix and suffix kept whole), for an engine that
        can only be given text: a server truncating the whole prompt would cut the answer cue
        at its end (sentence-transformers #3787). ``tokenizer``: a fast HF tokenizer."""
        encoded = tokenizer(self.text(query, doc), add_special_tokens=False,
                            return_offsets_mapping=True, verbose=False)
        if len(encoded["input_ids"]) <= room:
            return doc
        end = encoded["offset_mapping"][room - 1][1]
        head = self._around_doc()[0].format(instruction=self.instruction, query=query)
        return doc[: max(0, end - len(head))]

    @property
    def sha256(self) -> str:
        """What shapes the prompt and the head, hashed: a changed instruction is a new engine."""
        parts = (self.prefix, self.body, self.suffix, self.instruction, self.yes_token,
                 self.no_token, repr(self.logit_bias))
        return hashlib.sha256("\x00".join(parts).encode()).hexdigest()

    def describe(self) -> dict[str, str]:
        """Fingerprint extras: the template's hash, the answer tokens and the bias."""
        return {"template_sha256": self.sha256[:16], "yes_token": self.yes_token,
                "no_token": self.no_token, "logit_bias": repr(self.logit_bias)}


TEMPLATES = {
    # Qwen/Qwen3-Reranker-{0.6B,4B,8B} model card (also vLLM's qwen3_reranker example)
    "qwen3": LlmTemplate(
        prefix='<|im_start|>system\nJudge whether the Document meets the requirements based on '
               'the Query and the Instruct provided. Note that the answer can only be "yes" or '
               '"no".<|im_end|>\n<|im_start|>user\n',
        body="<Instruct>: {instruction}\n<Query>: {query}\n<Document>: {doc}",
        suffix="<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n",
        instruction=QWEN3_INSTRUCTION),
    # no template at all: the query and the document concatenated (what a server that ignores
    # the model's template sends; a replay, and models fine-tuned on bare pairs)
    "bare": LlmTemplate(prefix="", body="{query}{doc}", suffix="", instruction=""),
}
TEXT_OPTIONS = ("instruction", "prefix", "body", "suffix", "yes_token", "no_token")
OPTIONS = ("template", *TEXT_OPTIONS, "logit_bias")
# the longest each text option may be, in characters: Qwen3's whole template is ~330, and a
# prompt holds 8192 tokens at most, so past these a template is a mistake (a pasted file)
MAX_CHARS = {"instruction": 4096, "prefix": 4096, "body": 4096, "suffix": 4096,
             "yes_token": 64, "no_token": 64}
MAX_LOGIT_BIAS = 100.0  # |bias|: sigmoid saturates to 0 or 1 in float64 long before
BODY_FIELDS = ("instruction", "query", "doc")  # the fields body may hold, as plain names


def _fields(text: str) -> list[str]:
    """Each replacement field of a format string as written (``{query!r}``, ``{}``); a
    ValueError for one that is not a format string (an unmatched brace)."""
    return ["{" + field + (f"!{conversion}" if conversion else "")
            + (f":{spec}" if spec else "") + "}"
            for _, field, spec, conversion in string.Formatter().parse(text)
            if field is not None]


def _body_problems(body: str) -> list[str]:
    """Only {instruction}, {query}, {doc} as plain names (a field is never evaluated: an
    attribute, index, conversion or format spec would run or reshape user text), {doc} once,
    after a {query}."""
    try:
        fields = _fields(body)
    except ValueError as exc:
        return [f"options.body {body[:80]!r} is not a template of {{instruction}}, {{query}} "
                f"and {{doc}} ({exc}; write a literal brace as {{{{ or }}}})"]
    allowed = {"{" + name + "}" for name in BODY_FIELDS}
    bad = [field for field in fields if field not in allowed]
    if bad:
        return [f"options.body field {bad[0]} is not allowed: use exactly {{instruction}}, "
                f"{{query}} and {{doc}} (no attribute or index access, conversion or format "
                f"spec; a literal brace is {{{{ or }}}})"]
    if fields.count("{doc}") != 1 and "{doc}" in fields:
        return [f"options.body must hold {{doc}} once, not {fields.count('{doc}')} times"]
    if "{query}" not in fields or "{doc}" not in fields or \
            fields.index("{query}") > fields.index("{doc}"):
        return [f"options.body {body[:80]!r} must hold {{query}} before {{doc}}"]
    return []


def _text_problems(options: dict) -> list[str]:
    """Text options: strings, within MAX_CHARS; no fields outside body (prefix, suffix and
    the instruction are never filled in, so a {query} there would reach the model as is)."""
    problems = []
    for key in TEXT_OPTIONS:
        value = options.get(key)
        if key not in options:
            continue
        if not isinstance(value, str):
            problems.append(f"options.{key} must be a string, got {value!r}")
            continue
        if len(value) > MAX_CHARS[key]:
            problems.append(f"options.{key} is {len(value)} characters long; at most "
                            f"{MAX_CHARS[key]}")
        elif key == "body":
            problems += _body_problems(value)
        elif key in ("prefix", "suffix", "instruction"):
            try:
                fields = _fields(value)
            except ValueError:  # a lone brace: text, never formatted
                fields = []
            if fields:
                problems.append(f"options.{key} holds the field {fields[0]}: only options.body "
                                f"is filled in ({{instruction}}, {{query}}, {{doc}})")
    return problems


def is_llm_reranker(options: dict) -> bool:
    """Whether a ``vllm`` engine's options ask for an LLM reranker (any template option)."""
    return any(name in options for name in OPTIONS)


def option_problems(options: dict, known: tuple[str, ...] = OPTIONS) -> list[str]:
    """What is wrong with an engine's template options, each said in words (empty: fine)."""
    problems = []
    unknown = sorted(set(options) - set(known))
    if unknown:
        problems.append(f"unknown option(s) {unknown}; known: {sorted(known)}")
    name = options.get("template", "qwen3")
    if name not in TEMPLATES:
        problems.append(f"options.template {name!r} is not one of {sorted(TEMPLATES)}")
    problems += _text_problems(options)
    bias = options.get("logit_bias", 0.0)
    if isinstance(bias, bool) or not isinstance(bias, int | float):
        problems.append(f"options.logit_bias must be a number, got {bias!r}")
    elif not math.isfinite(bias):
        problems.append(f"options.logit_bias must be a finite number, got {bias!r}")
    elif abs(bias) > MAX_LOGIT_BIAS:
        problems.append(f"options.logit_bias must lie within -{MAX_LOGIT_BIAS:g} and "
                        f"{MAX_LOGIT_BIAS:g}, got {bias!r}")
    if options.get("yes_token", "yes") == "":
        problems.append("options.yes_token must not be empty")
    return problems


def template_from_options(options: dict) -> LlmTemplate:
    """The template an engine's options describe (call ``option_problems`` first)."""
    base = TEMPLATES[str(options.get("template", "qwen3"))]
    texts = {key: str(options[key]) for key in TEXT_OPTIONS if key in options}
    bias = float(options.get("logit_bias", base.logit_bias))
    return replace(base, **texts, logit_bias=bias)
