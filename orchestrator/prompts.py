"""Prompts: Jinja2 templates from `prompts/`, rendered deterministically.

A project's own `prompts/` folder overrides the built-in templates file by file.
Material (project files, earlier deliverables, briefs) enters a prompt only
through `data_block`, delimited and escaped, so it can never pose as an instruction.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import jinja2

from orchestrator._resources import builtin_dir
from orchestrator.cards import AgentCard
from orchestrator.errors import CardError
from orchestrator.runtime import current_runtime

AGENT_SYSTEM = "agent_system.md.j2"
PHASE_INSTRUCTIONS = "phase_instructions.md.j2"
HANDOFF_BRIEF = "handoff_brief.md.j2"
REPAIR_REQUEST = "repair_request.md.j2"
FIX_REQUEST = "fix_request.md.j2"


def data_block(kind: str, label: str, text: str) -> str:
    """Wrap material in a `<data>` block; a closing tag inside the text is escaped."""
    safe = text.replace("</data", "<\\/data")
    label = label.replace('"', "'")
    return f'<data kind="{kind}" name="{label}">\n{safe.rstrip()}\n</data>\n'


_LONG_SECTION = 3_000
"""A section longer than this is cut down to the sub-sections the task is about."""
_GENERIC = frozenset(
    {
        "best",
        "practice",
        "practices",
        "pattern",
        "patterns",
        "the",
        "and",
        "for",
        "with",
        "of",
        "to",
        "a",
        "in",
        "on",
        "general",
        "common",
        "use",
        "using",
    }
)


def _stem(word: str) -> str:
    for suffix in ("ing", "es", "ed", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def focus_terms(*texts: str) -> frozenset[str]:
    """Stemmed words of the task and of the routing matches: what a prompt is about."""
    words = re.findall(r"[a-z0-9][a-z0-9+#.]*", " ".join(texts).lower())
    return frozenset(_stem(w.strip(".")) for w in words if w.strip(".") not in _GENERIC)


def _focused(body: str, focus: frozenset[str]) -> str:
    """A long section cut to its intro and the `###` sub-sections whose heading shares a focus word.

    With no sub-section in focus, the first one stays, so the agent still sees the card's style.
    """
    if len(body) <= _LONG_SECTION:
        return body
    parts = re.split(r"(?m)^(?=### )", body)
    intro, subs = (parts[0], parts[1:]) if not parts[0].startswith("### ") else ("", parts)
    if not subs:
        return body
    chosen = [sub for sub in subs if focus_terms(sub.splitlines()[0].lstrip("# ")) & focus] or subs[:1]
    return (intro + "".join(chosen)).strip()


def card_sections(
    card: AgentCard, wanted: Iterable[str], focus: frozenset[str] = frozenset()
) -> list[tuple[str, str]]:
    """The card's sections whose heading starts with one of `wanted`, in `wanted` order.

    Long sections keep only the sub-sections `focus` points at (see `_focused`).
    """
    chosen: list[tuple[str, str]] = []
    for want in wanted:
        for key, body in card.sections.items():
            if key.startswith(want) and body.strip():
                chosen.append((key.title(), _focused(body.strip(), focus)))
                break
    return chosen


class _CompiledTemplates(jinja2.BytecodeCache):
    """Templates compiled once per runtime, though each run has a `PromptBook` (and a Jinja2
    environment) of its own: compiling them was a good part of every run's set-up. A template
    whose text changed has another checksum and is compiled again."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


class PromptBook:
    """The templates of one run: project folder first, then the built-ins."""

    def __init__(self, dirs: Sequence[Path] = ()) -> None:
        search = [str(d) for d in dirs if d.is_dir()] + [str(builtin_dir("prompts"))]
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(search),
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=True,
            trim_blocks=False,
            bytecode_cache=current_runtime().once(("compiled templates",), _CompiledTemplates),
        )
        self._env.globals["data"] = lambda text, kind="brief", name="brief": data_block(kind, name, text)

    def render(self, name: str, **context: Any) -> str:
        """Render template `name`; a broken template is a CardError naming file and line."""
        try:
            template = self._env.get_template(name)
            return template.render(**context).strip() + "\n"
        except jinja2.TemplateSyntaxError as exc:
            raise CardError(
                exc.message or "template syntax error", exc.filename or name, exc.lineno
            ) from None
        except jinja2.TemplateNotFound:
            raise CardError("prompt template not found", name) from None
        except jinja2.UndefinedError as exc:
            raise CardError(f"template uses an unknown value: {exc.message}", name) from None
