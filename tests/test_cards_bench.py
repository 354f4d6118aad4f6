"""The card benchmark generates realistic cards of every format, and all of them load."""

from __future__ import annotations

from pathlib import Path

from benchmarks.bench_cards import generate, main
from orchestrator.catalog import Catalog


def test_generated_cards_cover_every_format_and_all_load(tmp_path: Path) -> None:
    by_kind = generate(tmp_path, 20)
    catalog = Catalog.load([tmp_path], include_builtin=False)
    assert len(catalog) == 20
    assert catalog.problems == []
    assert {card.format for card in catalog} == {
        "seed",
        "toon",
        "frontmatter",
        "frontmatter+seed",
        "frontmatter+toon",
    }
    assert sum(len(v) for v in by_kind.values()) == 20
    assert all(card.deliverables for card in catalog if card.format != "frontmatter")


def test_benchmark_writes_a_markdown_table(tmp_path: Path) -> None:
    out = tmp_path / "cards.md"
    main(["--cards", "10", "--repeats", "1", "--out", str(out)])
    table = out.read_text(encoding="utf-8")
    assert "| `Catalog.load` (read + parse + index) | 10 |" in table
    assert "Cards/s" in table
