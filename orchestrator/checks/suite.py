"""Running a phase's checks: a disposable copy of the project, one sandboxed command per check.

Checks run in a scratch copy of the project (or in a directory the caller already made
disposable, such as a run's workspace), so a check that deletes or rewrites files never
touches the user's tree. The project's environment folders (`.venv`, `node_modules`) are
linked into the copy rather than copied: tools find them, and the copy stays cheap.
Each check's output and JUnit XML are kept in the run folder under `checks/<phase>/`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from orchestrator.checks.model import CheckOptions, CheckPlan, CheckResult, PlannedCheck
from orchestrator.checks.results import JUnitError, counted, coverage_percent, parse_junit, summary, tail
from orchestrator.checks.sandbox import Completed, Sandbox, check_env, isolation
from orchestrator.providers._redact import redact

_SKIP = frozenset({".git", ".phasegraph", ".pytest_cache", ".mypy_cache", ".ruff_cache"})
"""Not copied: history, run state, tool caches (`__pycache__` is: its bytecode stays valid)."""
_LINK = frozenset({".venv", "venv", "node_modules"})
"""Environment folders: linked into the copy, not copied."""


def scratch_copy(project_dir: Path, into: Path, environment: Path | None = None) -> Path:
    """A copy of `project_dir` at `into/project` (symlinks kept as links), with the environment
    folders of `environment` (default `project_dir`) linked in."""
    target = into / "project"

    def ignore(folder: str, names: list[str]) -> set[str]:
        top = Path(folder) == project_dir
        return {n for n in names if n in _SKIP or (top and n in _LINK)}

    shutil.copytree(project_dir, target, symlinks=True, ignore=ignore)
    for name in _LINK:
        for source in dict.fromkeys([project_dir, environment or project_dir]):
            if (source / name).is_dir() and not (target / name).exists():
                (target / name).symlink_to(source / name, target_is_directory=True)
    return target


async def run_checks(
    plan: CheckPlan,
    project_dir: Path,
    options: CheckOptions,
    *,
    secrets: Iterable[str] = (),
    keep_dir: Path | None = None,
    run_dir: Path | None = None,
    in_place: bool = False,
    environment: Path | None = None,
) -> list[CheckResult]:
    """Run every check of `plan` against `project_dir` (a scratch copy of it unless `in_place`).

    `keep_dir` (in the run folder `run_dir`) receives each check's log and JUnit XML; results
    name them relative to `run_dir` (default: `keep_dir.parent.parent`). `environment` is the
    folder whose `.venv`/`node_modules` the checks use (default `project_dir`).
    """
    if not plan.checks:
        return []
    project_dir = project_dir.resolve()
    with tempfile.TemporaryDirectory(prefix="phasegraph-checks-") as tmp:
        scratch = Path(tmp)
        home = (environment or project_dir).resolve()
        cwd = project_dir if in_place else scratch_copy(project_dir, scratch, home)
        sandbox = Sandbox(
            cwd=str(cwd),
            env=_env(plan, home, secrets, scratch),
            isolation=isolation(options.network),
            timeout_s=options.timeout_s,
        )
        results = []
        for index, check in enumerate(plan.checks):
            junit = scratch / f"junit-{index}.xml"
            cover = scratch / f"coverage-{index}.xml"
            done = await sandbox.run(_argv(check, junit, cover))
            roots = [str(cwd), str(project_dir), str(home), tmp]
            done.output = _clean(done.output, roots, secrets)
            result = _result(check, done, sandbox, junit, roots, secrets)
            if check.coverage and result.status != "error":
                result.coverage = _coverage(cover, result)
            if keep_dir is not None:
                _keep(result, done.output, junit, keep_dir, run_dir or keep_dir.parent.parent, index)
            results.append(result)
        return results


def _env(plan: CheckPlan, project_dir: Path, secrets: Iterable[str], scratch: Path) -> dict[str, str]:
    """The checks' environment: ours without secrets, the chosen Python's folder first on PATH
    (`--check-python`, else the project's `.venv`)."""
    extra: dict[str, str] = {"PYTHONDONTWRITEBYTECODE": "1", "TMPDIR": str(scratch)}
    venv = project_dir / ".venv"
    path = os.environ.get("PATH", os.defpath)
    if venv.is_dir():
        extra["VIRTUAL_ENV"] = str(venv)
        path = f"{venv / 'bin'}{os.pathsep}{path}"
    if plan.interpreter:
        path = f"{Path(plan.interpreter).absolute().parent}{os.pathsep}{path}"
    extra["PATH"] = path
    return check_env(os.environ, secrets, extra)


def _argv(check: PlannedCheck, junit: Path, coverage: Path) -> list[str]:
    """The command with the reports phasegraph reads: JUnit XML, and line coverage as XML."""
    argv = list(check.argv)
    if check.junit and not any(a.startswith(("--junitxml", "--junit-xml")) for a in argv):
        argv += [f"--junitxml={junit}", "-o", "junit_family=xunit2"]
    if check.coverage:
        argv += ["--cov=.", f"--cov-report=xml:{coverage}"]
    return argv


def _coverage(path: Path, result: CheckResult) -> float | None:
    try:
        return coverage_percent(path)
    except JUnitError as exc:
        result.warnings.append(f"coverage: {exc}")
        return None


def _result(
    check: PlannedCheck,
    done: Completed,
    sandbox: Sandbox,
    junit: Path,
    roots: Sequence[str],
    secrets: Iterable[str],
) -> CheckResult:
    result = CheckResult(
        name=check.name,
        command=check.command,
        status="passed",
        exit_code=done.exit_code,
        duration_s=done.duration_s,
        isolation=sandbox.isolation.name,
        why=check.why,
        warnings=[*done.warnings, *([sandbox.isolation.warning] if sandbox.isolation.warning else [])],
        output_tail=tail(done.output),
    )
    if done.start_error:
        result.status, result.message = "error", done.start_error
        return counted(result)
    if done.timed_out:
        result.status = "timeout"
        result.message = f"killed at the timeout ({sandbox.timeout_s:g} s) with every process it started"
        return counted(result)
    if check.junit:
        try:
            result.tests = parse_junit(junit)
        except JUnitError as exc:
            result.warnings.append(f"{exc}; the result comes from the exit status")
        for case in result.tests:
            case.message = _clean(case.message, roots, secrets)
    bad = done.exit_code != 0 or any(t.status in ("failed", "error") for t in result.tests)
    result.status = "failed" if bad else "passed"
    counted(result)
    result.message = f"{summary(result)} (exit {done.exit_code})"
    return result


def _clean(text: str, roots: Sequence[str], secrets: Iterable[str]) -> str:
    """Output with the sandbox's temporary paths made relative and anything secret-looking masked."""
    for root in sorted(roots, key=len, reverse=True):
        text = text.replace(root + os.sep, "").replace(root, ".")
    return redact(text, secrets)


def _keep(result: CheckResult, output: str, junit: Path, keep_dir: Path, run_dir: Path, index: int) -> None:
    """The check's log and JUnit XML in the run folder; the result names them run-relative."""
    from orchestrator.artifacts import atomic_write

    stem = f"{index:02d}-" + "".join(c if c.isalnum() else "-" for c in result.name).strip("-")
    log = keep_dir / f"{stem}.log"
    atomic_write(log, output)
    result.log = log.relative_to(run_dir).as_posix()
    if junit.is_file():
        kept = keep_dir / f"{stem}.junit.xml"
        shutil.copyfile(junit, kept)
        result.junit = kept.relative_to(run_dir).as_posix()
