"""Workspace: what writing code in a run's own git workspace costs.

Three measurements, each the median of `--repeats` runs:

- making a workspace: a `git worktree` of a git project and a copy (made a git repository)
  of the same files without git, for the example project and for a generated project of
  `--files` small files;
- one agent turn's changes checked, written and committed (`changes.commit_turn`), for 1
  and for 20 files;
- an offline design -> build run of the example project (a git repository), with Build
  writing (`writes: true`, the turn commits one file) and with Build overridden to
  `writes: false` (no workspace), primaries only (no handoffs) so both runs make the same two
  turns: the ratio is what the workspace adds to a whole run.

Run: `.venv/bin/python -m benchmarks.bench_workspace [--repeats N] [--files N]`
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import _common as c
from orchestrator.changes import ChangeLimits, commit_turn
from orchestrator.providers.base import ModelRequest
from orchestrator.providers.offline import OfflineProvider
from orchestrator.run import Runner, RunOptions
from orchestrator.settings import load_settings
from orchestrator.workspace import create_workspace
from tests._writing import TASK, git, make_git_project, make_plain_project, writing_provider

EXAMPLE = c.ROOT / "examples" / "fastapi-service"


def _files_of(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text() for p in root.rglob("*") if p.is_file()}


def _generated(n: int) -> dict[str, str]:
    return {f"pkg{i // 100:02d}/mod{i:05d}.py": f"VALUE = {i}\n" for i in range(n)}


def _make_time(folder: Path, files: dict[str, str], git_project: bool) -> float:
    project = (make_git_project if git_project else make_plain_project)(folder, files)
    start = time.perf_counter()
    create_workspace(project, "bench")
    return time.perf_counter() - start


def _make_workspaces(work: Path, repeats: int, n: int) -> list[list[str]]:
    rows: list[list[str]] = []
    for label, files in (("example project", _files_of(EXAMPLE)), (f"{n:,} files", _generated(n))):
        for kind, is_git in (("git worktree", True), ("copy (no git)", False)):
            seconds = c.median(
                _make_time(work / f"make-{len(rows)}-{i}", files, is_git) for i in range(repeats)
            )
            rows.append([label, kind, f"{len(files):,}", c.fmt_s(seconds)])
    return rows


def _commit_time(folder: Path, changes: list[dict[str, str]]) -> float:
    ws = create_workspace(make_git_project(folder), "bench")
    limits = ChangeLimits(max_files=100, max_bytes=2_000_000)
    start = time.perf_counter()
    commit_turn(ws, changes, limits, phase="build", agent="bench", turn="build/bench/0", run_id="bench")
    return time.perf_counter() - start


def _commits(work: Path, repeats: int) -> list[list[str]]:
    rows = []
    for count in (1, 20):
        changes = [
            {"path": f"src/f{j}.py", "action": "write", "content": f"x = {j}\n" * 40, "deliverable": "Code"}
            for j in range(count)
        ]
        seconds = c.median(_commit_time(work / f"commit-{count}-{i}", changes) for i in range(repeats))
        rows.append([f"{count} file(s)", c.fmt_s(seconds)])
    return rows


def _primaries_only() -> OfflineProvider:
    """The writing provider with every handoff left out: both runs have the same turns."""
    writes = writing_provider().custom_output
    assert callable(writes)

    def answer(request: ModelRequest[Any]) -> dict[str, Any]:
        forced = dict(writes(request) or {})
        if "handoffs" in request.output_model.model_fields:
            forced["handoffs"] = []
        return forced

    return OfflineProvider(custom_output=answer)


def _runs(work: Path, repeats: int) -> tuple[float, float]:
    def run(writes: bool, i: int) -> float:
        project = make_git_project(work / f"run-{writes}-{i}", _files_of(EXAMPLE))
        if not writes:
            (project / "phases").mkdir()
            text = (c.ROOT / "phases" / "build.yaml").read_text().replace("writes: true", "writes: false")
            (project / "phases" / "build.yaml").write_text(text)
            git(project, "add", "-A")
            git(project, "commit", "-q", "-m", "build does not write")
        runner = Runner(load_settings(provider="offline"), provider=_primaries_only())
        start = time.perf_counter()
        asyncio.run(runner.start(RunOptions(task=TASK, project_dir=project, phases="design,build")))
        return time.perf_counter() - start

    run(True, -1)  # warm the imports and the compiled graph
    with_ws = c.median(run(True, i) for i in range(repeats))
    without = c.median(run(False, i) for i in range(repeats))
    return with_ws, without


NOTE = """
Two cores shared with other work while this ran: absolute times move by up to 2x between runs;
the order of magnitude is the result. A writing run pays for its workspace once (a worktree or
a copy: tens of milliseconds for a small project, about a second for thousands of files) and a
few tens of milliseconds per agent turn that writes (checks, atomic writes, one commit). On an
offline run, whose model calls take no time, that is the ratio above; against a real model,
whose every call takes seconds, it is lost in the noise.
"""


def run(quick: bool = False, repeats: int = 5, files: int = 2_000) -> c.Section:
    """The three measurements as a RESULTS.md section (`quick`: 2 repeats, 200 files)."""
    if quick:
        repeats, files = 2, 200
    c.quiet_logging()
    with c.Stopwatch() as total, tempfile.TemporaryDirectory(prefix="phasegraph-bench-ws-") as scratch:
        # Outside this repository: a project inside it would be a folder of its git repository.
        work = Path(scratch)
        made = _make_workspaces(work, repeats, files)
        committed = _commits(work, repeats)
        with_ws, without = _runs(work, repeats)
    runs = [
        ["Build writes (workspace, one commit per turn)", c.fmt_s(with_ws)],
        ["Build does not write (no workspace)", c.fmt_s(without)],
        ["ratio", f"**{c.ratio(with_ws, without):.2f}x**"],
    ]
    body = "\n".join(
        [
            c.table(["project", "workspace", "files", "made in"], made, "llrr"),
            c.table(["one turn's changes", "checked, written, committed in"], committed),
            c.table(["offline design -> build run (example project, git)", "wall time"], runs),
            NOTE.strip(),
            "",
            c.environment_line(),
            c.command_line("bench_workspace", f"--repeats {repeats} --files {files}"),
        ]
    )
    return c.Section(
        key="workspace",
        title="Workspace: the cost of writing code in a run's own git workspace",
        body=body,
        data={"made": made, "committed": committed, "run_s": {"writes": with_ws, "no_workspace": without}},
        seconds=total.seconds,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--files", type=int, default=2_000)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(run(quick=args.quick, repeats=args.repeats, files=args.files).markdown())


if __name__ == "__main__":
    main()
