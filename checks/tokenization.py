"""The ids each model was fed: engine configs of one model feed identical ids, and each engine
config feeds the ids it fed in its last accepted run.

Every other check reads scores; the incidents this one explains are about the input: a
tokenizer class that silently falls back, a missing sep_token inserting the text "None", a
second segment laid out ``[SEP] [CLS]`` instead of ``[SEP] [SEP]``, text normalised
differently, a prompt cut where its answer cue sits. Engines record the exact ids they fed the
model (``scores.token_hash``, ``input_tokens``; the ids and token strings of a sample of pairs
in ``token_samples``), and the difference is named token by token.

- ``engines``: engine configs of the same model and family (cross-encoder, LLM reranker,
  bi-encoder) in a run feed identical ids, each compared with the reference (or the first of
  its group). Blocking: a replay of a wrong template or segment layout is caught here.
- ``history``: each engine config against its last accepted run (the one history_baseline
  holds it to). A tokenizer or template change is named even when scores stay within
  tolerance; informational unless ``history_blocking``.
- ``answer_cue``: an LLM reranker's yes/no logits are read after its template's suffix (the
  answer cue), so every prompt it was fed must end with it: the suffix the shortest half of
  its sampled prompts share (never cut) must end every sampled prompt, the long-input probes'
  included (a prompt keeps it when it ends with at least half of that suffix). A prompt cut at
  max_length instead of its body is named. Blocking.

Engines that expose no ids (st-bi, HTTP servers, st-cross before sentence-transformers 6)
are skipped.
"""

from __future__ import annotations

from typing import ClassVar

import great_expectations as gx
import polars as pl

from rerankwatch.checks import base
from rerankwatch.checks.base import AT_MOST, CheckParams, Judge, Rows, SuiteInput, judged, row
from rerankwatch.core.records import SKIPPED, CheckResult

MAX_SHOWN = 5  # differing pairs listed with their first differing tokens
END = "<end>"  # past the last id of the shorter sequence


class ExpectSameIds(gx.expectations.ExpectColumnMaxToBeBetween):
    """No pair was fed ids that differ from the other side's (``differs`` is 0 everywhere)."""

    column: str = "differs"
    max_value: int = 0


class Detail(base.Detail):
    """What a tokenization result's detail holds."""

    summary_fields = ("message", "reason")
    rows_field = "first_differences"
    message: str | None = None
    pairs: int | None = None
    differing: int | None = None
    baseline_run: str | None = None
    first_differences: Rows = []


class Params(CheckParams):
    history_blocking: bool = False  # a changed tokenization since the accepted run blocks


def family(info: dict) -> str:
    """What kind of model an engine config runs, from its fingerprint columns."""
    if info.get("activation") == "cosine":
        return "bi-encoder"
    return "llm-reranker" if info.get("pooling") == "last-token" else "cross-encoder"


def fed(frame: pl.DataFrame) -> pl.DataFrame:
    """(pair_id, input_tokens, token_hash) of the pairs whose ids were recorded."""
    if "token_hash" not in frame.columns:
        return pl.DataFrame(schema={"pair_id": pl.String, "input_tokens": pl.Int32,
                                    "token_hash": pl.UInt64})
    return frame.select("pair_id", "input_tokens", "token_hash").drop_nulls("token_hash")


def compared(left: pl.DataFrame, right: pl.DataFrame) -> pl.DataFrame:
    """The pairs both sides recorded ids for, with ``differs`` (1: other ids) and both
    counts (``*_other``: the right side's)."""
    joined = fed(left).join(fed(right), on="pair_id", suffix="_other")
    return joined.with_columns(
        (pl.col("token_hash") != pl.col("token_hash_other")).cast(pl.Int32).alias("differs"))


def samples(data: SuiteInput, run_id: str, engine: str) -> dict[str, tuple[list, list | None]]:
    """{pair_id: (ids, token strings)} of an engine config's token sample in a run."""
    frame = data.token_samples
    if frame is None or frame.is_empty():
        return {}
    mine = frame.filter((pl.col("run_id") == run_id) & (pl.col("engine_name") == engine))
    return {r["pair_id"]: (r["ids"], r["tokens"]) for r in mine.iter_rows(named=True)}


def first_difference(pair_id: str, mine: tuple[list, list | None],
                     theirs: tuple[list, list | None]) -> dict:
    """Where two id sequences of a pair first differ, and the tokens there."""
    (ids, words), (other_ids, other_words) = mine, theirs
    position = next((i for i, (a, b) in enumerate(zip(ids, other_ids, strict=False)) if a != b),
                    min(len(ids), len(other_ids)))

    def token(values: list, strings: list | None) -> str:
        if position >= len(values):
            return END
        return str(strings[position]) if strings else str(values[position])

    return {"pair_id": pair_id, "position": position, "token": token(ids, words),
            "token_other": token(other_ids, other_words), "ids": len(ids),
            "ids_other": len(other_ids)}


def phrase(first: dict, arrow: bool = False) -> str:
    """One difference in words: a token inserted, a sequence cut, or both tokens."""
    ours, theirs, at = first["token"], first["token_other"], first["position"]
    where = f"position {at} of pair {first['pair_id']}"
    if END in (ours, theirs):
        shorter = "ours" if ours == END else "the other"
        return (f"cut: {first['ids']} vs {first['ids_other']} ids, {shorter} ends at "
                f"{where}")
    if ours.strip("▁Ġ#").lower() == "none" != theirs.strip("▁Ġ#").lower():
        return f"{ours!r} inserted at {where}"
    if arrow:  # history: what it was → what it is
        return f"{theirs!r} → {ours!r} at {where}"
    return f"first at {where}: {ours!r} vs {theirs!r}"


def differences(data: SuiteInput, pairs: pl.DataFrame, mine: tuple[str, str],
                theirs: tuple[str, str]) -> list[dict]:
    """The first differing tokens of the differing pairs both token samples hold
    (``mine`` / ``theirs``: (run_id, engine name)), at most MAX_SHOWN, pair id after pair id
    (the same pairs shown whatever order the scores were stored in)."""
    ours, other = samples(data, *mine), samples(data, *theirs)
    found = []
    for pair_id in pairs.filter(pl.col("differs") == 1)["pair_id"].sort():
        if pair_id in ours and pair_id in other:
            found.append(first_difference(pair_id, ours[pair_id], other[pair_id]))
            if len(found) == MAX_SHOWN:
                break
    return found


def summary(pairs: pl.DataFrame, shown: list[dict], arrow: bool = False) -> str:
    """Where the first differing pair differs (from the token sample, else its counts)."""
    if shown:
        return phrase(shown[0], arrow)
    first = pairs.filter(pl.col("differs") == 1).sort("pair_id").row(0, named=True)
    return (f"pair {first['pair_id']}: {first['input_tokens']} vs "
            f"{first['input_tokens_other']} ids (not in the token sample)")


def history_change(data: SuiteInput, engine: str, baseline: dict) -> str | None:
    """"the tokenization of N of M pairs changed: …" of an engine config against one accepted
    run (a q_history_baselines row); None when nothing changed or either side has no ids."""
    pairs = _history_pairs(data, engine, baseline)
    if pairs is None or not pairs["differs"].sum():
        return None
    shown = differences(data, pairs, (data.run_id, engine),
                        (baseline["baseline_run_id"], baseline["source_name"]))
    return (f"the tokenization of {int(pairs['differs'].sum())} of {pairs.height} pairs "
            f"changed: {summary(pairs, shown, arrow=True)}")


def _history_pairs(data: SuiteInput, engine: str, baseline: dict) -> pl.DataFrame | None:
    if data.history is None or "token_hash" not in data.history.columns:
        return None
    then = data.history_scores(baseline["baseline_run_id"], baseline["source_name"])
    pairs = compared(data.engine_scores(engine), then)
    return pairs if pairs.height else None


def common_suffix(rows: list) -> list[int]:
    """The longest suffix every one of ``rows`` (id sequences) ends with."""
    if not rows:
        return []
    shortest = min(len(r) for r in rows)
    size = 0
    while size < shortest and len({int(r[len(r) - size - 1]) for r in rows}) == 1:
        size += 1
    return [int(i) for i in rows[0][len(rows[0]) - size:]] if size else []


def cue_words(sample: tuple[list, list | None], size: int) -> str:
    """The last ``size`` tokens of a sampled prompt, as text."""
    ids, words = sample
    return repr("".join(str(w) for w in (words or ids)[-size:]))


class Tokenization:
    name = "tokenization"
    Params = Params
    Detail = Detail
    needs_reference = False
    measures: ClassVar[dict[str, str]] = {  # what each subject's observed value is
        "engines": "pairs fed other ids than the same model's other engine config",
        "history": "pairs fed other ids than in the last accepted run",
        "answer_cue": "sampled LLM prompts that do not end with the answer cue",
    }
    bounds: ClassVar[dict[str, str]] = {"*": AT_MOST}
    figure: ClassVar[str | None] = None
    probes: ClassVar[dict[str, str]] = {}

    def run(self, data: SuiteInput, params: Params, judge: Judge) -> list[CheckResult]:
        results, with_ids = [], []
        for engine in data.ok_engines():
            if fed(data.engine_scores(engine)).is_empty():
                kind = data.engine_info[engine].get("kind") or "this engine"
                served = (" (a server's /tokenize, TEI's or vLLM's, reads single texts, not "
                          "the pair it scores)") if kind.startswith("http-") else ""
                results.append(row(self, params, engine, "engines", SKIPPED,
                                   reason=f"skipped: {kind} exposes no token ids{served}"))
            else:
                with_ids.append(engine)
        results += self._engines(data, params, judge, with_ids)
        for engine in with_ids:
            results += self._history(data, params, judge, engine)
            if family(data.engine_info[engine]) == "llm-reranker":
                results.append(self._answer_cue(data, params, judge, engine))
        return results

    def _answer_cue(self, data: SuiteInput, params: Params, judge: Judge,
                    engine: str) -> CheckResult:
        """Every sampled prompt of an LLM reranker ends with the answer cue (answer_cue)."""
        prompts = samples(data, data.run_id, engine)
        ordered = sorted(prompts.items(), key=lambda item: len(item[1][0]))
        cue = common_suffix([ids for _, (ids, _) in ordered[:max(1, len(ordered) // 2)]])
        if not cue:
            return row(self, params, engine, "answer_cue", SKIPPED,
                       reason="no token sample, or its shortest prompts share no suffix")
        # a prompt keeps the cue when it ends with most of it (the shortest prompts' shared
        # suffix may take in a last body token they happen to share, such as a final '.');
        # a prompt cut mid-document shares next to none of it
        cut = [(pair_id, ids, words) for pair_id, (ids, words) in ordered
               if len(common_suffix([ids, cue])) < max(1, len(cue) // 2)]
        frame = pl.DataFrame({"differs": [int(pair_id in {c[0] for c in cut})
                                          for pair_id in prompts]})
        success, _ = judge.validate(frame, ExpectSameIds())
        shown = [{"pair_id": pair_id, "position": len(ids) - 1, "token": str(
            (words or ids)[-1]), "token_other": cue_words(ordered[0][1], len(cue)),
            "ids": len(ids), "ids_other": len(cue)} for pair_id, ids, words in cut[:MAX_SHOWN]]
        message = None if success else (
            f"{len(cut)} of {len(prompts)} sampled prompts lose the answer cue "
            f"({len(cue)} tokens: {cue_words(ordered[0][1], len(cue))}): cut at "
            f"{max(len(c[1]) for c in cut)} ids where the body should be cut instead; pair "
            f"{cut[0][0]} ends with {shown[0]['token']!r}")
        return judged(self, params, engine, "answer_cue", success, len(cut), 0,
                      message=message, pairs=len(prompts), differing=len(cut),
                      first_differences=shown)

    def _engines(self, data: SuiteInput, params: Params, judge: Judge,
                 engines: list[str]) -> list[CheckResult]:
        """Each engine config against the reference (or the first) of its model and family."""
        groups: dict[tuple, list[str]] = {}
        for engine in engines:
            info = data.engine_info[engine]
            groups.setdefault((info.get("model"), family(info)), []).append(engine)
        results = []
        for (model, kind), names in groups.items():
            first = data.reference if data.reference in names else names[0]
            others = [name for name in names if name != first]
            results.append(row(self, params, first, "engines", SKIPPED, reason=(
                f"the ids the other {kind} engine configs of {model} are held to: "
                f"{', '.join(others)}" if others else
                f"no other {kind} engine config of {model} feeds ids to compare with")))
            results += [self._pair(data, params, judge, name, first) for name in others]
        return results

    def _pair(self, data: SuiteInput, params: Params, judge: Judge, engine: str,
              other: str) -> CheckResult:
        pairs = compared(data.engine_scores(engine), data.engine_scores(other))
        if pairs.is_empty():
            return row(self, params, engine, "engines", SKIPPED, other=other,
                       reason=f"no pair has ids from both {engine} and {other}")
        success, _ = judge.validate(pairs, ExpectSameIds())
        differing = int(pairs["differs"].sum())
        shown = differences(data, pairs, (data.run_id, engine), (data.run_id, other))
        message = None if success else (
            f"{differing} of {pairs.height} pairs feed different ids than {other}; "
            f"{summary(pairs, shown)}")
        return judged(self, params, engine, "engines", success, differing, 0, other=other,
                      message=message, pairs=pairs.height, differing=differing,
                      first_differences=shown)

    def _history(self, data: SuiteInput, params: Params, judge: Judge,
                 engine: str) -> list[CheckResult]:
        """The engine config against its last accepted run (none yet: no row; the history
        baseline check says so)."""
        baselines = data.baselines
        if baselines is None or baselines.is_empty():
            return []
        last = baselines.filter((pl.col("engine_name") == engine)
                                & (pl.col("baseline") == "last"))
        if last.is_empty():
            return []
        baseline = last.row(0, named=True)
        history_params = params.model_copy(update={
            "blocking": params.blocking and params.history_blocking})
        run_id, source = baseline["baseline_run_id"], baseline["source_name"]
        other = source if source != engine else None
        pairs = _history_pairs(data, engine, baseline)
        if pairs is None:
            return [row(self, history_params, engine, "history", SKIPPED, other=other,
                        baseline_run=run_id,
                        reason=f"the accepted run {run_id} recorded no token ids")]
        success, _ = judge.validate(pairs, ExpectSameIds())
        shown = differences(data, pairs, (data.run_id, engine), (run_id, source))
        message = None if success else history_change(data, engine, baseline)
        differing = int(pairs["differs"].sum())
        return [judged(self, history_params, engine, "history", success, differing, 0,
                       other=other, message=message and f"{message} (since run {run_id})",
                       pairs=pairs.height, differing=differing, baseline_run=run_id,
                       first_differences=shown)]
