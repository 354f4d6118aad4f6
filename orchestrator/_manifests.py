"""What a project's manifests and sources declare: dependencies, imports, tools and scripts.

Used by the project scan. Every reader is forgiving: a manifest that cannot be parsed
adds a warning and is otherwise skipped, because a broken `package.json` in someone's
repository must not stop routing.
"""

from __future__ import annotations

import configparser
import json
import re
import sys
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

PYTHON_SOURCES = frozenset({".py", ".pyi"})
JS_SOURCES = frozenset({".js", ".jsx", ".ts", ".tsx", ".mjs", ".cjs", ".vue", ".svelte"})
DART_SOURCES = frozenset({".dart"})

_PY_IMPORT = re.compile(r"^[ \t]*(?:from[ \t]+([A-Za-z_][\w.]*)[ \t]+import\b|import[ \t]+([^\n#;]+))", re.M)
_JS_IMPORT = re.compile(
    r"""(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)["']([^"'\s]+)["']""",
)
_DART_IMPORT = re.compile(r"""^[ \t]*(?:import|export)[ \t]+['"](package:[\w]+)""", re.M)
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_MAKE_TARGET = re.compile(r"^([A-Za-z0-9][\w.-]*)\s*:(?!=)", re.M)
_MAKE_RECIPE = re.compile(r"^\t+(.+)$", re.M)
_PROCFILE = re.compile(r"^([\w-]+)\s*:\s*(.+)$", re.M)
_ENV_ASSIGN = re.compile(r"^[A-Za-z_]\w*=")
_PROGRAM = re.compile(r"[\w.:+-]+")
_SUBCOMMAND = re.compile(r"[a-z][a-z0-9-]*")

_STDLIB = frozenset(sys.stdlib_module_names) | {"__future__"}

_LAUNCHERS = frozenset(
    {
        "python", "python3", "py", "uv", "uvx", "poetry", "pipenv", "pdm", "hatch", "rye",
        "npx", "pnpx", "bunx", "npm", "pnpm", "yarn", "bun", "node", "deno",
        "sh", "bash", "exec", "env", "sudo", "time", "nohup",
    }
)  # fmt: skip
"""Commands that run another command; the scan also records what they run."""

_PACKAGE_JSON_FIELDS = frozenset(
    {
        "name", "version", "description", "keywords", "homepage", "bugs", "license", "author",
        "contributors", "funding", "files", "main", "module", "browser", "bin", "man", "directories",
        "repository", "scripts", "config", "dependencies", "devDependencies", "peerDependencies",
        "peerDependenciesMeta", "bundleDependencies", "bundledDependencies", "optionalDependencies",
        "overrides", "engines", "os", "cpu", "private", "publishConfig", "workspaces", "type",
        "exports", "imports", "types", "typings", "packageManager", "sideEffects", "resolutions",
    }
)  # fmt: skip
"""Standard package.json fields; any other top-level key configures a tool (`jest`, `prettier`)."""


@dataclass
class Declared:
    """Names gathered from manifests and sources; sets, sorted by the caller."""

    imports: set[str] = field(default_factory=set)
    tools: set[str] = field(default_factory=set)
    scripts: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)


def python_imports(text: str) -> set[str]:
    """Third-party top-level names a Python source imports (`from a.b import c` -> `a`).

    Relative imports and the standard library are left out: they say nothing about the project.
    """
    names: set[str] = set()
    for match in _PY_IMPORT.finditer(text):
        if match.group(1):
            names.add(match.group(1).split(".")[0])
            continue
        for part in match.group(2).split(","):
            word = part.strip().split(" ")[0].strip("()\\")
            if word and (word[0].isalpha() or word[0] == "_"):
                names.add(word.split(".")[0])
    return names - _STDLIB


def js_imports(text: str) -> set[str]:
    """Package names a JavaScript/TypeScript source imports (`@scope/pkg`, `react`); paths skipped."""
    names: set[str] = set()
    for match in _JS_IMPORT.finditer(text):
        spec = match.group(1)
        if spec.startswith((".", "/", "~", "#")) or (":" in spec and not spec.startswith("node:")):
            continue
        spec = spec.removeprefix("node:")
        parts = spec.split("/")
        names.add("/".join(parts[:2]) if spec.startswith("@") and len(parts) > 1 else parts[0])
    return names


def dart_imports(text: str) -> set[str]:
    """Packages a Dart source imports, as Dart names them (`package:flutter_riverpod`)."""
    return set(_DART_IMPORT.findall(text))


def command_words(command: str) -> set[str]:
    """The programs a shell command line runs, and each with its sub-command.

    `NODE_ENV=x next build && jest` gives `next`, `next build` and `jest`. After a
    launcher (`python -m`, `npx`, `poetry run`, ...) the program it launches counts too.
    """
    words: set[str] = set()
    for segment in re.split(r"&&|\|\||[;|]", command):
        tokens = [t for t in segment.split() if not _ENV_ASSIGN.match(t)]
        if tokens:
            tokens[0] = tokens[0].lstrip("@-+")  # make's recipe prefixes
        launched = False
        for index, token in enumerate(tokens):
            if token.startswith("-") or (launched and token in ("run", "exec", "x")):
                continue
            word = token.rsplit("/", 1)[-1].strip("\"'()`")
            if not _PROGRAM.fullmatch(word):
                break
            words.add(word)
            following = tokens[index + 1] if index + 1 < len(tokens) else ""
            if _SUBCOMMAND.fullmatch(following):
                words.add(f"{word} {following}")
            if word not in _LAUNCHERS:
                break
            launched = True
    return words


def read_manifest(name: str, text: str, where: str, into: Declared) -> None:
    """Add what manifest file `name` (a base name) declares to `into`."""
    reader = _READERS.get(name.lower()) or (_requirements if _is_requirements(name) else None)
    if reader is None:
        return
    try:
        reader(text, into)
    except (ValueError, TypeError, AttributeError, KeyError, configparser.Error, yaml.YAMLError) as exc:
        into.warnings.append(f"{where}: skipped, cannot be read ({type(exc).__name__}: {_first_line(exc)})")


def is_manifest(name: str) -> bool:
    """True for the file names `read_manifest` understands."""
    return name.lower() in _READERS or _is_requirements(name)


def _is_requirements(name: str) -> bool:
    lower = name.lower()
    return lower.endswith(".txt") and lower.startswith("requirements")


def _requirements(text: str, into: Declared) -> None:
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        match = _REQUIREMENT.match(line)
        if match:
            into.imports.add(_dist_name(match.group(1)))


def _pyproject(text: str, into: Declared) -> None:
    data = tomllib.loads(text)
    project = _table(data.get("project"))
    for requirement in _strings(project.get("dependencies")):
        _requirements(requirement, into)
    for group in _table(project.get("optional-dependencies")).values():
        for requirement in _strings(group):
            _requirements(requirement, into)
    for group in _table(data.get("dependency-groups")).values():
        for requirement in _strings(group):
            _requirements(requirement, into)
    into.scripts.update(_table(project.get("scripts")))
    tool = _table(data.get("tool"))
    into.tools.update(tool)
    poetry = _table(tool.get("poetry"))
    for key in ("dependencies", "dev-dependencies"):
        into.imports.update(_dist_name(n) for n in _table(poetry.get(key)) if n.lower() != "python")
    for group in _table(poetry.get("group")).values():
        into.imports.update(_dist_name(n) for n in _table(_table(group).get("dependencies")))
    into.scripts.update(_table(poetry.get("scripts")))


def _setup_cfg(text: str, into: Declared) -> None:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read_string(text)
    for section in parser.sections():
        if section.startswith("tool:"):
            into.tools.add(section.removeprefix("tool:"))
        elif section not in ("metadata", "options") and not section.startswith("options."):
            into.tools.add(section)
    if parser.has_option("options", "install_requires"):
        _requirements(parser.get("options", "install_requires"), into)


def _package_json(text: str, into: Declared) -> None:
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    for key in ("dependencies", "devDependencies", "peerDependencies", "optionalDependencies"):
        into.imports.update(_table(data.get(key)))
    for name, command in _table(data.get("scripts")).items():
        into.scripts.add(name)
        if isinstance(command, str):
            into.scripts.update(command_words(command))
    into.tools.update(k for k in data if k not in _PACKAGE_JSON_FIELDS)


def _makefile(text: str, into: Declared) -> None:
    into.scripts.update(t for t in _MAKE_TARGET.findall(text) if not t.startswith("."))
    for recipe in _MAKE_RECIPE.findall(text):
        into.scripts.update(command_words(recipe))


def _procfile(text: str, into: Declared) -> None:
    for name, command in _PROCFILE.findall(text):
        into.scripts.add(name)
        into.scripts.update(command_words(command))


def _cargo(text: str, into: Declared) -> None:
    data = tomllib.loads(text)
    for key in ("dependencies", "dev-dependencies", "build-dependencies"):
        into.imports.update(_table(data.get(key)))
    into.scripts.update(str(_table(b).get("name")) for b in data.get("bin", []) if _table(b).get("name"))


def _pubspec(text: str, into: Declared) -> None:
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError("not a YAML mapping")
    for key in ("dependencies", "dev_dependencies"):
        into.imports.update(f"package:{name}" for name in _table(data.get(key)))


def _table(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _strings(value: Any) -> Iterable[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _dist_name(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [""])[0][:120]


_READERS: dict[str, Callable[[str, Declared], None]] = {
    "pyproject.toml": _pyproject,
    "setup.cfg": _setup_cfg,
    "package.json": _package_json,
    "makefile": _makefile,
    "gnumakefile": _makefile,
    "procfile": _procfile,
    "cargo.toml": _cargo,
    "pubspec.yaml": _pubspec,
}
