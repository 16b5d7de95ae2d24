"""Records of ``eat_openai_pending_approvals`` as they change, from any process.

::

    feed = ApprovalFeed(store.collection, poll_interval=1.0)
    async for changed in feed.changes(since=utcnow()):
        for record in changed:
            record.id, record.status, record.version

One code path for every server: each round is a scan of ``updated_at >= cursor - overlap``.
Where the server offers a change stream, a change wakes the next scan at once; where it does
not (``memory://``, a standalone server), the scan simply runs every ``poll_interval``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import PyMongoError

from evolving_agents.approvals.models import PendingApproval

logger = logging.getLogger(__name__)

# Writers stamp updated_at with their own clock just before their write lands, so a record can
# become visible after a later-stamped one was seen: re-read this far back on every scan.
DEFAULT_OVERLAP = timedelta(seconds=5)
_MAX_WATCH_RETRY_SECONDS = 60.0


class ApprovalFeed:
    """Yields batches of records changed since a point in time, each (id, version) once.

    ``collection`` is the approvals collection (``PendingApprovalStore.collection``). Safe to
    run in as many processes as you like: it only reads.
    """

    def __init__(
        self,
        collection: Any,
        *,
        poll_interval: float = 1.0,
        overlap: timedelta = DEFAULT_OVERLAP,
        use_change_stream: bool = True,
    ) -> None:
        if poll_interval <= 0:
            raise ValueError("poll_interval must be positive")
        self._collection = collection
        self._poll_interval = poll_interval
        self._overlap = overlap
        self._use_change_stream = use_change_stream and _offers_change_streams(collection)
        self._wake = asyncio.Event()
        self._seen: dict[tuple[str, int], datetime] = {}
        self.watching = False
        """True while a change stream is open (else the feed polls)."""

    async def changes(self, since: datetime) -> AsyncIterator[list[PendingApproval]]:
        """Batches of changed records, oldest change first, forever (cancel to stop)."""
        await self._ensure_index()
        watcher = asyncio.create_task(self._watch()) if self._use_change_stream else None
        cursor = since
        try:
            while True:
                self._wake.clear()
                batch = await self.scan(cursor)
                if batch:
                    cursor = max(cursor, *(record.updated_at for record in batch))
                    yield batch
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll_interval)
        finally:
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher

    async def scan(self, cursor: datetime) -> list[PendingApproval]:
        """Records changed at or after ``cursor - overlap`` that this feed has not yielded."""
        since = cursor - self._overlap
        documents = (
            await self._collection.find({"updated_at": {"$gte": since}}, {"state": 0})
            .sort([("updated_at", ASCENDING), ("_id", ASCENDING)])
            .to_list(None)
        )
        fresh: list[PendingApproval] = []
        for document in documents:
            record = PendingApproval.model_validate(document)
            key = (record.id, record.version)
            if key in self._seen:
                continue
            self._seen[key] = record.updated_at
            fresh.append(record)
        # Forget what fell out of the re-read window; it can never be scanned again.
        self._seen = {key: at for key, at in self._seen.items() if at >= since}
        return fresh

    async def _ensure_index(self) -> None:
        try:
            await self._collection.create_index([("updated_at", ASCENDING)], name="updated_at")
        except PyMongoError as exc:
            logger.warning("could not create the updated_at index (scans still work): %s", exc)

    async def _watch(self) -> None:
        """Keep a change stream open, reopening it after errors; scans go on meanwhile."""
        delay = self._poll_interval
        reported = False
        while True:
            try:
                async with await self._collection.watch() as stream:
                    self.watching = True
                    delay = self._poll_interval
                    logger.info("approval feed: following the collection's change stream")
                    async for _change in stream:
                        self._wake.set()
            except PyMongoError as exc:
                # A standalone server never offers one; say so once, then retry quietly.
                log = logger.debug if reported else logger.info
                log(
                    "approval feed: no change stream (%s); polling every %ss",
                    exc,
                    self._poll_interval,
                )
                reported = True
            finally:
                self.watching = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_WATCH_RETRY_SECONDS)


async def keep_going(what: str, loop: Callable[[], Awaitable[None]]) -> None:
    """Run ``loop`` again after a database error: an outage delays work, never ends it."""
    delay = 1.0
    while True:
        try:
            await loop()
        except PyMongoError as exc:
            logger.warning("%s failed (%s); retrying in %.0fs", what, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 60.0)


def _offers_change_streams(collection: Any) -> bool:
    # mongomock-motor answers any unknown attribute with a sub-collection, so ask the class.
    return callable(getattr(type(collection), "watch", None))
