"""AgentCard: one agent's markdown card, parsed into data.

The parser (`parse_card`, `load_card`) lives below the model. It reads three
formats (the seed's bold-metadata format, the toon/table variant, and YAML front
matter) into this one model without losing data.
"""

from __future__ import annotations

import bisect
import functools
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field

from orchestrator.cards._markdown import (
    Heading,
    bold_label,
    heading_title,
    is_rule,
    is_slug,
    is_table_rule,
    list_item,
    scan,
    snake,
    split_items,
    strip_inline,
    table_cells,
    title_from_slug,
    unquote,
)
from orchestrator.cards._markdown import parse_phase_label as parse_phase_label
from orchestrator.cards._markdown import plain as plain
from orchestrator.cards._markdown import slugify as slugify
from orchestrator.cards._mojibake import decode_card_bytes, normalise_text, repair_mojibake, repair_warning
from orchestrator.cards._toon import parse_toon
from orchestrator.errors import CardError

CardFormat = Literal["seed", "toon", "frontmatter", "frontmatter+seed", "frontmatter+toon"]

TRIGGER_TYPES = ("keywords", "file_patterns", "imports", "structure", "config", "scripts")
"""Canonical trigger type names, in display order. Other types keep their own name."""


class Collaborator(BaseModel):
    """One Works-with entry: an agent id or a group such as "backend agents"."""

    id: str
    """Agent id (`database-specialist`) or normalised group name (`backend agents`)."""
    kind: Literal["agent", "group"]
    note: str = ""
    """What the card says this collaborator helps with."""


class AgentCard(BaseModel):
    """The parsed card. Sections stay markdown so prompts can quote them verbatim."""

    id: str
    name: str
    priority: int | None = None
    version: str | None = None
    status: str | None = None
    """Lower-case (`active`, `deprecated`, ...); emoji and decoration removed."""
    purpose: str = ""
    sections: dict[str, str] = Field(default_factory=dict)
    """Level-2 sections keyed by their heading words, lower-case, emoji removed
    (`"core competencies"`, `"tech stack"`, `"best practices"`, ...)."""
    competencies: list[str] = Field(default_factory=list)
    """Level-3 headings under Core Competencies, numbering removed (`"Django Framework"`)."""
    tech_stack: list[str] = Field(default_factory=list)
    """Named technologies from the Tech Stack section's sub-headings and bold labels."""
    triggers: dict[str, list[str]] = Field(default_factory=dict)
    """Trigger type (see TRIGGER_TYPES) -> patterns in card order."""
    collaborators: list[Collaborator] = Field(default_factory=list)
    deliverables: dict[str, list[str]] = Field(default_factory=dict)
    """Phase label (`"2"`, `"5b"`, `"7"`) -> deliverable items in card order."""
    phase_names: dict[str, str] = Field(default_factory=dict)
    """Phase label -> the name the card gives it (`"5b"` -> `"Build"`)."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Everything else the card declares: front-matter keys (`tools`, `model`, ...),
    footer metadata (`last_updated`), so nothing is lost."""
    lines: dict[str, int] = Field(default_factory=dict)
    """1-based line of each field in the source (`id`, `priority`, ...), for lint messages."""
    source: str = ""
    """Path of the file the card came from (or `<string>`)."""
    format: CardFormat = "seed"
    warnings: list[str] = Field(default_factory=list)
    """What the parser repaired or could not read, one sentence each."""

    def serves(self, label: str) -> bool:
        """True when the card lists deliverables for phase `label`."""
        return bool(self.deliverables.get(label))

    def summary(self) -> dict[str, Any]:
        """The short form `agents list` prints."""
        return {
            "id": self.id,
            "name": self.name,
            "priority": self.priority,
            "version": self.version,
            "status": self.status,
            "source": self.source,
        }


# ---------------------------------------------------------------------------
# The parser: bytes or text in, one AgentCard out.
# ---------------------------------------------------------------------------

MAX_CARD_BYTES = 5 * 1024 * 1024
"""Anything larger is not a hand-written card (and would only slow the catalogue down)."""

NOT_CARD_STEMS = frozenset(
    {"readme", "index", "changelog", "contributing", "license", "licence", "template", "code_of_conduct"}
)
"""File names (without `.md`, any case) that live beside cards but are not cards."""

CARD_SUFFIXES = (".md", ".markdown")

TRIGGER_ALIASES: dict[str, str] = {
    "keyword": "keywords",
    "keywords": "keywords",
    "key_words": "keywords",
    "file": "file_patterns",
    "files": "file_patterns",
    "file_pattern": "file_patterns",
    "file_patterns": "file_patterns",
    "filepattern": "file_patterns",
    "filepatterns": "file_patterns",
    "glob": "file_patterns",
    "globs": "file_patterns",
    "import": "imports",
    "imports": "imports",
    "structure": "structure",
    "structures": "structure",
    "project_structure": "structure",
    "directory": "structure",
    "directories": "structure",
    "config": "config",
    "configs": "config",
    "config_file": "config",
    "config_files": "config",
    "configuration": "config",
    "script": "scripts",
    "scripts": "scripts",
}
"""Trigger labels and toon row types -> canonical TRIGGER_TYPES names."""

_SECTION_ROLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("triggers", ("triggers", "trigger", "activation", "when to use")),
    ("collaboration", ("collaboration", "collaborators", "works with", "handoffs", "hand-offs")),
    ("deliverables", ("deliverables", "deliverable", "outputs", "phase outputs")),
    ("competencies", ("competencies", "competency", "capabilities", "expertise", "skills")),
    ("tech_stack", ("tech stack", "technology stack", "technologies", "stack")),
    ("purpose", ("purpose", "role", "overview", "mission", "summary", "about", "description")),
)
"""Which section plays which part, by the words in its heading (first match wins)."""

_ID_KEYS = ("agent_id", "id", "agent")
_HEADER_KEYS = frozenset(
    {"agent_id", "id", "agent", "name", "priority", "version", "status", "category", "tags"}
)
_GENERIC_TECH = frozenset(
    {
        "primary",
        "secondary",
        "supported",
        "optional",
        "recommended",
        "required",
        "preferred",
        "legacy",
        "version",
        "versions",
        "frameworks",
        "framework",
        "libraries",
        "library",
        "tools",
        "tooling",
        "testing",
        "languages",
        "language",
        "orms",
        "orm",
        "databases",
        "database",
        "other",
        "others",
        "core",
        "misc",
        "infrastructure",
        "runtime",
        "runtimes",
        "platforms",
        "platform",
        "services",
        "and",
        "&",
    }
)
_GROUP_NOUNS = frozenset({"agents", "team", "teams", "everyone", "everybody"})
_GROUP_PREFIXES = ("all ", "any ", "other ", "the ")
_COLLAB_SEPARATORS = (" - ", " – ", " — ", ": ", " (")
_PLAIN_HEADER = re.compile(r"(?:[-*+][ \t]+)?([A-Za-z][A-Za-z _-]{0,20}):[ \t]+(\S.*)$")
_FRONT_KEY = re.compile(r"([A-Za-z_][\w-]*)[ \t]*:")
_INT = re.compile(r"[ \t]*([+-]?\d{1,9})(?![\d.])")
_LINE_PREFIX = re.compile(r"line (\d+): (.*)$", re.DOTALL)
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_META_SCOPES = ("agent", "metadata", "meta")

_AGENT_TITLE = re.compile(r"agent\s*(?::|\s[-–—])\s*", re.IGNORECASE)
_IDENTITY_KEYS = frozenset({"id", "agent_id", "name", "priority", "version", "status", "category", "tags"})
"""Keys that become AgentCard fields (or normalised `category`/`tags`) rather than plain metadata."""
_FRONT_CONSUMED = _IDENTITY_KEYS | {
    "triggers",
    "keywords",
    "file_patterns",
    "imports",
    "collaborators",
    "works_with",
    "deliverables",
}
"""Front-matter keys the parser reads into fields; the rest are kept in `metadata` as they are."""


def warning_location(warning: str) -> tuple[int | None, str]:
    """Split a parser warning into its line (when it names one) and its message."""
    match = _LINE_PREFIX.match(warning)
    if match:
        return int(match.group(1)), match.group(2)
    return None, warning


def priority_problem(raw: object) -> str:
    """The message for a priority that is not a whole number (a lint error)."""
    return f"priority {str(raw)[:40]!r} is not a whole number"


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
    return _parse_file(data, str(path)).model_copy()


@functools.lru_cache(maxsize=2048)
def _parse_file(data: bytes, source: str) -> AgentCard:
    """Parse once per content: every run of a process loads the same catalogue."""
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
    return _CardReader(text, source, warnings).read()


def _warn(line: int, message: str) -> str:
    return f"line {line}: {message}"


def _jsonable(value: Any, budget: list[int], depth: int = 0) -> Any:
    """Front-matter data as plain JSON types, bounded (YAML aliases can nest or explode)."""
    budget[0] -= 1
    if budget[0] < 0 or depth > 20:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v, budget, depth + 1) for k, v in list(value.items())[:200]}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v, budget, depth + 1) for v in list(value)[:500]]
    return str(value)


def _as_list(value: Any) -> list[str]:
    """A front-matter or toon value as a list of strings (`"a, b"` -> `["a", "b"]`)."""
    if value is None:
        return []
    if isinstance(value, list):
        out: list[str] = []
        for item in value:
            out.extend(
                _as_list(item)
                if isinstance(item, list)
                else split_items(str(item))
                if item is not None
                else []
            )
        return out
    if isinstance(value, dict):
        return [str(k) for k in value]
    return split_items(str(value))


def _trigger_type(label: str) -> str:
    key = snake(label)
    return TRIGGER_ALIASES.get(key, key)


def _role(key: str) -> str | None:
    words = f" {key.replace('-', ' ')} "
    for role, phrases in _SECTION_ROLES:
        if any(f" {phrase.replace('-', ' ')} " in words for phrase in phrases):
            return role
    return None


def _normalise_group(text: str) -> str:
    words = " ".join(plain(text).lower().split())
    for prefix in _GROUP_PREFIXES:
        rest = words[len(prefix) :]
        if words.startswith(prefix) and rest not in ("agents", "agent", ""):
            words = rest
    return words


def _is_group(text: str) -> bool:
    words = plain(text).lower().split()
    if not words:
        return False
    return words[-1] in _GROUP_NOUNS or (len(words) > 1 and words[0] == "all")


def collaborator_from_text(text: str) -> Collaborator | None:
    """One Works-with entry (`**database-specialist** - Schema design`) -> Collaborator."""
    body = text.strip()
    name, note = "", ""
    for opener, closer in (("**", "**"), ("`", "`"), ("[", "]")):
        if body.startswith(opener):
            end = body.find(closer, len(opener))
            if end > 0:
                name = body[len(opener) : end]
                rest = body[end + len(closer) :]
                if opener == "[" and rest.startswith("("):
                    close = rest.find(")")
                    rest = rest[close + 1 :] if close >= 0 else ""
                note = rest.strip().lstrip("-–—:").strip()
                break
    if not name:
        cut = min((body.find(sep) for sep in _COLLAB_SEPARATORS if body.find(sep) > 0), default=-1)
        name, note = (body[:cut], body[cut:].strip().lstrip("-–—:").strip()) if cut > 0 else (body, "")
    if note.startswith("(") and note.endswith(")"):
        note = note[1:-1].strip()
    name = strip_inline(name).strip().rstrip(":").strip()
    if name.endswith(")") and "(" in name:
        name, extra = name[: name.index("(")].strip(), name[name.index("(") + 1 : -1]
        note = f"{extra}; {note}" if note else extra
    if not name:
        return None
    if is_slug(name):
        return Collaborator(id=name, kind="agent", note=note)
    if _is_group(name):
        return Collaborator(id=_normalise_group(name), kind="group", note=note)
    slug = slugify(name)
    return Collaborator(id=slug, kind="agent", note=note) if slug else None


@dataclass
class _ToonBlock:
    """One ```toon block: its data, the role of the section holding it, its line span."""

    data: dict[str, Any]
    role: str | None
    first: int
    """Index of the block's first content line."""
    end: int
    _keys: dict[str, int] | None = None

    def line_of(self, lines: list[str], key: str) -> int:
        """1-based line where `key` is declared in the block (its first line when unknown)."""
        if self._keys is None:
            self._keys = {}
            for i in range(self.first, self.end):
                stripped = lines[i].strip()
                cut = min((p for p in (stripped.find(":"), stripped.find("[")) if p > 0), default=-1)
                if cut > 0:
                    self._keys.setdefault(unquote(stripped[:cut]), i + 1)
        return self._keys.get(key, self.first + 1)


class _Value:
    """A metadata value and the line it came from."""

    __slots__ = ("line", "origin", "value")

    def __init__(self, value: Any, line: int, origin: str) -> None:
        self.value = value
        self.line = line
        self.origin = origin


class _CardReader:
    """One pass over one card's text. Private: `parse_card` is the interface."""

    def __init__(self, text: str, source: str, warnings: list[str]) -> None:
        self.source = source
        self.warnings = warnings
        self.lines = text.split("\n")
        self.front: dict[str, Any] = {}
        self.front_lines: dict[str, int] = {}
        self.has_front = False
        self.metadata: dict[str, Any] = {}
        self.line_of: dict[str, int] = {}
        self.triggers: dict[str, list[str]] = {}
        self.collaborators: list[Collaborator] = []
        self.deliverables: dict[str, list[str]] = {}
        self.phase_names: dict[str, str] = {}
        self.toon_used = False
        self.seed_body = False
        self._seen: dict[str, set[str]] = {}
        """Items already in each triggers/deliverables list, so adding stays linear."""

    # -- structure -------------------------------------------------------

    def read(self) -> AgentCard:
        start = self._front_matter()
        doc = scan(self.lines, start)
        self.doc = doc
        self.heading_at = {h.index: h for h in doc.headings}
        if doc.unclosed_fence is not None:
            self.warnings.append(
                _warn(doc.unclosed_fence + 1, "code fence is never closed; it runs to the end")
            )
        title = self._title()
        level = self._section_level(title)
        sections = [h for h in doc.headings if h.level == level and h is not title]
        first_section = sections[0].index if sections else len(self.lines)
        footer_start, footer = self._footer(first_section)
        ranges: list[tuple[Heading, int, int]] = []
        current: Heading | None = None
        for heading in doc.headings:
            if heading.level <= level:
                if current is not None:
                    ranges.append((current, current.index + 1, min(heading.index, footer_start)))
                current = heading if heading.level == level and heading is not title else None
        if current is not None:
            ranges.append((current, current.index + 1, footer_start))
        header_start = (title.index + 1) if title is not None and title.index < first_section else start
        self.header, preamble = self._header(header_start, min(first_section, footer_start))
        self.footer = footer
        self.toon = self._toon_blocks(ranges)
        self.sections = {"preamble": preamble} if preamble.strip() else {}
        self.sections.update(self._sections(ranges))
        roles = self._roles(ranges)
        card_id = self._identity()
        name = self._name(title, card_id)
        self._grouping()
        purpose = self._purpose(roles, preamble)
        competencies = self._competencies(roles.get("competencies"), level)
        tech = self._tech_stack(roles.get("tech_stack"), level)
        self._front_lists()
        self._toon_lists()
        self._body_triggers(roles.get("triggers"))
        self._body_collaborators(roles.get("collaboration"))
        self._body_deliverables(roles.get("deliverables"))
        self._phase_tables(ranges)
        self.line_of.update({"id": self.line_of.get("id", 1), "name": self.line_of.get("name", 1)})
        return AgentCard(
            id=card_id,
            name=name,
            priority=self._priority(),
            version=self._text_field("version"),
            status=self._status(),
            purpose=purpose,
            sections=self.sections,
            competencies=competencies,
            tech_stack=tech,
            triggers={k: v for k, v in self.triggers.items() if v},
            collaborators=self.collaborators,
            deliverables={k: v for k, v in self.deliverables.items() if v},
            phase_names=self.phase_names,
            metadata=self.metadata,
            lines=self.line_of,
            source=self.source,
            format=self._format(),
            warnings=self.warnings,
        )

    def _front_matter(self) -> int:
        """Read YAML front matter if the card starts with it; return the first body line index."""
        lines = self.lines
        if not lines or lines[0].strip() != "---":
            return 0
        close = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), None)
        if close is None:
            return 0
        block = lines[1:close]
        first = next((ln for ln in block if ln.strip() and not ln.lstrip().startswith("#")), None)
        if first is not None and not _FRONT_KEY.match(first):
            return 0
        self.has_front = True
        for offset, line in enumerate(block):
            key = _FRONT_KEY.match(line)
            if key:
                self.front_lines.setdefault(key.group(1).lower().replace("-", "_"), offset + 2)
        data: Any = None
        problem = ""
        try:
            data = yaml.load("\n".join(block), Loader=_YAML_LOADER)
        except (yaml.YAMLError, RecursionError, ValueError, TypeError) as exc:
            problem = str(getattr(exc, "problem", None) or type(exc).__name__)
        if data is None and not problem:
            data = {}
        if isinstance(data, dict):
            self.front = {str(k).lower().replace("-", "_"): v for k, v in _jsonable(data, [20_000]).items()}
        else:
            problem = problem or "not a mapping"
            self.front = self._front_by_lines(block)
            self.warnings.append(
                _warn(1, f"front matter is not valid YAML ({problem}); read it line by line")
            )
        return close + 1

    @staticmethod
    def _front_by_lines(block: list[str]) -> dict[str, Any]:
        data: dict[str, Any] = {}
        current: str | None = None
        for line in block:
            key = _FRONT_KEY.match(line)
            if key:
                current = key.group(1).lower().replace("-", "_")
                value = line[key.end() :].strip()
                data[current] = unquote(value) if value else []
            elif (
                current is not None and line.strip().startswith("- ") and isinstance(data.get(current), list)
            ):
                data[current].append(unquote(line.strip()[2:]))
        return data

    def _title(self) -> Heading | None:
        """The `# Agent: Name` heading (any level), else the first level-1 heading."""
        headings = self.doc.headings
        for heading in headings:
            if _AGENT_TITLE.match(plain(heading.text)):
                return heading
        return next((h for h in headings if h.level == 1), None)

    def _section_level(self, title: Heading | None) -> int:
        levels = {h.level for h in self.doc.headings if h is not title}
        if 2 in levels or not levels:
            return 2
        return min(levels)

    def _footer(self, first_section: int) -> tuple[int, dict[str, _Value]]:
        """Trailing `**Key:** value` lines after the card's last rule."""
        lines, fenced = self.lines, self.doc.fenced
        found: dict[str, _Value] = {}
        i = len(lines) - 1
        while i >= first_section:
            line = lines[i]
            if fenced[i]:
                break
            if not line.strip():
                i -= 1
                continue
            label = bold_label(line)
            if label is None or parse_phase_label(label[0]) is not None or not label[1]:
                break
            found.setdefault(snake(label[0]), _Value(label[1], i + 1, "footer"))
            i -= 1
        if found and i >= first_section and is_rule(lines[i]) and not fenced[i]:
            return i, found
        return len(lines), {}

    def _header(self, start: int, end: int) -> tuple[dict[str, _Value], str]:
        """Metadata lines between the title and the first section, and any prose among them.

        Metadata is `**Key:** value`, or `Key: value` for the known keys. The prose
        (the whole body of a front-matter-only card) is returned as markdown.
        """
        found: dict[str, _Value] = {}
        prose: list[str] = []
        for i in range(start, end):
            line = self.lines[i]
            if not self.doc.fenced[i]:
                if is_rule(line) or (line.startswith("#") and i in self.heading_at):
                    continue
                label = bold_label(line)
                if label is None:
                    plain_label = _PLAIN_HEADER.match(line.strip())
                    if plain_label and snake(plain_label.group(1)) in _HEADER_KEYS:
                        label = (plain_label.group(1), plain_label.group(2))
                if label is not None and label[1]:
                    self.seed_body = True
                    found.setdefault(snake(label[0]), _Value(label[1], i + 1, "header"))
                    continue
            prose.append(line)
        return found, "\n".join(prose).strip("\n")

    def _sections(self, ranges: list[tuple[Heading, int, int]]) -> dict[str, str]:
        """Each section's markdown body, keyed by its heading words (repeated keys are joined)."""
        sections: dict[str, str] = {}
        for heading, start, end in ranges:
            body = self.lines[start:end]
            while body and (
                not body[-1].strip() or (is_rule(body[-1]) and not self.doc.fenced[start + len(body) - 1])
            ):
                body.pop()
            while body and not body[0].strip():
                body.pop(0)
            key = heading.key or f"section {heading.index + 1}"
            text = "\n".join(body)
            sections[key] = f"{sections[key]}\n\n{text}" if key in sections else text
        return sections

    def _roles(self, ranges: list[tuple[Heading, int, int]]) -> dict[str, tuple[Heading, int, int]]:
        roles: dict[str, tuple[Heading, int, int]] = {}
        for entry in ranges:
            role = _role(entry[0].key)
            if role is not None and role not in roles:
                roles[role] = entry
        return roles

    def _toon_blocks(self, ranges: list[tuple[Heading, int, int]]) -> list[_ToonBlock]:
        """Every ```toon block, read, with the role of the section holding it."""
        blocks: list[_ToonBlock] = []
        for open_at, close_at, info in self.doc.fences:
            if not info or info.split()[0].lower() != "toon":
                continue
            self.toon_used = True
            data, problems = parse_toon(self.lines[open_at + 1 : close_at], open_at + 2)
            self.warnings.extend(_warn(line, message) for line, message in problems)
            role = next((_role(h.key) for h, s, e in ranges if s <= open_at < e), None)
            blocks.append(_ToonBlock(data, role, open_at + 1, close_at))
        return blocks

    # -- identity and metadata -------------------------------------------

    def _candidates(self, field: str) -> list[_Value]:
        """Every place the card states `field`, in precedence order: front matter, toon, header, footer."""
        keys = _ID_KEYS if field == "id" else (field,)
        out: list[_Value] = []
        for key in keys:
            if key != "agent" and self.front.get(key) not in (None, "", []):
                out.append(_Value(self.front[key], self.front_lines.get(key, 1), "front matter"))
                break
        for block in self.toon:
            scoped = next(
                (block.data[k] for k in _META_SCOPES if isinstance(block.data.get(k), dict)), block.data
            )
            for key in keys:
                if key != "agent" and isinstance(scoped.get(key), str | int | float | list):
                    out.append(_Value(scoped[key], block.line_of(self.lines, key), "toon block"))
                    break
        for source in (self.header, self.footer):
            for key in keys:
                if key in source:
                    out.append(source[key])
                    break
        return out

    def _resolve(self, field: str, candidates: list[_Value], norm: Any) -> _Value | None:
        """First candidate wins; a later one that disagrees is reported with both lines."""
        if not candidates:
            return None
        chosen = candidates[0]
        for other in candidates[1:]:
            if norm(other.value) != norm(chosen.value):
                self.warnings.append(
                    _warn(
                        chosen.line,
                        f"{chosen.origin} {field} {str(chosen.value)!r} (line {chosen.line}) and "
                        f"{other.origin} {field} {str(other.value)!r} (line {other.line}) disagree; "
                        f"using the {chosen.origin}",
                    )
                )
        self.line_of[field] = chosen.line
        return chosen

    def _identity(self) -> str:
        for key, value in [*self.header.items(), *self.footer.items()]:
            if key not in _HEADER_KEYS:
                self.metadata.setdefault(key, value.value)
        candidates = [
            c for c in self._candidates("id") if c.origin != "footer" or is_slug(strip_inline(str(c.value)))
        ]
        front_name = self.front.get("name")
        if not candidates and isinstance(front_name, str) and front_name.strip():
            candidates = [_Value(front_name, self.front_lines.get("name", 1), "front matter")]
        if not candidates:
            candidates = self._id_anywhere()
        chosen = self._resolve("id", candidates, lambda v: slugify(strip_inline(str(v))))
        if chosen is None:
            raise CardError(
                "not an agent card: no agent id "
                "(add `**Agent ID:** your-id` or front matter `name: your-id`)",
                self.source,
                1,
            )
        raw = strip_inline(str(chosen.value))
        if is_slug(raw):
            return raw
        slug = slugify(raw)
        if not slug:
            raise CardError(f"agent id {raw[:40]!r} has no letters or digits", self.source, chosen.line)
        if not (chosen.origin == "front matter" and "id" not in self.front and "agent_id" not in self.front):
            self.warnings.append(_warn(chosen.line, f"agent id {raw[:40]!r} is not a slug; using {slug!r}"))
        return slug

    def _id_anywhere(self) -> list[_Value]:
        """Last resort: an `**Agent ID:**` line outside the header (a card without a title)."""
        for i in range(self.doc.start, len(self.lines)):
            if not self.doc.fenced[i]:
                label = bold_label(self.lines[i])
                if label is not None and label[1] and snake(label[0]) in ("agent_id", "id"):
                    return [_Value(label[1], i + 1, "body")]
        return []

    def _grouping(self) -> None:
        """`category` and `tags`, wherever the card states them, for group resolution."""
        category = self._field("category", lambda v: plain(str(v)).lower())
        if category is not None:
            value = category.value
            self.metadata["category"] = (
                [plain(str(v)).lower() for v in value]
                if isinstance(value, list)
                else (plain(str(value)).lower())
            )
        tags = self._field("tags", lambda v: sorted(t.lower() for t in _as_list(v)))
        if tags is not None:
            self.metadata["tags"] = [plain(t).lower() for t in _as_list(tags.value)]

    def _name(self, title: Heading | None, card_id: str) -> str:
        if title is not None:
            words = plain(title.text)
            prefix = _AGENT_TITLE.match(words)
            if prefix:
                words = words[prefix.end() :].strip()
            if words:
                self.line_of["name"] = title.index + 1
                return words
        for value in self._candidates("name"):
            text = plain(str(value.value))
            if text:
                self.line_of["name"] = value.line
                return title_from_slug(text) if is_slug(text) else text
        self.warnings.append(_warn(1, f"no `# Agent:` title; named the card {title_from_slug(card_id)!r}"))
        return title_from_slug(card_id)

    def _field(self, field: str, norm: Any) -> _Value | None:
        return self._resolve(field, self._candidates(field), norm)

    def _priority(self) -> int | None:
        chosen = self._field("priority", lambda v: str(v).strip().lower())
        if chosen is None:
            return None
        value = chosen.value
        if isinstance(value, bool):
            value = str(value)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        match = _INT.match(strip_inline(str(value)))
        if match:
            return int(match.group(1))
        self.metadata["priority"] = str(value)
        self.warnings.append(_warn(chosen.line, f"{priority_problem(value)}; ignored"))
        return None

    def _text_field(self, field: str) -> str | None:
        chosen = self._field(field, lambda v: strip_inline(str(v)).lower().lstrip("v"))
        if chosen is None:
            return None
        return strip_inline(str(chosen.value)) or None

    def _status(self) -> str | None:
        chosen = self._field("status", lambda v: plain(str(v)).lower())
        if chosen is None:
            return None
        return plain(str(chosen.value)).lower() or None

    def _purpose(self, roles: dict[str, tuple[Heading, int, int]], preamble: str) -> str:
        section = roles.get("purpose")
        description = self.front.get("description")
        if section is not None:
            self.line_of["purpose"] = section[0].index + 1
            return self.sections.get(section[0].key or "", "").strip()
        if isinstance(description, str) and description.strip():
            self.line_of["purpose"] = self.front_lines.get("description", 1)
            return description.strip()
        return preamble

    # -- lists -----------------------------------------------------------

    def _body_lines(self, entry: tuple[Heading, int, int] | None) -> list[int]:
        if entry is None:
            return []
        _heading, start, end = entry
        return [i for i in range(start, end) if not self.doc.fenced[i]]

    def _competencies(self, entry: tuple[Heading, int, int] | None, level: int) -> list[str]:
        if entry is None:
            return []
        _heading, start, end = entry
        subs = [h for h in self.doc.headings if start <= h.index < end and h.level == level + 1]
        if subs:
            return [t for t in (heading_title(h.text) for h in subs) if t]
        items = []
        for i in self._body_lines(entry):
            item = list_item(self.lines[i])
            if item is not None and item[0] == 0:
                label = bold_label(self.lines[i])
                items.append(label[0] if label else strip_inline(item[1]))
        return [i for i in items if i]

    def _tech_stack(self, entry: tuple[Heading, int, int] | None, level: int) -> list[str]:
        """Technologies named by the section's bold labels (`**Django:**`) and sub-headings.

        A sub-heading with named labels under it is a category (`### ORMs`) and is
        skipped; generic words (`Frameworks`, `Testing`, `Primary`) never count, so
        `### Python Versions` (whose labels are `Primary`, `Supported`) gives `Python`.
        """
        if entry is None:
            return []
        _heading, start, end = entry
        found: list[tuple[int, str]] = []
        labels: list[int] = []
        for i in self._body_lines(entry):
            label = bold_label(self.lines[i])
            name = plain(label[0]) if label is not None else ""
            if name and name.lower() not in _GENERIC_TECH:
                found.append((i, name))
                labels.append(i)
        subs = [h for h in self.doc.headings if start <= h.index < end and h.level > level]
        stops = [h.index for h in subs[1:]] + [end]
        for heading, stop in zip(subs, stops[: len(subs)], strict=True):
            words = [w for w in heading_title(heading.text).split() if w.lower() not in _GENERIC_TECH]
            if words and bisect.bisect_right(labels, heading.index) == bisect.bisect_left(labels, stop):
                found.append((heading.index, " ".join(words)))
        names: dict[str, str] = {}
        for _index, name in sorted(found):
            names.setdefault(name.lower(), name)
        return list(names.values())

    def _add_triggers(self, kind: str, values: list[str], line: int) -> None:
        if not values:
            return
        self.line_of.setdefault("triggers", line)
        bucket = self.triggers.setdefault(kind, [])
        seen = self._seen.get(f"triggers.{kind}")
        if seen is None:
            seen = self._seen[f"triggers.{kind}"] = set(bucket)
        for value in values:
            if value not in seen:
                seen.add(value)
                bucket.append(value)

    def _add_collaborator(self, collaborator: Collaborator | None, line: int) -> None:
        if collaborator is None:
            return
        self.line_of.setdefault("collaborators", line)
        if f"collaborators.{collaborator.id}" in self.line_of:
            self.warnings.append(
                _warn(line, f"collaborator {collaborator.id!r} is listed twice; kept the first")
            )
            return
        self.line_of[f"collaborators.{collaborator.id}"] = line
        self.collaborators.append(collaborator)

    def _add_deliverables(self, label: str, name: str, items: list[str], line: int) -> None:
        self.line_of.setdefault(f"deliverables.{label}", line)
        if name:
            self.phase_names.setdefault(label, name)
        bucket = self.deliverables.setdefault(label, [])
        seen = self._seen.get(f"deliverables.{label}")
        if seen is None:
            seen = self._seen[f"deliverables.{label}"] = set(bucket)
        for item in items:
            if item and item not in seen:
                seen.add(item)
                bucket.append(item)

    def _front_lists(self) -> None:
        front = self.front
        triggers = front.get("triggers")
        line = self.front_lines.get("triggers", 1)
        if isinstance(triggers, dict):
            for kind, values in triggers.items():
                self._add_triggers(_trigger_type(str(kind)), _as_list(values), line)
        elif triggers is not None:
            self._add_triggers("keywords", _as_list(triggers), line)
        for key in ("keywords", "file_patterns", "imports"):
            if key in front:
                self._add_triggers(key, _as_list(front[key]), self.front_lines.get(key, 1))
        for key in ("collaborators", "works_with"):
            if key in front:
                self._collaborators_from_data(front[key], self.front_lines.get(key, 1))
        deliverables = front.get("deliverables")
        if isinstance(deliverables, dict):
            for raw_label, items in deliverables.items():
                parsed = parse_phase_label(str(raw_label))
                if parsed is not None:
                    self._add_deliverables(
                        parsed[0], parsed[1], _as_list(items), self.front_lines.get("deliverables", 1)
                    )
        for key, value in front.items():
            if key not in _FRONT_CONSUMED:
                self.metadata.setdefault(key, value)

    def _collaborators_from_data(self, value: Any, line: int) -> None:
        entries = value if isinstance(value, list) else [value] if isinstance(value, str | dict) else []
        for entry in entries:
            if isinstance(entry, dict):
                ident = next((entry[k] for k in ("id", "agent", "name", "group") if entry.get(k)), None)
                note = next(
                    (entry[k] for k in ("note", "notes", "for", "why", "role", "reason") if entry.get(k)), ""
                )
                if ident is None:
                    continue
                found = collaborator_from_text(str(ident))
                if found is not None and note:
                    found = found.model_copy(update={"note": str(note)})
                self._add_collaborator(found, line)
            elif isinstance(entry, str):
                for part in split_items(entry) if "," in entry and " - " not in entry else [entry]:
                    self._add_collaborator(collaborator_from_text(part), line)

    def _toon_lists(self) -> None:
        for block in self.toon:
            for key, value in block.data.items():
                line = block.line_of(self.lines, key)
                target = block.role if key == "" else _role(key.replace("_", " "))
                if target == "triggers":
                    self._toon_triggers(value, line)
                elif target == "collaboration":
                    self._collaborators_from_data(value, line)
                elif target == "deliverables":
                    self._toon_deliverables(value, line)
                elif key in _META_SCOPES and isinstance(value, dict):
                    for inner, item in value.items():
                        if inner not in _IDENTITY_KEYS:
                            self.metadata.setdefault(inner, item)
                elif key and key not in _IDENTITY_KEYS:
                    self.metadata.setdefault(key, value)

    def _toon_triggers(self, value: Any, line: int) -> None:
        if isinstance(value, dict):
            for kind, patterns in value.items():
                self._add_triggers(_trigger_type(str(kind)), _as_list(patterns), line)
            return
        if not isinstance(value, list):
            return
        for row in value:
            if isinstance(row, dict):
                kind = next((row[k] for k in ("type", "kind", "trigger") if row.get(k) is not None), None)
                patterns = next(
                    (
                        row[k]
                        for k in ("pattern", "patterns", "value", "values", "match")
                        if row.get(k) is not None
                    ),
                    None,
                )
                if kind is not None and patterns is not None:
                    self._add_triggers(_trigger_type(str(kind)), _as_list(patterns), line)
            elif row is not None:
                self._add_triggers("keywords", _as_list(row), line)

    def _toon_deliverables(self, value: Any, line: int) -> None:
        rows: list[tuple[Any, Any]] = []
        if isinstance(value, dict):
            rows = list(value.items())
        elif isinstance(value, list):
            for row in value:
                if isinstance(row, dict):
                    label = next(
                        (row[k] for k in ("phase", "label", "stage") if row.get(k) is not None), None
                    )
                    items = next(
                        (
                            row[k]
                            for k in ("output", "outputs", "items", "deliverables", "deliverable")
                            if row.get(k) is not None
                        ),
                        None,
                    )
                    rows.append((label, items))
        for label, items in rows:
            parsed = parse_phase_label(str(label)) if label is not None else None
            if parsed is None:
                self.warnings.append(
                    _warn(line, f"deliverables row {str(label)!r} names no phase number; skipped")
                )
                continue
            self._add_deliverables(parsed[0], parsed[1], _as_list(items), line)

    def _body_triggers(self, entry: tuple[Heading, int, int] | None) -> None:
        current: str | None = None
        current_line = 0
        for i in self._body_lines(entry):
            line = self.lines[i]
            if line.startswith("#"):
                heading = self.heading_at.get(i)
                current = _trigger_type(heading.key) if heading is not None and heading.key else None
                current_line = i + 1
                continue
            label = bold_label(line)
            if label is not None:
                self.seed_body = True
                kind = _trigger_type(label[0])
                if label[1]:
                    self._add_triggers(kind, split_items(label[1]), i + 1)
                    current = None
                else:
                    current, current_line = kind, i + 1
                continue
            item = list_item(line)
            if item is not None and current is not None:
                self._add_triggers(current, split_items(item[1]), current_line)
            elif line.strip() and item is None and not is_rule(line):
                cells = table_cells(line)
                if (
                    cells
                    and len(cells) >= 2
                    and not is_table_rule(cells)
                    and snake(cells[0]) not in ("type", "trigger")
                ):
                    self._add_triggers(_trigger_type(cells[0]), split_items(cells[1]), i + 1)

    def _body_collaborators(self, entry: tuple[Heading, int, int] | None) -> None:
        indices = self._body_lines(entry)
        item_indent: int | None = None
        for i in indices:
            line = self.lines[i]
            label = bold_label(line)
            if label is not None and list_item(line) is None:
                self.seed_body = True
                if label[1]:
                    for part in split_items(label[1]):
                        self._add_collaborator(collaborator_from_text(part), i + 1)
                item_indent = None
                continue
            item = list_item(line)
            if item is not None:
                if item_indent is None:
                    item_indent = item[0]
                if item[0] <= item_indent:
                    self._add_collaborator(collaborator_from_text(item[1]), i + 1)
                continue
            cells = table_cells(line)
            if (
                cells
                and len(cells) >= 1
                and not is_table_rule(cells)
                and snake(cells[0]) not in ("agent", "id", "agent_id", "collaborator", "who")
            ):
                self._add_collaborator(
                    collaborator_from_text(f"{cells[0]} - {cells[1]}" if len(cells) > 1 else cells[0]), i + 1
                )

    def _body_deliverables(self, entry: tuple[Heading, int, int] | None) -> None:
        """Phase labels (bold or sub-heading) and the list items under each; nested items
        join their parent: `Migration scripts (forward migration; rollback script)`."""
        phase: tuple[str, str] | None = None
        phase_line = 0
        item_indent: int | None = None
        pending: list[str] = []
        """The current top-level item followed by its nested items."""

        def flush() -> None:
            if phase is not None and pending:
                text, subs = pending[0], pending[1:]
                if subs and text.endswith(")") and " (" in text:
                    text = f"{text[:-1]}; {'; '.join(subs)})"
                elif subs:
                    text = f"{text} ({'; '.join(subs)})"
                self._add_deliverables(phase[0], phase[1], [text], phase_line)
            pending.clear()

        for i in self._body_lines(entry):
            line = self.lines[i]
            if line.startswith("#"):
                flush()
                heading = self.heading_at.get(i)
                phase = parse_phase_label(heading.text) if heading is not None else None
                phase_line, item_indent = i + 1, None
                if phase is not None:
                    self._add_deliverables(phase[0], phase[1], [], phase_line)
                continue
            label = bold_label(line)
            if label is not None:
                parsed = parse_phase_label(label[0])
                if parsed is not None:
                    flush()
                    self.seed_body = True
                    items = split_items(label[1]) if label[1] else []
                    if list_item(line) is None or not label[1]:
                        phase, phase_line, item_indent = parsed, i + 1, None
                    self._add_deliverables(parsed[0], parsed[1], items, i + 1)
                    continue
                if not label[1]:
                    flush()
                    phase = None
                    self.warnings.append(
                        _warn(
                            i + 1,
                            f"deliverables label {label[0]!r} names no phase number; its items are skipped",
                        )
                    )
                    continue
            item = list_item(line)
            if item is None or phase is None:
                continue
            text = strip_inline(item[1])
            if item_indent is None:
                item_indent = item[0]
            if item[0] > item_indent and pending:
                if text:
                    pending.append(text)
            elif text:
                flush()
                pending.append(text)
        flush()

    def _phase_tables(self, ranges: list[tuple[Heading, int, int]]) -> None:
        """`| Phase | Output |` tables anywhere outside code fences."""
        lines, fenced = self.lines, self.doc.fenced
        i = self.doc.start
        while i < len(lines):
            cells = table_cells(lines[i]) if not fenced[i] and "|" in lines[i] else None
            if not cells or snake(cells[0]) not in ("phase", "phases", "stage") or len(cells) < 2:
                i += 1
                continue
            self.toon_used = True
            i += 1
            while i < len(lines) and not fenced[i]:
                row = table_cells(lines[i])
                if row is None:
                    break
                if not is_table_rule(row):
                    parsed = parse_phase_label(row[0])
                    if parsed is None:
                        self.warnings.append(
                            _warn(i + 1, f"deliverables row {row[0][:40]!r} names no phase number; skipped")
                        )
                    else:
                        items = [x for cell in row[1:] for x in split_items(cell.replace("<br>", ";"))]
                        self._add_deliverables(parsed[0], parsed[1], [strip_inline(x) for x in items], i + 1)
                i += 1

    def _format(self) -> CardFormat:
        if self.has_front:
            if self.toon_used:
                return "frontmatter+toon"
            return "frontmatter+seed" if self.seed_body else "frontmatter"
        return "toon" if self.toon_used else "seed"
