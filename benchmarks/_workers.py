"""Real `phasegraph worker` processes and brokers, shared by the worker tests and `bench_workers`."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PHASEGRAPH = str(Path(sys.executable).parent / "phasegraph")
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672//"


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def redis_url() -> str:
    """A Redis database of its own (1-15), so other test runs' keys stay out of the way."""
    return f"redis://127.0.0.1:6379/{1 + secrets.randbelow(15)}"


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


@dataclass
class Worker:
    """One `phasegraph worker` process group, its JSON log in a file."""

    proc: subprocess.Popen[bytes]
    log: Path

    def lines(self) -> list[dict[str, Any]]:
        """The JSON log lines written so far."""
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    found.append(json.loads(line))
                except ValueError:  # a line being written
                    continue
        return found

    def in_hand(self) -> set[str]:
        """Runs this worker started and has not finished."""
        started: set[str] = set()
        for line in self.lines():
            if line.get("event") == "worker.task_started":
                started.add(line["run_id"])
            elif line.get("event") in ("worker.task_finished", "worker.run_locked"):
                started.discard(line["run_id"])
        return started

    def kill(self) -> None:
        """`kill -9` the worker and its pool processes at once, as a machine dies."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> int:
        """SIGTERM to the main process, as `docker stop` sends it; SIGKILL if still there after a minute."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return int(self.proc.returncode)


def start_worker(
    broker: str,
    checkpoint_url: str,
    queue: str,
    log: Path,
    *,
    base_url: str = "",
    concurrency: int = 2,
    extra: tuple[str, ...] = (),
) -> Worker:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PHASEGRAPH_", "OPENAI_"))}
    env.update(OPENAI_API_KEY="sk-worker-own-key", OPENAI_BASE_URL=base_url or "http://127.0.0.1:9/v1")
    args = [PHASEGRAPH, "worker", "--broker", broker, "--checkpoint-url", checkpoint_url]
    args += ["--queues", queue, "--concurrency", str(concurrency), *extra]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=log.parent, start_new_session=True
        )
    return Worker(proc, log)


@contextmanager
def workers(
    n: int, broker: str, checkpoint_url: str, queue: str, logs: Path, **kwargs: Any
) -> Iterator[list[Worker]]:
    """`n` workers on `queue`; stopped (or killed) and the queue deleted afterwards."""
    logs.mkdir(parents=True, exist_ok=True)
    started = [
        start_worker(broker, checkpoint_url, queue, logs / f"worker{i}.log", **kwargs) for i in range(n)
    ]
    try:
        yield started
    finally:
        for worker in started:
            if worker.proc.poll() is None:
                worker.kill()
        delete_queue(broker, queue)


def delete_queue(broker: str, queue: str) -> None:
    from kombu import Connection  # type: ignore[attr-defined]

    conn = Connection(broker, connect_timeout=5)  # type: ignore[no-untyped-call]
    # A queue never declared has nothing to delete.
    with conn, contextlib.suppress(Exception):
        conn.default_channel.queue_delete(queue)  # type: ignore[no-untyped-call]


def statuses(pg_url: str, prefix: str) -> dict[str, str]:
    """The registry's status of every run whose id starts with `prefix`."""
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT run_id, status FROM phasegraph_runs WHERE run_id LIKE %s", (prefix + "%",)
        )
        return {str(r[0]): str(r[1]) for r in rows.fetchall()}


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {timeout:g} s")
        time.sleep(0.2)
