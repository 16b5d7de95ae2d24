"""Waiting on the store from a terminal: ``eat approvals wait`` and ``eat approvals list --watch``.

::

    record = await wait_for(store, approval_id, Until.DECIDED, timeout=timedelta(minutes=5))
    await watch(store, refresh, poll_seconds=2.0)     # refresh() on every change, until Ctrl-C

Both wake on the collection's change stream where the server has one (``store.changes``) and
poll where it has none (``memory://``, a standalone ``mongod``). A wake-up only says "look
again": each then reads the store as any command would, so a missed or doubled event costs a
poll interval at most. They poll even with a stream open, because a deadline passing changes
nothing until someone reads the record (reads expire overdue calls).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from enum import StrEnum

from evolving_agents.approvals.models import ApprovalStatus, PendingApproval
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.storage.changes import ChangeFeed


class Until(StrEnum):
    """What ``eat approvals wait`` waits for."""

    CHANGE = "change"
    """Any change of the record after the wait began: a vote, a decision, a status."""
    DECIDED = "decided"
    """No longer pending: every call decided (or expired), or the run cancelled."""
    FINISHED = "finished"
    """Final: completed, failed or cancelled."""


def reached(until: Until, first: PendingApproval, current: PendingApproval) -> bool:
    """Whether ``current`` is what ``until`` waits for, the wait having begun at ``first``."""
    if until is Until.DECIDED:
        return current.status is not ApprovalStatus.PENDING
    if until is Until.FINISHED:
        return current.status.is_final
    return (current.version, current.status, current.updated_at) != (
        first.version,
        first.status,
        first.updated_at,
    )


async def wait_for(
    store: PendingApprovalStore,
    approval_id: str,
    until: Until,
    *,
    timeout: timedelta | None,
    poll_seconds: float = 2.0,
) -> tuple[PendingApproval, bool]:
    """The record once it reaches ``until`` and True, or as it is at ``timeout`` and False.

    A record already decided (or finished) when asked to wait for that returns at once; a
    change is always one after the wait began.
    """
    first = current = await store.get(approval_id)
    if until is not Until.CHANGE and reached(until, first, current):
        return current, True
    try:
        async with (
            asyncio.timeout(None if timeout is None else timeout.total_seconds()),
            wakeups(store, poll_seconds) as next_wakeup,
        ):
            while True:
                await next_wakeup()
                current = await store.get(approval_id)
                if reached(until, first, current):
                    return current, True
    except TimeoutError:
        return current, False


async def watch(
    store: PendingApprovalStore, refresh: Callable[[], Awaitable[None]], *, poll_seconds: float
) -> None:
    """``refresh()`` now and after every change (and poll) until cancelled (Ctrl-C)."""
    async with wakeups(store, poll_seconds) as next_wakeup:
        while True:
            await refresh()
            await next_wakeup()


@contextlib.asynccontextmanager
async def wakeups(
    store: PendingApprovalStore, poll_seconds: float
) -> AsyncIterator[Callable[[], Awaitable[None]]]:
    """A function that returns at the next change of the approvals collection, or after
    ``poll_seconds`` without one; the change stream is followed while the block runs."""
    feed: ChangeFeed = store.changes.feed(
        label="eat approvals", retry_seconds=1.0, max_retry_seconds=30.0
    )
    follower = asyncio.create_task(feed.follow())

    async def next_wakeup() -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(feed.changed.wait(), poll_seconds)
        feed.changed.clear()

    try:
        yield next_wakeup
    finally:
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
