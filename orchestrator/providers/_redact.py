"""Scrub secrets from any text that may reach a log, an error message or a cassette.

Known secrets (the configured API key) are replaced wherever they appear; anything
that looks like an OpenAI-style key, a bearer token or an `api_key=` value is
masked too, because a proxy or a server may echo a key we were never told about.
Backslashes end a match, so redacting JSON text keeps it valid JSON.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_VALUE = r"[^\s\"'\\,;}]+"
_ASSIGN = r"\\?[\"']?\s*[:=]\s*\\?[\"']?"
_PATTERNS = (
    (re.compile(rf"(?i)(authorization{_ASSIGN}(?:[a-z]+\s+)?){_VALUE}"), r"\1***"),
    (re.compile(rf"(?i)(api[_-]?key{_ASSIGN}){_VALUE}"), r"\1***"),
    (re.compile(rf"(?i)\b(bearer\s+){_VALUE}"), r"\1***"),
    (re.compile(r"\bsk-[A-Za-z0-9_\-*]{6,}"), "sk-***"),
)


def redact(text: str, secrets: Iterable[str] = (), *, patterns: bool = True) -> str:
    """`text` with every known secret, and (with `patterns`) every key-like token, replaced by `***`."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    if patterns:
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
    return text
