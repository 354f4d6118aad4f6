"""The one boundary where SDK, HTTP and parsing failures become phasegraph errors.

`classify` maps whatever the openai SDK, httpx or a LangChain chat model raised to
the most specific `ProviderError`, and says whether retrying can help and how long
the server asked us to wait. Every message passes through `redact`. (Answers that
arrive but cannot be used are worded in `_answers`.)
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import httpx
import openai
from langchain_core import exceptions as lc

from orchestrator.errors import (
    AuthenticationFailed,
    BadRequest,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    SchemaViolation,
)
from orchestrator.providers._answers import clip, refused
from orchestrator.providers._redact import redact


@dataclass(frozen=True)
class Failure:
    """A classified failure: the error to raise, and whether another attempt may succeed."""

    error: ProviderError
    retryable: bool
    retry_after_s: float | None = None
    """What the server asked for (`Retry-After` / `retry-after-ms`), in seconds."""

    unanswered: bool = False
    """The request was sent and no answer came (a timeout or a dropped connection after
    connecting): the provider may bill it, so the meter counts it."""


def classify(
    exc: BaseException,
    where: str,
    *,
    secrets: Sequence[str] = (),
    now: Callable[[], float] = time.time,
) -> Failure | None:
    """The `Failure` for `exc`, or None when it is not a provider failure (a bug: re-raise it).

    `where` names the call ("openai gpt-4o-mini (agent x, phase design)"); `now` is the
    wall clock used to turn an HTTP-date `Retry-After` into seconds.
    """
    if isinstance(exc, ProviderError):
        return Failure(exc, retryable=False)
    status = _status_of(exc)
    if status is not None and status >= 400:
        detail = redact(_detail_of(exc), secrets)
        return _by_status(status, detail, where, _retry_after(exc, now), _code_of(exc))
    failure = _by_kind(exc, where)
    if failure is None:
        return None
    return Failure(
        type(failure.error)(redact(failure.error.message, secrets)),
        failure.retryable,
        failure.retry_after_s,
        unanswered=failure.retryable and _was_sent(exc),
    )


def _by_status(status: int, detail: str, where: str, retry_after: float | None, code: str | None) -> Failure:
    said = f": {detail}" if detail else ""
    if status == 429 and code == "insufficient_quota":
        return Failure(
            RateLimited(f"{where}: quota exhausted (HTTP 429 insufficient_quota){said}; check billing"),
            retryable=False,
        )
    if status == 429:
        return Failure(RateLimited(f"{where}: rate limited (HTTP 429){said}"), True, retry_after)
    if status >= 500 or status == 409:
        return Failure(ProviderUnavailable(f"{where}: server error (HTTP {status}){said}"), True, retry_after)
    if status == 408:
        return Failure(ProviderTimeout(f"{where}: the server timed out (HTTP 408){said}"), True, retry_after)
    if status == 401:
        return Failure(
            AuthenticationFailed(
                f"{where}: the server refused the credentials (HTTP 401){said}; "
                "check OPENAI_API_KEY (AZURE_OPENAI_API_KEY for an Azure endpoint, or the chat model's key)"
            ),
            retryable=False,
        )
    if status == 403:
        return Failure(
            AuthenticationFailed(
                f"{where}: permission denied (HTTP 403){said}; the key may lack access to this model"
            ),
            retryable=False,
        )
    if status == 404:
        return Failure(
            BadRequest(f"{where}: not found (HTTP 404){said}; check the model name and OPENAI_BASE_URL"),
            retryable=False,
        )
    return Failure(BadRequest(f"{where}: the server rejected the request (HTTP {status}){said}"), False)


def _by_kind(exc: BaseException, where: str) -> Failure | None:
    """Failures without an HTTP status: timeouts, connections, LangChain's own error family."""
    if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException | TimeoutError | lc.ModelTimeoutError):
        return Failure(ProviderTimeout(f"{where}: no answer within the timeout (PHASEGRAPH_TIMEOUT_S)"), True)
    if isinstance(exc, openai.APIConnectionError | httpx.TransportError | ConnectionError):
        target = _url_of(exc)
        why = _first_line(exc)
        if exc.__cause__ is not None:
            why = f"{why} ({_first_line(exc.__cause__)})"
        return Failure(ProviderUnavailable(f"{where}: cannot reach {target or 'the server'}: {why}"), True)
    if isinstance(exc, lc.ModelRateLimitError):
        return Failure(RateLimited(f"{where}: rate limited: {_first_line(exc)}"), True)
    if isinstance(exc, lc.ModelAPIError | lc.ModelConnectionError):
        return Failure(ProviderUnavailable(f"{where}: provider unavailable: {_first_line(exc)}"), True)
    if isinstance(exc, lc.ModelAuthenticationError | lc.ModelPermissionDeniedError):
        return Failure(AuthenticationFailed(f"{where}: credentials refused: {_first_line(exc)}"), False)
    if isinstance(exc, lc.ModelRefusalError):
        return Failure(refused(where, _first_line(exc)), False)
    if isinstance(exc, lc.ModelNotFoundError | lc.ModelInvalidRequestError | lc.ContextOverflowError):
        return Failure(BadRequest(f"{where}: request rejected: {_first_line(exc)}"), False)
    if isinstance(exc, lc.OutputParserException | openai.APIResponseValidationError):
        return Failure(SchemaViolation(f"{where}: the answer could not be parsed: {_first_line(exc)}"), False)
    return None


_NOT_SENT = frozenset({"ConnectError", "ConnectTimeout", "PoolTimeout"})
"""Transport failures before the request left: nothing can have been billed."""


def _was_sent(exc: BaseException) -> bool:
    """False when the failure (or its cause) happened before the request reached the server.

    Matched by class name because the openai SDK may use `httpx` or its fork `httpx2`,
    whose exception classes share names but not types.
    """
    chain: list[BaseException] = []
    link: BaseException | None = exc
    while link is not None and not any(link is seen for seen in chain):  # contexts can form a cycle
        chain.append(link)
        link = link.__cause__ or link.__context__
    return not any(type(link).__name__ in _NOT_SENT for link in chain)


def _status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and not isinstance(exc, openai.APIResponseValidationError):
        return status
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def _code_of(exc: BaseException) -> str | None:
    code = getattr(exc, "code", None)
    return code if isinstance(code, str) else None


def _detail_of(exc: BaseException) -> str:
    """The server's own words: `error.message` from the body when there is one."""
    body = getattr(exc, "body", None)
    if isinstance(body, Mapping):
        error = body.get("error", body)
        if isinstance(error, Mapping) and isinstance(error.get("message"), str):
            return clip(error["message"])
    return clip(_first_line(exc))


def _url_of(exc: BaseException) -> str | None:
    try:
        request = getattr(exc, "request", None)
    except RuntimeError:  # httpx raises when an error carries no request
        return None
    url = getattr(request, "url", None)
    return str(url) if url is not None else None


def _retry_after(exc: BaseException, now: Callable[[], float]) -> float | None:
    """Seconds from `retry-after-ms`, or `Retry-After` as seconds or as an HTTP date."""
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if headers is None:
        return None
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return _positive(float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return _positive(float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return _positive(moment.timestamp() - now())


def _positive(seconds: float) -> float | None:
    return seconds if seconds > 0 and seconds != float("inf") else None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return clip(text.splitlines()[0])
