"""Routing over real catalogues: (task, project tree, phase) -> primary.

The built-in catalogue (agents/) and the v1 fixture cards (tests/fixtures/catalog_v1/,
cards with no Triggers section, reached only through their implied terms).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.catalog import Catalog
from orchestrator.phases import find_phase
from orchestrator.project import ProjectSnapshot
from orchestrator.routing import Router

V1 = Path(__file__).parent / "fixtures" / "catalog_v1"

STANDARD = (
    "Design and build a FastAPI service with JWT authentication that stores users in PostgreSQL, "
    "and verify it with pytest"
)
"""Issue 7's standard task: backend-python designs and builds, qa-automation verifies."""

PROJECTS: dict[str, dict[str, str]] = {
    "empty": {},
    "fastapi": {
        "app/main.py": "from fastapi import FastAPI\n",
        "requirements.txt": "fastapi\nuvicorn\n",
        "pyproject.toml": '[project]\nname = "svc"\n',
    },
    "django": {
        "manage.py": "import django\n",
        "shop/models.py": "from django.db import models\n",
        "requirements.txt": "Django>=5\n",
    },
    "react": {
        "package.json": '{"dependencies": {"react": "19", "react-dom": "19"}, "scripts": {"dev": "vite"}}',
        "src/App.tsx": "import React from 'react'\n",
        "vite.config.ts": "",
    },
    "nest": {
        "package.json": '{"dependencies": {"@nestjs/core": "10"}, "scripts": {"start": "nest start"}}',
        "src/main.ts": "import { NestFactory } from '@nestjs/core';\n",
        "src/app.module.ts": "",
        "nest-cli.json": "{}",
    },
    "flutter": {
        "pubspec.yaml": "name: app\ndependencies:\n  flutter_riverpod: ^2.0\n",
        "lib/main.dart": "import 'package:flutter/material.dart';\n",
        "android/app/build.gradle": "",
        "ios/Runner/Info.plist": "",
    },
    "dbt": {
        "dbt_project.yml": "name: warehouse\n",
        "models/staging/orders.sql": "select 1\n",
        "dags/load.py": "from airflow import DAG\n",
    },
    "ml": {"train.py": "import torch\nimport sklearn\n", "notebooks/explore.ipynb": "{}", "params.yaml": ""},
    "infra": {
        "Dockerfile": "FROM python:3.12\n",
        ".github/workflows/ci.yml": "",
        "k8s/deploy.yaml": "",
        "main.tf": "",
    },
    "docs": {"mkdocs.yml": "site_name: x\n", "docs/index.md": "# x\n", "CHANGELOG.md": ""},
    "perf": {
        "locustfile.py": "from locust import HttpUser\n",
        "k6/checkout.js": "import http from 'k6/http';\n",
    },
    "security": {".semgrep.yml": "", "SECURITY.md": "", ".gitleaks.toml": ""},
    "api": {"openapi.yaml": "openapi: 3.1.0\n", "proto/orders.proto": "", ".spectral.yaml": ""},
    "qa": {
        "playwright.config.ts": "",
        "e2e/login.spec.ts": "import { test } from '@playwright/test';\n",
        "package.json": '{"devDependencies": {"@playwright/test": "1"}}',
    },
    "architecture": {"docs/adr/0001-record.md": "", "ARCHITECTURE.md": "", "workspace.dsl": ""},
    "database": {"alembic.ini": "", "alembic/versions/001_init.py": "", "db/schema.sql": ""},
}

VAGUE = "Improve this project"

BUILTIN_CASES = [
    # The task names the technology or the work.
    ("Add JWT auth to the FastAPI service", "empty", "design", "backend-python"),
    (STANDARD, "empty", "design", "backend-python"),
    (STANDARD, "empty", "build", "backend-python"),
    (STANDARD, "empty", "verify", "qa-automation"),
    ("Set up monitoring and alerts for the API", "empty", "build", "devops-cicd"),
    ("Build a Django REST endpoint for orders", "empty", "build", "backend-python"),
    ("Create the PostgreSQL schema and migrations", "empty", "design", "database-specialist"),
    ("Fix the slow query on the orders table with a new index", "empty", "build", "database-specialist"),
    ("Set up GitHub Actions CI and Docker", "empty", "build", "devops-cicd"),
    ("Deploy the service to Kubernetes with Helm", "empty", "build", "devops-cicd"),
    ("Write Playwright end-to-end tests for checkout", "empty", "verify", "qa-automation"),
    ("Build a React dashboard for sales", "empty", "build", "frontend-react"),
    ("Threat model the checkout and run an OWASP audit", "empty", "design", "security-expert"),
    ("Design a microservices architecture with bounded contexts", "empty", "design", "solution-architect"),
    ("Write the user guide and the changelog", "empty", "document", "technical-writer"),
    ("Port the service to Node.js with NestJS", "empty", "build", "backend-node"),
    ("Define the OpenAPI contract for the orders API", "empty", "design", "api-designer"),
    ("Build an Airflow DAG that loads events into Snowflake", "empty", "build", "data-engineer"),
    ("Train a churn classifier with PyTorch", "empty", "build", "ml-engineer"),
    ("Load test the checkout with k6 and cut p95 latency", "empty", "verify", "performance-engineer"),
    ("Build a Flutter app for iOS and Android", "empty", "build", "mobile-flutter"),
    ("Write release notes for version 2.0", "empty", "share", "technical-writer"),
    # Naming an agent wins over the task's keywords.
    ("Ask the technical-writer to look at the Django API", "empty", "design", "technical-writer"),
    ("@devops-cicd: make the pytest suite faster", "empty", "build", "devops-cicd"),
    ("Have the Security Expert check the React components", "empty", "build", "security-expert"),
    # Project-only signals: no keyword in the task, the files decide.
    (VAGUE, "fastapi", "build", "backend-python"),
    (VAGUE, "django", "design", "backend-python"),
    (VAGUE, "react", "build", "frontend-react"),
    (VAGUE, "nest", "build", "backend-node"),
    (VAGUE, "flutter", "build", "mobile-flutter"),
    (VAGUE, "dbt", "build", "data-engineer"),
    (VAGUE, "ml", "build", "ml-engineer"),
    (VAGUE, "infra", "build", "devops-cicd"),
    (VAGUE, "docs", "verify", "technical-writer"),
    (VAGUE, "database", "design", "database-specialist"),
    (VAGUE, "security", "verify", "security-expert"),
    (VAGUE, "api", "design", "api-designer"),
    (VAGUE, "qa", "verify", "qa-automation"),
    (VAGUE, "perf", "verify", "performance-engineer"),
    (VAGUE, "architecture", "design", "solution-architect"),
    # The same task in different projects goes to different agents.
    ("Add an endpoint to list orders", "fastapi", "build", "backend-python"),
    ("Add an endpoint to list orders", "nest", "build", "backend-node"),
    # A task keyword for another agent beats the project's generic signals.
    ("Add Redis caching to the checkout", "fastapi", "design", "performance-engineer"),
    ("Write Playwright tests for the login page", "fastapi", "verify", "qa-automation"),
    ("Add a React settings page", "fastapi", "build", "frontend-react"),
    ("Containerize the service", "fastapi", "build", "devops-cicd"),
    # Phases only specialists serve still get one once the task matched someone.
    ("Add JWT auth to the FastAPI service", "empty", "document", "technical-writer"),
    ("Add JWT auth to the FastAPI service", "empty", "plan-tests", "qa-automation"),
    # An exact tie (api: 5 for backend-python, caching: 5 for performance-engineer): priority 90 > 72.
    ("Add caching to the API", "empty", "design", "backend-python"),
    # All serving cards score zero: the highest priority takes the phase (95 > 86 > 78).
    ("Tidy up", "fastapi", "review", "solution-architect"),
    # Nothing matches anywhere: no primary.
    ("Write a haiku about the sea", "empty", "design", None),
]


@pytest.fixture(scope="module")
def builtin() -> Catalog:
    return Catalog.load(include_builtin=True)


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ProjectSnapshot]:
    """Each project tree written once and scanned once for the whole table."""
    out: dict[str, ProjectSnapshot] = {}
    for name, files in PROJECTS.items():
        root = tmp_path_factory.mktemp(name)
        for rel, text in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text, encoding="utf-8")
        out[name] = ProjectSnapshot.scan(root)
    return out


@pytest.mark.parametrize(
    ("task", "project", "phase", "primary"),
    BUILTIN_CASES,
    ids=[f"{c[1]}-{c[2]}-{c[3]}-{c[0][:30]}" for c in BUILTIN_CASES],
)
def test_builtin_catalogue_routes_to_the_expected_primary(
    builtin: Catalog,
    snapshots: dict[str, ProjectSnapshot],
    task: str,
    project: str,
    phase: str,
    primary: str | None,
) -> None:
    route = Router(builtin, snapshots[project]).route(task, find_phase(phase))
    assert route.primary == primary, [(c.id, c.score) for c in route.candidates[:3]]


def test_a_competency_item_breaks_what_was_a_tie(
    builtin: Catalog, snapshots: dict[str, ProjectSnapshot]
) -> None:
    route = Router(builtin, snapshots["empty"]).route("Add caching to the API", find_phase("design"))
    first, second = route.candidates[:2]
    assert (first.id, second.id) == ("backend-python", "performance-engineer")
    assert first.score > second.score
    assert ("implied:skill", "caching") in {(r.trigger, r.pattern) for r in first.reasons}


def test_table_covers_every_builtin_agent(builtin: Catalog) -> None:
    assert {c[3] for c in BUILTIN_CASES} - {None} == set(builtin.cards)


def test_table_has_at_least_thirty_cases() -> None:
    assert len(BUILTIN_CASES) >= 30


def test_every_builtin_agent_is_reachable_from_its_own_name(builtin: Catalog) -> None:
    router = Router(builtin, ProjectSnapshot(root=Path("/")))
    for card in builtin:
        phase = find_phase(next(iter(card.deliverables)))
        assert router.route(f"Ask the {card.name} for help", phase).primary == card.id


V1_CASES = [
    ("Audit the signup form against WCAG and fix screen reader issues", "verify", "accessibility-expert"),
    ("Make the checkout keyboard accessible with correct ARIA", "ui", "accessibility-expert"),
    ("Analyse the A/B test results in a Jupyter notebook", "design", "data-analyst"),
    ("Define the KPI for weekly active users and a Looker report", "verify", "data-analyst"),
    ("Write a Go HTTP service with Gin", "build", "go-backend"),
    ("Add gRPC endpoints to the golang service", "design", "go-backend"),
    ("Build the settings screen in SwiftUI", "build", "ios-swift"),
    ("Submit the iPhone app to the App Store with Xcode", "verify", "ios-swift"),
    ("Write a command-line tool in Rust with Clap", "build", "rust-systems"),
    ("Make the Tokio network service faster", "design", "rust-systems"),
    ("Provision the VPC and subnets with Terraform", "build", "terraform-infra"),
    ("Tighten IAM least privilege for the AWS account", "design", "terraform-infra"),
]


@pytest.fixture(scope="module")
def v1_router() -> Router:
    return Router(Catalog.load([V1], include_builtin=False), ProjectSnapshot(root=Path("/")))


@pytest.mark.parametrize(("task", "phase", "primary"), V1_CASES, ids=[c[2] + "-" + c[1] for c in V1_CASES])
def test_v1_cards_without_triggers_are_reached_by_implied_terms(
    v1_router: Router, task: str, phase: str, primary: str
) -> None:
    route = v1_router.route(task, find_phase(phase))
    assert route.primary == primary, [(c.id, c.score) for c in route.candidates[:3]]
    assert all(r.trigger.startswith(("implied:", "stated:", "agent")) for r in route.candidates[0].reasons)


@pytest.mark.parametrize(
    ("task", "phase", "primary"),
    [
        ("Build the settings screen in SwiftUI", "build", "ios-swift"),
        ("Write a Go HTTP service with Gin", "build", "go-backend"),
        ("Audit the signup form against WCAG", "verify", "accessibility-expert"),
    ],
)
def test_v1_cards_are_reachable_beside_the_builtin_catalogue_when_no_trigger_competes(
    task: str, phase: str, primary: str
) -> None:
    router = Router(Catalog.load([V1]), ProjectSnapshot(root=Path("/")))
    assert router.route(task, find_phase(phase)).primary == primary
