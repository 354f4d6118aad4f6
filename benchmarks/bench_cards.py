"""Catalogue loading speed: 1,000 generated seed-sized cards in mixed formats.

Run: `.venv/bin/python -m benchmarks.bench_cards [--cards N] [--repeats R] [--out FILE]`

The cards are built from the seed card (`tests/fixtures/seed_backend_python.md`,
about 25 KB and 800 lines, mis-decoded emoji and all) so every one is realistic in
size and needs the same repairs. A fixed mix of formats is generated: the seed
format, the toon/table variant, YAML front matter alone and on top of either body,
and a tenth saved with a BOM and CRLF line endings. `Catalog.load` reads the folder
`--repeats` times; the median is reported as cards per second, next to the
parse-only rate (bytes already in memory) per format. Results are printed as a
markdown table and written to `--out` (default benchmarks/results/cards.md).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from orchestrator.cards import parse_card
from orchestrator.catalog import Catalog

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "tests" / "fixtures" / "seed_backend_python.md"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "cards.md"
TOPICS = ("python", "node", "react", "data", "mobile", "security", "devops", "docs", "ml", "qa")


def _seed_body() -> tuple[str, str]:
    """The seed's text split into its header (up to the first rule) and the rest."""
    text = SEED.read_text(encoding="utf-8")
    head, _, body = text.partition("\n---\n")
    return head, body


def _toon_body(body: str, n: int, ids: list[str]) -> str:
    """The seed body with Triggers, Works-with and Deliverables rewritten in the toon/table variant."""
    start = body.index("## \uf8ffüéØ Triggers")
    topic = TOPICS[n % len(TOPICS)]
    toon = (
        "## Triggers\n\n```toon\ntriggers[4]{type,pattern}:\n"
        f'  keyword,"{topic}, api, service-{n}"\n'
        '  file,"*.py, requirements.txt"\n'
        f'  import,"{topic}, fastapi"\n'
        '  config,"settings.py, .env"\n```\n\n'
        "## Cross-Agent Collaboration\n\n```toon\ncollaborators[2]{id,note}:\n"
        f"  {ids[(n + 1) % len(ids)]},Reviews\n  all {topic} agents,Shared conventions\n```\n\n"
        "## Deliverables\n\n| Phase | Output |\n|---|---|\n"
        "| 2 (Design) | API architecture, Database schema |\n"
        "| 5b (Build) | Working endpoints, Migrations, Docs |\n"
        "| 7 (Verify) | Unit tests, Coverage report |\n"
    )
    return body[:start] + toon


def _card(n: int, ids: list[str], head: str, body: str) -> tuple[str, bytes]:
    """Card number `n` in the format its position in the mix gives it."""
    agent_id = ids[n]
    topic = TOPICS[n % len(TOPICS)]
    header = (
        f"# Agent: Generated {topic.title()} Developer {n}\n\n**Agent ID:** {agent_id}\n"
        f"**Priority:** {n % 100}\n**Version:** 1.{n % 7}.0\n**Status:** Active\n**Category:** {topic}\n"
    )
    seed_body = (
        body.replace("backend-python", agent_id)
        .replace("`python`", f"`{topic}`")
        .replace("**Version:** 1.0.0", f"**Version:** 1.{n % 7}.0")
    )
    front = (
        f"---\nname: {agent_id}\ndescription: Generated {topic} agent number {n}.\ntools: Read, Write\n---\n"
    )
    kind = (
        "seed",
        "seed",
        "seed",
        "seed",
        "toon",
        "toon",
        "frontmatter",
        "frontmatter+seed",
        "frontmatter+toon",
        "seed",
    )[n % 10]
    if kind == "seed":
        text = header + "\n---\n" + seed_body
    elif kind == "toon":
        text = header + "\n---\n" + _toon_body(seed_body, n, ids)
    elif kind == "frontmatter":
        text = front + "\n" + seed_body.split("## \uf8ffüéØ Triggers")[0].replace("## ", "### ")
    elif kind == "frontmatter+seed":
        text = front + header + "\n---\n" + seed_body
    else:
        text = front + header + "\n---\n" + _toon_body(seed_body, n, ids)
    data = text.encode("utf-8")
    if n % 10 == 9:
        data = b"\xef\xbb\xbf" + data.replace(b"\n", b"\r\n")
        kind = "seed (BOM+CRLF)"
    return kind, data


def generate(folder: Path, count: int) -> dict[str, list[bytes]]:
    """Write `count` cards into `folder`; returns the bytes of each card by format."""
    head, body = _seed_body()
    ids = [f"agent-{TOPICS[n % len(TOPICS)]}-{n:04d}" for n in range(count)]
    by_kind: dict[str, list[bytes]] = {}
    for n in range(count):
        kind, data = _card(n, ids, head, body)
        (folder / f"{ids[n]}.md").write_bytes(data)
        by_kind.setdefault(kind, []).append(data)
    return by_kind


def _median_seconds(action: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(count: int, repeats: int) -> str:
    """Generate, measure, and return the results as a markdown table."""
    with tempfile.TemporaryDirectory(prefix="phasegraph-bench-cards-") as tmp:
        folder = Path(tmp)
        by_kind = generate(folder, count)
        total_bytes = sum(len(d) for datas in by_kind.values() for d in datas)
        catalog = Catalog.load([folder], include_builtin=False)
        if len(catalog) != count or catalog.problems:
            raise SystemExit(
                f"benchmark cards did not all load: {len(catalog)} of {count}, {catalog.problems[:3]}"
            )
        formats = Counter(card.format for card in catalog)
        load_s = _median_seconds(lambda: Catalog.load([folder], include_builtin=False), repeats)
        lint_s = _median_seconds(catalog.lint, repeats)
        rows = [
            f"| `Catalog.load` (read + parse + index) | {count} | {total_bytes / count / 1024:.1f} | "
            f"{load_s:.3f} | **{count / load_s:,.0f}** |",
            f"| `Catalog.lint` (already loaded) | {count} | | {lint_s:.3f} | {count / lint_s:,.0f} |",
        ]
        for kind, datas in sorted(by_kind.items()):
            seconds = _median_seconds(lambda datas=datas: [parse_card(d) for d in datas], repeats)
            size = sum(len(d) for d in datas) / len(datas) / 1024
            rows.append(
                f"| `parse_card`, {kind} | {len(datas)} | {size:.1f} | {seconds:.3f} | "
                f"{len(datas) / seconds:,.0f} |"
            )
    lines = [
        f"## Card catalogue: {count:,} generated cards",
        "",
        f"Median of {repeats} runs. Python {platform.python_version()} on {platform.machine()} "
        f"({platform.system()}). Formats detected: "
        + ", ".join(f"{name} {n}" for name, n in sorted(formats.items()))
        + ".",
        "",
        "| What | Cards | KiB/card | Seconds | Cards/s |",
        "|---|---:|---:|---:|---:|",
        *rows,
        "",
        "Reproduce: `.venv/bin/python -m benchmarks.bench_cards`",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cards", type=int, default=1000, help="how many cards to generate (default 1000)")
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed runs; the median is reported (default 5)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="markdown file for the results")
    args = parser.parse_args(argv)
    if args.cards < 10 or args.repeats < 1:
        parser.error("--cards must be at least 10 and --repeats at least 1")
    table = run(args.cards, args.repeats)
    sys.stdout.write(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table, encoding="utf-8")


if __name__ == "__main__":
    main()
