"""Calls nobody decided in time, as a reviewer reads them: that they expired, and when.

::

    call_expired_at(record, call)   # its deadline, when the call timed out undecided; else None
    record_expired_at(record)       # when the last of its calls timed out, if every call did
    expired_phrase(moment, now)     # "expired 5m ago, at 2025-06-01 09:30 UTC"
    expired_phrase(moment)          # "expired at 2025-06-01 09:30 UTC"

An expired call is stored as a rejection by the timeout reviewer (``approvals/expiry.py``); a
surface says "expired" instead of "rejected by eat-timeout", and gives the deadline that
passed, not the moment a read or the sweep noticed it. The moments themselves are
``approvals/deadlines.py``'s (re-exported here).
"""

from __future__ import annotations

from datetime import datetime

from evolving_agents.approvals.deadlines import call_expired_at, clock_time, record_expired_at
from evolving_agents.present.durations import humanize


def expired_phrase(moment: datetime, now: datetime | None = None) -> str:
    """``expired 5m ago, at 2025-06-01 09:30 UTC``; ``expired at 2025-06-01 09:30 UTC``
    without a ``now`` to count from (or with one not after it: clocks of two hosts)."""
    if now is None or now <= moment:
        return f"expired at {clock_time(moment)}"
    return f"expired {humanize(now - moment)} ago, at {clock_time(moment)}"


__all__ = ["call_expired_at", "clock_time", "expired_phrase", "record_expired_at"]
