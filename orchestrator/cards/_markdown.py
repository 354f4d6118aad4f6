"""Markdown mechanics the card parser needs: fences, headings, labels, lists, tables, words.

Everything here works line by line and in linear time, so a card with a
megabyte-long line costs a megabyte of work, not a megabyte squared. Headings
are keyed by their words only: emoji, numbering and decoration are dropped.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

_HEADING = re.compile(r"(#{1,6})(?:[ \t]+(.*))?$")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})(.*)$")
_HR = re.compile(r" {0,3}(?:(?:-[ \t]*){3,}|(?:\*[ \t]*){3,}|(?:_[ \t]*){3,})$")
_LIST_ITEM = re.compile(r"([ \t]*)(?:[-*+]|\d{1,3}[.)])[ \t]+(.*)$")
_BOLD_LABEL = re.compile(r"(?:[-*+][ \t]+)?\*\*([^*\n]{1,80}?)\*\*[ \t]*(.*)$")
_NUMBERING = re.compile(r"^(?:\d{1,3}(?:\.\d{1,3})*[.)]?|[ivx]{1,4}[.)]|[a-z][.)])\s+", re.IGNORECASE)
_SLUG = re.compile(r"[a-z0-9]+(?:[-_.][a-z0-9]+)*$")
_DROP_CATEGORIES = frozenset({"So", "Sk", "Sm", "Cf", "Co", "Cn", "Cs", "Cc", "Me"})
_ACRONYMS = frozenset(
    {
        "api",
        "qa",
        "ui",
        "ux",
        "ci",
        "cd",
        "sql",
        "ml",
        "ai",
        "llm",
        "aws",
        "gcp",
        "sre",
        "db",
        "css",
        "html",
        "cicd",
        "iac",
        "k8s",
        "seo",
        "etl",
        "bi",
        "ios",
    }
)


@dataclass(frozen=True)
class Heading:
    """One ATX heading outside code fences."""

    index: int
    """0-based line index."""
    level: int
    text: str
    """The heading as written (emoji and all), without the leading #s."""
    key: str
    """Its words: lower-case, emoji, numbering and parenthesised notes removed."""


@dataclass
class Markdown:
    """A card's lines with fences and headings located once."""

    lines: list[str]
    start: int
    """Index of the first body line (after any front matter)."""
    fenced: list[bool] = field(default_factory=list)
    """True for every line inside a code fence, fence markers included."""
    fences: list[tuple[int, int, str]] = field(default_factory=list)
    """(opening index, closing index or len(lines), info string) of each fence."""
    headings: list[Heading] = field(default_factory=list)
    unclosed_fence: int | None = None
    """Index of a fence that never closes (it runs to the end, as in CommonMark)."""


_PLAIN_ASCII = re.compile(r"[*`~\x00-\x1f]")


def plain(text: str) -> str:
    """Text without emoji, symbols, control characters, markdown emphasis or extra spaces."""
    if text.isascii() and not _PLAIN_ASCII.search(text):
        return " ".join(text.split())
    kept: list[str] = []
    for ch in text:
        if ch in "*`~\ufe0e\ufe0f":
            continue
        if ord(ch) < 0x20:
            kept.append(" ")
        elif ord(ch) < 0x80 or unicodedata.category(ch) not in _DROP_CATEGORIES:
            kept.append(ch)
    return " ".join("".join(kept).split())


def heading_key(text: str) -> str:
    """`🎯 Best Practices (CRITICAL)` -> `best practices`; `1. Django Framework` -> `django framework`."""
    words = plain(text)
    words = _NUMBERING.sub("", words)
    words = re.sub(r"\([^)]*\)|\[[^]]*\]", " ", words)
    return " ".join(words.strip(" :-–—.").lower().split())


def heading_title(text: str) -> str:
    """A heading's words for display: emoji and numbering removed, case kept."""
    return _NUMBERING.sub("", plain(text)).strip(" :-–—")


def _fence_closes(line: str, marker: str) -> bool:
    """A closing fence: the opening character at least as many times, nothing else, indent <= 3."""
    stripped = line.strip()
    if not stripped.startswith(marker) or stripped.lstrip(marker[0]):
        return False
    return len(line) - len(line.lstrip(" ")) <= 3


def _heading_text(raw: str) -> str:
    """Heading words without an optional closing `#` sequence (`## Title ##`; `## C#` keeps its #)."""
    text = raw.strip()
    bare = text.rstrip("#")
    if bare != text and (not bare or bare[-1] in " \t"):
        return bare.rstrip()
    return text


def scan(lines: list[str], start: int) -> Markdown:
    """Locate code fences and the headings outside them."""
    fenced = [False] * len(lines)
    doc = Markdown(lines=lines, start=start, fenced=fenced)
    open_at: int | None = None
    marker = ""
    info = ""
    for i in range(start, len(lines)):
        line = lines[i]
        first = line.lstrip(" ")[:1]
        if open_at is not None:
            fenced[i] = True
            if first == marker[0] and _fence_closes(line, marker):
                doc.fences.append((open_at, i, info))
                open_at = None
            continue
        if first in ("`", "~"):
            fence = _FENCE.match(line)
            if fence and not (fence.group(1)[0] == "`" and "`" in fence.group(2)):
                open_at, marker, info = i, fence.group(1), fence.group(2).strip()
                fenced[i] = True
                continue
        if first == "#" and line[0] == "#":
            heading = _HEADING.match(line)
            if heading:
                text = _heading_text(heading.group(2) or "")
                doc.headings.append(Heading(i, len(heading.group(1)), text, heading_key(text)))
    if open_at is not None:
        doc.fences.append((open_at, len(lines), info))
        doc.unclosed_fence = open_at
    return doc


def is_rule(line: str) -> bool:
    """A thematic break (`---`, `***`, `___`)."""
    return bool(_HR.match(line))


def bold_label(line: str) -> tuple[str, str] | None:
    """`**Label:** value`, `**Label**: value` or `- **Label:** value` -> (label, value)."""
    if "**" not in line[:6]:
        return None
    match = _BOLD_LABEL.match(line.strip())
    if not match:
        return None
    label, rest = match.group(1).strip(), match.group(2).strip()
    if label.endswith(":"):
        return label[:-1].strip(), rest
    if rest.startswith(":"):
        return label, rest[1:].strip()
    if not rest:
        return label, ""
    return None


def list_item(line: str) -> tuple[int, str] | None:
    """A bullet or numbered item -> (indent width, item text)."""
    match = _LIST_ITEM.match(line)
    if not match:
        return None
    indent = len(match.group(1).expandtabs(4))
    return indent, match.group(2).strip()


def strip_inline(text: str) -> str:
    """Drop emphasis and code markers and a task-list box; keep the words."""
    text = text.strip()
    if text[:3] in ("[ ]", "[x]", "[X]"):
        text = text[3:]
    return " ".join(text.replace("**", "").replace("`", "").split())


def unquote(text: str) -> str:
    """`` `*.py` `` / `"python"` / `'x'` -> the bare value."""
    text = text.strip()
    while len(text) >= 2 and text[0] == text[-1] and text[0] in "`\"'":
        text = text[1:-1].strip()
    return text


def split_items(text: str, separators: str = ",;") -> list[str]:
    """Split a list written on one line, ignoring separators inside brackets, quotes or backticks."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    quote = ""
    for ch in text:
        if quote:
            current.append(ch)
            if ch == quote:
                quote = ""
            continue
        if ch in '`"':
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}" and depth:
            depth -= 1
        elif ch in separators and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return [item for item in (unquote(p) for p in parts) if item]


def as_list(value: Any) -> list[str]:
    """A front-matter or toon value as a list of strings (`"a, b"` -> `["a", "b"]`)."""
    if value is None:
        return []
    if isinstance(value, list):
        out: list[str] = []
        for item in value:
            out.extend(
                as_list(item)
                if isinstance(item, list)
                else split_items(str(item))
                if item is not None
                else []
            )
        return out
    if isinstance(value, dict):
        return [str(k) for k in value]
    return split_items(str(value))


def table_cells(line: str) -> list[str] | None:
    """The cells of a `| a | b |` row, or None when the line is not a table row."""
    stripped = line.strip()
    if not stripped.startswith("|"):
        return None
    body = stripped[1:-1] if stripped.endswith("|") and len(stripped) > 1 else stripped[1:]
    return [cell.strip() for cell in body.replace("\\|", "\x00").split("|")]


def is_table_rule(cells: list[str]) -> bool:
    """The `|---|:---:|` row under a table header."""
    return bool(cells) and all(c and set(c) <= set("-: ") and "-" in c for c in cells)


def is_slug(text: str) -> bool:
    """`backend-python` is a slug; `Backend Python` is not."""
    return bool(_SLUG.match(text))


def slugify(text: str) -> str:
    """`Database Specialist` -> `database-specialist`."""
    words = re.findall(r"[a-z0-9]+", plain(text).lower())
    return "-".join(words)


def title_from_slug(slug: str) -> str:
    """`qa-automation` -> `QA Automation`: a readable name for a card that gives none."""
    words = [w for w in re.split(r"[-_.\s]+", slug) if w]
    return " ".join(w.upper() if w.lower() in _ACRONYMS else w.capitalize() for w in words)


def snake(text: str) -> str:
    """`Last Updated` -> `last_updated`, `File patterns` -> `file_patterns`."""
    return "_".join(re.findall(r"[a-z0-9]+", plain(text).lower()))
