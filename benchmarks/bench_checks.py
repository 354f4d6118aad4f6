"""Checks: the sandbox's overhead over running the same check directly, on the example's test suite.

The check is what `phasegraph verify` runs on examples/fastapi-service: `python -m pytest` with
a JUnit XML report, with the example's own environment (`.venv-example`, made by `make demo`).
"Direct" runs that command with `subprocess.run` in the example folder. "Sandboxed" is
`orchestrator.checks.run_checks`: a scratch copy of the project, a new process group, an
environment without secrets, a network namespace (whichever mechanism works here), resource
limits, capped output, and the JUnit XML parsed into results. "Sandboxed, in place" skips the
copy, to show what the copy costs. The runs alternate, so drift in the machine hits all three;
the table gives medians and the overhead against the direct median.

Run: `.venv/bin/python -m benchmarks.bench_checks [--repeats N] [--out FILE]`
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import _common as c

EXAMPLE = c.ROOT / "examples" / "fastapi-service"
PYTHON = c.ROOT / ".venv-example" / "bin" / "python"
GOAL = 0.10
HEADERS = ["how the check ran", "CPU ms (median)", "wall ms (median)", "wall ms (fastest)"]


def _cpu() -> float:
    """CPU seconds of this process and of its waited-for children so far."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _direct(junit: Path) -> tuple[float, float]:
    started, cpu = time.perf_counter(), _cpu()
    subprocess.run(
        [str(PYTHON), "-m", "pytest", f"--junitxml={junit}", "-o", "junit_family=xunit2"],
        cwd=EXAMPLE,
        capture_output=True,
        check=True,
    )
    return time.perf_counter() - started, _cpu() - cpu


def _use_unshare() -> str:
    """Measure under `unshare`: its checks are our grandchildren through processes that wait for
    them, so `os.times` counts their CPU; bubblewrap's extra process hides it. Returns its name."""
    from orchestrator.checks import sandbox

    for candidate in sandbox._CANDIDATES:
        probe = [*candidate.prefix, "true"]
        if candidate.name.startswith("unshare") and subprocess.run(probe, check=False).returncode == 0:
            sandbox._probe = lambda chosen=candidate: chosen  # type: ignore[assignment]
            return candidate.name
    raise SystemExit("unshare does not work here: this benchmark measures the sandbox with it")


def _sandboxed(in_place: bool) -> tuple[float, float, str]:
    from orchestrator.checks import CheckOptions, plan_checks, run_checks

    # Declared, so both sides run the same command (detection would add coverage when available).
    options = CheckOptions(commands=[f"{PYTHON} -m pytest"], python=PYTHON)
    started, cpu = time.perf_counter(), _cpu()
    plan = plan_checks(EXAMPLE, options)
    (result,) = asyncio.run(run_checks(plan, EXAMPLE, options, in_place=in_place))
    seconds, used = time.perf_counter() - started, _cpu() - cpu
    if result.status != "passed":
        raise SystemExit(f"the example's suite did not pass in the sandbox: {result.message}")
    return seconds, used, result.isolation


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if not PYTHON.exists():
        print("the example's environment is missing: run `make .venv-example/.installed`", file=sys.stderr)
        return 2
    _use_unshare()
    wall: dict[str, list[float]] = {"direct": [], "sandboxed": [], "in place": []}
    cpu: dict[str, list[float]] = {"direct": [], "sandboxed": [], "in place": []}
    isolation = ""
    with tempfile.TemporaryDirectory() as tmp:
        _direct(Path(tmp) / "warm.xml")  # warm the file cache and the bytecode
        _sandboxed(in_place=True)  # and probe the isolation mechanism once
        for i in range(args.repeats):
            for key in wall:
                if key == "direct":
                    seconds, used = _direct(Path(tmp) / f"{i}.xml")
                else:
                    seconds, used, isolation = _sandboxed(in_place=key == "in place")
                wall[key].append(seconds)
                cpu[key].append(used)
    rows = []
    for label, key in (
        ("direct (`subprocess.run`, example folder)", "direct"),
        (f"sandboxed: copy + process group + {isolation} + limits + JUnit read", "sandboxed"),
        ("sandboxed, in place (no copy)", "in place"),
    ):
        cells = [label]
        for series in (cpu, wall):
            median = statistics.median(series[key])
            base = statistics.median(series["direct"])
            cells.append(f"{median * 1000:.0f}" + ("" if key == "direct" else f" ({median / base - 1:+.1%})"))
        least = min(wall[key]) / min(wall["direct"]) - 1
        cells.append(f"{min(wall[key]) * 1000:.0f}" + ("" if key == "direct" else f" ({least:+.1%})"))
        rows.append(cells)
    added = statistics.median(cpu["sandboxed"]) / statistics.median(cpu["direct"]) - 1
    verdict = "met" if added <= GOAL else "**missed**"
    report = "\n".join(
        [
            "## Checks: sandbox overhead on the example's test suite",
            "",
            f"`python -m pytest` on examples/fastapi-service with its own environment, {args.repeats} "
            f"alternating runs of each. Goal: the sandbox adds at most {GOAL:.0%} ({verdict}: "
            f"{added:+.1%} CPU time). CPU time (this process and its children, `os.times`) is the "
            "measure: the machine is shared (2 CPUs) and wall-clock medians of identical runs swing "
            "by ±20% here; the wall-clock medians and fastest runs are shown beside it. Measured with "
            "`unshare` (network and PID namespaces); bubblewrap, preferred when installed, adds a "
            "process that hides the check's CPU time from `os.times`.",
            "",
            c.table(HEADERS, rows),
            "",
            "Reproduce: `make .venv-example/.installed && .venv/bin/python -m benchmarks.bench_checks`",
        ]
    )
    if args.out is not None:
        args.out.write_text(report + "\n", encoding="utf-8")
    print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
