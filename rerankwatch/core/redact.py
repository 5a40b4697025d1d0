"""Secret-looking values, found and masked before anything is stored or shown.

Where rerankwatch itself would send a credential (an engine's ``url``, its ``model``) the config
refuses one (``rerankwatch.core.config``); keys come from ``api_key_env`` / ``api_key_secret``.
Any other string of a config may still hold one: an engine option named ``api_token``, an
environment's ``HF_TOKEN``, a requirement ``pkg @ https://host/pkg.whl?token=…``. What the
store keeps of a run's config goes through ``redact_config`` first:

- the user info of every URL (``https://user:password@host``, ``https://TOKEN@host``),
- every query parameter named like a credential (``?api_key=…``, ``&X-Amz-Signature=…``,
  and in a URL also ``?code=…``, ``?sas=…``), and the same in path segments (matrix parameters
  ``;api_key=…``, ``/token=…/``),
- the segment after a path segment named like a credential (``/api_key/VALUE/``), and a path
  segment shaped like a provider's key (``sk-…``, ``hf_…``, ``ghp_…``, ``glpat-…``, ``xoxb-…``),
- entries named like a credential in the free-form mappings ``options`` (masked) and ``env``
  (left out: a resumed run's worker inherits the variable from the environment it runs in,
  instead of receiving the mask).

A name looks like a credential when one of its words (split at ``_``, ``-``, ``.`` and
camelCase) is one of ``CREDENTIAL_WORDS`` or ends in one of ``CREDENTIAL_SUFFIXES``.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

MASK = "***"
CREDENTIAL_WORDS = frozenset({
    "key", "apikey", "token", "secret", "password", "passwd", "pwd", "pass", "passphrase",
    "signature", "sig", "credential", "credentials", "auth", "authorization", "bearer", "jwt",
    "cookie"})
CREDENTIAL_SUFFIXES = ("token", "secret", "password", "passwd", "apikey", "signature",
                       "credential", "credentials")
# whole names that name a credential only as a URL parameter (Azure Functions' ?code=, a SAS
# token, a session id): as words they are too common ("language_code")
URL_PARAM_NAMES = frozenset({"code", "sas", "sessionid", "jsessionid"})
MASKED_MAPPINGS = ("options",)  # config mappings whose credential-named entries are masked
DROPPED_MAPPINGS = ("env",)  # ... and those whose credential-named entries are left out

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_WORD = re.compile(r"[^a-z0-9]+")
# scheme://userinfo@ (greedy: a raw "@" in a password still ends at the last "@" of the host)
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)[^/?#\s'\"<>]*@")
# name=value after "?", "&", ";" or "#" (a query string or a fragment)
_PARAM = re.compile(r"(?P<lead>[?&;#])(?P<name>[^=&;#?/\s'\"<>]+)=(?P<value>[^&;#\s'\"<>]*)")
# /name=value/ in a path (the value ends at the segment's end)
_SEGMENT_PARAM = re.compile(r"(?P<lead>/)(?P<name>[^=&;#?/\s'\"<>]+)=(?P<value>[^/&;#?\s'\"<>]*)")
_PATH_SEGMENT = re.compile(r"/(?P<segment>[^/?#;\s'\"<>]*)")
# a path segment shaped like a provider's API key (OpenAI, Hugging Face, GitHub, GitLab, Slack)
_KEY_SHAPED = re.compile(r"(?<=/)(?:sk|hf|ghp|gho|ghs|github_pat|glpat|xox[abpr])[-_]"
                         r"[A-Za-z0-9_\-]{16,}(?=[/?#;\s'\"<>]|$)")


def is_secret_name(name: str) -> bool:
    """Whether a parameter, option or variable name looks like it holds a credential."""
    words = _WORD.split(_CAMEL.sub("_", unquote(str(name))).lower())
    return any(w in CREDENTIAL_WORDS or w.endswith(CREDENTIAL_SUFFIXES) for w in words if w)


def is_secret_param(name: str) -> bool:
    """Whether a URL parameter's name looks like it holds a credential (``is_secret_name``, or
    one of ``URL_PARAM_NAMES``: ``code``, ``sas``, ...)."""
    return is_secret_name(name) or unquote(str(name)).lower() in URL_PARAM_NAMES


def url_credentials(url: str | None) -> list[str]:
    """What in ``url`` looks like a credential ("user info", "query parameter 'token'"),
    never the values themselves; empty for anything that is not a ``scheme://`` URL."""
    if not url or "://" not in url:
        return []
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # e.g. an invalid IPv6 host: still look for the pieces
        return ["user info"] if _USERINFO.search(url) else []
    found = ["user info"] if "@" in parts.netloc else []
    path = parts.path
    found += [f"path parameter {m['name']!r}" for m in (*_PARAM.finditer(path),
              *_SEGMENT_PARAM.finditer(path)) if is_secret_param(m["name"])]
    if _KEY_SHAPED.search(path):
        found.append("a key in the path")
    for where in (parts.query, parts.fragment):
        names = [name for name, _ in parse_qsl(where, keep_blank_values=True)]
        found += [f"query parameter {name!r}" for name in names if is_secret_param(name)]
    return found


def redact_text(text: str) -> str:
    """``text`` with the user info of every URL in it and every credential-named query
    parameter's value replaced by ``MASK``; anything else is left as written."""
    if "://" not in text and "=" not in text:
        return text
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)

    def param(match: re.Match) -> str:
        if not is_secret_param(match["name"]):
            return match[0]
        return f"{match['lead']}{match['name']}={MASK}"

    text = _SEGMENT_PARAM.sub(param, _PARAM.sub(param, text))
    if "://" in text:
        text = _KEY_SHAPED.sub(MASK, _mask_named_segments(text))
    return text


def _mask_named_segments(text: str) -> str:
    """/api_key/VALUE/ -> /api_key/***/: the segment after one named like a credential (in
    one run of segments: a space or a query string ends it)."""
    previous: list = [None, -1]  # (the segment before, where it ended)

    def segment(match: re.Match) -> str:
        name, end = previous
        previous[:] = [match["segment"], match.end()]
        if (end == match.start() and name and "=" not in name and is_secret_name(name)
                and match["segment"] not in ("", MASK)):
            previous[0] = None
            return f"/{MASK}"
        return match[0]

    return _PATH_SEGMENT.sub(segment, text)


def redact_url(url: str) -> str:
    """One URL with its user info and credential-named query parameters masked."""
    return redact_text(url)


def _hidden(value: Any) -> bool:
    return value is not None and value != "" and not isinstance(value, bool)


def _walk(value: Any, mapping: str | None = None) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if mapping and is_secret_name(str(key)) and _hidden(item):
                if mapping in DROPPED_MAPPINGS:
                    continue
                out[key] = MASK
                continue
            name = str(key)
            out[key] = _walk(item, name if name in MASKED_MAPPINGS + DROPPED_MAPPINGS
                             else None)
        return out
    if isinstance(value, list | tuple):
        return [_walk(item) for item in value]
    return value


def redact_config(config: dict) -> dict:
    """A copy of a run config (``RunConfig.model_dump(mode="json")``) that is safe to store:
    every string with its URLs redacted (``redact_text``), credential-named ``options``
    masked, credential-named ``env`` entries left out. ``config`` itself is not changed."""
    return _walk(config)
