"""Live updates for open inbox pages: the approval feed fanned out as server-sent events.

::

    events = InboxEvents(ApprovalFeed(store, poll_interval=1.0), database=watch)  # optional
    task = asyncio.create_task(events.run())          # one per server process
    return StreamingResponse(events.stream(request), media_type="text/event-stream")

The browser's ``EventSource`` receives ``event: approvals`` with the ids and statuses that
changed, and fetches the table rows again; the server never pushes HTML it did not render
for that reviewer's request. Given a ``DatabaseWatch``, the feed waits out an outage instead of
failing again and again, so it follows again the moment the database answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from typing import Protocol

from evolving_agents.approvals.models import PendingApproval, utcnow
from evolving_agents.notify.feed import ApprovalFeed, LoopHealth, keep_going
from evolving_agents.storage.outage import DatabaseWatch

logger = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 15.0
_QUEUE_SIZE = 64
# Put in a page's queue when the server stops: its stream ends (no real message is empty).
_END = ""


class _Disconnectable(Protocol):
    async def is_disconnected(self) -> bool: ...


class InboxEvents:
    """One feed per process, one bounded queue per open page."""

    def __init__(
        self,
        feed: ApprovalFeed,
        *,
        clock: Callable[[], datetime] = utcnow,
        keepalive_seconds: float = KEEPALIVE_SECONDS,
        database: DatabaseWatch | None = None,
    ) -> None:
        self.feed = feed
        self._database = database
        self._clock = clock
        self._keepalive = keepalive_seconds
        self._subscribers: set[asyncio.Queue[str]] = set()
        self._closed = False

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    @property
    def health(self) -> LoopHealth:
        """How following the feed goes: ``/healthz`` reports it."""
        return self.feed.health

    async def run(self) -> None:
        """Follow the feed and publish each batch until cancelled, through database outages
        and records that do not parse (the feed skips those)."""
        await keep_going(
            "inbox: following approvals",
            self._follow,
            self.feed.health,
            first_delay=self.feed.poll_interval,
        )

    async def _follow(self) -> None:
        if self._database is not None:
            # Not a failure per round of an outage: the retry delay would grow to a minute,
            # and the feed lag that long behind a database that came back.
            await self._database.until_answering()
        async for batch in self.feed.changes(since=self._clock()):
            self.publish(batch)

    def publish(self, records: list[PendingApproval]) -> None:
        message = _message(records)
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:
                # A page this far behind refetches everything on the next message anyway.
                logger.debug("an inbox page is not reading its events; dropping one")

    def close(self) -> None:
        """End every open stream, and any opened later: the server is stopping, and would
        otherwise wait for each page's stream until its graceful shutdown timeout cut it
        (with a traceback). Each page's ``EventSource`` reconnects by itself."""
        self._closed = True
        for queue in list(self._subscribers):
            with contextlib.suppress(asyncio.QueueEmpty):
                if queue.full():
                    queue.get_nowait()  # a page this far behind refetches anyway
            queue.put_nowait(_END)

    @contextlib.contextmanager
    def subscription(self) -> Iterator[asyncio.Queue[str]]:
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=_QUEUE_SIZE)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    async def stream(self, request: _Disconnectable) -> AsyncIterator[str]:
        """The text/event-stream body for one page, until it goes away."""
        with self.subscription() as queue:
            yield "retry: 3000\n: connected\n\n"
            while not self._closed and not await request.is_disconnected():
                try:
                    message = await asyncio.wait_for(queue.get(), self._keepalive)
                except TimeoutError:
                    # A comment line keeps proxies from closing an idle stream.
                    yield ": keepalive\n\n"
                    continue
                if message == _END:
                    return
                yield message


def _message(records: list[PendingApproval]) -> str:
    changed = [
        {"id": record.id, "status": record.status.value, "version": record.version}
        for record in records
    ]
    return f"event: approvals\ndata: {json.dumps({'changed': changed})}\n\n"
