"""The one provider interface: messages and an output model in, a validated object out.

Every provider (OpenAI, LangChain, offline, replay) answers a `ModelRequest[T]` with
a `ModelResponse[T]` whose `output` is an instance of the request's pydantic model,
together with what the call consumed. Failures are `ProviderError` subclasses.
"""

from __future__ import annotations

import copy
import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel

from orchestrator.runtime import current_runtime
from orchestrator.usage import CallUsage

T = TypeVar("T", bound=BaseModel)


class Message(BaseModel):
    """One chat message of a prompt."""

    role: Literal["system", "user", "assistant"]
    content: str


def _normalised_text(text: str) -> str:
    """Line endings and trailing blanks never change what a prompt means."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip("\n")


def _json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema: built once per model and runtime, asked for on every call."""
    return model.model_json_schema()


@dataclass(frozen=True)
class ModelRequest(Generic[T]):
    """What to ask: the messages, the output model, and who asks (for logs and headers)."""

    messages: list[Message]
    output_model: type[T]
    agent: str = ""
    phase: str = ""
    run_id: str = ""
    repair: bool = False
    """True for the gate's repair request (the report's timeline marks it)."""

    def normalised(self) -> dict[str, Any]:
        """The request as plain data, independent of provider and model; holds no secrets."""
        return {
            "messages": [{"role": m.role, "content": _normalised_text(m.content)} for m in self.messages],
            "output_model": self.output_model.__name__,
            "output_schema": copy.deepcopy(current_runtime().memo(_json_schema)(self.output_model)),
        }

    def fingerprint(self) -> str:
        """sha256 (hex) of `normalised()`: the key of cassettes and of the resume cache."""
        canonical = json.dumps(self.normalised(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def prompt_chars(self) -> int:
        """Characters of the prompt, for token estimates when no tokenizer counted them."""
        return sum(len(m.content) for m in self.messages)

    def describe(self) -> str:
        """`agent X, phase Y` for messages; empty parts are left out."""
        parts = [f"agent {self.agent}" if self.agent else "", f"phase {self.phase}" if self.phase else ""]
        return ", ".join(p for p in parts if p) or "no agent or phase given"


@dataclass(frozen=True)
class ModelResponse(Generic[T]):
    """A validated answer and what it cost."""

    output: T
    usage: CallUsage
    raw: str
    """The JSON text the model produced (what a cassette stores)."""

    journaled: bool = False
    """True when the answer came from the run's journal (paid for earlier), not from the model."""


class Provider(ABC):
    """A model backend. Implementations are safe to share between concurrent calls."""

    name: str
    """`openai`, `langchain`, `offline` or `replay`."""

    model: str
    """The model asked (as configured; the answering model is in each `CallUsage`)."""

    billed: bool = True
    """Whether calls cost money: a USD budget then needs a price for `model`."""

    @abstractmethod
    async def complete(self, request: ModelRequest[T]) -> ModelResponse[T]:
        """Answer `request` with an instance of `request.output_model`, or raise a `ProviderError`."""

    async def aclose(self) -> None:
        """Release network clients; the provider must not be used afterwards."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, model={self.model!r})"
