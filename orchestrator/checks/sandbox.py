"""The sandbox a check runs in: its own process group, a timeout, no secrets, no network, limits.

A check is the project's code, partly written by a model, so it is untrusted:
- it runs in a new session (its own process group); at the timeout, or when its main
  process ends, the whole group is killed, so a hung or leftover child never hangs a run;
- its environment has no secrets: provider and checkpoint credentials, and anything the
  redaction rules would mask (`orchestrator.providers._redact`), are left out;
- it has no network unless `--check-network`: a new network namespace through bubblewrap
  (`bwrap --unshare-net`) when installed, else `unshare --net` (as root) or
  `unshare --map-root-user --net` (unprivileged user namespaces), each with a PID namespace
  too, so nothing the check started outlives it. With neither it runs with
  the network reachable and the result says so (`isolation: none` and a warning);
- `setrlimit` in the child caps its address space, its processes and core files, and its
  output is capped, keeping the first and the last part.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import resource
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from orchestrator.providers._redact import redact
from orchestrator.settings import hide_url_password

MEMORY_BYTES = 8 * 1024**3
"""Address space of one check's processes (`RLIMIT_AS`)."""
MAX_PROCESSES = 4096
"""Processes of the check's user (`RLIMIT_NPROC`): a fork bomb stops here (not enforced for root)."""
OUTPUT_BYTES = 2 * 1024**2
"""Output kept per check: the first and the last half of this."""
_KILL_GRACE_S = 5.0
"""After the main process ends, how long its leftover output may take to drain."""

_SECRET_NAME = re.compile(r"(?i)(key|token|secret|passw|credential|auth|cookie|session_id|private)")
_SECRET_PREFIXES = ("PHASEGRAPH_", "OPENAI_", "AZURE_OPENAI_", "ANTHROPIC_", "LANGSMITH_", "LANGCHAIN_")


def check_env(
    base: Mapping[str, str], secrets: Iterable[str] = (), extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """`base` without anything secret: provider and phasegraph variables, names that say key,
    token, secret or password, and values the redaction rules or the URL masker would change."""
    known = [s for s in secrets if s]
    env: dict[str, str] = {}
    for name, value in base.items():
        if name.upper().startswith(_SECRET_PREFIXES) or _SECRET_NAME.search(name):
            continue
        if redact(value, known) != value or hide_url_password(value) != value:
            continue
        env[name] = value
    env.update(extra or {})
    return env


@dataclass(frozen=True)
class Isolation:
    """How network access is cut off for a check: the command prefix and its name."""

    prefix: tuple[str, ...]
    name: str
    """`bwrap`, `unshare-net`, `unshare-userns-net`, `network-allowed` or `none`."""
    warning: str = ""


NETWORK_ALLOWED = Isolation((), "network-allowed")
NO_ISOLATION = Isolation(
    (),
    "none",
    "no network isolation available (neither bubblewrap nor `unshare --net` works here): "
    "the check ran with the network reachable",
)
_CANDIDATES = (
    Isolation(
        ("bwrap", "--dev-bind", "/", "/", "--unshare-net", "--unshare-pid", "--die-with-parent", "--"),
        "bwrap",
    ),
    Isolation(("unshare", "--net", "--pid", "--fork", "--"), "unshare-net"),
    Isolation(("unshare", "--map-root-user", "--net", "--pid", "--fork", "--"), "unshare-userns-net"),
)
"""Each also gives the check a PID namespace: when its command ends, every process it left behind
ends with it, even one that left the process group (`setsid`)."""


def isolation(network: bool) -> Isolation:
    """The isolation a check gets: none asked for with `network`, else the first mechanism that works."""
    return NETWORK_ALLOWED if network else _probe()


@functools.cache
def _probe() -> Isolation:
    """The first mechanism that runs `true` here (probed once per process)."""
    for candidate in _CANDIDATES:
        if shutil.which(candidate.prefix[0]) is None:
            continue
        try:
            done = subprocess.run(
                [*candidate.prefix, "true"],
                capture_output=True,
                timeout=10,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return candidate
    return NO_ISOLATION


def _limits(memory: int, processes: int) -> Callable[[], None]:
    """The child's `preexec_fn`: lower its limits (never above the hard limits it inherited)."""

    def apply() -> None:
        for which, wanted in (
            (resource.RLIMIT_AS, memory),
            (resource.RLIMIT_NPROC, processes),
            (resource.RLIMIT_CORE, 0),
        ):
            _soft, hard = resource.getrlimit(which)
            value = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
            resource.setrlimit(which, (value, hard))

    return apply


class _CappedOutput:
    """Keeps the first and the last `limit // 2` bytes of a stream and counts the rest."""

    def __init__(self, limit: int) -> None:
        self.half = max(limit // 2, 1)
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            if len(self.tail) > self.half:
                del self.tail[: len(self.tail) - self.half]

    @property
    def capped(self) -> bool:
        return self.total > len(self.head) + len(self.tail)

    def text(self) -> str:
        head = self.head.decode("utf-8", "replace")
        if not self.capped:
            return head + self.tail.decode("utf-8", "replace")
        dropped = self.total - len(self.head) - len(self.tail)
        tail = self.tail.decode("utf-8", "replace")
        return f"{head}\n[... {dropped} bytes of output not kept ...]\n{tail}"


@dataclass
class Completed:
    """What running one command gave."""

    exit_code: int | None
    """None when it could not start or was killed at the timeout."""
    output: str
    duration_s: float
    timed_out: bool = False
    start_error: str = ""
    """Why it could not start (`command not found: foo`)."""
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Sandbox:
    """Where and how checks run: directory, environment, isolation, timeout and limits."""

    cwd: str
    env: Mapping[str, str]
    isolation: Isolation
    timeout_s: float
    memory: int = MEMORY_BYTES
    processes: int = MAX_PROCESSES
    output_bytes: int = OUTPUT_BYTES

    async def run(self, argv: Sequence[str]) -> Completed:
        """Run `argv` (no shell) in its own process group; kill the group at the timeout."""
        started = time.monotonic()
        program = _program(argv[0], self.cwd, self.env.get("PATH")) if argv else None
        if program is None:
            return Completed(None, "", 0.0, start_error=f"command not found: {argv[0] if argv else ''}")
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.isolation.prefix,
                program,
                *argv[1:],
                cwd=self.cwd,
                env=dict(self.env),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_limits(self.memory, self.processes),
            )
        except OSError as exc:
            return Completed(None, "", time.monotonic() - started, start_error=f"cannot run {argv[0]}: {exc}")
        sink = _CappedOutput(self.output_bytes)
        timed_out = await self._wait(proc, sink)
        done = Completed(
            None if timed_out else proc.returncode,
            sink.text(),
            round(time.monotonic() - started, 3),
            timed_out=timed_out,
        )
        if sink.capped:
            done.warnings.append(f"output capped: {sink.total} bytes, the first and last {sink.half} kept")
        return done

    async def _wait(self, proc: asyncio.subprocess.Process, sink: _CappedOutput) -> bool:
        """Pump output until the main process ends or the timeout; kill whatever is left.
        True when the timeout struck."""
        assert proc.stdout is not None
        stream = proc.stdout

        async def pump() -> None:
            while chunk := await stream.read(65536):
                sink.add(chunk)

        pumping = asyncio.ensure_future(pump())
        timed_out = False
        try:
            await asyncio.wait_for(proc.wait(), self.timeout_s)
        except TimeoutError:
            timed_out = True
        finally:
            _kill_group(proc.pid)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            try:
                await asyncio.wait_for(asyncio.shield(pumping), _KILL_GRACE_S)
            except TimeoutError:
                pumping.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pumping
        return timed_out


def _program(name: str, cwd: str, path: str | None) -> str | None:
    """The executable `name` names: on the check's PATH, or (with a `/`) relative to its folder."""
    if os.sep in name:
        found = os.path.join(cwd, name)
        return found if os.path.isfile(found) and os.access(found, os.X_OK) else None
    return shutil.which(name, path=path)


def _kill_group(pgid: int) -> None:
    """SIGKILL every process left in the check's process group."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
