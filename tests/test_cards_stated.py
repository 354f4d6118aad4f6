"""What cards without Triggers state about themselves: each extraction rule on real-looking cards."""

from __future__ import annotations

import pytest

from orchestrator._roles import card_roles
from orchestrator.cards import parse_card

SEED_HEAD = (
    "# Agent: {name}\n\n**Agent ID:** {id}\n**Priority:** 80\n\n---\n\n## 🎯 Purpose\n\n{purpose}\n\n---\n\n"
)


def seed(body: str, *, name: str = "Backend Laravel Developer", card_id: str = "backend-laravel") -> str:
    return SEED_HEAD.format(name=name, id=card_id, purpose="PHP backend developer.") + body


@pytest.mark.parametrize(
    ("body", "skills"),
    [
        (
            "## 🔧 Core Competencies\n\n### Primary Skills\n- **Eloquent ORM** - Database modeling\n"
            "- **Laravel Sanctum** - API tokens\n\n### Secondary Skills\n- Blade templates\n",
            ["Eloquent ORM", "Laravel Sanctum", "Blade templates"],
        ),
        (
            "## Core Competencies\n\n- Eloquent ORM: relationships\n  - nested detail\n",
            ["Eloquent ORM", "nested detail"],
        ),
        (
            "## Skills\n\n| Skill | Detail |\n|---|---|\n"
            "| Index mappings | analyzers |\n| Relevance tuning | BM25 |\n",
            ["Index mappings", "Relevance tuning"],
        ),
        (
            "## Core Competencies\n\n```toon\ncompetencies[2]: Jetpack Compose, Room database\n```\n",
            ["Jetpack Compose", "Room database"],
        ),
        (
            "## Core Competencies\n\n```toon\ncompetencies[2]{skill,detail}:\n  Active Record,associations\n"
            "  Sidekiq,background jobs\n```\n",
            ["Active Record", "Sidekiq"],
        ),
    ],
    ids=["bullets-under-sub-headings", "plain-items-any-depth", "table", "toon-list", "toon-rows"],
)
def test_competency_items_become_skills(body: str, skills: list[str]) -> None:
    assert parse_card(seed(body)).skills == skills


@pytest.mark.parametrize(
    ("body", "tech"),
    [
        (
            "## 📚 Tech Stack\n\n```yaml\nlanguage: PHP 8.2+\nframework: Laravel 10.x / 11.x\norm: Eloquent\n"
            "auth: Sanctum, Passport\n```\n",
            ["PHP", "Laravel", "Eloquent", "Sanctum", "Passport"],
        ),
        (
            '## Tech Stack\n\n```toml\nlanguage = "Go 1.22"\nweb = ["Gin", "chi"]\n```\n',
            ["Go", "Gin", "chi"],
        ),
        (
            "## Tech Stack\n\n| Layer | Technology |\n|---|---|\n| UI | Jetpack Compose, Material 3 |\n",
            ["Jetpack Compose", "Material"],
        ),
        ("## Tech Stack\n\n```toon\ntech_stack[2]: SvelteKit, Svelte 5\n```\n", ["SvelteKit", "Svelte"]),
        ("## Tech Stack\n\n```python\nimport django\nx: int = 1\n```\n", []),
        ("## Tech Stack\n\n```\napp -> api -> db\n```\n", []),
    ],
    ids=[
        "fenced-yaml",
        "fenced-toml",
        "table-technology-column",
        "toon-list",
        "code-is-not-a-stack",
        "a-diagram-is-not-a-stack",
    ],
)
def test_tech_stack_values_are_read_with_versions_dropped(body: str, tech: list[str]) -> None:
    assert parse_card(seed(body)).tech_stack == tech


@pytest.mark.parametrize(
    ("description", "uses"),
    [
        (
            "Test strategy, automation, TDD. Use for writing tests, improving coverage and test pipelines.",
            ["writing tests, improving coverage and test pipelines"],
        ),
        (
            "Query specialist. Use PROACTIVELY when SQL queries are slow, for EXPLAIN plans.",
            ["SQL queries are slow, for EXPLAIN plans"],
        ),
        ("Reviews Python changes. Use after any change to Python files.", ["any change to Python files"]),
        ("Reviews Python changes for correctness.", []),
    ],
    ids=["use-for", "use-proactively-when", "use-after", "no-clause"],
)
def test_description_use_clauses_are_read(description: str, uses: list[str]) -> None:
    text = f'---\nname: helper\ndescription: "{description}"\ntools: Read\n---\n\nYou help.\n'
    assert parse_card(text).uses == uses


def test_when_to_use_section_items_and_primary_values_are_uses_not_triggers() -> None:
    text = (
        "---\nname: django-pro\ndescription: Django expert.\n---\n\nYou are a Django specialist.\n\n"
        "## When to Use\n\n**Primary:** Django models, DRF serializers\n- Celery tasks\n"
    )
    card = parse_card(text)
    assert card.uses == ["Django models", "DRF serializers", "Celery tasks"]
    assert card.triggers == {}


def test_keywords_header_line_is_a_keywords_trigger() -> None:
    text = SEED_HEAD.format(name="Backend Go Developer", id="backend-go", purpose="Go services.")
    text = text.replace("**Priority:** 80\n", "**Priority:** 80\n**Keywords:** go, golang, gin\n")
    assert parse_card(text).triggers == {"keywords": ["go", "golang", "gin"]}


@pytest.mark.parametrize(
    ("label", "labels"),
    [
        ("**Phase 9 (Share) / Phase 10 (Deployment):**", {"9": "Share", "10": "Deployment"}),
        ("**Phase 2 (Design) & Phase 5b (Build):**", {"2": "Design", "5b": "Build"}),
        ("**Phase 7 (Verify):**", {"7": "Verify"}),
    ],
)
def test_a_phase_line_naming_several_phases_files_its_items_under_each(
    label: str, labels: dict[str, str]
) -> None:
    card = parse_card(seed(f"## 📦 Deliverables\n\n{label}\n- Release notes\n"))
    assert card.deliverables == {number: ["Release notes"] for number in labels}
    assert card.phase_names == labels


@pytest.mark.parametrize(
    ("card_id", "name", "purpose", "roles"),
    [
        ("slack-notifier", "Slack Notifier", "Posts build summaries and code review links.", ("notify",)),
        ("herald", "Herald", "Posts Slack notifications to the team channel.", ("notify",)),
        ("test-automator", "Test Automator", "Writes code.", ("test",)),
        (
            "frontend-react",
            "Frontend React",
            "React developer who builds UIs and the tests for them.",
            ("code",),
        ),
        ("kubernetes-ops", "Kubernetes Operations", "Runs workloads.", ("ops",)),
        ("technical-writer", "Technical Writer", "Documents.", ("docs",)),
        ("accessibility-auditor", "Accessibility Auditor", "Audits pages.", ("review",)),
        ("kubernetes-specialist", "Kubernetes Specialist", "Keeps clusters healthy.", ("ops",)),
        ("k8s-helper", "K8s Helper", "Helps.", ("ops",)),
        ("chatops-bot", "ChatOps Bot", "Posts updates.", ("notify",)),
    ],
)
def test_role_comes_from_id_and_name_else_the_opening_clause(
    card_id: str, name: str, purpose: str, roles: tuple[str, ...]
) -> None:
    card = parse_card(f"# Agent: {name}\n\n**Agent ID:** {card_id}\n\n## Purpose\n\n{purpose}\n")
    assert card_roles(card) == roles
