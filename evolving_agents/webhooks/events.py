"""Webhook events, derived from what a record's ``audit[]`` says happened to it.

::

    for event in events_for(record):
        event.id, event.type       # apr_1f2e...:approval.decided  approval.decided

The store pushes one audit entry per transition, so events need nothing from the store but the
record itself, and each event has a deterministic id (``<approval id>:<type>``): reading the
same record twice, from two processes, yields the same ids, which the outbox keys on.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from evolving_agents.approvals.models import (
    ApprovalStatus,
    AuditEntry,
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


_FINISHED = {
    "completed": (WebhookEventType.COMPLETED, ApprovalStatus.COMPLETED),
    "failed": (WebhookEventType.FAILED, ApprovalStatus.FAILED),
    "cancelled": (WebhookEventType.CANCELLED, ApprovalStatus.CANCELLED),
}


class WebhookCall(BaseModel):
    call_id: str
    tool_name: str
    arguments_sha256: str
    verdict: str | None = None
    reviewer: str | None = None
    reviewer_kind: str | None = None
    message: str | None = None


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


def events_for(record: PendingApproval) -> list[WebhookEvent]:
    """Every event the record's history holds so far, in the order they happened."""
    events: list[WebhookEvent] = []
    decisions: list[AuditEntry] = []
    for entry in record.audit:
        if entry.action == "created":
            events.append(
                _event(record, WebhookEventType.CREATED, entry.at, ApprovalStatus.PENDING)
            )
        elif entry.action.startswith("decision."):
            decisions.append(entry)
        elif entry.action in _FINISHED:
            kind, status = _FINISHED[entry.action]
            events.append(_event(record, kind, entry.at, status))
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


def _event(
    record: PendingApproval, kind: WebhookEventType, at: datetime, status: ApprovalStatus
) -> WebhookEvent:
    finished = kind in (
        WebhookEventType.COMPLETED,
        WebhookEventType.FAILED,
        WebhookEventType.CANCELLED,
    )
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
            _call(call, with_decision=kind is not WebhookEventType.CREATED)
            for call in record.tool_calls
        ],
        final_output=record.result.final_output if finished else None,
        error=record.result.error if finished else None,
        next_approval_id=record.next_approval_id if finished else None,
    )


def _call(call: ToolCallRecord, *, with_decision: bool) -> WebhookCall:
    decision = call.decision if with_decision else None
    return WebhookCall(
        call_id=call.call_id,
        tool_name=call.tool_name,
        arguments_sha256=call.arguments_sha256,
        verdict=None if decision is None else decision.verdict.value,
        reviewer=None if decision is None else decision.reviewer,
        reviewer_kind=None if decision is None else decision.reviewer_kind.value,
        message=None if decision is None else decision.message,
    )
