"""Calls nobody decided in time, as a reviewer reads them: that they expired, and when.

::

    call_expired_at(record, call)   # its deadline, when the call timed out undecided; else None
    record_expired_at(record)       # when the last of its calls timed out, if every call did
    expired_phrase(moment, now)     # "expired 5m ago, at 2025-06-01 09:30 UTC"
    expired_phrase(moment)          # "expired at 2025-06-01 09:30 UTC"

An expired call is stored as a rejection by the timeout reviewer (``approvals/expiry.py``); a
surface says "expired" instead of "rejected by eat-timeout", and gives the deadline that
passed, not the moment a read or the sweep noticed it.
"""

from __future__ import annotations

from datetime import datetime

from evolving_agents.approvals.models import PendingApproval, ReviewerKind, ToolCallRecord
from evolving_agents.present.durations import humanize


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


def expired_phrase(moment: datetime, now: datetime | None = None) -> str:
    """``expired 5m ago, at 2025-06-01 09:30 UTC``; ``expired at 2025-06-01 09:30 UTC``
    without a ``now`` to count from (or with one not after it: clocks of two hosts)."""
    if now is None or now <= moment:
        return f"expired at {clock_time(moment)}"
    return f"expired {humanize(now - moment)} ago, at {clock_time(moment)}"
