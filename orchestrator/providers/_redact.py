"""Scrub secrets from any text that may reach a log, an error message or a cassette.

Known secrets (the configured API key) are replaced wherever they appear; anything
that looks like an OpenAI-style key, a bearer token or an `api_key=` value is
masked too, because a proxy or a server may echo a key we were never told about.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_PATTERNS = (
    (re.compile(r"\bsk-[A-Za-z0-9_\-*]{6,}"), "sk-***"),
    (re.compile(r"(?i)\b(bearer\s+)[^\s\"',;]+"), r"\1***"),
    (re.compile(r"(?i)\b((?:api[_-]?key|authorization)[\"']?\s*[:=]\s*[\"']?)[^\s\"',;}]+"), r"\1***"),
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every secret and key-like token replaced by `***`."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text
