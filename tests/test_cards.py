"""The card parser reads the seed card and each card format into the same AgentCard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestrator.cards import (
    Collaborator,
    collaborator_from_text,
    is_card_file,
    load_card,
    parse_card,
    parse_phase_label,
)

FIXTURES = Path(__file__).parent / "fixtures"
SEED = FIXTURES / "seed_backend_python.md"
FORMATS = FIXTURES / "cards" / "formats"


@pytest.fixture(scope="module")
def seed() -> Any:
    return load_card(SEED)


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("id", "backend-python"),
        ("name", "Backend Python Developer"),
        ("priority", 90),
        ("version", "1.0.0"),
        ("status", "active"),
        ("format", "seed"),
        ("metadata", {"last_updated": "2024-11-26"}),
    ],
)
def test_seed_card_metadata(seed: Any, field: str, expected: object) -> None:
    assert getattr(seed, field) == expected


def test_seed_purpose_is_the_purpose_paragraph(seed: Any) -> None:
    assert seed.purpose.startswith("Expert Python backend developer specializing in Django, FastAPI, Flask")
    assert seed.purpose.endswith("Python best practices.")


def test_seed_deliverables_are_keyed_by_phase_label_in_card_order(seed: Any) -> None:
    assert seed.deliverables == {
        "2": [
            "API architecture (Django/FastAPI/Flask)",
            "Database schema (SQLAlchemy/Django ORM)",
            "Authentication strategy",
        ],
        "5b": [
            "Working API endpoints",
            "Database models & migrations",
            "Authentication implementation",
            "API documentation (Swagger/OpenAPI)",
        ],
        "7": ["Unit tests (pytest)", "Integration tests", "API test coverage report"],
    }
    assert seed.phase_names == {"2": "Design", "5b": "Build", "7": "Verify"}


def test_seed_collaborators_are_the_works_with_list_with_notes(seed: Any) -> None:
    assert seed.collaborators == [
        Collaborator(id="database-specialist", kind="agent", note="Schema design, query optimization"),
        Collaborator(id="security-expert", kind="agent", note="Security audits, vulnerability scanning"),
        Collaborator(id="devops-cicd", kind="agent", note="Containerization, deployment"),
        Collaborator(id="qa-automation", kind="agent", note="API testing, pytest strategies"),
    ]


def test_seed_triggers_are_keywords_and_file_patterns(seed: Any) -> None:
    assert seed.triggers == {
        "keywords": ["python", "django", "fastapi", "flask", "api", "backend"],
        "file_patterns": ["*.py", "requirements.txt", "pyproject.toml", "manage.py"],
    }


def test_seed_sections_are_keyed_by_heading_words_without_emoji(seed: Any) -> None:
    assert list(seed.sections) == [
        "purpose",
        "core competencies",
        "tech stack",
        "conventions",
        "best practices",
        "typical workflows",
        "triggers",
        "cross-agent collaboration",
        "deliverables",
    ]


def test_hash_lines_in_code_fences_are_not_headings(seed: Any) -> None:
    assert "settings.py" not in " ".join(seed.sections)
    assert "# settings.py" in seed.sections["tech stack"]


def test_seed_competencies_are_the_numbered_subheadings(seed: Any) -> None:
    assert seed.competencies == [
        "Django Framework",
        "FastAPI Framework",
        "Flask Framework",
        "Database & ORM",
        "API Development",
        "Async Programming",
        "Authentication & Security",
        "Testing",
        "Data Validation",
        "Deployment",
    ]


def test_seed_tech_stack_names_technologies_not_categories(seed: Any) -> None:
    assert seed.tech_stack == ["Python", "Django", "FastAPI", "Flask", "SQLAlchemy 2.0", "Django ORM"]


def test_seed_is_repaired_and_reads_as_if_never_broken(seed: Any) -> None:
    text = "\n".join(seed.sections.values())
    assert "├── myproject/" in seed.sections["conventions"]
    assert "# ✅ Use Pydantic models for validation" in seed.sections["best practices"]
    for broken in ("üé", "‚î", "‚úÖ", "\uf8ff"):
        assert broken not in text
    assert seed.warnings == ["repaired mis-decoded text (mac_roman) in 90 places"]


def test_seed_records_the_line_of_each_field(seed: Any) -> None:
    lines = SEED.read_text(encoding="utf-8").split("\n")
    assert {k: seed.lines[k] for k in ("id", "name", "priority", "version", "status")} == {
        "id": 3,
        "name": 1,
        "priority": 4,
        "version": 5,
        "status": 6,
    }
    for label in ("2", "5b", "7"):
        assert lines[seed.lines[f"deliverables.{label}"] - 1].startswith(f"**Phase {label} (")


def test_seed_deliverables_section_excludes_the_footer(seed: Any) -> None:
    assert seed.sections["deliverables"].endswith("- API test coverage report")


def test_parse_card_accepts_text_and_bytes_alike() -> None:
    data = SEED.read_bytes()
    assert parse_card(data) == parse_card(data.decode("utf-8"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Phase 5b (Build)", ("5b", "Build")),
        ("5b (Build)", ("5b", "Build")),
        ("8 (Docs)", ("8", "Docs")),
        ("7", ("7", "")),
        ("**Phase 2 (Design):**", ("2", "Design")),
        ("Phase 2: Design", ("2", "Design")),
        ("Phase 2 - Design", ("2", "Design")),
        ("Phase 2 Design", ("2", "Design")),
        ("phase 5C", ("5c", "")),
        ("Phase 05a (Write tests)", ("5a", "Write tests")),
        ("Design", None),
        ("2 Design", None),
        ("10. Deployment", None),
        ("5bc", None),
        ("", None),
    ],
)
def test_phase_labels_parse_as_number_letter_and_name(text: str, expected: tuple[str, str] | None) -> None:
    assert parse_phase_label(text) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("backend-python.md", True),
        ("Backend.MD", True),
        ("card.markdown", True),
        ("README.md", False),
        ("readme.md", False),
        ("CHANGELOG.md", False),
        ("_template.md", False),
        (".hidden.md", False),
        ("notes.txt", False),
        ("card.yaml", False),
    ],
)
def test_is_card_file(tmp_path: Path, name: str, expected: bool) -> None:
    path = tmp_path / name
    path.write_text("# Agent: X\n\n**Agent ID:** x\n", encoding="utf-8")
    assert is_card_file(path) is expected


def test_a_directory_is_not_a_card_file(tmp_path: Path) -> None:
    (tmp_path / "dir.md").mkdir()
    assert not is_card_file(tmp_path / "dir.md")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "**database-specialist** - Schema design",
            Collaborator(id="database-specialist", kind="agent", note="Schema design"),
        ),
        ("`qa-automation` — API tests", Collaborator(id="qa-automation", kind="agent", note="API tests")),
        ("devops-cicd: deployment", Collaborator(id="devops-cicd", kind="agent", note="deployment")),
        (
            "[security-expert](security-expert.md) - audits",
            Collaborator(id="security-expert", kind="agent", note="audits"),
        ),
        ("security-expert", Collaborator(id="security-expert", kind="agent", note="")),
        (
            "**All frontend agents** - UI contracts",
            Collaborator(id="frontend agents", kind="group", note="UI contracts"),
        ),
        ("Backend agents", Collaborator(id="backend agents", kind="group", note="")),
        ("all agents - reviews", Collaborator(id="all agents", kind="group", note="reviews")),
        (
            "**Database Specialist** - schemas",
            Collaborator(id="database-specialist", kind="agent", note="schemas"),
        ),
        ("**qa-automation** (test plans)", Collaborator(id="qa-automation", kind="agent", note="test plans")),
        ("", None),
    ],
)
def test_works_with_entries(text: str, expected: Collaborator | None) -> None:
    assert collaborator_from_text(text) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("toon_frontend_react.md", "toon"),
        ("frontmatter_code_reviewer.md", "frontmatter"),
        ("frontmatter_seed_database.md", "frontmatter+seed"),
        ("frontmatter_toon_devops.md", "frontmatter+toon"),
    ],
)
def test_format_is_detected(path: str, expected: str) -> None:
    assert load_card(FORMATS / path).format == expected


def test_toon_triggers_map_row_types_to_trigger_types() -> None:
    card = load_card(FORMATS / "toon_frontend_react.md")
    assert card.triggers == {
        "keywords": ["react", "frontend", "ui", "component", "tsx"],
        "file_patterns": ["*.tsx", "*.jsx", "package.json"],
        "imports": ["react", "react-dom", "next"],
        "structure": ["src/components/", "app/"],
        "config": ["vite.config.ts", "next.config.js", "tsconfig.json"],
        "scripts": ["vite", "next dev"],
    }


def test_toon_trigger_row_of_unknown_type_keeps_its_name_in_snake_case() -> None:
    card = parse_card(
        "# Agent: X\n\n**Agent ID:** x\n\n## Triggers\n\n```toon\ntriggers[1]{type,pattern}:\n"
        '  Env Var,"DATABASE_URL, REDIS_URL"\n```\n'
    )
    assert card.triggers == {"env_var": ["DATABASE_URL", "REDIS_URL"]}


def test_deliverables_table_rows_are_split_into_items() -> None:
    card = load_card(FORMATS / "toon_frontend_react.md")
    assert card.deliverables == {
        "2": ["Component tree", "state management plan"],
        "5b": ["Components", "hooks", "styles"],
        "7": ["Component tests", "accessibility report"],
    }


def test_toon_collaborators_keep_notes_and_groups() -> None:
    card = load_card(FORMATS / "toon_frontend_react.md")
    assert [(c.id, c.kind, c.note) for c in card.collaborators] == [
        ("backend-python", "agent", "API contracts and error shapes"),
        ("qa-automation", "agent", "Component tests, end-to-end tests"),
        ("backend agents", "group", "Shared API schema"),
    ]


def test_front_matter_only_card_takes_id_from_slug_name_and_titles_it() -> None:
    card = load_card(FORMATS / "frontmatter_code_reviewer.md")
    assert (card.id, card.name) == ("code-reviewer", "Code Reviewer")
    assert card.purpose.startswith("Reviews Python changes")
    assert card.metadata["tools"] == "Read, Grep, Glob"
    assert card.metadata["model"] == "sonnet"
    assert card.sections["preamble"].startswith("You are a senior code reviewer.")
    assert card.warnings == []


def test_front_matter_name_that_is_not_a_slug_becomes_name_and_slug_id() -> None:
    card = parse_card("---\nname: Release Manager\ndescription: Ships releases.\n---\n")
    assert (card.id, card.name, card.purpose) == ("release-manager", "Release Manager", "Ships releases.")


def test_front_matter_on_top_of_bold_body_merges_both() -> None:
    card = load_card(FORMATS / "frontmatter_seed_database.md")
    assert (card.id, card.name, card.priority, card.version) == (
        "database-specialist",
        "Database Specialist",
        80,
        "1.3.0",
    )
    assert card.metadata["tags"] == ["sql", "postgres", "backend"]
    assert card.metadata["tools"] == ["Read", "Write", "Bash"]
    assert card.triggers["keywords"] == ["database", "schema", "migration", "sql"]
    assert [c.id for c in card.collaborators] == ["backend-python", "security-expert"]


def test_nested_deliverable_items_stay_with_their_parent() -> None:
    card = load_card(FORMATS / "frontmatter_seed_database.md")
    assert card.deliverables["5b"] == ["Migration scripts (forward migration; rollback script)", "Seed data"]


def test_deliverables_under_phase_subheadings() -> None:
    card = load_card(FORMATS / "frontmatter_seed_database.md")
    assert card.deliverables["2"] == ["Entity-relationship model", "Index plan"]
    assert card.phase_names["7"] == "Verify"


def test_front_matter_metadata_and_toon_blocks_combine() -> None:
    card = load_card(FORMATS / "frontmatter_toon_devops.md")
    assert (card.id, card.name, card.priority, card.status) == (
        "devops-cicd",
        "DevOps & CI/CD Engineer",
        70,
        "active",
    )
    assert card.metadata["aliases"] == ["devops", "cicd"]
    assert card.deliverables["5b"] == ["Dockerfile", "CI workflow", "Helm chart"]
    assert [c.id for c in card.collaborators] == ["backend-python", "security-expert"]


def test_inline_deliverables_after_a_phase_label_are_split() -> None:
    card = parse_card(
        "# Agent: X\n\n**Agent ID:** x\n\n## Deliverables\n\n**Phase 7 (Verify):** A, B (c, d)\n"
    )
    assert card.deliverables == {"7": ["A", "B (c, d)"]}


def test_headings_are_found_by_words_not_emoji() -> None:
    plain_card = parse_card("# Agent: X\n**Agent ID:** x\n## Triggers\n**Keywords:** `a`\n")
    emoji_card = parse_card("# 🤖 Agent: X\n**Agent ID:** x\n## 🎯🎯 Triggers ✨\n**Keywords:** `a`\n")
    assert plain_card.triggers == emoji_card.triggers == {"keywords": ["a"]}
    assert emoji_card.name == "X"


def test_tech_stack_with_bold_labels_only() -> None:
    card = parse_card("# Agent: X\n**Agent ID:** x\n## Tech Stack\n**Django:**\ncode\n**Celery:** queues\n")
    assert card.tech_stack == ["Django", "Celery"]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("# Agent: Backend Python Developer\n**Agent ID:** x\n", "Backend Python Developer"),
        ("# 🤖 Agent: X\n**Agent ID:** x\n", "X"),
        ("# agent - Foo\n**Agent ID:** x\n", "Foo"),
        ("# Agent Smith\n**Agent ID:** x\n", "Agent Smith"),
        ("# Agent: A\n**Agent ID:** x\n## Agent Guidelines\nbe nice\n", "A"),
        ("## Agent Guidelines\n**Agent ID:** qa-bot\n", "QA Bot"),
    ],
)
def test_name_comes_from_the_title(text: str, name: str) -> None:
    assert parse_card(text).name == name


def test_category_and_tags_are_lower_case_wherever_declared() -> None:
    front = parse_card("---\nname: x\ncategory: Backend\ntags: [SQL, Postgres]\n---\n")
    body = parse_card("# Agent: X\n\n**Agent ID:** x\n**Category:** Backend\n**Tags:** SQL, Postgres\n")
    assert front.metadata == body.metadata == {"category": "backend", "tags": ["sql", "postgres"]}
