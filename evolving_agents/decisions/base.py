"""The decision layer's contract: what a provider is asked, and what it answers.

::

    request = ToolCallRequest(tool_name="grant_okta_admin", arguments={"duration_hours": 48},
                              metadata={"system": "okta"}, call_id="call_1")
    signal = await policy.decide(request, DecisionContext())
    if signal.verdict is DecisionVerdict.BLOCK:
        ...  # the tool never runs; signal.reason goes to the model

Signals are plain data: they are stored on the call's record and shown to reviewers.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field


class DecisionVerdict(StrEnum):
    ALLOW = "allow"
    NEEDS_APPROVAL = "needs_approval"
    BLOCK = "block"

    @property
    def strictness(self) -> int:
        return _STRICTNESS[self]


_STRICTNESS = {
    DecisionVerdict.ALLOW: 0,
    DecisionVerdict.NEEDS_APPROVAL: 1,
    DecisionVerdict.BLOCK: 2,
}


class DecisionMode(StrEnum):
    AUTONOMOUS = "autonomous"
    CONSTRAINED = "constrained"
    REVIEW = "review"
    NEEDS_CONTEXT = "needs_context"
    BLOCKED = "blocked"


DEFAULT_MODE = {
    DecisionVerdict.ALLOW: DecisionMode.AUTONOMOUS,
    DecisionVerdict.NEEDS_APPROVAL: DecisionMode.REVIEW,
    DecisionVerdict.BLOCK: DecisionMode.BLOCKED,
}


class ToolCallRequest(BaseModel):
    """One proposed tool call, as a decision provider sees it."""

    model_config = ConfigDict(frozen=True)

    tool_name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    call_id: str
    agent_name: str | None = None
    tool_requires_approval: bool = False
    """The tool's own setting (explicit flag or metadata rule), for providers that defer to it."""


class DecisionContext(BaseModel):
    """Who is acting and where; providers may use any of it, none of it is required."""

    actor: str | None = None
    run_id: str | None = None
    domain: str | None = None
    environment: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class DecisionSignal(BaseModel):
    """A provider's verdict on one call. ``error`` is set when the provider failed and the
    verdict is its configured fallback (``on_error``), never a silent allow."""

    verdict: DecisionVerdict
    mode: DecisionMode
    risk: float = Field(default=0.0, ge=0.0, le=1.0)
    reason: str = ""
    better_action: str | None = None
    better_arguments: dict[str, Any] | None = None
    """The same tool with changed arguments, in full: a suggestion a reviewer can approve in
    one step (through the edited-arguments path, checked again). None: no structured one."""
    provider: str
    request_id: str | None = None
    idempotency_key: str | None = None
    """The key this evaluation was sent under (BIGHUB answers a repeated key with its first
    answer); None for a provider that sends nothing anywhere."""
    latency_ms: float = 0.0
    error: str | None = None
    signals: list[DecisionSignal] = Field(default_factory=list)

    @classmethod
    def of(
        cls,
        verdict: DecisionVerdict | str,
        *,
        provider: str,
        reason: str = "",
        risk: float = 0.0,
        mode: DecisionMode | str | None = None,
        **extra: Any,
    ) -> DecisionSignal:
        verdict = DecisionVerdict(verdict)
        return cls(
            verdict=verdict,
            mode=DecisionMode(mode) if mode is not None else DEFAULT_MODE[verdict],
            risk=risk,
            reason=reason,
            provider=provider,
            **extra,
        )

    @classmethod
    def failed(cls, provider: str, exc: BaseException) -> DecisionSignal:
        """The fail-closed answer for a provider that raised: a person must review."""
        return cls.of(
            DecisionVerdict.NEEDS_APPROVAL,
            provider=provider,
            reason=f"{provider} failed; a person must review",
            risk=1.0,
            error=f"{type(exc).__name__}: {exc}",
        )


@runtime_checkable
class DecisionProvider(Protocol):
    """Scores a proposed tool call. Implementations must not raise for outages: they return
    their ``on_error`` verdict with ``error`` set. Configuration mistakes may raise."""

    name: str

    async def decide(
        self, tool_call: ToolCallRequest, context: DecisionContext
    ) -> DecisionSignal: ...
