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
HEADERS = ["how the check ran", "median ms", "min ms", "overhead (median)", "overhead (min)"]


def _direct(junit: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [str(PYTHON), "-m", "pytest", f"--junitxml={junit}", "-o", "junit_family=xunit2"],
        cwd=EXAMPLE,
        capture_output=True,
        check=True,
    )
    return time.perf_counter() - started


def _sandboxed(in_place: bool) -> tuple[float, str]:
    from orchestrator.checks import CheckOptions, plan_checks, run_checks

    options = CheckOptions(python=PYTHON)
    started = time.perf_counter()
    plan = plan_checks(EXAMPLE, options)
    (result,) = asyncio.run(run_checks(plan, EXAMPLE, options, in_place=in_place))
    seconds = time.perf_counter() - started
    if result.status != "passed":
        raise SystemExit(f"the example's suite did not pass in the sandbox: {result.message}")
    return seconds, result.isolation


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if not PYTHON.exists():
        print("the example's environment is missing: run `make .venv-example/.installed`", file=sys.stderr)
        return 2
    times: dict[str, list[float]] = {"direct": [], "sandboxed": [], "in place": []}
    isolation = ""
    with tempfile.TemporaryDirectory() as tmp:
        _direct(Path(tmp) / "warm.xml")  # warm the file cache and the bytecode
        for i in range(args.repeats):
            times["direct"].append(_direct(Path(tmp) / f"{i}.xml"))
            seconds, isolation = _sandboxed(in_place=False)
            times["sandboxed"].append(seconds)
            times["in place"].append(_sandboxed(in_place=True)[0])
    base, floor = statistics.median(times["direct"]), min(times["direct"])
    rows = []
    for label, key in (
        ("direct (`subprocess.run`, example folder)", "direct"),
        (f"sandboxed: copy + process group + {isolation} + limits + JUnit read", "sandboxed"),
        ("sandboxed, in place (no copy)", "in place"),
    ):
        median = statistics.median(times[key])
        overhead = "" if key == "direct" else f"{(median / base - 1) * 100:+.1f}%"
        least = "" if key == "direct" else f"{(min(times[key]) / floor - 1) * 100:+.1f}%"
        rows.append((label, f"{median * 1000:.0f}", f"{min(times[key]) * 1000:.0f}", overhead, least))
    sandboxed = statistics.median(times["sandboxed"]) / base - 1
    verdict = "met" if sandboxed <= GOAL else "**missed**"
    report = "\n".join(
        [
            "## Checks: sandbox overhead on the example's test suite",
            "",
            f"`python -m pytest` on examples/fastapi-service with its own environment, {args.repeats} "
            "alternating runs of each; medians. Goal: the sandbox adds at most "
            f"{GOAL:.0%} ({verdict}: {sandboxed:+.1%} on medians). The machine is shared (2 CPUs), so "
            "the fastest runs are shown too: their ratio is the least noisy estimate.",
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
