"""Routing quality on the cards people bring: top-1 accuracy over three card generations.

Run: `.venv/bin/python -m benchmarks.bench_routing_eval [--out FILE]`

`benchmarks/routing_eval/` holds three catalogues written to mimic the card family's
three generations (`gen1_seed`: seed-like cards without Triggers or deliverables;
`gen2_toon`: toon blocks and tables; `gen3_frontmatter`: Claude-Code-style front
matter with a description and a "When to Use" section) and `cases.yaml`, the
(task, phase, expected primary) cases. Each catalogue is loaded as `--agents-dir` on
top of the built-in cards, as a new user would; `builtin` is the built-in catalogue
alone. The project is empty, so only the task and the cards decide. Reported: top-1
accuracy per catalogue, the confusion pairs (expected -> chosen), and whether every card
of each catalogue serves at least one phase of the full pipeline. Results go to
`--out` (default benchmarks/results/routing_eval.md) as markdown.
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from orchestrator.catalog import Catalog
from orchestrator.phases import find_phase, load_pipeline, serves
from orchestrator.project import ProjectSnapshot
from orchestrator.routing import Router

ROOT = Path(__file__).resolve().parent.parent
EVAL_DIR = ROOT / "benchmarks" / "routing_eval"
CASES = EVAL_DIR / "cases.yaml"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "routing_eval.md"


@dataclass
class CatalogueResult:
    """One catalogue's cases: how many the router got right, and what it chose instead."""

    name: str
    total: int = 0
    correct: int = 0
    misses: list[tuple[str, str, str, str]] = field(default_factory=list)
    """(task, phase, expected, chosen) for every miss."""
    idle_cards: list[str] = field(default_factory=list)
    """Cards of the catalogue that serve no phase of the full pipeline."""

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


def load_cases(path: Path = CASES) -> dict[str, list[tuple[str, str, str]]]:
    """Catalogue name -> (task, phase, expected primary) cases."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {name: [(str(t), str(p), str(e)) for t, p, e in rows] for name, rows in data.items()}


def catalogue(name: str) -> Catalog:
    """The built-ins alone (`builtin`), or a generation's folder on top of them."""
    if name == "builtin":
        return Catalog.load()
    return Catalog.load([EVAL_DIR / name])


def evaluate(cases: dict[str, list[tuple[str, str, str]]] | None = None) -> list[CatalogueResult]:
    """Route every case; one result per catalogue, in the order of the cases file."""
    results: list[CatalogueResult] = []
    snapshot = ProjectSnapshot(root=Path("/"))
    full = load_pipeline("full")
    for name, rows in (cases or load_cases()).items():
        cards = catalogue(name)
        router = Router(cards, snapshot)
        result = CatalogueResult(name)
        for task, phase, expected in rows:
            chosen = router.route(task, find_phase(phase)).primary or "-"
            result.total += 1
            if chosen == expected:
                result.correct += 1
            else:
                result.misses.append((task, phase, expected, chosen))
        own = [c for c in cards if name == "builtin" or Path(c.source).parent.name == name]
        result.idle_cards = [c.id for c in own if not any(serves(c, p) for p in full.phases)]
        results.append(result)
    return results


def report(results: list[CatalogueResult]) -> str:
    """The results as markdown: accuracy per catalogue, confusion pairs, idle cards."""
    lines = [
        "| catalogue | cases | top-1 correct | accuracy | cards serving no phase |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        idle = ", ".join(r.idle_cards) or "none"
        lines.append(f"| {r.name} | {r.total} | {r.correct} | {r.accuracy:.1%} | {idle} |")
    total = sum(r.total for r in results)
    correct = sum(r.correct for r in results)
    lines.append(f"| all | {total} | {correct} | {correct / total:.1%} | |")
    pairs = Counter((r.name, m[2], m[3]) for r in results for m in r.misses)
    lines += ["", "Confusion pairs (expected -> chosen):", ""]
    if not pairs:
        lines.append("- none")
    for (name, expected, chosen), count in sorted(pairs.items()):
        tasks = "; ".join(
            f"{m[0]} ({m[1]})"
            for r in results
            if r.name == name
            for m in r.misses
            if m[2:] == (expected, chosen)
        )
        lines.append(f"- {name}: {expected} -> {chosen} x{count}: {tasks}")
    return "\n".join(lines) + "\n"


TITLE = "## Routing evaluation: the cards people bring"
INTRO = """`.venv/bin/python -m benchmarks.bench_routing_eval` (cases and catalogues in
`benchmarks/routing_eval/`; `tests/test_routing_user_cards.py` runs it as a quality gate, >= 90%
top-1 per catalogue). Three catalogues mimic the card family's three generations, each loaded as
`--agents-dir` on top of the built-in cards, empty project: `gen1_seed` (seed-like cards, no
Triggers, no deliverables: Primary Skills bullets, a fenced YAML Tech Stack, one `**Keywords:**`
line), `gen2_toon` (toon lists and tables; one `**Phase 9 (Share) / Phase 10 (Deployment):**`
line), `gen3_frontmatter` (`name`/`description`/`tools` front matter with "Use for ..." clauses and
a "When to Use" section); `builtin` is the built-ins alone. Each user catalogue has 20 cases for
its own cards and 3 whose answer is a built-in. docs/routing.md says which rule fixed what."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    text = f"{TITLE}\n\n{INTRO}\n\n{report(evaluate())}"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text, end="")


if __name__ == "__main__":
    main()
