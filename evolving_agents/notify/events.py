"""Webhook events, derived from what a record's ``audit[]`` says happened to it.

::

    for event in events_for(record):
        event.id, event.type       # apr_1f2e...:approval.decided  approval.decided

The store pushes one audit entry per transition, so events need nothing from the store but the
record itself, and each event has a deterministic id (``<approval id>:<type>``): reading the
same record twice, from two processes, yields the same ids, which the outbox keys on.

Events of a finished run (``approval.completed``, ``approval.failed``) carry what each call
did when the run resumed, ``tool_calls[].outcome`` (``status``: executed, rejected, blocked,
expired or tool_error; ``output``, what the model read; ``error``), and ``tool_errors``, how
many approved calls raised. When any did, the record also emits ``approval.tool_error`` right
after, with the same body: the run ended, but an approved action did not happen. Alert on
that type alone; ``approval.completed`` still marks the end of every run, so a consumer that
only tracks runs ending needs nothing new.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from evolving_agents.approvals.models import (
    ApprovalStatus,
    AuditEntry,
    CallOutcome,
    CallOutcomeStatus,
    PendingApproval,
    ReviewerKind,
    ToolCallRecord,
)


class WebhookEventType(StrEnum):
    CREATED = "approval.created"
    DECIDED = "approval.decided"
    EXPIRED = "approval.expired"
    COMPLETED = "approval.completed"
    FAILED = "approval.failed"
    CANCELLED = "approval.cancelled"
    TOOL_ERROR = "approval.tool_error"
    """The run finished, but an approved call raised: its action did not happen."""
    ESCALATED = "approval.escalated"
    """No decision landed within the route's ``escalate_after``: told to ``escalate_to``."""
    DEADLINE_WARNING = "approval.deadline_warning"
    """The first undecided call's deadline is within the route's ``warn_before``."""


_FINISHED = {
    "completed": (WebhookEventType.COMPLETED, ApprovalStatus.COMPLETED),
    "failed": (WebhookEventType.FAILED, ApprovalStatus.FAILED),
    "cancelled": (WebhookEventType.CANCELLED, ApprovalStatus.CANCELLED),
}
# Audit actions the escalation scheduler writes (once each per record), and their events.
_NOTICES = {
    "escalated": WebhookEventType.ESCALATED,
    "deadline_warning": WebhookEventType.DEADLINE_WARNING,
}
_FINISHED_TYPES = frozenset(
    {
        WebhookEventType.COMPLETED,
        WebhookEventType.FAILED,
        WebhookEventType.CANCELLED,
        WebhookEventType.TOOL_ERROR,
    }
)


class WebhookCall(BaseModel):
    call_id: str
    tool_name: str
    arguments_sha256: str
    verdict: str | None = None
    reviewer: str | None = None
    reviewer_kind: str | None = None
    message: str | None = None
    outcome: CallOutcome | None = None
    """What the call did when the run resumed; only on the events of a finished run."""


class WebhookEvent(BaseModel):
    """The JSON body a receiver gets. ``id`` is stable: use it to drop duplicate deliveries."""

    id: str
    type: WebhookEventType
    at: datetime
    approval_id: str
    run_id: str
    sequence: int
    agent_name: str
    actor: str | None = None
    status: ApprovalStatus
    """The status this event moved the record to."""
    tool_calls: list[WebhookCall] = Field(default_factory=list)
    final_output: Any = None
    error: str | None = None
    next_approval_id: str | None = None
    tool_errors: int = 0
    """Approved calls whose body raised: their action did not happen (finished runs only)."""
    notice: dict[str, Any] | None = None
    """On ``approval.escalated`` and ``approval.deadline_warning``: the audit entry's detail
    (``escalate_to`` or ``deadline``, and the route that asked for it)."""


def events_for(record: PendingApproval) -> list[WebhookEvent]:
    """Every event the record's history holds so far, in the order they happened."""
    events: list[WebhookEvent] = []
    decisions: list[AuditEntry] = []
    for entry in record.audit:
        if entry.action == "created":
            events.append(
                _event(record, WebhookEventType.CREATED, entry.at, ApprovalStatus.PENDING)
            )
        elif entry.action in _NOTICES:
            events.append(
                _event(record, _NOTICES[entry.action], entry.at, ApprovalStatus.PENDING).model_copy(
                    update={"notice": dict(entry.detail)}
                )
            )
        elif entry.action.startswith("decision."):
            decisions.append(entry)
        elif entry.action in _FINISHED:
            kind, status = _FINISHED[entry.action]
            events.append(_event(record, kind, entry.at, status))
            if kind is not WebhookEventType.CANCELLED and _tool_errors(record):
                # Same moment, appended after: the stable sort below keeps it second.
                events.append(_event(record, WebhookEventType.TOOL_ERROR, entry.at, status))
    expired = [entry for entry in decisions if _timed_out(entry)]
    if expired:
        events.append(
            _event(record, WebhookEventType.EXPIRED, expired[-1].at, ApprovalStatus.PENDING)
        )
    if decisions and not record.undecided_calls():
        # The last decision is the one that moved the record to `decided`.
        events.append(
            _event(record, WebhookEventType.DECIDED, decisions[-1].at, ApprovalStatus.DECIDED)
        )
    events.sort(key=lambda event: event.at)
    return events


def _timed_out(entry: AuditEntry) -> bool:
    return entry.detail.get("reviewer_kind") == ReviewerKind.TIMEOUT.value


def _tool_errors(record: PendingApproval) -> int:
    return sum(
        1
        for call in record.tool_calls
        if call.outcome is not None and call.outcome.status is CallOutcomeStatus.TOOL_ERROR
    )


def _event(
    record: PendingApproval, kind: WebhookEventType, at: datetime, status: ApprovalStatus
) -> WebhookEvent:
    finished = kind in _FINISHED_TYPES
    return WebhookEvent(
        id=f"{record.id}:{kind.value}",
        type=kind,
        at=at,
        approval_id=record.id,
        run_id=record.run_id,
        sequence=record.sequence,
        agent_name=record.agent_name,
        actor=record.actor,
        status=status,
        tool_calls=[
            _call(
                call,
                with_decision=kind is not WebhookEventType.CREATED,
                with_outcome=finished,
            )
            for call in record.tool_calls
        ],
        final_output=record.result.final_output if finished else None,
        error=record.result.error if finished else None,
        next_approval_id=record.next_approval_id if finished else None,
        tool_errors=_tool_errors(record) if finished else 0,
    )


def _call(call: ToolCallRecord, *, with_decision: bool, with_outcome: bool) -> WebhookCall:
    # Only what had happened by the event's moment: a decided event read after the resume
    # must not carry outcomes, or the same event id would differ between reads.
    decision = call.decision if with_decision else None
    return WebhookCall(
        call_id=call.call_id,
        tool_name=call.tool_name,
        arguments_sha256=call.arguments_sha256,
        verdict=None if decision is None else decision.verdict.value,
        reviewer=None if decision is None else decision.reviewer,
        reviewer_kind=None if decision is None else decision.reviewer_kind.value,
        message=None if decision is None else decision.message,
        outcome=call.outcome if with_outcome else None,
    )
