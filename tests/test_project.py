"""ProjectSnapshot: one scan of the project, .gitignore honoured, and fast glob answers."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pathspec
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from orchestrator._manifests import command_words, js_imports, python_imports
from orchestrator.errors import ConfigError, NotFound, UnsafePath
from orchestrator.project import ProjectSnapshot, _suffix


def make_tree(root: Path, files: dict[str, str]) -> Path:
    """Write `files` (posix relative path -> text) under `root` and return root."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def scan(root: Path, files: dict[str, str], **kwargs: int) -> ProjectSnapshot:
    return ProjectSnapshot.scan(make_tree(root, files), **kwargs)


def test_files_are_sorted_posix_paths_relative_to_root(tmp_path: Path) -> None:
    snap = scan(tmp_path, {"b.txt": "", "a/z.py": "", "a.txt": "", "a/b/c.md": ""})
    assert snap.files == ["a.txt", "a/b/c.md", "a/z.py", "b.txt"]
    assert snap.root == tmp_path.resolve()


@pytest.mark.parametrize(
    "skipped",
    [
        ".git/config",
        ".venv/lib/x.py",
        "node_modules/react/index.js",
        ".phasegraph/run/x.md",
        "__pycache__/a.pyc",
    ],
)
def test_tool_and_dependency_folders_are_skipped(tmp_path: Path, skipped: str) -> None:
    snap = scan(tmp_path, {"keep.py": "", skipped: ""})
    assert snap.files == ["keep.py"]


def test_a_virtualenv_under_any_name_is_skipped(tmp_path: Path) -> None:
    snap = scan(tmp_path, {"env39/pyvenv.cfg": "", "env39/lib/x.py": "", "app.py": ""})
    assert snap.files == ["app.py"]


def test_gitignore_is_honoured_with_negation(tmp_path: Path) -> None:
    files = {
        ".gitignore": "*.log\n!keep.log\nbuild/\n/secret.txt\n",
        "a.log": "",
        "keep.log": "",
        "build/out.js": "",
        "src/build/x.py": "",
        "secret.txt": "",
        "src/secret.txt": "",
        "src/app.py": "",
    }
    assert scan(tmp_path, files).files == [".gitignore", "keep.log", "src/app.py", "src/secret.txt"]


def test_nested_gitignore_applies_below_its_folder_and_wins(tmp_path: Path) -> None:
    files = {
        ".gitignore": "*.tmp\n",
        "pkg/.gitignore": "data/\n!important.tmp\n",
        "pkg/data/big.csv": "",
        "data/small.csv": "",
        "pkg/important.tmp": "",
        "other.tmp": "",
    }
    assert scan(tmp_path, files).files == [
        ".gitignore",
        "data/small.csv",
        "pkg/.gitignore",
        "pkg/important.tmp",
    ]


def test_missing_project_dir_is_a_config_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope"):
        ProjectSnapshot.scan(tmp_path / "nope")


def test_scan_stops_at_max_files_and_says_so(tmp_path: Path) -> None:
    snap = scan(tmp_path, {f"f{i:02}.txt": "" for i in range(10)}, max_files=4)
    assert snap.files == ["f00.txt", "f01.txt", "f02.txt", "f03.txt"]
    assert snap.truncated and "stopped after 4 files" in snap.warnings[0]


def test_structure_lists_top_level_entries_and_second_level_folders(tmp_path: Path) -> None:
    snap = scan(
        tmp_path, {"manage.py": "", "app/api/v1/users.py": "", "app/models.py": "", "docs/index.md": ""}
    )
    assert snap.structure == ["app/", "app/api/", "docs/", "manage.py"]


def test_imports_come_from_sources_and_declared_dependencies(tmp_path: Path) -> None:
    snap = scan(
        tmp_path,
        {
            "app/main.py": "import os\nfrom fastapi import FastAPI\nimport sqlalchemy.orm as orm\n"
            "from . import x\n",
            "web/src/App.tsx": "import React from 'react';\nimport { Button } from '@mui/material/Button';\n",
            "requirements.txt": "Django>=5.0  # web\n-r base.txt\nPyJWT[crypto]==2.8\n",
            "web/package.json": '{"dependencies": {"next": "14"}, "devDependencies": {"jest": "29"}}',
            "pyproject.toml": '[project]\nname = "x"\ndependencies = ["celery>=5", "redis"]\n',
            "mobile/lib/main.dart": "import 'package:flutter/material.dart';\nimport 'src/app.dart';\n",
            "mobile/pubspec.yaml": "name: m\ndependencies:\n  flutter_riverpod: ^2.0\n",
        },
    )
    assert snap.imports == [
        "@mui/material", "celery", "django", "fastapi", "jest", "next", "package:flutter",
        "package:flutter_riverpod", "pyjwt", "react", "redis", "sqlalchemy",
    ]  # fmt: skip


def test_config_holds_config_file_names_and_configured_tools(tmp_path: Path) -> None:
    snap = scan(
        tmp_path,
        {
            "alembic.ini": "",
            "web/tsconfig.json": "{}",
            "web/vite.config.ts": "",
            ".env.example": "",
            "app/main.py": "",
            "pyproject.toml": "[tool.pytest.ini_options]\naddopts = '-q'\n[tool.ruff]\n",
            "web/package.json": '{"name": "w", "jest": {}, "scripts": {}}',
            "setup.cfg": "[flake8]\nmax-line-length = 100\n[metadata]\nname = x\n",
        },
    )
    assert snap.config == [
        ".env.example", "alembic.ini", "flake8", "jest", "pyproject.toml", "pytest", "ruff", "setup.cfg",
        "tsconfig.json", "vite.config.ts",
    ]  # fmt: skip


def test_scripts_hold_script_names_and_the_programs_they_run(tmp_path: Path) -> None:
    snap = scan(
        tmp_path,
        {
            "package.json": '{"scripts": {"dev": "vite", "test": "NODE_ENV=test jest --ci"}}',
            "Makefile": ".PHONY: test\ntest:\n\t$(VENV)/bin/pytest -q\n"
            "serve: deps\n\tpython -m uvicorn app:app\n",
            "Procfile": "web: gunicorn app.wsgi\n",
            "pyproject.toml": '[project]\nname = "x"\n[project.scripts]\nmytool = "x:main"\n',
        },
    )
    assert snap.scripts == [
        "dev", "gunicorn", "jest", "mytool", "pytest", "python", "serve", "test", "uvicorn", "vite", "web",
    ]  # fmt: skip


def test_broken_manifest_is_a_warning_not_an_error(tmp_path: Path) -> None:
    snap = scan(tmp_path, {"package.json": "{not json", "pyproject.toml": "[project\n"})
    assert len(snap.warnings) == 2
    assert all("skipped, cannot be read" in w for w in snap.warnings)


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ("NODE_ENV=production next build && jest --ci", {"next", "next build", "jest"}),
        ("poetry run pytest -q", {"poetry", "poetry run", "pytest"}),
        ("python -m pytest tests", {"python", "pytest", "pytest tests"}),
        ("@echo done", {"echo", "echo done"}),
        ("docker compose up -d", {"docker", "docker compose"}),
        ("$(VENV)/bin/ruff check .", {"ruff", "ruff check"}),
        ("gunicorn app:app -w 4 | tee out.log", {"gunicorn", "tee"}),
    ],
)
def test_command_words_name_the_programs_and_sub_commands_a_command_runs(
    command: str, words: set[str]
) -> None:
    assert command_words(command) == words


def test_python_imports_skip_stdlib_and_relative_imports() -> None:
    text = (
        "import os, yaml\nfrom .local import x\nfrom pydantic.fields import Field\n    import numpy as np\n"
    )
    assert python_imports(text) == {"yaml", "pydantic", "numpy"}


def test_js_imports_keep_scoped_packages_and_skip_paths() -> None:
    text = "import a from './a'\nconst e = require(\"express\")\nimport x from '@nestjs/core/x'\n"
    text += "import 'node:fs'"
    assert js_imports(text) == {"express", "@nestjs/core", "fs"}


TREE = {
    "Dockerfile": "",
    "manage.py": "",
    "app/models.py": "",
    "app/migrations/0001_initial.py": "",
    "app/tests/test_models.py": "",
    "migrations/env.py": "",
    "web/src/components/Button.tsx": "",
    "web/src/App.test.tsx": "",
    ".github/workflows/ci.yml": "",
    "docs/index.md": "",
    "x.py/inner.txt": "",
}

PATTERNS = [
    "*.py",
    "*.tsx",
    "*.test.tsx",
    "Dockerfile",
    "Dockerfile*",
    "manage.py",
    "migrations/",
    "migrations/**",
    "/migrations/",
    "**/migrations/*.py",
    "app/*.py",
    "web/src/components/*.tsx",
    ".github/workflows/*.yml",
    "test_*.py",
    "docs",
    "*.go",
    "src/",
    "src/components/",
    "!*.py",
    "**",
    "[Dd]ocker*",
    "x.py",
]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_first_match_agrees_with_pathspec_on_every_pattern(tmp_path: Path, pattern: str) -> None:
    snap = scan(tmp_path, TREE)
    spec = pathspec.PathSpec.from_lines("gitignore", [pattern])
    expected = sorted(spec.match_files(snap.files))
    assert snap.first_match(pattern) == (expected[0] if expected and not pattern.startswith("!") else None)


@pytest.mark.parametrize(
    ("patterns", "expected"),
    [
        (["*.tsx"], ["web/src/App.test.tsx", "web/src/components/Button.tsx"]),
        (["migrations/"], ["app/migrations/0001_initial.py", "migrations/env.py"]),
        (["/migrations/"], ["migrations/env.py"]),
        (
            ["*.py", "!**/tests/*", "!x.py/"],
            ["app/migrations/0001_initial.py", "app/models.py", "manage.py", "migrations/env.py"],
        ),
        ([], []),
    ],
)
def test_matching_uses_gitwildmatch_semantics(
    tmp_path: Path, patterns: list[str], expected: list[str]
) -> None:
    assert scan(tmp_path, TREE).matching(patterns) == expected


NAMES = st.text(alphabet="abcxyz._-", min_size=1, max_size=6).filter(lambda s: s not in (".", ".."))
GLOB_PARTS = st.sampled_from(["*", "?", "a", "b", "x", ".", "_", "**", "[ab]", "y.z", "-"])


@settings(max_examples=150, deadline=None)
@given(
    paths=st.lists(
        st.lists(NAMES, min_size=1, max_size=4).map("/".join), min_size=1, max_size=12, unique=True
    ),
    parts=st.lists(st.one_of(GLOB_PARTS, st.just("/")), min_size=1, max_size=6),
)
def test_first_match_agrees_with_pathspec_on_random_trees(paths: list[str], parts: list[str]) -> None:
    files = sorted(p for p in paths if not any(p.startswith(q + "/") for q in paths))
    snap = ProjectSnapshot(root=Path(os.sep), files=files)
    pattern = "".join(parts)
    try:
        spec = pathspec.PathSpec.from_lines("gitignore", [pattern])
    except ValueError:
        return
    expected = sorted(spec.match_files(files)) if spec.patterns and spec.patterns[0].include else []
    assert snap.first_match(pattern) == (expected[0] if expected else None)


@pytest.mark.parametrize(
    ("kind", "pattern", "expected"),
    [
        ("imports", "FastAPI", "fastapi"),
        ("imports", "python_jose", "python-jose"),
        ("imports", "sqlalchemy*", "sqlalchemy"),
        ("imports", "flask", None),
        ("imports", "sqlalchemy.orm", "sqlalchemy"),
        ("imports", "@nestjs/core/testing", "@nestjs/core"),
        ("imports", "package:flutter/material.dart", "package:flutter"),
        ("config", "alembic.ini", "alembic.ini"),
        ("config", "*.ini", "alembic.ini"),
        ("scripts", "uvicorn", "uvicorn"),
        ("names", "Dockerfile", "Dockerfile"),
    ],
)
def test_first_name_is_case_insensitive_glob_over_the_lists(
    kind: str, pattern: str, expected: str | None
) -> None:
    snap = ProjectSnapshot(
        root=Path(os.sep),
        files=["Dockerfile", "alembic.ini"],
        imports=["@nestjs/core", "fastapi", "package:flutter", "python-jose", "sqlalchemy"],
        config=["alembic.ini"],
        scripts=["uvicorn"],
    )
    assert snap.first_name(kind, pattern) == expected  # type: ignore[arg-type]


def test_read_text_returns_at_most_limit_characters(tmp_path: Path) -> None:
    snap = scan(tmp_path, {"notes.md": "héllo world"})
    assert snap.read_text("notes.md", 5) == "héllo"


@pytest.mark.parametrize("rel", ["../outside.txt", "/etc/passwd", "link/secret.txt"])
def test_read_text_refuses_paths_outside_the_root(tmp_path: Path, rel: str) -> None:
    (tmp_path / "outside.txt").write_text("secret")
    root = make_tree(tmp_path / "project", {"a.txt": "a"})
    (root / "link").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "secret.txt").write_text("s")
    with pytest.raises(UnsafePath):
        ProjectSnapshot.scan(root).read_text(rel, 100)


def test_read_text_of_a_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        scan(tmp_path, {"a.txt": ""}).read_text("b.txt", 10)


def test_symlinked_folders_are_not_followed(tmp_path: Path) -> None:
    outside = make_tree(tmp_path / "outside", {"big.py": ""})
    root = make_tree(tmp_path / "project", {"a.py": ""})
    (root / "vendor").symlink_to(outside, target_is_directory=True)
    assert ProjectSnapshot.scan(root).files == ["a.py"]


IGNORE_LINES = st.lists(
    st.lists(st.one_of(GLOB_PARTS, st.just("/")), min_size=1, max_size=4).map("".join), min_size=1, max_size=4
)


@settings(max_examples=60, deadline=None)
@given(
    paths=st.lists(
        st.lists(NAMES, min_size=1, max_size=3).map("/".join), min_size=1, max_size=8, unique=True
    ),
    lines=IGNORE_LINES,
)
def test_scan_ignores_exactly_what_gitignore_matches(
    tmp_path_factory: pytest.TempPathFactory, paths: list[str], lines: list[str]
) -> None:
    # pathspec reads a run of three or more stars as one star, git as `**`: that case has git
    # itself as the oracle (test_scan_lists_what_git_lists).
    assume(not any("***" in line for line in lines))
    files = sorted(p for p in paths if not any(p.startswith(q + "/") for q in paths) and p != ".gitignore")
    root = make_tree(tmp_path_factory.mktemp("tree"), {p: "" for p in files})
    (root / ".gitignore").write_text("\n".join(lines) + "\n")
    spec = pathspec.GitIgnoreSpec.from_lines(lines)
    expected = sorted(p for p in [*files, ".gitignore"] if not spec.match_file(p))
    assert ProjectSnapshot.scan(root).files == expected


@given(st.lists(st.text(alphabet="ab.", max_size=4), min_size=1, max_size=3).map("/".join))
def test_suffix_agrees_with_os_path_splitext(path: str) -> None:
    assert _suffix(path) == os.path.splitext(path)[1]


def _git_visible(root: Path) -> list[str]:
    """What git itself lists as untracked and not ignored: the oracle for .gitignore semantics."""
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    listed = subprocess.run(
        ["git", "-C", str(root), "ls-files", "--others", "--exclude-standard", "-z"],
        capture_output=True,
        check=True,
    )
    return sorted(p for p in listed.stdout.decode().split("\0") if p)


IGNORE_LINE = (
    st.tuples(st.booleans(), st.lists(st.one_of(GLOB_PARTS, st.just("/")), min_size=1, max_size=4))
    .map(lambda t: ("!" if t[0] else "") + "".join(t[1]))
    .filter(lambda line: any(c.isalpha() or c == "*" for c in line))
)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
@settings(max_examples=40, deadline=None)
@given(
    paths=st.lists(
        st.lists(NAMES, min_size=1, max_size=3).map("/".join), min_size=1, max_size=8, unique=True
    ),
    root_lines=st.lists(IGNORE_LINE, min_size=1, max_size=4),
    nested_lines=st.lists(IGNORE_LINE, max_size=3),
)
@example(paths=["_/_"], root_lines=["*", "!*/**"], nested_lines=[])
@example(paths=["a/b/c.txt", "a/x.py"], root_lines=["a/**", "!a/b/"], nested_lines=[])
@example(paths=["_/_"], root_lines=["*", "!/***"], nested_lines=[])
def test_scan_lists_what_git_lists(
    tmp_path_factory: pytest.TempPathFactory, paths: list[str], root_lines: list[str], nested_lines: list[str]
) -> None:
    files = sorted(p for p in paths if not any(p.startswith(q + "/") for q in paths) and p != ".gitignore")
    root = make_tree(tmp_path_factory.mktemp("git"), {p: "" for p in files})
    (root / ".gitignore").write_text("\n".join(root_lines) + "\n")
    nested = next((p.rsplit("/", 1)[0] for p in files if "/" in p), None)
    if nested and nested_lines:
        (root / nested / ".gitignore").write_text("\n".join(nested_lines) + "\n")
    assert ProjectSnapshot.scan(root).files == _git_visible(root)


def test_git_info_exclude_is_honoured_below_every_gitignore(tmp_path: Path) -> None:
    root = make_tree(tmp_path, {"a.tmp": "", "b.tmp": "", "c.py": "", ".gitignore": "!b.tmp\n"})
    (root / ".git" / "info").mkdir(parents=True)
    (root / ".git" / "info" / "exclude").write_text("*.tmp\n")
    assert ProjectSnapshot.scan(root).files == [".gitignore", "b.tmp", "c.py"]
