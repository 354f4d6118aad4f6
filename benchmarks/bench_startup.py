"""Start-up: whole-process wall time of `import orchestrator`, `phasegraph --help` and `phasegraph route`.

Each command runs as a fresh process, once to warm the file cache and then `--repeats` times;
the median is reported beside the interpreter's own start-up (`python -c pass`). A second pass
under `python -X importtime` lists which of the model stack's top-level packages (openai,
langgraph, langchain_core, httpx) each command imports: commands that need no model must import
none of them. The peers' import times are measured the same way in their own venvs, when present.

Run: `.venv/bin/python -m benchmarks.bench_startup [--repeats N]`
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from pathlib import Path

from benchmarks import _common as c
from benchmarks import _standard
from benchmarks.bench_peers import PEERS, peer_python

GOAL_S = 1.0
HEAVY = ("openai", "langgraph", "langchain_core", "httpx", "tiktoken")
VENV = c.ROOT / ".venv" / "bin"
EXAMPLE = c.ROOT / "examples" / "fastapi-service"


def commands() -> list[tuple[str, list[str]]]:
    python, phasegraph = str(VENV / "python"), str(VENV / "phasegraph")
    return [
        ("`python -c pass` (interpreter alone)", [python, "-c", "pass"]),
        ('`python -c "import orchestrator"`', [python, "-c", "import orchestrator"]),
        ("`phasegraph --help`", [phasegraph, "--help"]),
        (
            '`phasegraph route "<standard task>" --project-dir examples/fastapi-service`',
            [phasegraph, "route", _standard.TASK, "--project-dir", str(EXAMPLE)],
        ),
    ]


def timed(argv: list[str], repeats: int) -> tuple[list[float], int]:
    """Wall seconds of `repeats` runs of `argv` (after one untimed run), and the last exit code."""
    code = subprocess.run(argv, capture_output=True, cwd=c.ROOT).returncode
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        code = subprocess.run(argv, capture_output=True, cwd=c.ROOT).returncode
        times.append(time.perf_counter() - started)
    return times, code


def heavy_imports(argv: list[str]) -> list[str]:
    """Top-level model-stack packages a command imports (from `-X importtime`)."""
    if Path(argv[0]).name == "python":
        full = [argv[0], "-X", "importtime", *argv[1:]]
    else:
        full = [str(VENV / "python"), "-X", "importtime", argv[0], *argv[1:]]
    done = subprocess.run(full, capture_output=True, text=True, cwd=c.ROOT)
    found = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            module = line.rsplit("|", 1)[1].strip()
            if module.split(".")[0] in HEAVY:
                found.add(module.split(".")[0])
    return sorted(found)


def run(quick: bool = False, repeats: int | None = None) -> c.Section:
    repeats = repeats or (3 if quick else 10)
    rows = []
    goals = []
    data: dict[str, object] = {}
    with c.Stopwatch() as total:
        for label, argv in commands():
            times, code = timed(argv, repeats)
            med = statistics.median(times)
            heavy = heavy_imports(argv) if "pass" not in argv else []
            is_goal = "pass" not in argv
            rows.append(
                (
                    label,
                    f"**{med:.3f} s**" if is_goal else f"{med:.3f} s",
                    f"{min(times):.3f} s",
                    code,
                    ", ".join(heavy) or "none",
                )
            )
            data[label] = {"seconds": times, "exit": code, "heavy_imports": heavy}
            if is_goal:
                goals.append(c.Goal(f"Start-up: {label}", f"{med:.3f} s", f"≤ {GOAL_S:g} s", med <= GOAL_S))
        peer_rows = []
        for peer in PEERS:
            python = peer_python(peer)
            module = peer.package.replace("-", "_")
            if not python.exists():
                peer_rows.append((f"`import {module}` ({peer.name})", "venv missing", "", "", ""))
                continue
            times, code = timed([str(python), "-c", f"import {module}"], max(3, repeats // 3))
            peer_rows.append(
                (
                    f"`import {module}` ({peer.name}, own venv)",
                    f"{statistics.median(times):.3f} s",
                    f"{min(times):.3f} s",
                    code,
                    "",
                )
            )
            data[f"import {module}"] = {"seconds": times, "exit": code}
    met = all(g.met for g in goals)
    no_heavy = all(not data[label]["heavy_imports"] for label, argv in commands() if "pass" not in argv)  # type: ignore[index]
    body = (
        f"Whole processes, median of {repeats} after one warm-up run.\n\n"
        + c.table(["command", "median", "min", "exit", "model stack imported"], rows + peer_rows)
        + "\n"
        + f"Goal ≤ {GOAL_S:g} s for each phasegraph command: **{'met' if met else 'missed'}**. "
        + (
            "None of them imports the model stack (openai, langgraph, langchain_core, httpx, tiktoken)."
            if no_heavy
            else "**Some import the model stack** (see the last column)."
        )
        + "\n\n"
        + c.environment_line()
        + "\n"
        + c.command_line("bench_startup")
    )
    return c.Section(
        key="startup",
        title="8. Start-up time",
        body=body,
        goals=goals,
        data=data,
        seconds=total.seconds,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    print(run(repeats=args.repeats).markdown())


if __name__ == "__main__":
    main()
