"""Peers: the standard task as a CrewAI sequential crew, a langgraph-supervisor graph and phasegraph.

All three run against the same fake server (300 ms per call; `call_tools=True` so the
supervisor's model calls each transfer tool once, in order, then answers; `array_items=2` so
phasegraph's design primary hands off to both of its collaborators) with the same seed-sized
cards (`_standard`). The peers run in their own virtual environments (benchmarks/.venv-crewai,
benchmarks/.venv-supervisor; created from benchmarks/peers/requirements-*.txt when missing,
never in phasegraph's .venv: CrewAI pins openai<3) through the scripts in benchmarks/peers/.
Each measures its own wall time around the run only (imports and object construction outside);
phasegraph's is `Runner.start`, catalogue loading included. Calls and prompt tokens are the
server's counts for all three.

Run: `.venv/bin/python -m benchmarks.bench_peers [--repeats N]`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import _common as c
from benchmarks import _standard
from benchmarks.bench_overhead import phasegraph_run
from benchmarks.fake_openai import FakeOpenAIProcess, FaultConfig

LATENCY_MS = 300
PEERS_DIR = c.ROOT / "benchmarks" / "peers"


@dataclass(frozen=True)
class Peer:
    name: str
    venv: Path
    requirements: Path
    script: Path
    package: str


PEERS = (
    Peer(
        "CrewAI (sequential crew)",
        c.ROOT / "benchmarks" / ".venv-crewai",
        PEERS_DIR / "requirements-crewai.txt",
        PEERS_DIR / "crewai_crew.py",
        "crewai",
    ),
    Peer(
        "langgraph-supervisor",
        c.ROOT / "benchmarks" / ".venv-supervisor",
        PEERS_DIR / "requirements-supervisor.txt",
        PEERS_DIR / "supervisor_graph.py",
        "langgraph-supervisor",
    ),
)


def peer_python(peer: Peer) -> Path:
    return peer.venv / "bin" / "python"


def ensure_venv(peer: Peer) -> str | None:
    """Create the peer's venv from its requirements file if needed; the error text if that fails."""
    python = peer_python(peer)
    marker = peer.venv / ".installed"
    if python.exists() and marker.exists() and marker.read_text() == peer.requirements.read_text():
        return None
    steps = [
        ["python3", "-m", "venv", str(peer.venv)],
        [str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
        [str(python), "-m", "pip", "install", "--quiet", "-r", str(peer.requirements)],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=1200)
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines()
            errors = [line for line in lines if "error" in line.lower()] or lines
            return f"`{' '.join(step[-3:])}` failed: {' '.join(errors[-2:])}"
    marker.write_text(peer.requirements.read_text())
    return None


def peer_version(peer: Peer) -> str:
    done = subprocess.run(
        [
            str(peer_python(peer)),
            "-c",
            f"from importlib.metadata import version; print(version('{peer.package}'))",
        ],
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() or "?"


def _peer_env(base_url: str) -> dict[str, str]:
    env = c.server_env(base_url)
    env.update(
        CREWAI_DISABLE_TELEMETRY="true",
        CREWAI_TRACING_ENABLED="false",
        OTEL_SDK_DISABLED="true",
        LANGSMITH_TRACING="false",
        PYTHONWARNINGS="ignore",
    )
    return env


def _run_peer(peer: Peer, server: FakeOpenAIProcess, spec: Path) -> dict[str, Any]:
    server.reset()
    done = subprocess.run(
        [str(peer_python(peer)), str(peer.script), str(spec)],
        env=_peer_env(server.base_url),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{peer.name} failed: {done.stderr.strip().splitlines()[-1:]}")
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    log = c.chat_calls(server.requests)
    out["calls"] = len(log)
    out["prompt_tokens"] = sum(r.prompt_tokens for r in log)
    out["completion_tokens"] = sum(r.completion_tokens for r in log)
    # A sequential peer's critical path is every call it made, one after another.
    out["critical_path"] = sum((r.t_end or r.t_start) - r.t_start for r in log)
    out["overlapping"] = (
        c.interval_chain([(r.t_start, r.t_end or r.t_start) for r in log]) < out["critical_path"] - 1e-6
    )
    return out


def _run_phasegraph(server: FakeOpenAIProcess, project: Path, run_id: str) -> dict[str, Any]:
    server.reset()
    wall, result = asyncio.run(phasegraph_run(server.base_url, project, run_id))
    log = c.chat_calls(server.requests)
    manifest = json.loads((Path(result.run_dir) / "manifest.json").read_text(encoding="utf-8"))
    path, _ = c.critical_path(c.phase_calls(manifest, log))
    promised, produced = c.all_delivered(result, project)
    return {
        "wall_s": wall,
        "status": result.status,
        "calls": len(log),
        "prompt_tokens": sum(r.prompt_tokens for r in log),
        "completion_tokens": sum(r.completion_tokens for r in log),
        "critical_path": path,
        "outputs": produced,
        "expected_outputs": promised,
        "own_usage": result.usage.model_dump(),
        "agents": [(p["key"], a["id"]) for p in manifest["phases"] for a in p["agents"]],
    }


def run(quick: bool = False, repeats: int | None = None) -> c.Section:
    repeats = repeats or (1 if quick else 3)
    c.quiet_logging()
    work = c.work_dir("peers")
    project = _standard.write_project(work / "project")
    spec = _standard.write_spec(work / "spec.json", project)
    results: dict[str, list[dict[str, Any]]] = {}
    errors: dict[str, str] = {}
    versions: dict[str, str] = {}
    with c.Stopwatch() as total:
        for peer in PEERS:
            error = ensure_venv(peer)
            if error:
                errors[peer.name] = error
            else:
                versions[peer.package] = peer_version(peer)
        config = FaultConfig(latency_ms=LATENCY_MS, array_items=2, call_tools=True, seed=4)
        with FakeOpenAIProcess(config) as server:
            _run_phasegraph(server, _standard.write_project(work / "warmup"), "warmup")
            for i in range(repeats):
                results.setdefault("phasegraph", []).append(_run_phasegraph(server, project, f"peers{i}"))
                for peer in PEERS:
                    if peer.name in errors:
                        continue
                    try:
                        results.setdefault(peer.name, []).append(_run_peer(peer, server, spec))
                    except (RuntimeError, ValueError, subprocess.TimeoutExpired) as exc:
                        errors[peer.name] = str(exc)
                        results.pop(peer.name, None)
    return _section(results, errors, versions, repeats, total.seconds)


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    first = runs[0]
    return {
        "wall": c.median(r["wall_s"] for r in runs),
        "calls": first["calls"],
        "prompt_tokens": first["prompt_tokens"],
        "critical_path": c.median(r["critical_path"] for r in runs),
        "ratio": c.median(r["wall_s"] / r["critical_path"] for r in runs),
        "outputs": f"{first['outputs']}/{first['expected_outputs']}",
        "own_usage": first.get("own_usage"),
        "tokens_stable": len({r["prompt_tokens"] for r in runs}) == 1,
    }


def _own_claim(name: str, own: Any) -> str:
    if not own:
        return "none"
    if name == "phasegraph":
        return f"{own['prompt_tokens']:,} prompt tokens, {own['calls']} calls (manifest)"
    prompt = own.get("prompt_tokens")
    calls = own.get("successful_requests", own.get("calls"))
    return f"{prompt:,} prompt tokens, {calls} requests" if prompt is not None else json.dumps(own)


def _section(
    results: dict[str, list[dict[str, Any]]],
    errors: dict[str, str],
    versions: dict[str, str],
    repeats: int,
    seconds: float,
) -> c.Section:
    summaries = {name: _summary(runs) for name, runs in results.items()}
    pg = summaries["phasegraph"]
    crew = summaries.get(PEERS[0].name)
    rows = []
    for name, s in summaries.items():
        rows.append(
            (
                name if name != "phasegraph" else "**phasegraph**",
                c.fmt_s(s["wall"]),
                s["calls"],
                f"{s['prompt_tokens']:,}",
                c.fmt_s(s["critical_path"]),
                f"{s['ratio']:.2f}",
                s["outputs"],
                _own_claim(name, s["own_usage"]),
            )
        )
    for name, error in errors.items():
        rows.append((name, "not measured", "", "", "", "", "", error))
    manifest_ok = (
        pg["own_usage"]["prompt_tokens"] == pg["prompt_tokens"] and pg["own_usage"]["calls"] == pg["calls"]
    )
    token_share = pg["prompt_tokens"] / crew["prompt_tokens"] if crew else None
    goals = [
        c.Goal(
            "Peers: prompt tokens vs CrewAI",
            f"{token_share:.0%}" if token_share is not None else "CrewAI not measured",
            "≤ 50%, all deliverables",
            (token_share <= 0.5 and pg["outputs"].split("/")[0] == pg["outputs"].split("/")[1])
            if token_share is not None
            else None,
        ),
        c.Goal(
            "Peers: phasegraph wall ÷ own critical path", f"{pg['ratio']:.2f}", "≤ 1.10", pg["ratio"] <= 1.10
        ),
        c.Goal(
            "Peers: manifest usage = server's count",
            "equal" if manifest_ok else "different",
            "equal",
            manifest_ok,
        ),
    ]
    lines = [
        f"- {g.item}: {g.measured} (goal {g.goal}): **{'met' if g.met else 'missed'}**"
        for g in goals
        if g.met is not None
    ]
    body = (
        f"The standard task — *{_standard.TASK}* — design by backend-python handing off to "
        "database-specialist and security-expert, build by backend-python, verify by qa-automation; every "
        "card about the seed card's size (see `benchmarks/_standard.py`: the built-in cards with their roles "
        "cut to this plan, padded section by section with the seed's own sub-sections; the router then "
        "picks this plan itself, which the test suite checks). "
        f"{LATENCY_MS} ms per call, same fake server for all. Median wall of {repeats} runs; *calls* and "
        "*prompt tokens* as the server counted them; *critical path*: the longest chain of calls that wait "
        "for one another (for the sequential peers, all their calls); *own claim*: the usage each framework "
        "reports about itself.\n\n"
        + c.table(
            [
                "",
                "wall",
                "calls",
                "prompt tokens",
                "critical path",
                "wall ÷ path",
                "deliverables / outputs",
                "own claim",
            ],
            rows,
        )
        + "\n"
        + "\n".join(lines)
        + "\n\n"
        + c.environment_line({f"{k} (own venv)": v for k, v in versions.items()})
        + "\n"
        + c.command_line("bench_peers")
    )
    return c.Section(
        key="peers",
        title="7. Peer comparison: CrewAI and langgraph-supervisor",
        body=body,
        goals=goals,
        data={"runs": results, "errors": errors, "versions": versions},
        seconds=seconds,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(run(repeats=args.repeats).markdown())


if __name__ == "__main__":
    main()
