"""Which checks a phase runs: declared (`--check`), configured (`[tool.phasegraph] checks`), or detected.

Precedence: commands given on the command line or to the API; then the project's own
configuration (`pyproject.toml` `[tool.phasegraph] checks = [...]`, else
`.phasegraph/config.toml` `checks = [...]`); else detection from the project's files
(pytest, `npm test`, `go test ./...`, `cargo test`). Nothing found is a plan with no
checks and a note saying why, never an invented command.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.checks.model import CheckOptions, CheckPlan, PlannedCheck
from orchestrator.errors import ConfigError

if TYPE_CHECKING:
    from orchestrator.phases import PhaseSpec

_PY_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", "requirements.txt", "pytest.ini", "tox.ini")
_TEST_DIRS = ("tests", "test")
_NPM_PLACEHOLDER = "no test specified"
NOTHING = (
    "no checks: none declared (--check, [tool.phasegraph] checks) and none detected "
    "(no Python tests, no package.json test script, no go.mod, no Cargo.toml)"
)


def options_for(phase: PhaseSpec, options: CheckOptions | None) -> CheckOptions | None:
    """The options of `phase`'s checks; None when the phase runs none. `--check` wins over a
    phase's own list of commands."""
    if phase.checks == "off":
        return None
    options = options or CheckOptions()
    if isinstance(phase.checks, list) and options.commands is None:
        options = options.model_copy(update={"commands": list(phase.checks)})
    return options


def plan_checks(
    project_dir: Path, options: CheckOptions | None = None, environment: Path | None = None
) -> CheckPlan:
    """The checks a phase with `checks: auto` runs in `project_dir`, and why; `environment` is the
    folder whose `.venv` they use (default `project_dir`; the user's project for a run's workspace)."""
    options = options or CheckOptions()
    python, python_why = python_for(environment or project_dir, options.python)
    if options.commands is not None:
        where, entries = "--check", [(c, "--check") for c in options.commands]
    else:
        configured = _configured(project_dir)
        where, entries = configured if configured is not None else ("", [])
    checks = [_declared(cmd, why) for cmd, why in entries]
    if not where:
        checks = _detected(project_dir, python)
    _unique_names(checks)
    note = "" if checks else f"no checks: {where} is empty" if where else NOTHING
    pinned = python if options.python is not None else ""
    return CheckPlan(checks=checks, python=python_why, interpreter=pinned, note=note)


def python_for(project_dir: Path, chosen: Path | None) -> tuple[str, str]:
    """The interpreter Python checks use and, in words, why: `--check-python`, the project's
    `.venv`, else the `python3` on PATH."""
    if chosen is not None:
        path = Path(chosen)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ConfigError(f"--check-python {chosen}: not an executable file")
        return str(path), f"--check-python ({path})"
    venv = project_dir / ".venv" / "bin" / "python"
    if venv.exists():
        return str(venv), f"project .venv ({venv})"
    found = shutil.which("python3") or shutil.which("python")
    if found is None:
        return "python3", "python3 on PATH (not found)"
    return found, f"PATH ({found})"


def _configured(project_dir: Path) -> tuple[str, list[tuple[str, str]]] | None:
    """Where the project configures its checks and the commands (`checks = []` turns them off):
    `pyproject.toml` `[tool.phasegraph] checks`, else `.phasegraph/config.toml`; None if neither."""
    pyproject = project_dir / "pyproject.toml"
    if pyproject.is_file():
        table = _read_toml(pyproject).get("tool", {})
        found = table.get("phasegraph", {}) if isinstance(table, dict) else {}
        if isinstance(found, dict) and "checks" in found:
            where = "pyproject.toml [tool.phasegraph] checks"
            listed = _command_list(found["checks"], pyproject, "[tool.phasegraph] checks")
            return where, [(c, where) for c in listed]
    config = project_dir / ".phasegraph" / "config.toml"
    if config.is_file():
        data = _read_toml(config)
        if "checks" in data:
            where = ".phasegraph/config.toml checks"
            return where, [(c, where) for c in _command_list(data["checks"], config, "checks")]
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from None


def _command_list(value: object, path: Path, field: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{path}: {field} must be a list of commands (non-empty strings)")
    return [v.strip() for v in value]


def _declared(command: str, why: str) -> PlannedCheck:
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ConfigError(f"check {command!r}: cannot split into words ({exc})") from None
    if not argv:
        raise ConfigError("a check command must not be empty")
    pytest = is_pytest(argv)
    return PlannedCheck(name=_name(argv), command=command, argv=argv, why=why, junit=pytest)


def is_pytest(argv: Sequence[str]) -> bool:
    """True for `pytest ...`, `py.test ...` and `python -m pytest ...` (which get `--junitxml`)."""
    if not argv:
        return False
    if Path(argv[0]).name in ("pytest", "py.test"):
        return True
    return len(argv) >= 3 and Path(argv[0]).name.startswith("python") and argv[1:3] == ["-m", "pytest"]


def _name(argv: Sequence[str]) -> str:
    if is_pytest(argv):
        return "pytest"
    return " ".join([Path(argv[0]).name, *argv[1:]])[:60]


def _unique_names(checks: list[PlannedCheck]) -> None:
    seen: dict[str, int] = {}
    for check in checks:
        n = seen.get(check.name, 0) + 1
        seen[check.name] = n
        if n > 1:
            check.name = f"{check.name} #{n}"


def _detected(project_dir: Path, python: str) -> list[PlannedCheck]:
    found: list[PlannedCheck] = []
    tests = _python_tests(project_dir)
    if tests is not None:
        argv = [python, "-m", "pytest"]
        cov = has_module(python, "pytest_cov")
        found.append(
            PlannedCheck(
                name="pytest", command="python -m pytest", argv=argv, why=tests, junit=True, coverage=cov
            )
        )
    script = _npm_test(project_dir)
    if script is not None:
        why = f"package.json has a test script ({script[:60]})"
        found.append(PlannedCheck(name="npm test", command="npm test", argv=["npm", "test"], why=why))
    if (project_dir / "go.mod").is_file():
        argv = ["go", "test", "./..."]
        found.append(PlannedCheck(name="go test", command="go test ./...", argv=argv, why="go.mod"))
    if (project_dir / "Cargo.toml").is_file():
        argv = ["cargo", "test"]
        found.append(PlannedCheck(name="cargo test", command="cargo test", argv=argv, why="Cargo.toml"))
    return found


def has_module(python: str, module: str) -> bool:
    """True when `python` can import `module` (asked once per plan, in a child process)."""
    try:
        done = subprocess.run(
            [python, "-c", f"import importlib.util as u, sys; sys.exit(u.find_spec({module!r}) is None)"],
            capture_output=True,
            timeout=30,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _python_tests(project_dir: Path) -> str | None:
    """Why the project is a Python project with tests, or None."""
    marker = next((m for m in _PY_MARKERS if (project_dir / m).is_file()), None)
    if marker is None:
        return None
    for folder in _TEST_DIRS:
        d = project_dir / folder
        if d.is_dir() and any(_is_test_file(p) for p in d.rglob("*.py")):
            return f"Python project ({marker}) with tests in {folder}/"
    if (project_dir / "conftest.py").is_file() or any(_is_test_file(p) for p in project_dir.glob("*.py")):
        return f"Python project ({marker}) with test files at its root"
    return None


def _is_test_file(path: Path) -> bool:
    return path.name.startswith("test_") or path.name.endswith("_test.py")


def _npm_test(project_dir: Path) -> str | None:
    path = project_dir / "package.json"
    if not path.is_file():
        return None
    try:
        scripts = json.loads(path.read_text(encoding="utf-8")).get("scripts") or {}
    except (ValueError, OSError, AttributeError):
        return None
    script = scripts.get("test") if isinstance(scripts, dict) else None
    if not isinstance(script, str) or not script.strip() or _NPM_PLACEHOLDER in script:
        return None
    return script
