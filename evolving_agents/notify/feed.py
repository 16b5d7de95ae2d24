"""Records of ``eat_openai_pending_approvals`` as they change, from any process.

::

    feed = ApprovalFeed(store, poll_interval=1.0)
    async for changed in feed.changes(since=utcnow()):
        for record in changed:
            record.id, record.status, record.version

One code path for every server: each round is a scan of ``updated_at >= cursor - overlap``.
Where the server offers a change stream, a change wakes the next scan at once; where it does
not (``memory://``, a standalone server), the scan simply runs every ``poll_interval``. The
scan and the wake-ups are the store's (``store.changes``, on ``storage/changes.py``): the feed
only reads, through the approvals' owner.

A document that does not parse as a record is skipped (logged once with its id, listed in
``feed.unreadable_ids``); it never stops the feed. ``feed.health`` says how its loop is doing, for
``/healthz``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Literal

from pymongo.errors import PyMongoError

from evolving_agents.approvals.changes import ApprovalChanges
from evolving_agents.approvals.documents import UnreadableRecords, parse_record
from evolving_agents.approvals.models import PendingApproval
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.errors import UnreadableRecord

logger = logging.getLogger(__name__)

# Writers stamp updated_at with their own clock just before their write lands, so a record can
# become visible after a later-stamped one was seen: re-read this far back on every scan.
DEFAULT_OVERLAP = timedelta(seconds=5)
_MAX_WATCH_RETRY_SECONDS = 60.0
_MAX_RETRY_SECONDS = 60.0
# Consecutive failed rounds after which a loop counts as failing (not a passing hiccup).
FAILING_AFTER = 3

LoopState = Literal["starting", "running", "retrying", "failing", "stopped"]


class LoopHealth:
    """How one background loop is doing, for ``/healthz``: alive, and is its work getting done.

    ``keep_going`` counts each failed round; the loop itself reports each good round
    (``succeeded``). ``stopped`` is set when the loop ended, with why; a stopped loop, or one
    that failed ``FAILING_AFTER`` rounds in a row, is not healthy.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.started = False
        self.stopped: str | None = None
        self.failures = 0
        """Failed rounds since the last good one."""
        self.last_error: str | None = None

    def succeeded(self) -> None:
        self.failures = 0

    def failed(self, exc: BaseException) -> None:
        self.failures += 1
        self.last_error = f"{type(exc).__name__}: {exc}"

    @property
    def state(self) -> LoopState:
        if self.stopped is not None:
            return "stopped"
        if not self.started:
            return "starting"
        if self.failures >= FAILING_AFTER:
            return "failing"
        return "retrying" if self.failures else "running"

    @property
    def healthy(self) -> bool:
        return self.state in ("starting", "running", "retrying")

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "failures": self.failures,
            "last_error": self.last_error,
            "stopped": self.stopped,
        }


class ApprovalFeed:
    """Yields batches of records changed since a point in time, each (id, version) once.

    ``source`` is the approvals store. (A raw approvals collection is still accepted, for
    callers not yet passing the store; it is read the same way.) Safe to run in as many
    processes as you like: it only reads.
    """

    def __init__(
        self,
        source: PendingApprovalStore | ApprovalChanges | Any,
        *,
        poll_interval: float = 1.0,
        overlap: timedelta = DEFAULT_OVERLAP,
        use_change_stream: bool = True,
    ) -> None:
        if poll_interval <= 0:
            raise ValueError("poll_interval must be positive")
        if isinstance(source, PendingApprovalStore):
            self._source = source.changes
        elif isinstance(source, ApprovalChanges):
            self._source = source
        else:
            self._source = ApprovalChanges(lambda: source)
        self._poll_interval = poll_interval
        self._overlap = overlap
        self._watcher = self._source.feed(
            label="approval feed",
            retry_seconds=poll_interval,
            max_retry_seconds=_MAX_WATCH_RETRY_SECONDS,
        )
        self._use_change_stream = use_change_stream
        self._wake = self._watcher.changed
        self._seen: dict[tuple[str, int], datetime] = {}
        self._unreadable = UnreadableRecords("approval feed")
        self.health = LoopHealth("approval feed")
        """Its loop's health: each good scan reports to it, ``keep_going`` each failure."""

    @property
    def unreadable_ids(self) -> set[str]:
        """The ids of the records this feed skipped because they do not parse."""
        return set(self._unreadable.seen)

    @property
    def poll_interval(self) -> float:
        return self._poll_interval

    @property
    def watching(self) -> bool:
        """True while a change stream is open (else the feed polls)."""
        return self._watcher.watching

    async def changes(self, since: datetime) -> AsyncIterator[list[PendingApproval]]:
        """Batches of changed records, oldest change first, forever (cancel to stop)."""
        await self._source.ensure_index()
        watcher = None
        if self._use_change_stream:
            watcher = asyncio.create_task(self._watcher.follow(), name="approval feed: stream")
        cursor = since
        try:
            while True:
                self._wake.clear()
                batch = await self.scan(cursor)
                self.health.succeeded()
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
        documents = await self._source.since(since)
        fresh: list[PendingApproval] = []
        for document in documents:
            try:
                record = parse_record(document)
            except UnreadableRecord as exc:
                self._unreadable.note(exc)  # skipped: the records after it still go out
                continue
            key = (record.id, record.version)
            if key in self._seen:
                continue
            self._seen[key] = record.updated_at
            fresh.append(record)
        # Forget what fell out of the re-read window; it can never be scanned again.
        self._seen = {key: at for key, at in self._seen.items() if at >= since}
        return fresh


async def keep_going(
    what: str,
    loop: Callable[[], Awaitable[None]],
    health: LoopHealth | None = None,
    *,
    first_delay: float = 1.0,
) -> None:
    """Run ``loop`` again after it fails: an outage or a bad record delays work, never ends it.

    Waits ``first_delay`` after a failure, doubling while failures follow one another (the
    loop reports good rounds to ``health``), up to a minute. ``health`` also learns when the
    loop stops for good (cancelled, or a ``BaseException``).
    """
    health = LoopHealth(what) if health is None else health
    health.started = True
    try:
        while True:
            try:
                await loop()
                delay = first_delay  # these loops run forever: one that ended starts again
                logger.warning("%s ended; starting it again in %.1fs", what, delay)
            except PyMongoError as exc:
                health.failed(exc)
                delay = _retry_delay(first_delay, health.failures)
                logger.warning("%s failed (%s); retrying in %.1fs", what, exc, delay)
            except Exception as exc:
                # Boundary: an error nobody named (a record no one anticipated, a bug) must
                # not end the loop for good while the process looks alive; logged in full.
                health.failed(exc)
                delay = _retry_delay(first_delay, health.failures)
                logger.exception("%s failed; retrying in %.1fs", what, delay)
            await asyncio.sleep(delay)
    except asyncio.CancelledError:
        health.stopped = "cancelled"
        raise
    except BaseException as exc:
        health.stopped = f"{type(exc).__name__}: {exc}"
        raise


def _retry_delay(first: float, failures: int) -> float:
    return float(min(first * 2 ** min(failures - 1, 16), _MAX_RETRY_SECONDS))
