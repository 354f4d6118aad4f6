"""ProjectSnapshot: one scan of the project directory, taken once per run.

Routing asks the project many questions (does it have `*.sql` files? does it import
`sqlalchemy`? does its Makefile run `pytest`?). They are all answered from this one
snapshot: the file list (honouring `.gitignore`), the imports of its sources, its
top-level structure, and the config and script names its manifests declare.
"""

from __future__ import annotations

import bisect
import fnmatch
import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Literal

import pathspec
from pydantic import BaseModel, Field, PrivateAttr

from orchestrator._manifests import (
    DART_SOURCES,
    JS_SOURCES,
    PYTHON_SOURCES,
    Declared,
    dart_imports,
    is_manifest,
    js_imports,
    python_imports,
    read_manifest,
)
from orchestrator.errors import ConfigError, NotFound, UnsafePath

SKIP_DIRS = frozenset(
    {
        ".git", ".hg", ".svn", ".venv", "venv", "node_modules", "bower_components", ".phasegraph",
        "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".hypothesis", ".tox", ".nox",
        ".eggs", ".cache", ".direnv", ".terraform", ".next", ".nuxt", ".gradle", ".idea", "site-packages",
    }
)  # fmt: skip
"""Directories never scanned: version control, virtualenvs, dependency and tool caches."""

MAX_SOURCE_FILES = 2_000
"""Sources read for imports, shallowest first: the main code sits near the top and large
repositories repeat the same imports, so a sample keeps the scan close to a bare walk."""
SOURCE_HEAD_BYTES = 8_192
"""Bytes read from the start of each source; imports are at the top."""
MAX_MANIFESTS = 200
"""Manifests (pyproject.toml, package.json, Makefile, ...) read, shallowest first."""

_CONFIG_SUFFIXES = frozenset({".ini", ".cfg", ".conf", ".toml", ".yaml", ".yml", ".properties", ".env"})
_CONFIG_STEM = re.compile(r"(?:config|settings)$", re.I)
_SOURCES = PYTHON_SOURCES | JS_SOURCES | DART_SOURCES
_SUFFIX_GLOB = re.compile(r"^\*\.[^*?\[\\/]+$")
"""`*.py`, `*.test.ts`: answered from an index of name suffixes."""
_FLOATING = "^(?:.+/)?"
"""How pathspec starts the regex of a glob that may match at any depth."""
_WILDCARD = re.compile(r"[*?\[\\]")

NameKind = Literal["imports", "config", "scripts", "names"]


class _PathIndex:
    """Answers "which file does this glob match first?" without testing every file each time.

    A glob without an inner `/` (`*.py`, `Dockerfile`, `migrations/`) can match any path
    component, so it is tested once per distinct file or directory name; a glob with one
    is tested only on files under its literal leading directories, after a cheap substring
    check. Answers are cached per pattern, so cards sharing a pattern share the work.
    """

    def __init__(self, snapshot: ProjectSnapshot) -> None:
        self.files = snapshot.files
        self.names: dict[str, int] = {}
        for index, path in enumerate(self.files):
            parts = path.split("/")
            for part in parts[:-1]:
                self.names.setdefault(part + "/", index)
            self.names.setdefault(parts[-1], index)
        self.suffixes: dict[str, int] = {}
        for name, index in self.names.items():
            stem = name.rstrip("/")
            dot = stem.find(".")
            while dot != -1:
                if index < self.suffixes.get(stem[dot:], len(self.files)):
                    self.suffixes[stem[dot:]] = index
                dot = stem.find(".", dot + 1)
        self.lists: dict[str, list[str]] = {
            "imports": snapshot.imports,
            "config": snapshot.config,
            "scripts": snapshot.scripts,
            "names": sorted({p.rsplit("/", 1)[-1] for p in self.files}),
        }
        self.cache: dict[tuple[str, str], str | None] = {}
        self.folded: dict[str, dict[str, str]] = {}

    def first_match(self, pattern: str) -> str | None:
        key = ("files", pattern)
        if key not in self.cache:
            self.cache[key] = self._first_match(pattern.strip())
        return self.cache[key]

    def first_name(self, kind: str, pattern: str) -> str | None:
        key = (kind, pattern)
        if key not in self.cache:
            self.cache[key] = self._first_name(kind, pattern.strip())
        return self.cache[key]

    def _first_match(self, pattern: str) -> str | None:
        if not pattern or pattern.startswith(("!", "#")):
            return None
        compiled = pathspec.PathSpec.from_lines("gitignore", [pattern]).patterns
        if not compiled or not isinstance(compiled[0], pathspec.RegexPattern) or compiled[0].regex is None:
            return None
        regex = compiled[0].regex
        needle = _needle(pattern)
        if regex.pattern.startswith(_FLOATING) and "/" not in pattern.rstrip("/"):
            return self._first_by_name(pattern, regex, needle)
        prefix = ""
        if regex.pattern.startswith("^"):
            literal = _WILDCARD.split(pattern.lstrip("/"), 1)[0]
            prefix = literal[: literal.rfind("/") + 1]
        start = bisect.bisect_left(self.files, prefix)
        for path in self.files[start:]:
            if not path.startswith(prefix):
                break
            if needle in path and regex.search(path):
                return path
        return None

    def _first_by_name(self, pattern: str, regex: re.Pattern[str], needle: str) -> str | None:
        """A slash-free glob matches a file when it matches any component of its path."""
        if not _WILDCARD.search(pattern):
            hits = [self.names.get(pattern.rstrip("/") + "/")]
            if not pattern.endswith("/"):
                hits.append(self.names.get(pattern))
        elif _SUFFIX_GLOB.match(pattern):
            hits = [self.suffixes.get(pattern[1:])]
        else:
            hits = [i for name, i in self.names.items() if needle in name and regex.search(name)]
        found = [i for i in hits if i is not None]
        return self.files[min(found)] if found else None

    def _first_name(self, kind: str, pattern: str) -> str | None:
        if not pattern:
            return None
        fold = _fold_import if kind == "imports" else str.lower
        wanted = fold(pattern)
        if not _WILDCARD.search(pattern):
            exact = self._exact(kind, fold)
            found = exact.get(wanted)
            if found is None and kind == "imports":
                found = exact.get(_package(wanted))
            return found
        regex = re.compile(fnmatch.translate(wanted))
        return next((e for e in self.lists[kind] if regex.match(fold(e))), None)

    def _exact(self, kind: str, fold: Callable[[str], str]) -> dict[str, str]:
        """Folded entry -> first entry with that folded form, built once per list."""
        if kind not in self.folded:
            self.folded[kind] = {}
            for entry in self.lists[kind]:
                self.folded[kind].setdefault(fold(entry), entry)
        return self.folded[kind]


def project_dir(path: Path) -> Path:
    """`path` resolved when it is a directory; otherwise the one error every entry point gives."""
    if not path.is_dir():
        raise ConfigError(f"--project-dir {path}: not a directory")
    return path.resolve()


class ProjectSnapshot(BaseModel):
    """What the project holds, as far as routing and prompts need to know."""

    root: Path
    """The scanned directory, absolute."""
    files: list[str] = Field(default_factory=list)
    """Every file not ignored: posix paths relative to root, sorted."""
    imports: list[str] = Field(default_factory=list)
    """Packages the project imports or declares as dependencies (`fastapi`, `react`), sorted."""
    structure: list[str] = Field(default_factory=list)
    """Top-level files, top-level directories and their sub-directories (`app/`, `app/api/`), sorted."""
    config: list[str] = Field(default_factory=list)
    """Config file names (`alembic.ini`, `tsconfig.json`) and configured tools (`pytest`, `jest`), sorted."""
    scripts: list[str] = Field(default_factory=list)
    """Script names and the programs they run (package.json, pyproject, Makefile, Procfile), sorted."""
    truncated: bool = False
    """True when the scan stopped at `max_files`."""
    warnings: list[str] = Field(default_factory=list)
    """Files that could not be read, one sentence each."""

    _index: _PathIndex | None = PrivateAttr(default=None)

    @classmethod
    def scan(cls, root: Path, *, max_files: int = 100_000) -> ProjectSnapshot:
        """Walk `root` once (sorted, `.gitignore` honoured) and read its manifests and source heads."""
        base = project_dir(Path(root).expanduser())
        files, truncated, warnings = _walk(str(base), max_files)
        declared = Declared(warnings=warnings)
        layout = _Layout(files)
        _read_declarations(base, layout, declared)
        if truncated:
            declared.warnings.append(f"scan stopped after {max_files} files; the rest was not considered")
        return cls(
            root=base,
            files=files,
            imports=sorted(declared.imports),
            structure=sorted(layout.structure),
            config=sorted(layout.config | declared.tools),
            scripts=sorted(declared.scripts),
            truncated=truncated,
            warnings=declared.warnings,
        )

    def matching(self, patterns: Sequence[str]) -> list[str]:
        """Files matched by these globs, with `.gitignore` semantics (`*.py` at any depth, `!x` excludes)."""
        lines = [p for p in patterns if p.strip()]
        if not lines:
            return []
        spec = pathspec.PathSpec.from_lines("gitignore", lines)
        return sorted(spec.match_files(self.files))

    def first_match(self, pattern: str) -> str | None:
        """The first file (in sorted order) that one glob matches, or None; answered from an index."""
        return self._path_index().first_match(pattern)

    def first_name(self, kind: NameKind, pattern: str) -> str | None:
        """The first entry of `imports`, `config`, `scripts` or file base `names` that a glob matches.

        Case-insensitive. For imports `-` and `_` are the same (`python-jose` is `python_jose`)
        and a module names its package (`sqlalchemy.orm` finds `sqlalchemy`).
        """
        return self._path_index().first_name(kind, pattern)

    def read_text(self, rel: str, limit: int) -> str:
        """Up to `limit` characters of a project file; paths that leave the root are refused."""
        path = (self.root / rel).resolve()
        if not path.is_relative_to(self.root):
            raise UnsafePath(f"{rel} is outside the project {self.root}")
        if not path.is_file():
            raise NotFound(f"{rel} is not a file in the project {self.root}")
        with path.open("rb") as handle:
            data = handle.read(max(limit, 0) * 4)
        return data.decode("utf-8", errors="replace")[: max(limit, 0)]

    def _path_index(self) -> _PathIndex:
        if self._index is None:
            self._index = _PathIndex(self)
        return self._index


def list_files(root: Path, *, max_files: int = 100_000) -> tuple[list[str], bool]:
    """Every file of `root` a scan sees (`.gitignore` honoured, `SKIP_DIRS` left out), sorted, and
    whether `max_files` cut the list short: what a copy of the project takes along."""
    files, truncated, _ = _walk(str(project_dir(Path(root))), max_files)
    return files, truncated


def _needle(pattern: str) -> str:
    """A substring every path the glob matches must contain (its longest literal run)."""
    if "\\" in pattern:
        return ""
    return max((c.lstrip("/") for c in re.split(r"\*+|\?|\[[^\]]*\]", pattern)), key=len)


def _package(module: str) -> str:
    """The package a module path belongs to: `k6/http` -> `k6`, `@nestjs/core/x` -> `@nestjs/core`,
    `package:flutter/material.dart` -> `package:flutter`, `sqlalchemy.orm` -> `sqlalchemy`."""
    parts = module.split("/")
    if module.startswith("@") and len(parts) > 1:
        return "/".join(parts[:2])
    return parts[0] if len(parts) > 1 else module.split(".")[0]


def _fold_import(name: str) -> str:
    return name.lower().replace("-", "_")


def _walk(root: str, max_files: int) -> tuple[list[str], bool, list[str]]:
    """Depth-first walk over sorted folders.

    Prunes SKIP_DIRS, virtualenvs and what `.gitignore` files (and `.git/info/exclude`)
    ignore. When `max_files` cuts a folder short, its files are taken in sorted order,
    so the cut is the same on every run.
    """
    files: list[str] = []
    warnings: list[str] = []
    exclude = os.path.join(root, ".git", "info", "exclude")
    outer = _Ignore.read(exclude, "", warnings) if os.path.isfile(exclude) else None
    stack: list[tuple[str, tuple[_Ignore, ...]]] = [("", (outer,) if outer else ())]
    while stack:
        rel, ignores = stack.pop()
        try:
            with os.scandir(os.path.join(root, rel) if rel else root) as listing:
                entries = list(listing)
        except OSError as exc:
            warnings.append(f"{rel or '.'}: skipped, cannot be listed ({exc.strerror})")
            continue
        names = {entry.name for entry in entries}
        if rel and "pyvenv.cfg" in names:
            continue
        if ".gitignore" in names:
            ignore = _Ignore.read(os.path.join(root, rel, ".gitignore"), rel, warnings)
            if ignore is not None:
                ignores = (ignore, *ignores)
        subdirs: list[str] = []
        here: list[str] = []
        for entry in entries:
            name = entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    path = f"{rel}{name}/"
                    if name not in SKIP_DIRS and not (ignores and _ignored(path, name + "/", ignores)):
                        subdirs.append(path)
                    continue
                if not entry.is_file():
                    continue
            except OSError:
                continue
            path = rel + name
            if not (ignores and _ignored(path, name, ignores)):
                here.append(path)
        room = max_files - len(files)
        if len(here) > room:
            here.sort()
            files.extend(here[:room])
            return sorted(files), True, warnings
        files.extend(here)
        subdirs.sort(reverse=True)
        stack.extend((d, ignores) for d in subdirs)
    return sorted(files), False, warnings


class _Ignore:
    """One `.gitignore` file, applied the way git applies it during a walk.

    Each file and folder is checked once, on the way down; an ignored folder is not
    entered. A pattern without a `/` is matched against the entry's own name, any
    other pattern against its path from the `.gitignore`'s folder; the last matching
    pattern decides. Two combined regexes (names, paths) reject most entries in one
    test each.
    """

    def __init__(self, base: str, spec: pathspec.GitIgnoreSpec) -> None:
        self.base = base
        self.rules: list[tuple[bool, re.Pattern[str], bool]] = []
        for pattern in spec.patterns:
            if pattern.include is None or pattern.regex is None:
                continue
            text = str(getattr(pattern, "pattern", "/")).lstrip("!").strip().rstrip("/")
            by_name = "/" not in text
            self.rules.append((by_name, pattern.regex, pattern.include))
        self.quick_name = _either(r.pattern for by_name, r, _ in self.rules if by_name)
        self.quick_path = _either(r.pattern for by_name, r, _ in self.rules if not by_name)

    @classmethod
    def read(cls, path: str, base: str, warnings: list[str]) -> _Ignore | None:
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                lines = [_STAR_RUN.sub("**", line) for line in handle.read().splitlines()]
                return cls(base, pathspec.GitIgnoreSpec.from_lines(lines))
        except (OSError, ValueError) as exc:
            warnings.append(f"{base}.gitignore: not honoured, cannot be read ({exc})")
            return None

    def decides(self, path: str, name: str) -> bool | None:
        """True = ignored, False = re-included by `!pattern`, None = no pattern matched.

        `path` is relative to the project root and `name` is the entry's own name; both
        end with `/` for a folder.
        """
        rel = path[len(self.base) :]
        if not (self.quick_name and self.quick_name.search(name)) and not (
            self.quick_path and self.quick_path.search(rel)
        ):
            return None
        decision: bool | None = None
        for by_name, regex, include in self.rules:
            if _matches_itself(regex, name if by_name else rel):
                decision = include
        return decision


_STAR_RUN = re.compile(r"(?:(?<=^)|(?<=^!)|(?<=/))\*{3,}(?=/|$)")
"""Three or more stars filling a path component: git reads them as `**`, pathspec as `*`."""


def _matches_itself(regex: re.Pattern[str], subject: str) -> bool:
    """Whether a pathspec pattern matches the entry itself, as git's walk asks.

    pathspec's regexes also match everything below a match (they serve flat file lists):
    `a/b/` matches `a/b/c.txt`, `a/**` matches the folder `a/`. Git applies a pattern to
    each entry on the way down, so only a match of the entry's own path counts: the
    `ps_d` group (where a pattern's own path ends in `/`) must end the subject, and a
    pattern without it (`dir/**`) is about contents, so a folder is tested without its `/`.
    """
    if "ps_d" not in regex.groupindex:
        return regex.search(subject.rstrip("/")) is not None
    found = regex.search(subject)
    if found is None:
        return False
    end = found.end("ps_d")
    return end in (-1, len(subject))


def _either(regexes: Iterable[str]) -> re.Pattern[str] | None:
    """One regex matching where any of `regexes` matches (None when there are none)."""
    parts = [f"(?:{r})".replace("(?P<ps_d>", "(?:") for r in regexes]
    if not parts:
        return None
    try:
        return re.compile("|".join(parts))
    except re.error:
        return re.compile("")


def _ignored(path: str, name: str, ignores: Iterable[_Ignore]) -> bool:
    """The deepest `.gitignore` with an opinion decides (git's precedence); deepest comes first."""
    for ignore in ignores:
        decision = ignore.decides(path, name)
        if decision is not None:
            return decision
    return False


class _Layout:
    """One pass over the file list: manifests, sources, config names and the top-level structure."""

    def __init__(self, files: list[str]) -> None:
        self.manifests: list[str] = []
        self.sources: list[tuple[str, str]] = []
        self.structure: set[str] = set()
        names: set[str] = set()
        for path in files:
            slash = path.rfind("/")
            name = path[slash + 1 :]
            names.add(name)
            dot = name.rfind(".")
            suffix = name[dot:] if dot > 0 and name[:dot].strip(".") else ""
            if suffix in _SOURCES:
                self.sources.append((path, suffix))
            elif is_manifest(name):
                self.manifests.append(path)
            if slash == -1:
                self.structure.add(path)
                continue
            first = path.find("/")
            self.structure.add(path[: first + 1])
            second = path.find("/", first + 1)
            if second != -1:
                self.structure.add(path[: second + 1])
        self.config = {name for name in names if _is_config_name(name)}


def _read_declarations(root: Path, layout: _Layout, into: Declared) -> None:
    for rel in sorted(layout.manifests, key=_shallow_first)[:MAX_MANIFESTS]:
        text = _read_head(root / rel, 1_000_000, into.warnings, rel)
        if text is not None:
            read_manifest(rel.rsplit("/", 1)[-1], text, rel, into)
    sources = sorted(layout.sources, key=lambda item: _shallow_first(item[0]))[:MAX_SOURCE_FILES]
    for rel, suffix in sources:
        text = _read_head(root / rel, SOURCE_HEAD_BYTES, into.warnings, rel)
        if text is None:
            continue
        if suffix in PYTHON_SOURCES:
            into.imports.update(python_imports(text))
        elif suffix in DART_SOURCES:
            into.imports.update(dart_imports(text))
        else:
            into.imports.update(js_imports(text))


def _read_head(path: Path, limit: int, warnings: list[str], rel: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit)
    except OSError as exc:
        warnings.append(f"{rel}: skipped, cannot be read ({exc.strerror})")
        return None
    return data.decode("utf-8", errors="replace")


def _shallow_first(path: str) -> tuple[int, str]:
    return path.count("/"), path


def _suffix(path: str) -> str:
    """`.py` for `a/b.py`; empty for `Makefile`, `.env` and `a.b/c` (what os.path.splitext says)."""
    dot = path.rfind(".")
    slash = path.rfind("/")
    if dot <= slash + 1 or path[slash + 1 : dot].strip(".") == "":
        return ""
    return path[dot:]


def _is_config_name(name: str) -> bool:
    lower = name.lower()
    suffix = _suffix(lower)
    if suffix in _CONFIG_SUFFIXES or lower.startswith(".env"):
        return True
    stem = lower[: len(lower) - len(suffix)] if suffix else lower
    if lower.startswith(".") and ("." not in lower[1:] or stem.endswith("rc")):
        return True
    return ("config" in stem or "settings" in stem) and bool(_CONFIG_STEM.search(stem))
