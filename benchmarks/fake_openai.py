"""A local OpenAI-compatible server with seeded faults, so benchmarks and tests never need a real model.

It answers ``POST /v1/chat/completions`` with a chat.completion whose content validates against the
request's ``response_format`` JSON schema (plain text without one), reports ``usage`` counted from
the request, and injects latency, 429s (with ``Retry-After``), 500s, hung connections, malformed
JSON, JSON that does not fit the schema, refusals and ``finish_reason="length"`` at seeded rates.
Every request is logged with its agent, phase and run (from ``X-Phasegraph-*`` headers or the
body's ``metadata``) and with what it billed (a 200 answer with usage, its tokens, or a hang), so
a benchmark can count calls and tokens as the provider would. It binds 127.0.0.1 only. Use it
in-process::

    with FakeOpenAI(FaultConfig(latency_ms=300)) as server:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="test")

or as a process: ``python -m benchmarks.fake_openai --latency-ms 300 --rate-429 0.3``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import random
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from benchmarks._tokens import TokenCounter, load_counter

HOST = "127.0.0.1"

Fault = Literal[
    "none", "rate_limit", "rpm_limit", "server_error", "hang", "malformed", "length", "refusal", "mismatch"
]
"""What the server did to a request: ``rate_limit`` is an injected 429, ``rpm_limit`` one from the
per-minute limit, ``server_error`` a 500; ``none`` is a normal answer (or a 400/404 for a bad request).
``malformed``, ``length``, ``refusal`` and ``mismatch`` are 200 answers with usage that a client
cannot use (each billed all the same)."""


class FaultConfig(BaseModel):
    """How the fake server behaves: latency, fault rates (each per request, exclusive), answer sizes."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    seed: int = 0
    """Seeds the fault and latency draws; the same request sequence gets the same faults."""
    latency_ms: float = Field(0.0, ge=0)
    """Delay before every answer except 429s (which a real server returns at once)."""
    latency_jitter_ms: float = Field(0.0, ge=0)
    """Latency is drawn uniformly from latency_ms +/- this (never below 0)."""
    rate_429: float = Field(0.0, ge=0, le=1)
    """Share of requests answered 429 with Retry-After and retry-after-ms headers."""
    retry_after_s: float = Field(1.0, ge=0)
    """Wait asked for by an injected 429 (Retry-After is this rounded up to whole seconds)."""
    rate_500: float = Field(0.0, ge=0, le=1)
    """Share of requests answered 500 with an OpenAI-style error body."""
    rate_hang: float = Field(0.0, ge=0, le=1)
    """Share of requests read and then never answered for hang_s, after which the connection closes."""
    hang_s: float = Field(30.0, ge=0)
    """How long a hung request holds its connection."""
    rate_malformed: float = Field(0.0, ge=0, le=1)
    """Share of requests answered 200 with content that is not valid JSON."""
    rate_length: float = Field(0.0, ge=0, le=1)
    """Share of requests answered with finish_reason "length" and the content cut in half."""
    rate_refusal: float = Field(0.0, ge=0, le=1)
    """Share of requests answered 200 with the message's ``refusal`` set and its content null."""
    rate_mismatch: float = Field(0.0, ge=0, le=1)
    """Share of requests answered 200 with valid JSON that does not fit the request's schema."""
    rpm_limit: int | None = Field(None, ge=1)
    """Requests admitted per sliding minute; more are answered 429 until the oldest leaves the window."""
    model: str = "fake-model"
    """Model id listed by /v1/models and answered when a request names none."""
    array_items: int = Field(1, ge=0)
    """Items generated per JSON-schema array, clamped to its minItems/maxItems."""
    string_words: int = Field(12, ge=1)
    """Words of filler text after "Fake answer for <field>:" in every generated string."""
    text_words: int = Field(120, ge=1)
    """Words of a plain-text answer (requests without response_format)."""
    encoding: str = "o200k_base"
    """tiktoken encoding for usage; an estimate is used when it cannot load offline (see _tokens)."""
    count_schema_tokens: bool = True
    """Count the response_format schema in prompt_tokens, as OpenAI bills it."""
    call_tools: bool = False
    """Answer a request that offers function tools with a call to the first one its conversation has not
    called yet (arguments generated from its parameters); once each was called, answer as usual. This is
    how a tool-driven peer (a supervisor handing off through transfer tools) can be driven to completion."""

    @model_validator(mode="after")
    def _rates_fit(self) -> FaultConfig:
        if sum(rate for _, rate in _rates(self)) > 1:
            raise ValueError(f"{' + '.join(_RATE_FIELDS)} must be <= 1")
        return self


@dataclass
class RequestLog:
    """One request as the server saw it; tokens are what its ``usage`` reported (0 when none was sent)."""

    index: int
    """Arrival order, from 0; chat requests draw their faults in this order."""
    method: str
    path: str
    t_start: float
    """time.monotonic() once the whole request (headers and body) was read."""
    t_end: float | None = None
    """time.monotonic() when the answer was sent or the hung connection released; None while open."""
    status: int | None = None
    """HTTP status sent; None for a hung request."""
    fault: Fault = "none"
    agent: str | None = None
    phase: str | None = None
    run: str | None = None
    model: str | None = None
    latency_s: float = 0.0
    """Injected delay before the answer."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    prompt_sha: str | None = None
    """sha256 of the request's messages: the same prompt asked twice has the same value."""
    billed: bool = False
    """A 200 answer carrying ``usage`` was sent (usable or not): what a provider bills, with
    ``prompt_tokens``/``completion_tokens`` exactly as that ``usage`` reported them. Set before the
    answer is written, as a provider bills an answer it produced even if the client has gone."""
    hung: bool = False
    """The request was read and never answered (the ``hang`` fault): the client timed out or the
    connection was closed after ``hang_s``. Providers may bill such attempts."""


class FakeOpenAI:
    """The server, run in a background thread; one thread per connection, so hangs block no one."""

    def __init__(self, config: FaultConfig | None = None, *, port: int = 0) -> None:
        self._config = config or FaultConfig()
        self._port = port
        self._lock = threading.Lock()
        self._log: list[RequestLog] = []
        self._rng = random.Random(self._config.seed)
        self._admitted: deque[float] = deque()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._counter: TokenCounter = load_counter(self._config.encoding)

    @property
    def config(self) -> FaultConfig:
        return self._config

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("FakeOpenAI is not running; use it as a context manager or call start()")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """The OpenAI client's base_url, e.g. ``http://127.0.0.1:41234/v1``."""
        return f"http://{HOST}:{self.port}/v1"

    @property
    def token_counter(self) -> str:
        """Which counter produced ``usage``: ``tiktoken:o200k_base`` or ``approx:o200k-like``."""
        return self._counter.name

    @property
    def requests(self) -> list[RequestLog]:
        """A snapshot of the request log, in arrival order."""
        with self._lock:
            return list(self._log)

    def reset(self, config: FaultConfig | None = None) -> None:
        """Clear the log and the minute window and re-seed, optionally switching to a new config."""
        with self._lock:
            if config is not None:
                if config.encoding != self._config.encoding:
                    self._counter = load_counter(config.encoding)
                self._config = config
            self._log.clear()
            self._admitted.clear()
            self._rng = random.Random(self._config.seed)

    def start(self) -> FakeOpenAI:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = _Server((HOST, self._port), _Handler, self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, release hung and idle connections, and close the socket."""
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()
        self._httpd = None
        self._thread = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- called from handler threads -------------------------------------------------------------

    def _open(self, method: str, path: str) -> RequestLog:
        with self._lock:
            entry = RequestLog(index=len(self._log), method=method, path=path, t_start=time.monotonic())
            self._log.append(entry)
            return entry

    def _draw(self) -> tuple[FaultConfig, Fault, float, float | None]:
        """Config, fault, latency and (for rpm 429s) the wait, drawn in arrival order under the lock."""
        with self._lock:
            cfg = self._config
            u_fault, u_jitter = self._rng.random(), self._rng.random()
            latency = max(0.0, cfg.latency_ms + (2 * u_jitter - 1) * cfg.latency_jitter_ms) / 1000
            if cfg.rpm_limit is not None:
                now = time.monotonic()
                while self._admitted and now - self._admitted[0] >= 60:
                    self._admitted.popleft()
                if len(self._admitted) >= cfg.rpm_limit:
                    return cfg, "rpm_limit", 0.0, self._admitted[0] + 60 - now
                self._admitted.append(now)
            return cfg, _pick_fault(cfg, u_fault), latency, None

    def _rate_headers(self, cfg: FaultConfig) -> dict[str, str]:
        if cfg.rpm_limit is None:
            return {}
        with self._lock:
            remaining = max(0, cfg.rpm_limit - len(self._admitted))
        return {
            "x-ratelimit-limit-requests": str(cfg.rpm_limit),
            "x-ratelimit-remaining-requests": str(remaining),
        }

    def _count_prompt(self, body: dict[str, Any], cfg: FaultConfig) -> int:
        """OpenAI's chat accounting: 3 tokens per message plus its role, content and name, plus 3."""
        total = 3
        for message in body.get("messages") or []:
            if not isinstance(message, dict):
                continue
            total += 3 + self._counter.count(str(message.get("role", "")))
            total += self._counter.count(_message_text(message.get("content")))
            if message.get("name"):
                total += 1 + self._counter.count(str(message["name"]))
            for call in message.get("tool_calls") or []:
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict):
                    called = f"{function.get('name', '')}{function.get('arguments', '')}"
                    total += 3 + self._counter.count(called)
        schema = _response_schema(body)
        if cfg.count_schema_tokens and schema is not None:
            total += self._counter.count(json.dumps(schema, separators=(",", ":")))
        tools = body.get("tools")
        if cfg.count_schema_tokens and isinstance(tools, list) and tools:
            total += self._counter.count(json.dumps(tools, separators=(",", ":")))
        return total


_RATE_FIELDS: dict[str, Fault] = {
    "rate_429": "rate_limit",
    "rate_500": "server_error",
    "rate_hang": "hang",
    "rate_malformed": "malformed",
    "rate_length": "length",
    "rate_refusal": "refusal",
    "rate_mismatch": "mismatch",
}
"""Each rate field and the fault it draws, in draw order (new faults go last, so the sequence a
seed gave before they existed is unchanged)."""


def _rates(cfg: FaultConfig) -> list[tuple[Fault, float]]:
    return [(fault, float(getattr(cfg, name))) for name, fault in _RATE_FIELDS.items()]


def _pick_fault(cfg: FaultConfig, u: float) -> Fault:
    for fault, rate in _rates(cfg):
        if u < rate:
            return fault
        u -= rate
    return "none"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # 100 concurrent runs connect at once; the default backlog of 5 drops SYNs
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[_Handler], owner: FakeOpenAI) -> None:
        self.owner = owner
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that dies mid-request (a benchmark's kill -9) is expected; anything else is printed."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16  # headers and body leave in one write: no Nagle/delayed-ACK stall on keep-alive
    disable_nagle_algorithm = True
    timeout = 120  # an idle keep-alive connection is closed after this
    server: _Server

    def setup(self) -> None:
        super().setup()
        owner = self.server.owner
        with owner._lock:
            owner._connections.add(self.connection)

    def finish(self) -> None:
        owner = self.server.owner
        with owner._lock:
            owner._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the request log is the record."""

    def do_GET(self) -> None:
        owner = self.server.owner
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/_fake/requests":
            self._send_control(200, [asdict(e) for e in owner.requests])
            return
        entry = owner._open("GET", self.path)
        model = owner.config.model
        if path == "/v1/models":
            self._send_json(entry, 200, {"object": "list", "data": [_model_object(model)]})
        elif path == f"/v1/models/{model}":
            self._send_json(entry, 200, _model_object(model))
        else:
            self._send_json(entry, 404, _error(f"Unknown path {self.path}", "invalid_request_error", None))

    def do_POST(self) -> None:
        owner = self.server.owner
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/_fake/reset":
            self._reset(raw)
            return
        entry = owner._open("POST", self.path)
        if path != "/v1/chat/completions":
            self._send_json(entry, 404, _error(f"Unknown path {self.path}", "invalid_request_error", None))
            return
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            message = "Request body must be a JSON object"
            self._send_json(entry, 400, _error(message, "invalid_request_error", None))
            return
        self._chat(entry, body)

    def _reset(self, raw: bytes) -> None:
        """Control endpoint for FakeOpenAIProcess: an empty body keeps the config, a JSON one replaces it."""
        try:
            config = FaultConfig.model_validate_json(raw) if raw.strip() else None
        except ValidationError as exc:
            self._send_control(400, _error(str(exc), "invalid_request_error", None))
            return
        self.server.owner.reset(config)
        self._send_control(200, {"ok": True})

    def _chat(self, entry: RequestLog, body: dict[str, Any]) -> None:
        owner = self.server.owner
        metadata = body["metadata"] if isinstance(body.get("metadata"), dict) else {}
        entry.agent = self.headers.get("X-Phasegraph-Agent") or metadata.get("agent")
        entry.prompt_sha = hashlib.sha256(
            json.dumps(body.get("messages"), sort_keys=True).encode("utf-8")
        ).hexdigest()
        entry.phase = self.headers.get("X-Phasegraph-Phase") or metadata.get("phase")
        entry.run = self.headers.get("X-Phasegraph-Run") or metadata.get("run")
        cfg, fault, latency, rpm_wait = owner._draw()
        entry.model = str(body.get("model") or cfg.model)
        entry.fault = fault
        if fault in ("rate_limit", "rpm_limit"):
            wait = rpm_wait if rpm_wait is not None else cfg.retry_after_s
            self._send_json(
                entry,
                429,
                _error(
                    f"Rate limit reached for {entry.model} (fake server). Please try again in {wait:.3f}s.",
                    "requests",
                    "rate_limit_exceeded",
                ),
                {
                    "retry-after": str(math.ceil(wait)),
                    "retry-after-ms": str(round(wait * 1000)),
                    **owner._rate_headers(cfg),
                },
            )
            return
        entry.latency_s = latency
        if owner._stopping.wait(latency):
            entry.t_end = time.monotonic()
            return
        if fault == "hang":
            entry.hung = True
            owner._stopping.wait(cfg.hang_s)
            entry.t_end = time.monotonic()
            self.close_connection = True
            return
        if fault == "server_error":
            self._send_json(
                entry,
                500,
                _error("The server had an error while processing your request.", "server_error", None),
            )
            return
        if body.get("stream"):
            self._send_json(
                entry,
                400,
                _error("stream is not supported by the fake server", "invalid_request_error", None),
            )
            return
        try:
            content = _answer(body, cfg)
        except _Unsatisfiable as exc:
            self._send_json(
                entry,
                400,
                _error(f"Invalid schema for response_format: {exc}", "invalid_request_error", None),
            )
            return
        finish_reason = "stop"
        tool = _next_tool(body, cfg) if cfg.call_tools else None
        if tool is not None:
            name, arguments = tool
            entry.prompt_tokens = owner._count_prompt(body, cfg)
            entry.completion_tokens = owner._counter.count(name + arguments)
            entry.billed = True
            completion = _completion(entry, "", "tool_calls")
            completion["choices"][0]["message"].update(
                content=None,
                tool_calls=[
                    {
                        "id": f"call_fake{entry.index:08d}",
                        "type": "function",
                        "function": {"name": name, "arguments": arguments},
                    }
                ],
            )
            self._send_json(entry, 200, completion, owner._rate_headers(cfg))
            return
        refusal: str | None = None
        if fault == "malformed":
            content = "Sure! Here is the JSON you asked for:\n" + content[:-1]
        elif fault == "length":
            content, finish_reason = content[: len(content) // 2], "length"
        elif fault == "mismatch":
            content = _mismatch(body, content)
        elif fault == "refusal":
            refusal = REFUSAL
        entry.prompt_tokens = owner._count_prompt(body, cfg)
        entry.completion_tokens = owner._counter.count(refusal if refusal is not None else content)
        entry.billed = True
        completion = _completion(entry, content, finish_reason)
        if refusal is not None:
            completion["choices"][0]["message"].update(content=None, refusal=refusal)
        self._send_json(
            entry,
            200,
            completion,
            {"openai-processing-ms": str(round(latency * 1000)), **owner._rate_headers(cfg)},
        )

    def _send_control(self, status: int, payload: Any) -> None:
        """Answer a /_fake/ control request; these stay out of the request log."""
        self._send_json(RequestLog(index=-1, method="", path="", t_start=0.0), status, payload)

    def _send_json(
        self, entry: RequestLog, status: int, payload: Any, headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        entry.status = status
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-request-id", f"req_fake_{entry.index}")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            entry.t_end = time.monotonic()  # before the flush: a client never sees an entry still open
            self.wfile.flush()
        except OSError:
            entry.t_end = time.monotonic()
            self.close_connection = True  # the client gave up (its timeout); the log keeps the status


def _model_object(model: str) -> dict[str, Any]:
    return {"id": model, "object": "model", "created": 0, "owned_by": "fake-openai"}


def _error(message: str, type_: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def _completion(entry: RequestLog, content: str, finish_reason: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-fake{entry.index:08d}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": entry.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None, "annotations": []},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": entry.prompt_tokens,
            "completion_tokens": entry.completion_tokens,
            "total_tokens": entry.prompt_tokens + entry.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": "fp_fake",
    }


REFUSAL = "I'm sorry, but I can't help with that request."
"""The ``refusal`` text of the refusal fault (its completion tokens are this text's)."""


def _mismatch(body: dict[str, Any], content: str) -> str:
    """Valid JSON that does not fit the request: the schema's answer without its required properties
    (or, when it has none, inside a one-item array); a JSON array for any other request."""
    schema = _response_schema(body)
    value = json.loads(content) if schema is not None else content
    required = set(schema.get("required") or []) if schema is not None else set()
    if isinstance(value, dict) and required:
        value = {k: v for k, v in value.items() if k not in required}
    else:
        value = [value]
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _message_text(content: Any) -> str:
    """A message's text: a string, or the text parts of a content-part list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _response_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        return schema if isinstance(schema, dict) else {}
    return None


def _next_tool(body: dict[str, Any], cfg: FaultConfig) -> tuple[str, str] | None:
    """The first offered function the conversation has not called yet, with generated arguments."""
    if body.get("tool_choice") == "none":
        return None
    called = {
        str((call.get("function") or {}).get("name"))
        for message in body.get("messages") or []
        if isinstance(message, dict) and message.get("role") == "assistant"
        for call in message.get("tool_calls") or []
        if isinstance(call, dict)
    }
    for tool in body.get("tools") or []:
        function = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
        if not isinstance(function, dict) or not function.get("name") or function["name"] in called:
            continue
        parameters = function.get("parameters") or {"type": "object", "properties": {}}
        value = SchemaFaker(parameters, array_items=cfg.array_items, string_words=cfg.string_words).generate()
        return str(function["name"]), json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return None


def _answer(body: dict[str, Any], cfg: FaultConfig) -> str:
    """The assistant's content: schema-valid JSON, a JSON object, or plain text."""
    schema = _response_schema(body)
    if schema is not None:
        value = SchemaFaker(schema, array_items=cfg.array_items, string_words=cfg.string_words).generate()
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_object":
        return json.dumps({"answer": _sentence("answer", "answer", cfg.string_words)})
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    last = _message_text(messages[-1].get("content")) if messages else ""
    return _sentence("the request", last, cfg.text_words)


_FILLER = (
    "the service validates every input against its schema and returns structured errors with stable codes "
    "while handlers stay small and each module owns one concept tests cover success paths failure modes "
    "and edge cases the database layer uses migrations indexes and transactions tokens expire and rotate "
    "configuration comes from environment settings logging records each request with its identifier "
    "retries back off and honour the server's advice deliverables name their owner phase and "
    "acceptance criteria"
)
_WORDS = tuple(_FILLER.split())


def _sentence(label: str, seed: str, words: int) -> str:
    """Deterministic, substantive filler text, different for every seed."""
    rng = random.Random(f"{label}\0{seed}")
    return f"Fake answer for {label}: " + " ".join(rng.choice(_WORDS) for _ in range(words)) + "."


class _Unsatisfiable(Exception):
    """The schema admits no value this generator can build."""


_FORMATS = {
    "date-time": "2025-01-01T00:00:00Z",
    "date": "2025-01-01",
    "time": "12:00:00Z",
    "duration": "PT1S",
    "email": "fake@example.com",
    "idn-email": "fake@example.com",
    "hostname": "example.com",
    "ipv4": "127.0.0.1",
    "ipv6": "::1",
    "uri": "https://example.com/fake",
    "url": "https://example.com/fake",
    "iri": "https://example.com/fake",
}
_SOFT_DEPTH = 8
"""Nesting (properties, array items) beyond which optional parts stop: null branches, minItems."""
_MAX_STEPS = 400
"""Schema steps on one path (nesting plus $ref, anyOf, allOf) before a schema counts as unsatisfiable."""


class SchemaFaker:
    """Builds one value that validates against a JSON schema (the subset structured outputs use).

    Covers objects (all properties, additionalProperties), strings (length, enum, const, format,
    simple patterns), integers and numbers (bounds, multipleOf), booleans, null, arrays (items,
    prefixItems, min/maxItems, uniqueItems), anyOf/oneOf (first non-null branch), allOf, ``$ref``
    into ``$defs``/``definitions`` (recursion bounded). Array item ``i`` takes enum value ``i`` (mod
    the enum's length), so a list of handoffs with an enum ``to`` names distinct collaborators.
    """

    def __init__(self, schema: dict[str, Any], *, array_items: int = 1, string_words: int = 12) -> None:
        self._root = schema
        self._array_items = array_items
        self._string_words = string_words

    def generate(self) -> Any:
        return self._value(self._root, "answer", 0, 0, 0)

    def _resolve(self, ref: str) -> dict[str, Any]:
        if not ref.startswith("#"):
            raise _Unsatisfiable(f"only local $ref is supported, got {ref!r}")
        node: Any = self._root
        for part in [p for p in ref[1:].split("/") if p]:
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise _Unsatisfiable(f"$ref {ref!r} does not resolve")
            node = node[part]
        if not isinstance(node, dict):
            raise _Unsatisfiable(f"$ref {ref!r} is not a schema")
        return node

    def _value(self, schema: Any, path: str, depth: int, variant: int, steps: int) -> Any:
        if steps > _MAX_STEPS:
            raise _Unsatisfiable(f"recursion without end at {path}")
        if schema is True or schema == {}:
            return self._text(path, {}, variant)
        if not isinstance(schema, dict):
            raise _Unsatisfiable(f"schema at {path} is {schema!r}")
        if "$ref" in schema:
            merged = {**self._resolve(schema["$ref"]), **{k: v for k, v in schema.items() if k != "$ref"}}
            return self._value(merged, path, depth, variant, steps + 1)
        if "allOf" in schema:
            return self._value(self._merge_all_of(schema), path, depth, variant, steps + 1)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            choices = schema["enum"]
            if not choices:
                raise _Unsatisfiable(f"empty enum at {path}")
            return choices[variant % len(choices)]
        for key in ("anyOf", "oneOf"):
            if key in schema:
                branch = self._branch(schema[key], depth)
                rest = {k: v for k, v in schema.items() if k != key}
                return self._value({**rest, **branch}, path, depth, variant, steps + 1)
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if k != "null"] or ["null"]
            kind = kinds[0]
        if kind is None:
            kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
        if kind == "object":
            return self._object(schema, path, depth, variant, steps)
        if kind == "array":
            return self._array(schema, path, depth, steps)
        if kind == "string":
            return self._text(path, schema, variant)
        if kind in ("integer", "number"):
            return _number(schema, kind == "integer", variant, path)
        if kind == "boolean":
            return variant % 2 == 0
        if kind == "null":
            return None
        raise _Unsatisfiable(f"unknown type {kind!r} at {path}")

    def _merge_all_of(self, schema: dict[str, Any]) -> dict[str, Any]:
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            part = self._resolve(part["$ref"]) if isinstance(part, dict) and "$ref" in part else part
            if not isinstance(part, dict):
                continue
            for key, value in part.items():
                if key == "properties":
                    merged["properties"] = {**merged.get("properties", {}), **value}
                elif key == "required":
                    merged["required"] = [*merged.get("required", []), *value]
                else:
                    merged.setdefault(key, value)
        return merged

    def _branch(self, branches: list[Any], depth: int) -> dict[str, Any]:
        """The first non-null branch; the null one first once nesting is past _SOFT_DEPTH."""
        schemas = [{} if b is True else b for b in branches if isinstance(b, dict) or b is True]
        nulls = [b for b in schemas if b.get("type") == "null" or ("const" in b and b["const"] is None)]
        non_null = [b for b in schemas if b not in nulls]
        ordered = (nulls + non_null) if depth > _SOFT_DEPTH else (non_null + nulls)
        if not ordered:
            raise _Unsatisfiable("anyOf/oneOf without a usable branch")
        return dict(ordered[0])

    def _object(
        self, schema: dict[str, Any], path: str, depth: int, variant: int, steps: int
    ) -> dict[str, Any]:
        properties: dict[str, Any] = schema.get("properties") or {}
        required = set(schema.get("required") or [])
        out: dict[str, Any] = {}
        for name, sub in properties.items():
            if depth > _SOFT_DEPTH and name not in required:
                continue
            out[name] = self._value(sub, f"{path}.{name}", depth + 1, variant, steps + 1)
        extra = schema.get("additionalProperties")
        wanted = max(
            int(schema.get("minProperties", 0)), 1 if isinstance(extra, dict) and not properties else 0
        )
        i = 0
        while len(out) < wanted:
            key = f"key_{i + 1}"
            if key not in out:
                sub = extra if isinstance(extra, dict) else {}
                out[key] = self._value(sub, f"{path}.{key}", depth + 1, i, steps + 1)
            i += 1
        return out

    def _array(self, schema: dict[str, Any], path: str, depth: int, steps: int) -> list[Any]:
        prefix = schema.get("prefixItems")
        if isinstance(prefix, list):
            return [self._value(s, f"{path}[{i}]", depth + 1, i, steps + 1) for i, s in enumerate(prefix)]
        low = int(schema.get("minItems", 0))
        high = schema.get("maxItems")
        count = low if depth > _SOFT_DEPTH else max(low, self._array_items)
        if high is not None:
            count = min(count, int(high))
        items = schema.get("items", {})
        return [self._value(items, f"{path}[{i}]", depth + 1, i, steps + 1) for i in range(count)]

    def _text(self, path: str, schema: dict[str, Any], variant: int) -> str:
        fmt = schema.get("format")
        if fmt == "uuid":
            return str(uuid.uuid5(uuid.NAMESPACE_URL, path))
        if fmt in _FORMATS:
            return _FORMATS[fmt]
        label = re.sub(r"\[\d+\]$", "", path.rsplit(".", 1)[-1])
        text = _sentence(label, path, self._string_words)
        low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
        extra = 0
        while len(text) < low:
            extra += 1
            text += " " + _sentence(label, f"{path}#{extra}", self._string_words)
        if high is not None:
            text = text[: int(high)]
        pattern = schema.get("pattern")
        if pattern and not re.search(pattern, text):
            for candidate in (label, "fake", "a", "A", "1", "fake-1"):
                if re.search(pattern, candidate) and low <= len(candidate) <= (
                    high if high is not None else 10**9
                ):
                    return candidate
        return text


def _number(schema: dict[str, Any], integer: bool, variant: int, path: str) -> int | float:
    """A value inside the bounds (inclusive or exclusive) and on multipleOf; ``variant`` steps it."""
    low, high = schema.get("minimum"), schema.get("maximum")
    xlow, xhigh = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    step = schema.get("multipleOf")
    if integer:
        lows = [math.ceil(low)] if low is not None else []
        lows += [math.floor(xlow) + 1] if xlow is not None else []
        highs = [math.floor(high)] if high is not None else []
        highs += [math.ceil(xhigh) - 1] if xhigh is not None else []
    else:
        lows = [low] if low is not None else []
        highs = [high] if high is not None else []
    lo = max(lows) if lows else None
    hi = min(highs) if highs else None
    if not integer:
        if xlow is not None:
            lo = xlow if lo is None else max(lo, xlow)
        if xhigh is not None:
            hi = xhigh if hi is None else min(hi, xhigh)
    start: float = 1 + variant
    if lo is not None and hi is not None:
        start = min(lo + variant, (lo + hi) / 2) if integer else (lo + hi) / 2
    elif lo is not None:
        start = lo + 1 + variant
    elif hi is not None:
        start = hi - 1 - variant
    if step:
        start = math.ceil(start / step) * step
        if hi is not None and start > hi:
            start = math.floor(hi / step) * step
    value: int | float = math.ceil(start) if integer else float(start)
    if integer and hi is not None and value > hi:
        value = int(hi)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise _Unsatisfiable(f"no number in [{lo}, {hi}] at {path}")
    return value


class FakeOpenAIProcess:
    """The same server in a child process, so its CPU does not compete with the code being measured.

    Same interface as FakeOpenAI; ``requests`` and ``reset`` go through the unlogged ``/_fake/``
    control endpoints. Times in the log are the child's ``time.monotonic()``, which on Linux is the
    same clock as the parent's.
    """

    def __init__(self, config: FaultConfig | None = None, *, python: str = sys.executable) -> None:
        self._config = config or FaultConfig()
        self._python = python
        self._proc: subprocess.Popen[str] | None = None
        self._base_url = ""
        self._token_counter = ""
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    @property
    def config(self) -> FaultConfig:
        return self._config

    @property
    def base_url(self) -> str:
        if self._proc is None:
            raise RuntimeError(
                "FakeOpenAIProcess is not running; use it as a context manager or call start()"
            )
        return self._base_url

    @property
    def token_counter(self) -> str:
        return self._token_counter

    @property
    def requests(self) -> list[RequestLog]:
        return [RequestLog(**item) for item in self._control("GET", "requests")]

    def reset(self, config: FaultConfig | None = None) -> None:
        self._control("POST", "reset", config.model_dump_json().encode() if config else b"")
        if config is not None:
            self._config = config

    def start(self) -> FakeOpenAIProcess:
        if self._proc is not None:
            return self
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [_REPO, os.environ.get("PYTHONPATH")])),
        }
        self._proc = subprocess.Popen(
            [self._python, "-m", "benchmarks.fake_openai", *_config_flags(self._config)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self._proc.stdout is not None
        ready, _, _ = select.select([self._proc.stdout], [], [], 30)
        line = self._proc.stdout.readline().strip() if ready else ""
        if not line.startswith("http://"):
            self.stop()
            raise RuntimeError(f"fake server process did not start (first line: {line!r})")
        self._base_url = line
        self._token_counter = self._proc.stdout.readline().removeprefix("token counter:").strip()
        return self

    def stop(self) -> None:
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._proc = None

    def __enter__(self) -> FakeOpenAIProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _control(self, method: str, name: str, data: bytes | None = None) -> Any:
        url = self.base_url.removesuffix("/v1") + f"/_fake/{name}"
        request = urllib.request.Request(url, data=data, method=method)
        with self._opener.open(request, timeout=30) as response:
            return json.load(response)


_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config_flags(config: FaultConfig) -> list[str]:
    flags: list[str] = []
    for name, value in config.model_dump().items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            flags.append(flag if value else "--no-" + flag[2:])
        elif value is not None:
            flags += [flag, str(value)]
    return flags


# -- command line ---------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.fake_openai",
        description="Local OpenAI-compatible server with seeded faults (127.0.0.1 only).",
    )
    parser.add_argument("--port", type=int, default=0, help="Port to listen on (0: pick a free one).")
    parser.add_argument("--max-seconds", type=float, default=None, help="Stop by itself after this long.")
    for name, field in FaultConfig.model_fields.items():
        flag = "--" + name.replace("_", "-")
        kind: Any = next((t for t in get_args(field.annotation) if t is not type(None)), field.annotation)
        if kind is bool:
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=field.default, help=field.description
            )
        else:
            parser.add_argument(flag, type=kind, default=field.default, help=field.description)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until interrupted, SIGTERM or --max-seconds; prints the base URL, then the token counter."""
    parser = _parser()
    args = vars(parser.parse_args(argv))
    port, max_seconds = args.pop("port"), args.pop("max_seconds")
    try:
        config = FaultConfig(**args)
    except ValidationError as exc:
        first = exc.errors()[0]
        parser.error(f"{'.'.join(map(str, first['loc'])) or 'config'}: {first['msg']}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with FakeOpenAI(config, port=port) as server:
        print(server.base_url, flush=True)
        print(f"token counter: {server.token_counter}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait(max_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["REFUSAL", "FakeOpenAI", "FakeOpenAIProcess", "Fault", "FaultConfig", "RequestLog", "SchemaFaker"]
