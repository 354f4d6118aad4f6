"""Start-up: whole-process wall time of `import orchestrator`, `phasegraph --help` and `phasegraph route`;
then `phasegraph run` and the first runs of fresh processes against the fake server.

Each command runs as a fresh process, once to warm the file cache and then `--repeats` times;
the median is reported beside the interpreter's own start-up (`python -c pass`). A second pass
under `python -X importtime` lists which of the model stack's top-level packages (openai,
langgraph, langchain_core, httpx) each command imports: commands that need no model must import
none of them. The peers' import times are measured the same way in their own venvs, when present.

`phasegraph run` (the standard task and project, 300 ms per call) is timed from the moment the
process is spawned to the first model request reaching the fake server, and from the last answer
the server sent to the moment the process has exited (server and benchmark read the same
monotonic clock); one more run under `-X importtime` says which packages its start-up imports.
The first run of a fresh process (`benchmarks/_fresh_run.py`, `Runner.start` as in
bench_overhead) is timed with every module it needs imported beforehand (the list taken from a
process that ran it), with its imports included, with its modules imported and frozen out of the
garbage collector, and again as the second run of a process; each wall time is set against the
run's own critical path (`_common.critical_path`).

Run: `.venv/bin/python -m benchmarks.bench_startup [--repeats N]`
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import _common as c
from benchmarks import _standard
from benchmarks.bench_peers import PEERS, peer_python
from benchmarks.fake_openai import FakeOpenAIProcess, FaultConfig

GOAL_S = 1.0
FIRST_REQUEST_GOAL_S = 1.0
EXIT_GOAL_S = 0.1
PATH_GOAL = 1.15
LATENCY_MS = 300
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


def _run_args(project: Path, run_id: str) -> list[str]:
    return [
        str(VENV / "phasegraph"),
        "run",
        _standard.TASK,
        "--project-dir",
        str(project),
        "--run-id",
        run_id,
        "--json",
    ]


def cli_run(server: FakeOpenAIProcess, project: Path, run_id: str) -> dict[str, float]:
    """One `phasegraph run` process: spawn → first request → last answer → exit, and its critical path."""
    server.reset()
    spawned = time.monotonic()
    done = subprocess.run(
        _run_args(project, run_id), env=c.fake_env(server.base_url), capture_output=True, text=True
    )
    exited = time.monotonic()
    if done.returncode != 0:
        raise SystemExit(f"phasegraph run exited {done.returncode}: {done.stderr[-500:]}")
    log = c.chat_calls(server.requests)
    last = max(r.t_end or r.t_start for r in log)
    return {
        "first_request": log[0].t_start - spawned,
        "calls": last - log[0].t_start,
        "exit": exited - last,
        "process": exited - spawned,
        "path": _path(json.loads(done.stdout)["run_dir"], log),
    }


def _path(run_dir: str, log: list[Any]) -> float:
    manifest = json.loads((Path(run_dir) / "manifest.json").read_text(encoding="utf-8"))
    return c.critical_path(c.phase_calls(manifest, log))[0]


def run_imports(server: FakeOpenAIProcess, project: Path) -> list[tuple[str, float]]:
    """Milliseconds of import time (each module's own) per top-level package in one `phasegraph run`."""
    argv = [str(VENV / "python"), "-X", "importtime", *_run_args(project, "importtime")]
    done = subprocess.run(argv, env=c.fake_env(server.base_url), capture_output=True, text=True)
    own: collections.Counter[str] = collections.Counter()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "self [us]" not in line:
            self_us, _, module = line.split(":", 1)[1].split("|")
            own[module.strip().split(".")[0]] += int(self_us) / 1000
    return own.most_common()


def fresh_runs(server: FakeOpenAIProcess, work: Path, i: int) -> dict[str, float]:
    """Wall ÷ critical path of a fresh process's first run (imports done, imports included) and its second."""
    modules = work / "modules.txt"
    out: dict[str, float] = {}
    for case, run_ids, preimport, freeze in (
        ("imports included", [f"cold{i}"], None, False),
        ("imports done", [f"fresh{i}", f"second{i}"], modules, False),
        ("imports frozen", [f"frozen{i}"], modules, True),
    ):
        project = _standard.write_project(work / f"{case.replace(' ', '-')}{i}")
        server.reset()
        argv = [sys.executable, "-m", "benchmarks._fresh_run", server.base_url, str(project), *run_ids]
        if preimport is not None:
            argv += ["--preimport", str(preimport)]
        if freeze:
            argv.append("--freeze")
        done = subprocess.run(
            argv, env=c.server_env(server.base_url), capture_output=True, text=True, cwd=c.ROOT
        )
        if done.returncode != 0:
            raise SystemExit(f"fresh-process run failed: {done.stderr[-500:]}")
        report = json.loads(done.stdout.strip().splitlines()[-1])
        modules.write_text("\n".join(report["modules"]), encoding="utf-8")
        log = c.chat_calls(server.requests)
        for run_id, measured in zip(run_ids, report["runs"], strict=True):
            if measured["status"] != "completed":
                raise SystemExit(f"fresh-process run {run_id} ended {measured['status']}")
            path = _path(measured["run_dir"], [r for r in log if r.run == run_id])
            out[run_id.rstrip("0123456789")] = measured["wall"] / path
            out[run_id.rstrip("0123456789") + "_wall"] = measured["wall"]
            out[run_id.rstrip("0123456789") + "_path"] = path
    return out


_FLOOR = """
import asyncio, os
import langgraph.graph, openai, langgraph.checkpoint.sqlite.aio

async def ask():
    client = openai.AsyncOpenAI(base_url=os.environ["OPENAI_BASE_URL"], api_key="fake", max_retries=0)
    await client.chat.completions.create(model="fake-model", messages=[{"role": "user", "content": "hi"}])
    await client.close()

asyncio.run(ask())
"""
"""The floor of `phasegraph run`'s start-up: import LangGraph, the openai SDK and the SQLite saver, ask."""


def floor_first_request(server: FakeOpenAIProcess) -> float:
    """Spawn → first request of `_FLOOR`, a process that does nothing else."""
    server.reset()
    spawned = time.monotonic()
    subprocess.run([str(VENV / "python"), "-c", _FLOOR], env=c.server_env(server.base_url), check=True)
    return float(c.chat_calls(server.requests)[0].t_start - spawned)


def run_section(quick: bool = False, repeats: int | None = None) -> tuple[str, list[c.Goal], dict[str, Any]]:
    """`phasegraph run` start-up and exit, and the first runs of fresh processes: markdown, goals, data."""
    repeats = repeats or (2 if quick else 5)
    work = c.work_dir("startup")
    config = FaultConfig(latency_ms=LATENCY_MS, array_items=2, seed=4)
    with FakeOpenAIProcess(config) as server:
        cli_run(server, _standard.write_project(work / "warmup"), "warmup")
        cli = [cli_run(server, _standard.write_project(work / f"cli{i}"), f"cli{i}") for i in range(repeats)]
        for i in range(repeats):
            cli[i]["floor"] = floor_first_request(server)
        imports = run_imports(server, _standard.write_project(work / "importtime"))
        fresh = [fresh_runs(server, work, i) for i in range(repeats)]
    return _run_markdown(cli, imports, fresh, repeats)


def _run_markdown(
    cli: list[dict[str, float]], imports: list[tuple[str, float]], fresh: list[dict[str, float]], repeats: int
) -> tuple[str, list[c.Goal], dict[str, Any]]:
    def spread(values: list[float], bold: bool = False) -> list[str]:
        med = f"{statistics.median(values):.3f} s"
        return [f"**{med}**" if bold else med, f"{min(values):.3f} s", f"{max(values):.3f} s"]

    first = statistics.median(r["first_request"] for r in cli)
    exit_s = statistics.median(r["exit"] for r in cli)
    path = statistics.median(r["path"] for r in cli)
    rows = [
        (
            "spawn → first model request",
            *spread([r["first_request"] for r in cli], True),
            f"≤ {FIRST_REQUEST_GOAL_S:g} s",
        ),
        (
            "the same for a script that only imports LangGraph, openai and the SQLite saver, then asks",
            *spread([r["floor"] for r in cli]),
            "",
        ),
        (f"first request → last answer (critical path {path:.3f} s)", *spread([r["calls"] for r in cli]), ""),
        ("last answer → process exit", *spread([r["exit"] for r in cli], True), f"≤ {EXIT_GOAL_S:g} s"),
        ("whole process", *spread([r["process"] for r in cli]), ""),
    ]
    total_ms = sum(ms for _, ms in imports)
    top = ", ".join(f"{name} {ms:.0f} ms" for name, ms in imports[:10])
    kinds = ("fresh", "cold", "frozen", "second")
    ratios = {k: statistics.median(f[k] for f in fresh) for k in kinds}
    walls = {k: statistics.median(f[k + "_wall"] for f in fresh) for k in kinds}
    paths = {k: statistics.median(f[k + "_path"] for f in fresh) for k in kinds}
    fresh_rows = [
        ("first run, every module it needs imported beforehand", "fresh", True),
        ("first run, its imports included", "cold", False),
        (
            "first run, its modules imported and then frozen (`gc.freeze()`, as `phasegraph` does)",
            "frozen",
            False,
        ),
        ("second run of the same process", "second", False),
    ]
    goals = [
        c.Goal(
            "`phasegraph run`: spawn → first model request",
            f"{first:.3f} s",
            f"≤ {FIRST_REQUEST_GOAL_S:g} s",
            first <= FIRST_REQUEST_GOAL_S,
        ),
        c.Goal(
            "`phasegraph run`: last answer → process exit",
            f"{exit_s:.3f} s",
            f"≤ {EXIT_GOAL_S:g} s",
            exit_s <= EXIT_GOAL_S,
        ),
        c.Goal(
            "Fresh process: first run's wall ÷ critical path",
            f"{ratios['fresh']:.2f}",
            f"≤ {PATH_GOAL:g}",
            ratios["fresh"] <= PATH_GOAL,
        ),
    ]
    body = (
        "### `phasegraph run`\n\nThe standard task on the standard project (`benchmarks/_standard.py`), "
        f"`--json`, the fake server answering in {LATENCY_MS} ms, design handing off to two collaborators "
        f"(5 calls); {repeats} processes after one warm-up.\n\n"
        + c.table(["span", "median", "min", "max", "goal"], rows)
        + f"\nWhat its start-up imports, by each module's own import time summed per top-level package "
        f"(one `phasegraph run` under `-X importtime`, {total_ms:.0f} ms in all): {top}.\n\n"
        f"### The first run of a fresh process\n\nThe same workload through `Runner.start` "
        f"(`benchmarks/_fresh_run.py`), median of {repeats} processes of each kind.\n\n"
        + c.table(
            ["run", "wall", "critical path", "wall ÷ path"],
            [
                (
                    label,
                    c.fmt_s(walls[k]),
                    c.fmt_s(paths[k]),
                    f"**{ratios[k]:.2f}**" if bold else f"{ratios[k]:.2f}",
                )
                for label, k, bold in fresh_rows
            ],
        )
        + "\n"
        + "\n".join(
            f"Goal {g.goal} for {g.item.split(': ', 1)[-1]}: **{_verdict(g.met)}** ({g.measured})."
            for g in goals
        )
        + "\n\n"
        + _misses(first, statistics.median(r["floor"] for r in cli), ratios)
    )
    data = {"phasegraph_run": cli, "run_imports_ms": dict(imports), "fresh_process": fresh}
    return body, goals, data


def _misses(first: float, floor: float, ratios: dict[str, float]) -> str:
    """What the measurements say about a missed goal."""
    lines = []
    if first > FIRST_REQUEST_GOAL_S:
        lines.append(
            f"Start-up is imports: the script that only imports LangGraph, the openai SDK and the SQLite "
            f"saver reaches the server after {floor:.3f} s, {floor / FIRST_REQUEST_GOAL_S:.0%} of the goal, "
            "before anything of phasegraph's is loaded (openai's `types` package and langsmith, which "
            "langchain_core's tracers import, lead the list above). The rest is phasegraph's own modules "
            "and the CLI's (typer, rich, pydantic models and settings) and the run's set-up."
        )
    if ratios["fresh"] > PATH_GOAL:
        lines.append(
            f"The second run of a process is at {ratios['second']:.2f}: what the first run does beyond it "
            "is done once per process. Part of it is the collector's first full pass over the objects the "
            "imports left (a process that freezes them after importing, as the `phasegraph` command does, "
            f"is at {ratios['frozen']:.2f}); the rest is reading and parsing the cards, the TLS "
            "certificates, compiling templates, building output models and their schemas, and LangGraph's "
            "first compile."
        )
    return "\n\n".join(lines) + ("\n" if lines else "")


def _verdict(met: bool | None) -> str:
    return "met" if met else "missed"


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
        run_body, run_goals, run_data = run_section(quick)
    data.update(run_data)
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
        + run_body
        + "\n"
        + c.environment_line()
        + "\n"
        + c.command_line("bench_startup")
    )
    return c.Section(
        key="startup",
        title="8. Start-up time",
        body=body,
        goals=goals + run_goals,
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
