"""When a record's calls are due, and which of them timed out: what every surface says of time.

::

    first_deadline(record)           # (the earliest deadline among undecided calls, its call)
    call_expired_at(record, call)    # its deadline, when the call timed out undecided; else None
    record_expired_at(record)        # when the last of its calls timed out, if every call did
    clock_time(moment)               # "2025-06-01 09:30 UTC"

An expired call is stored as a rejection by the timeout reviewer (``approvals/expiry.py``); a
surface says "expired" instead of "rejected by eat-timeout", and gives the deadline that
passed, not the moment a read or the sweep noticed it. Here, below every surface (the inbox,
the CLI, Slack, email and the escalation scheduler), so each words it the same.
"""

from __future__ import annotations

from datetime import datetime

from evolving_agents.approvals.models import PendingApproval, ReviewerKind, ToolCallRecord


def first_deadline(record: PendingApproval) -> tuple[datetime, ToolCallRecord] | None:
    """The earliest deadline among the undecided calls, with its call; None if none expires."""
    found = [
        (deadline, call)
        for call in record.undecided_calls()
        if (deadline := record.call_deadline(call)) is not None
    ]
    return min(found, key=lambda pair: pair[0]) if found else None


def call_expired_at(record: PendingApproval, call: ToolCallRecord) -> datetime | None:
    """The deadline ``call`` passed undecided, or None when someone (or something) decided it."""
    decision = call.decision
    if decision is None or decision.reviewer_kind is not ReviewerKind.TIMEOUT:
        return None
    deadline = record.call_deadline(call)
    return decision.at if deadline is None else deadline


def record_expired_at(record: PendingApproval) -> datetime | None:
    """When the record expired: the last deadline, when every one of its calls timed out."""
    moments = [call_expired_at(record, call) for call in record.tool_calls]
    found = [moment for moment in moments if moment is not None]
    if not found or len(found) != len(moments):
        return None
    return max(found)


def clock_time(moment: datetime) -> str:
    """``2025-06-01 09:30 UTC``: the moment as every surface prints it for a person."""
    return moment.strftime("%Y-%m-%d %H:%M UTC")
