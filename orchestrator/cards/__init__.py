"""Agent cards: one agent's markdown card, parsed into data (`AgentCard`).

`load_card(path)` and `parse_card(text_or_bytes)` read any of the three card
formats (the seed's bold-metadata format, the toon/table variant, and YAML front
matter) into the one model without losing data; `is_card_file` says which files
in an agents folder are cards. The parser's steps live in private modules named
after what they read:

- `_mojibake`: bytes to clean text (encodings, BOMs, newlines, mis-decoded UTF-8);
- `_frontmatter`: the YAML front matter; `_toon`: ```toon blocks;
- `_body`: the title and sections; `_markdown`: fences, headings, labels, lists, tables;
- `_metadata`: id, name, priority, version, status, category, tags, purpose (the seed's
  `**Key:** value` header and footer, and disagreements between formats);
- `_triggers`, `_collaborators`, `_deliverables`, `_expertise`: one field each, from every format;
- `_reader`: the order the steps run in; `_draft`: what they have found so far;
- `_model`: `AgentCard` and `Collaborator`, re-exported here.
"""

from __future__ import annotations

import re
from pathlib import Path

from orchestrator.cards._collaborators import collaborator_from_text
from orchestrator.cards._deliverables import parse_phase_label
from orchestrator.cards._expertise import GENERIC_TECH
from orchestrator.cards._markdown import plain, slugify
from orchestrator.cards._metadata import priority_problem
from orchestrator.cards._model import TRIGGER_TYPES, AgentCard, CardFormat, Collaborator
from orchestrator.cards._mojibake import decode_card_bytes, normalise_text, repair_mojibake, repair_warning
from orchestrator.cards._reader import read_card
from orchestrator.cards._triggers import TRIGGER_ALIASES
from orchestrator.errors import CardError
from orchestrator.runtime import current_runtime

__all__ = [
    "CARD_SUFFIXES",
    "GENERIC_TECH",
    "MAX_CARD_BYTES",
    "NOT_CARD_STEMS",
    "TRIGGER_ALIASES",
    "TRIGGER_TYPES",
    "AgentCard",
    "CardFormat",
    "Collaborator",
    "collaborator_from_text",
    "is_card_file",
    "load_card",
    "parse_card",
    "parse_phase_label",
    "plain",
    "priority_problem",
    "slugify",
    "warning_location",
]

MAX_CARD_BYTES = 5 * 1024 * 1024
"""Anything larger is not a hand-written card (and would only slow the catalogue down)."""

NOT_CARD_STEMS = frozenset(
    {"readme", "index", "changelog", "contributing", "license", "licence", "template", "code_of_conduct"}
)
"""File names (without `.md`, any case) that live beside cards but are not cards."""

CARD_SUFFIXES = (".md", ".markdown")

_LINE_PREFIX = re.compile(r"line (\d+): (.*)$", re.DOTALL)


def warning_location(warning: str) -> tuple[int | None, str]:
    """Split a parser warning into its line (when it names one) and its message."""
    match = _LINE_PREFIX.match(warning)
    if match:
        return int(match.group(1)), match.group(2)
    return None, warning


def is_card_file(path: Path) -> bool:
    """True for a markdown file that can hold a card.

    README.md (and the other names in NOT_CARD_STEMS), hidden and `_`-prefixed
    files, and files that are not markdown are not cards.
    """
    name = path.name
    if name.startswith((".", "_")) or path.suffix.lower() not in CARD_SUFFIXES:
        return False
    if path.stem.lower() in NOT_CARD_STEMS:
        return False
    return path.is_file()


def load_card(path: Path) -> AgentCard:
    """Read and parse one card file; any encoding, BOM or line ending."""
    try:
        size = path.stat().st_size
        if size > MAX_CARD_BYTES:
            raise CardError(f"{size // 1024} KiB is too large for an agent card", path)
        data = path.read_bytes()
    except IsADirectoryError:
        raise CardError("is a directory, not a card file", path) from None
    except OSError as exc:
        raise CardError(f"cannot read card: {exc.strerror or exc}", path) from None
    return current_runtime().memo(_parse_file, maxsize=2048)(data, str(path)).model_copy()


def _parse_file(data: bytes, source: str) -> AgentCard:
    """Parsed once per content and runtime (`load_card`): every run of a process loads the same catalogue."""
    return parse_card(data, source=source)


def parse_card(text: str | bytes, source: str = "<string>") -> AgentCard:
    """Parse one card in any of the three formats; CardError only when it cannot be a card."""
    warnings: list[str] = []
    if isinstance(text, bytes):
        text, decode_warnings = decode_card_bytes(text, source)
        warnings.extend(decode_warnings)
    text = normalise_text(text, source)
    text, repairs = repair_mojibake(text)
    repaired = repair_warning(repairs)
    if repaired:
        warnings.append(repaired)
    return read_card(text, source, warnings)
