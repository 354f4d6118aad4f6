"""phasegraph: deterministic multi-agent orchestration over a phase pipeline.

The public API is what this module exports; everything else is reachable but not
promised. Imports are lazy so `import orchestrator` stays cheap (no model stack).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "Orchestrator": "orchestrator.orchestrator",
    "Plan": "orchestrator.orchestrator",
    "Run": "orchestrator.stepping",
    "RunHandle": "orchestrator.submit",
    "RunResult": "orchestrator.result",
    "PhaseResult": "orchestrator.result",
    "AgentResult": "orchestrator.result",
    "Deliverable": "orchestrator.result",
    "Usage": "orchestrator.usage",
    "Event": "orchestrator.events",
    "Catalog": "orchestrator.catalog",
    "PhaseSpec": "orchestrator.phases",
    "Pipeline": "orchestrator.phases",
    "Route": "orchestrator.routing",
    "AgentCard": "orchestrator.cards",
    "Collaborator": "orchestrator.cards",
    "PhasegraphError": "orchestrator.errors",
    "CardError": "orchestrator.errors",
    "ConfigError": "orchestrator.errors",
    "NotFound": "orchestrator.errors",
    "RunLocked": "orchestrator.errors",
    "ProviderError": "orchestrator.errors",
    "RateLimited": "orchestrator.errors",
    "ProviderTimeout": "orchestrator.errors",
    "ProviderUnavailable": "orchestrator.errors",
    "AuthenticationFailed": "orchestrator.errors",
    "BadRequest": "orchestrator.errors",
    "Refused": "orchestrator.errors",
    "Truncated": "orchestrator.errors",
    "SchemaViolation": "orchestrator.errors",
    "ReplayMiss": "orchestrator.errors",
    "BudgetExceeded": "orchestrator.errors",
    "GateFailed": "orchestrator.errors",
    "StepLimitReached": "orchestrator.errors",
    "UnsafePath": "orchestrator.errors",
    "WriteFailed": "orchestrator.errors",
    "WorkspaceError": "orchestrator.errors",
    "WorkspaceResult": "orchestrator.result",
    "Change": "orchestrator.result",
    "ApplyOutcome": "orchestrator.workspace",
    "Settings": "orchestrator.settings",
    "load_card": "orchestrator.cards",
    "parse_card": "orchestrator.cards",
    "load_pipeline": "orchestrator.phases",
    "Provider": "orchestrator.providers.base",
    "Message": "orchestrator.providers.base",
    "ModelRequest": "orchestrator.providers.base",
    "ModelResponse": "orchestrator.providers.base",
    "OfflineProvider": "orchestrator.providers.offline",
    "make_provider": "orchestrator.providers",
    "CallUsage": "orchestrator.usage",
    "UsageLimits": "orchestrator.usage",
    "configure_logging": "orchestrator._log",
    "Runtime": "orchestrator.runtime",
}

__all__ = [
    "AgentCard",
    "AgentResult",
    "ApplyOutcome",
    "AuthenticationFailed",
    "BadRequest",
    "BudgetExceeded",
    "CallUsage",
    "CardError",
    "Catalog",
    "Change",
    "Collaborator",
    "ConfigError",
    "Deliverable",
    "Event",
    "GateFailed",
    "Message",
    "ModelRequest",
    "ModelResponse",
    "NotFound",
    "OfflineProvider",
    "Orchestrator",
    "PhaseResult",
    "PhaseSpec",
    "PhasegraphError",
    "Pipeline",
    "Plan",
    "Provider",
    "ProviderError",
    "ProviderTimeout",
    "ProviderUnavailable",
    "RateLimited",
    "Refused",
    "ReplayMiss",
    "Route",
    "Run",
    "RunHandle",
    "RunLocked",
    "RunResult",
    "Runtime",
    "SchemaViolation",
    "Settings",
    "StepLimitReached",
    "Truncated",
    "UnsafePath",
    "Usage",
    "UsageLimits",
    "WorkspaceError",
    "WorkspaceResult",
    "WriteFailed",
    "configure_logging",
    "load_card",
    "load_pipeline",
    "make_provider",
    "parse_card",
]

if TYPE_CHECKING:
    from orchestrator._log import configure_logging
    from orchestrator.cards import AgentCard, Collaborator, load_card, parse_card
    from orchestrator.catalog import Catalog
    from orchestrator.errors import (
        AuthenticationFailed,
        BadRequest,
        BudgetExceeded,
        CardError,
        ConfigError,
        GateFailed,
        NotFound,
        PhasegraphError,
        ProviderError,
        ProviderTimeout,
        ProviderUnavailable,
        RateLimited,
        Refused,
        ReplayMiss,
        RunLocked,
        SchemaViolation,
        StepLimitReached,
        Truncated,
        UnsafePath,
        WorkspaceError,
        WriteFailed,
    )
    from orchestrator.events import Event
    from orchestrator.orchestrator import Orchestrator, Plan
    from orchestrator.phases import PhaseSpec, Pipeline, load_pipeline
    from orchestrator.providers import make_provider
    from orchestrator.providers.base import Message, ModelRequest, ModelResponse, Provider
    from orchestrator.providers.offline import OfflineProvider
    from orchestrator.result import AgentResult, Change, Deliverable, PhaseResult, RunResult, WorkspaceResult
    from orchestrator.routing import Route
    from orchestrator.runtime import Runtime
    from orchestrator.settings import Settings
    from orchestrator.stepping import Run
    from orchestrator.submit import RunHandle
    from orchestrator.usage import CallUsage, Usage, UsageLimits
    from orchestrator.workspace import ApplyOutcome


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'orchestrator' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
