"""Record once, replay forever: cassettes of request/response pairs for deterministic CI.

A cassette is a JSON-lines file. Each line holds one call: the request fingerprint
(`hash`), who asked (`agent`, `phase`), the normalised request (messages and output
schema; never a key or header), the raw JSON answer and its usage. Recording wraps
any provider; replaying answers from the file by fingerprint, with no network, and
a request the cassette does not hold is a `ReplayMiss`, never a silent fallback.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from orchestrator._private import append_private
from orchestrator.errors import ConfigError, ReplayMiss
from orchestrator.providers._answers import parse_output
from orchestrator.providers._redact import redact
from orchestrator.providers.base import ModelRequest, ModelResponse, Provider, T
from orchestrator.usage import CallUsage


class CassetteEntry(BaseModel):
    """One line of a cassette."""

    hash: str
    """`ModelRequest.fingerprint()` of the recorded request."""

    agent: str = ""
    """The agent that asked (for people reading the file and for miss messages)."""

    phase: str = ""
    """The phase it asked in."""

    request: dict[str, Any]
    """`ModelRequest.normalised()`: messages, output model name and JSON schema."""

    response: str
    """The raw JSON text the model answered."""

    usage: CallUsage
    """What the recorded call consumed."""


class Cassette:
    """A cassette file: append entries while recording, load them to replay."""

    def __init__(self, path: Path | str, *, secrets: Sequence[str] = ()) -> None:
        self.path = Path(path)
        self._secrets = tuple(secrets)
        self._lock = threading.Lock()

    def append(self, request: ModelRequest[Any], response: ModelResponse[Any]) -> None:
        """Add one call at the end of the file (created 0600, with its folder, if needed)."""
        # The request is for people reading the file: mask anything key-like in it. The
        # response must replay byte for byte, so only known secrets are masked there.
        shown_request = json.loads(redact(json.dumps(request.normalised()), self._secrets))
        entry = CassetteEntry(
            hash=request.fingerprint(),
            agent=request.agent,
            phase=request.phase,
            request=shown_request,
            response=redact(response.raw, self._secrets, patterns=False),
            usage=response.usage,
        )
        line = entry.model_dump_json()
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Owner-only: a cassette holds every prompt (the project's source) and answer.
            with append_private(self.path) as handle:
                handle.write(line + "\n")

    def load(self) -> list[CassetteEntry]:
        """Every entry in file order; a missing file or a bad line is a `ConfigError` naming it."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(
                f"cassette {self.path} does not exist; record one first (docs/providers.md, Cassettes)"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cassette {self.path} cannot be read: {exc}") from None
        entries = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entries.append(CassetteEntry.model_validate_json(line))
            except ValidationError as exc:
                first = exc.errors(include_url=False)[0]
                where = ".".join(str(p) for p in first["loc"])
                detail = f"{where}: {first['msg']}" if where else first["msg"]
                raise ConfigError(f"{self.path}:{number}: not a cassette entry ({detail})") from None
        return entries


class RecordingProvider(Provider):
    """Wraps a provider and appends every successful call to a cassette."""

    def __init__(self, inner: Provider, cassette: Cassette) -> None:
        self.inner = inner
        self.cassette = cassette
        self.name = inner.name
        self.model = inner.model
        self.billed = inner.billed

    async def complete(self, request: ModelRequest[T]) -> ModelResponse[T]:
        """Ask the wrapped provider, then record the pair."""
        response = await self.inner.complete(request)
        self.cassette.append(request, response)
        return response

    async def aclose(self) -> None:
        """Close the wrapped provider."""
        await self.inner.aclose()


class ReplayProvider(Provider):
    """Answers from a cassette by request fingerprint; no network, no cost.

    A request recorded several times is answered in the recorded order (the last
    answer repeats). Usage keeps the recorded token counts, so token budgets behave
    as in the recorded run, but `cost_usd` is 0: nothing is paid when replaying.
    """

    name = "replay"
    billed = False

    def __init__(self, path: Path | str) -> None:
        self.cassette = Cassette(path)
        self._answers: dict[str, list[CassetteEntry]] = {}
        for entry in self.cassette.load():
            self._answers.setdefault(entry.hash, []).append(entry)
        models = {entries[0].usage.model for entries in self._answers.values()}
        self.model = models.pop() if len(models) == 1 else "replay"
        self._served: dict[str, int] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._answers.values())

    async def complete(self, request: ModelRequest[T]) -> ModelResponse[T]:
        """The recorded answer for this request, validated against its output model."""
        started = time.perf_counter()
        key = request.fingerprint()
        entries = self._answers.get(key)
        if not entries:
            raise ReplayMiss(self._miss_message(request, key))
        with self._lock:
            index = self._served.get(key, 0)
            self._served[key] = index + 1
        entry = entries[min(index, len(entries) - 1)]
        where = f"replay of {self.cassette.path} ({request.describe()})"
        output = parse_output(entry.response, request.output_model, where)
        recorded = entry.usage
        usage = recorded.model_copy(
            update={"latency_s": time.perf_counter() - started, "attempts": 0, "cost_usd": 0.0}
        )
        return ModelResponse(output=output, usage=usage, raw=entry.response)

    def _miss_message(self, request: ModelRequest[Any], key: str) -> str:
        same_place = sum(
            1
            for entries in self._answers.values()
            if entries[0].agent == request.agent and entries[0].phase == request.phase
        )
        hint = (
            f"it holds {same_place} other request(s) for this agent and phase, so the prompt or the "
            "output model changed since recording"
            if same_place
            else "nothing was recorded for this agent and phase"
        )
        return (
            f"replay miss: cassette {self.cassette.path} has no answer for request {key} "
            f"({request.describe()}); {hint}; record the cassette again with a real provider"
        )
