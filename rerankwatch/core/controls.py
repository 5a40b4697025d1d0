"""Control characters in stored text: find them (to refuse them in ids and tags) and show
them visibly (so a terminal or a report never obeys an ESC, BEL, NUL or bidi override that a
sample set, an engine error or a query result carries)."""

from __future__ import annotations

import re

# C0 and C1 controls with DEL, the bidi embeddings/overrides (U+202A–U+202E) and isolates
# (U+2066–U+2069), and lone surrogates (from a JSON "\ud800": no valid Unicode, unencodable)
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
TEXT_WHITESPACE = "\t\n\r"  # the controls a plain text may hold


def control_char(value: str, allowed: str = "") -> str | None:
    """The first control character in ``value`` that ``allowed`` does not list, else None."""
    for match in CONTROL.finditer(value):
        if match.group() not in allowed:
            return match.group()
    return None


def escaped(char: str) -> str:
    """A character as the escape that names it: ``\\x1b``, ``\\u202e``."""
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(value: str, keep: str = "") -> str:
    """``value`` with every control character (but those in ``keep``) written as its escape."""
    return CONTROL.sub(lambda m: m.group() if m.group() in keep else escaped(m.group()), value)
