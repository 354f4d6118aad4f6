"""What every benchmark shares: the machine line, settings for the fake server, a recording
provider, critical paths from a request log, manifest shapes, and markdown tables.

Every benchmark module exposes ``run(quick=False) -> Section`` (and a ``main()`` for its own
command line); ``python -m benchmarks`` runs them all and assembles benchmarks/RESULTS.md.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "benchmarks" / "results"
WORK_DIR = ROOT / "benchmarks" / "_work"
"""Scratch projects and state files (gitignored); each benchmark clears its own sub-folder."""

PACKAGES = ("phasegraph", "langgraph", "langgraph-checkpoint-sqlite", "openai", "pydantic", "tiktoken")


@dataclass
class Goal:
    """One line of the summary table: what was measured against which goal."""

    item: str
    measured: str
    goal: str
    met: bool | None
    """None when the item has no pass/fail goal (a figure reported for information)."""


@dataclass
class Section:
    """One benchmark's results: a markdown section for RESULTS.md and its raw numbers."""

    key: str
    title: str
    body: str
    """Markdown under the title: tables, the machine line, the command, and what the numbers mean."""
    goals: list[Goal] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    """How long the benchmark itself took."""

    def markdown(self) -> str:
        return f"## {self.title}\n\n{self.body.strip()}\n"


def dist_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, Any]:
    """uname, CPU count and Python version of this machine."""
    u = platform.uname()
    return {
        "uname": f"{u.system} {u.release} {u.machine}",
        "cpus": os.cpu_count() or 0,
        "python": platform.python_version(),
    }


def environment_line(extra: Mapping[str, str] | None = None) -> str:
    """`Machine: Linux 6.x x86_64, 2 CPUs, Python 3.11.7; phasegraph 0.1.0, langgraph 1.2.x, ...`."""
    m = machine()
    packages = {name: dist_version(name) for name in PACKAGES}
    packages.update(extra or {})
    listed = ", ".join(f"{name} {ver}" for name, ver in packages.items())
    return f"Machine: {m['uname']}, {m['cpus']} CPUs, Python {m['python']}. Versions: {listed}."


def command_line(module: str, args: str = "") -> str:
    return (
        f"Command: `.venv/bin/python -m benchmarks.{module}{(' ' + args) if args else ''}` (or `make bench`)."
    )


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def fmt_s(seconds: float) -> str:
    return f"{seconds:.3f} s"


def ratio(a: float, b: float) -> float:
    return a / b if b else float("inf")


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], align: str | None = None) -> str:
    """A markdown table; `align` is one character per column, `l` or `r` (default: first left, rest right)."""
    align = align or ("l" + "r" * (len(headers) - 1))
    marks = ["---" if a == "l" else "---:" for a in align]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(marks) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def work_dir(name: str) -> Path:
    """An empty scratch folder `benchmarks/_work/<name>`."""
    import shutil

    path = WORK_DIR / name
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def server_env(base_url: str) -> dict[str, str]:
    """This process's environment without phasegraph or OpenAI settings, pointed at the fake server."""
    settings = ("PHASEGRAPH_", "OPENAI_", "AZURE_OPENAI_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(settings)}
    env.update(OPENAI_BASE_URL=base_url, OPENAI_API_KEY="fake-key-for-the-local-server")
    return env


def fake_env(base_url: str, **settings: Any) -> dict[str, str]:
    """Environment for a `phasegraph` child process talking to the fake server."""
    env = server_env(base_url)
    env.update(
        PHASEGRAPH_PROVIDER="openai",
        PHASEGRAPH_MODEL="fake-model",
        PHASEGRAPH_LOG_LEVEL="error",
        PHASEGRAPH_PRICES='{"fake-model": {"input": 0, "cached_input": 0, "output": 0}}',
    )
    env.update({f"PHASEGRAPH_{k.upper()}": str(v) for k, v in settings.items()})
    return env


def settings_for(base_url: str, **overrides: Any) -> Any:
    """Settings for an in-process run against the fake server (no key needed: it is local)."""
    from orchestrator.settings import ModelPrice, load_settings

    return load_settings(
        provider="openai",
        model="fake-model",
        openai_base_url=base_url,
        log_level="error",
        prices={"fake-model": ModelPrice(input=0, cached_input=0, output=0)},
        **overrides,
    )


def quiet_logging() -> None:
    """Keep phasegraph's warnings (e.g. per-call ones) out of the benchmark's output."""
    from orchestrator import configure_logging

    configure_logging(level="error")


# -- what a run did ---------------------------------------------------------------------------------


@dataclass
class Call:
    """One model call for critical-path purposes: how long it took and which calls it waited for."""

    key: str
    seconds: float
    after: tuple[str, ...] = ()
    """Keys of the calls whose answers it needed (the agent that handed off; the previous phase)."""


def critical_path(calls: Sequence[Call]) -> tuple[float, list[str]]:
    """Length and keys of the longest chain of dependent calls (the floor of any schedule)."""
    by_key = {c.key: c for c in calls}
    best: dict[str, tuple[float, list[str]]] = {}

    def finish(key: str, stack: frozenset[str]) -> tuple[float, list[str]]:
        if key in best:
            return best[key]
        if key in stack:
            raise ValueError(f"dependency cycle through {key}")
        call = by_key[key]
        before = [finish(k, stack | {key}) for k in call.after if k in by_key]
        length, chain = max(before, default=(0.0, []), key=lambda lc: lc[0])
        best[key] = (length + call.seconds, [*chain, key])
        return best[key]

    return max((finish(c.key, frozenset()) for c in calls), default=(0.0, []), key=lambda lc: lc[0])


def interval_chain(intervals: Sequence[tuple[float, float]]) -> float:
    """The longest total duration of intervals that do not overlap (a chain in time order).

    A lower bound of the wall time read off the log alone; it cannot tell a dependency from
    two independent calls that happened to run one after the other.
    """
    ordered = sorted(intervals, key=lambda se: se[1])
    ends = [e for _, e in ordered]
    best: list[float] = []
    import bisect

    for i, (start, end) in enumerate(ordered):
        j = bisect.bisect_right(ends, start, 0, i) - 1
        take = (end - start) + (best[j] if j >= 0 else 0.0)
        best.append(max(take, best[i - 1] if i else 0.0))
    return best[-1] if best else 0.0


def phase_calls(manifest: Mapping[str, Any], log: Sequence[Any], *, waves: bool = False) -> list[Call]:
    """Calls of a run with their dependencies, from its manifest, and durations from the server log.

    Inside a phase a collaborator waits for the agent that handed off to it; a phase's first
    calls wait for every call of the phase before (the gate). A second call of one agent in one
    phase (a repair, asked by the gate) waits for every call of the phase listed before it.
    With `waves`, a collaborator waits instead for every call one handoff level up in its phase,
    as a superstep barrier would make it. Durations are the server's (answer sent minus request
    read), so client and network time count as overhead.
    """
    calls: list[Call] = []
    previous_phase: list[str] = []
    for phase in manifest["phases"]:
        current: list[str] = []
        depth: dict[str, int] = {}
        level: dict[int, list[str]] = {}
        for agent in phase["agents"]:
            mine = [r for r in log if r.phase == phase["key"] and r.agent == agent["id"] and r.status == 200]
            by = agent.get("handed_off_by")
            depth[agent["id"]] = depth.get(by, -1) + 1 if by else 0
            for n, entry in enumerate(mine):
                key = f"{phase['key']}/{agent['id']}/{n}"
                if n:
                    after: tuple[str, ...] = tuple(current)
                elif by and waves:
                    after = tuple(level.get(depth[agent["id"]] - 1, []))
                elif by:
                    after = tuple(k for k in current if k.startswith(f"{phase['key']}/{by}/"))[:1]
                else:
                    after = tuple(previous_phase)
                calls.append(Call(key, (entry.t_end or entry.t_start) - entry.t_start, after))
                current.append(key)
                if not n:
                    level.setdefault(depth[agent["id"]], []).append(key)
        previous_phase = current or previous_phase
    return calls


def manifest_shape(manifest: Mapping[str, Any]) -> list[tuple[str, str, tuple[str, ...]]]:
    """(phase, agent, deliverable names) of every agent in a manifest: what "the same manifest" compares."""
    return [
        (phase["key"], agent["id"], tuple(d["name"] for d in agent["deliverables"]))
        for phase in manifest["phases"]
        for agent in phase["agents"]
    ]


def deliverables_on_disk(run_dir: Path, manifest: Mapping[str, Any]) -> tuple[int, int]:
    """(listed, present and non-empty) deliverable files of a run."""
    listed = present = 0
    for phase in manifest["phases"]:
        for agent in phase["agents"]:
            for d in agent["deliverables"]:
                listed += 1
                path = run_dir / d["path"]
                if path.is_file() and path.stat().st_size > 0:
                    present += 1
    return listed, present


def chat_calls(log: Sequence[Any]) -> list[Any]:
    return [r for r in log if r.path.startswith("/v1/chat/completions")]


class Stopwatch:
    """`with Stopwatch() as sw: ...; sw.seconds`."""

    def __enter__(self) -> Stopwatch:
        self.started = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.started


def python() -> str:
    return sys.executable


@dataclass
class Recorded:
    """One request phasegraph sent, as a plain OpenAI request body, with the superstep it ran in."""

    agent: str
    phase: str
    step: int
    body: dict[str, Any]
    """`model`, `messages`, `response_format`: what a bare client needs to send the same request."""
    started: float
    ended: float
    raw: str


def recording(inner: Any) -> Any:
    """A provider that forwards to `inner` and keeps every request (see `Recorded`)."""
    from langgraph.config import get_config

    from orchestrator.providers._schema import response_format
    from orchestrator.providers.base import ModelRequest, ModelResponse, Provider, T

    class RecordingProvider(Provider):
        def __init__(self) -> None:
            self.name = inner.name
            self.model = inner.model
            self.calls: list[Recorded] = []

        async def complete(self, request: ModelRequest[T]) -> ModelResponse[T]:
            step = int(get_config().get("metadata", {}).get("langgraph_step", -1))
            started = time.monotonic()
            response: ModelResponse[T] = await inner.complete(request)
            body = {
                "model": inner.model,
                "messages": [{"role": m.role, "content": m.content} for m in request.messages],
                "response_format": response_format(request.output_model),
            }
            self.calls.append(
                Recorded(request.agent, request.phase, step, body, started, time.monotonic(), response.raw)
            )
            return response

        async def aclose(self) -> None:
            await inner.aclose()

    return RecordingProvider()


class FunctionTimer:
    """Wraps named functions and methods for the duration of a `with` block and sums their time.

    Used on a separate, untimed run to say where a run's time goes; nested timed functions
    each count their own (inclusive) time. Originals are restored on exit.
    """

    def __init__(self, targets: Sequence[tuple[Any, str, str]]) -> None:
        self.targets = targets
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._saved: list[tuple[Any, str, Any]] = []

    def __enter__(self) -> FunctionTimer:
        import inspect

        for owner, name, label in self.targets:
            original = inspect.getattr_static(owner, name)
            self._saved.append((owner, name, original))
            is_classmethod = isinstance(original, classmethod)
            func = original.__func__ if is_classmethod else original
            wrapped = self._wrap(func, label)
            setattr(owner, name, classmethod(wrapped) if is_classmethod else wrapped)
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, name, original in reversed(self._saved):
            setattr(owner, name, original)
        self._saved.clear()

    def _wrap(self, func: Any, label: str) -> Any:
        import functools
        import inspect

        def add(started: float) -> None:
            self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - started
            self.calls[label] = self.calls.get(label, 0) + 1

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return await func(*args, **kwargs)
                finally:
                    add(started)

            return timed_async

        @functools.wraps(func)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                add(started)

        return timed


def count_prompt(counter: Any, messages: Sequence[Mapping[str, Any]], schema: Any = None) -> int:
    """Prompt tokens as the fake server bills them: 3 per message plus role and content, plus 3,
    plus the compact JSON of the `response_format` schema when there is one."""
    import json

    total = 3
    for message in messages:
        total += 3 + counter.count(str(message.get("role", "")))
        total += counter.count(str(message.get("content", "")))
    if schema is not None:
        total += counter.count(json.dumps(schema, separators=(",", ":")))
    return total


def all_delivered(result: Any, project: Path) -> tuple[int, int]:
    """(promised, produced) deliverables of a run: every card's list for its phase, against the
    non-empty files the manifest names."""
    import json

    from orchestrator.catalog import Catalog
    from orchestrator.phases import card_deliverables, load_pipeline

    catalog = Catalog.load(project_dir=project)
    pipeline = load_pipeline("default", project_dir=project)
    run_dir = Path(result.run_dir)
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    promised = produced = 0
    for phase in manifest["phases"]:
        for agent in phase["agents"]:
            expected = card_deliverables(catalog.get(agent["id"]), pipeline.phase(phase["key"]))
            promised += len(expected)
            names = {d["name"]: d["path"] for d in agent["deliverables"]}
            for name in expected:
                path = run_dir / names.get(name, "\0missing")
                if name in names and path.is_file() and path.stat().st_size > 0:
                    produced += 1
    return promised, produced
