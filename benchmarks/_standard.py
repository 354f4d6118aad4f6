"""The issue's standard set-up, shared by the token, peer and scale benchmarks.

The task: "Design and build a FastAPI service with JWT authentication that stores users in
PostgreSQL, and verify it with pytest". Design by backend-python handing off to
database-specialist and security-expert, build by backend-python, verify by qa-automation, every
card the size of the seed card (~19.5k characters).

The cards are written into the benchmark project's own `agents/` folder, which overrides the
built-in ones by id. Each is the built-in card with two changes: its Works-with and Deliverables
lists are cut to the roles above (so the same plan comes out of phasegraph's router as the peers
are given by hand), and a card shorter than the seed is brought to the seed's size section by
section with the seed's own `###` sub-sections (so every section keeps the seed's share of the
card, and no section phasegraph skips is padded more than one it sends). The peers get exactly
these files as their agents' backstories.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "fastapi-service"
BUILTIN_AGENTS = ROOT / "agents"
SEED = BUILTIN_AGENTS / "backend-python.md"
"""The seed-format card (19,499 characters): the size every standard card is brought to."""

TASK = (
    "Design and build a FastAPI service with JWT authentication that stores users in PostgreSQL, "
    "and verify it with pytest"
)


@dataclass(frozen=True)
class Step:
    """One agent's turn in the standard task, as the peers are told to run it."""

    phase: str
    """Phase key: design, build or verify."""
    agent: str
    role: str
    """`primary`, or `collaborator` (handed work by the phase's primary)."""
    deliverables: tuple[str, ...]


STEPS: tuple[Step, ...] = (
    Step(
        "design",
        "backend-python",
        "primary",
        (
            "API architecture (Django/FastAPI/Flask)",
            "Database schema (SQLAlchemy/Django ORM)",
            "Authentication strategy",
        ),
    ),
    Step(
        "design",
        "database-specialist",
        "collaborator",
        ("Logical data model", "Physical schema DDL", "Indexing strategy", "Migration plan"),
    ),
    Step(
        "design",
        "security-expert",
        "collaborator",
        ("Threat model", "Security requirements", "Access control matrix"),
    ),
    Step(
        "build",
        "backend-python",
        "primary",
        (
            "Working API endpoints",
            "Database models & migrations",
            "Authentication implementation",
            "API documentation (Swagger/OpenAPI)",
        ),
    ),
    Step(
        "verify",
        "qa-automation",
        "primary",
        ("Test execution report", "Coverage report", "Defect list", "Release recommendation"),
    ),
)
"""The five agent turns of the standard task, in the order a sequential crew runs them."""

_LABELS = {"design": "2 (Design)", "build": "5b (Build)", "verify": "7 (Verify)"}
_WORKS_WITH = {
    "backend-python": ("database-specialist", "security-expert"),
    "database-specialist": ("backend-python",),
    "security-expert": ("backend-python",),
    "qa-automation": ("backend-python",),
}
"""Who may hand off to whom: only design's primary has collaborators that serve its phase."""

_FENCE = re.compile(r"^\s*(```|~~~)")


def _split(text: str, marker: str) -> list[str]:
    """`text` cut before every line starting with `marker` outside code fences (first piece: the intro)."""
    pieces: list[list[str]] = [[]]
    fenced = False
    for line in text.splitlines(keepends=True):
        if _FENCE.match(line):
            fenced = not fenced
        if not fenced and line.startswith(marker):
            pieces.append([])
        pieces[-1].append(line)
    return ["".join(p) for p in pieces]


def _key(section: str) -> str:
    """A section's name without emoji (mis-decoded or not): `core competencies`, `best practices critical`."""
    heading = section.splitlines()[0] if section else ""
    return re.sub(r"[^a-z ]+", "", heading.lower()).strip()


def _pad(card: str, seed: str) -> str:
    """`card` with each section grown toward the seed's same section, with the seed's sub-sections."""
    seed_sections = {_key(s): s for s in _split(seed, "## ")[1:]}
    sections = _split(card, "## ")
    growable: list[tuple[int, int, list[str]]] = []
    for i, section in enumerate(sections[1:], start=1):
        first = _key(section).split()[:1]
        model = next((s for k, s in seed_sections.items() if first and k.split()[:1] == first), None)
        if model is None or len(model) <= len(section):
            continue
        subs = [s for s in _split(model, "### ")[1:] if s.split("\n", 1)[0] not in section]
        growable.append((i, len(model), subs))
    target = len(seed)
    grown = True
    while sum(map(len, sections)) < target and grown:
        grown = False
        for i, wanted, subs in growable:
            if subs and len(sections[i]) < wanted and sum(map(len, sections)) < target:
                body = (
                    sections[i].rstrip("\n-").rstrip()
                    + "\n\n"
                    + subs.pop(0).rstrip("\n-").rstrip()
                    + "\n\n---\n\n"
                )
                sections[i] = body
                grown = True
    return "".join(sections)


def _replace_section(card: str, word: str, body: str) -> str:
    """`card` with the body of its section named by `word` replaced, up to the section's first rule."""
    sections = _split(card, "## ")
    for i, section in enumerate(sections[1:], start=1):
        if word in _key(section).split():
            heading, _, rest = section.partition("\n")
            _, rule, tail = rest.partition("\n---")
            sections[i] = f"{heading}\n\n{body.rstrip()}\n" + (rule + tail if rule else "\n")
            return "".join(sections)
    raise ValueError(f"card has no {word!r} section")


def _works_with(card_text: str, agent: str) -> str:
    notes = dict(re.findall(r"^- \*\*([a-z0-9-]+)\*\*\s*[-:–]\s*(.+)$", card_text, flags=re.M))
    lines = [
        f"- **{other}** - {notes.get(other, 'Works on the same service')}" for other in _WORKS_WITH[agent]
    ]
    return "**Works with:**\n" + "\n".join(lines)


def _deliverables(agent: str) -> str:
    blocks = []
    for step in STEPS:
        if step.agent == agent:
            items = "\n".join(f"- {d}" for d in step.deliverables)
            blocks.append(f"**Phase {_LABELS[step.phase]}:**\n{items}")
    return "\n\n".join(blocks)


def standard_card(agent: str) -> str:
    """The standard card of `agent`: built-in content, standard roles, the seed card's size."""
    seed = SEED.read_text(encoding="utf-8")
    text = (BUILTIN_AGENTS / f"{agent}.md").read_text(encoding="utf-8")
    text = _replace_section(text, "collaboration", _works_with(text, agent))
    text = _replace_section(text, "deliverables", _deliverables(agent))
    return _pad(text, seed)


def agents() -> list[str]:
    """The standard set-up's agent ids, in order of first appearance."""
    return list(dict.fromkeys(s.agent for s in STEPS))


def write_project(dest: Path, *, standard_cards: bool = True) -> Path:
    """A copy of the example FastAPI project at `dest` (without any run state a demo left in it),
    with the standard cards in its `agents/`."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns(".phasegraph", "__pycache__", ".venv"))
    with (dest / "pyproject.toml").open("a", encoding="utf-8") as fh:  # the example's tests need FastAPI:
        fh.write("\n[tool.phasegraph]\nchecks = []\n")  # benchmarks measure phasegraph, not them
    if standard_cards:
        folder = dest / "agents"
        folder.mkdir(exist_ok=True)
        for agent in agents():
            (folder / f"{agent}.md").write_text(standard_card(agent), encoding="utf-8")
    return dest


def write_spec(path: Path, project: Path) -> Path:
    """The set-up as JSON for the peer scripts, which run in their own virtual environments."""
    spec = {
        "task": TASK,
        "steps": [asdict(s) for s in STEPS],
        "cards": {a: str(project / "agents" / f"{a}.md") for a in agents()},
    }
    path.write_text(json.dumps(spec, indent=2), encoding="utf-8")
    return path
