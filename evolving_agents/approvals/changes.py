"""Read-only: the approvals changed since a moment, wake-ups when they change, and whether the
server offers change streams at all.

::

    changes = ApprovalChanges.on(client)             # no store, no signing key needed
    documents = await changes.since(moment)          # without their state, oldest first
    feed = changes.feed(label="notifier", retry_seconds=1, max_retry_seconds=30)
    await changes.probe_stream()                     # eat doctor: raises what the server says

What ``notify.ApprovalFeed`` follows and ``eat doctor`` checks, so neither queries the
collection itself (``approvals/`` owns it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from evolving_agents.storage.changes import ChangeFeed, offers_change_streams
from evolving_agents.storage.mongodb_client import MongoDBClient
from evolving_agents.storage.names import APPROVALS, ApprovalIndex

logger = logging.getLogger(__name__)

Document = dict[str, Any]


class ApprovalChanges:
    """Read-only: the records changed since a moment, and wake-ups when they change. What
    ``notify.ApprovalFeed`` follows, so the feed never queries the collection itself."""

    def __init__(self, collection: Callable[[], AsyncCollection[Document]]) -> None:
        self._collection = collection

    @classmethod
    def on(cls, client: MongoDBClient, collection_name: str = APPROVALS) -> ApprovalChanges:
        """The changes of the approvals on ``client``, without a store (and so without the
        store's signing key): what a reader that only follows changes, such as the notifier,
        needs. The collection is looked up on each use, so it follows a client that moved."""
        return cls(lambda: client.collection(collection_name))

    async def since(self, moment: datetime) -> list[Document]:
        """Documents (without the state) updated at or after ``moment``, oldest first."""
        cursor = self._collection().find({"updated_at": {"$gte": moment}}, {"state": 0})
        sorted_cursor = cursor.sort([("updated_at", ASCENDING), ("_id", ASCENDING)])
        return await sorted_cursor.to_list(None)

    async def ensure_index(self) -> None:
        """The ``updated_at`` index the scans run on; a failure only logs (scans still work)."""
        try:
            await self._collection().create_index(
                [("updated_at", ASCENDING)], name=ApprovalIndex.UPDATED_AT
            )
        except PyMongoError as exc:
            logger.warning("could not create the updated_at index (scans still work): %s", exc)

    def feed(self, *, label: str, retry_seconds: float, max_retry_seconds: float) -> ChangeFeed:
        """Wake-ups on every change of the collection (see ``storage/changes.py``)."""
        return ChangeFeed(
            self._collection(),
            label=label,
            retry_seconds=retry_seconds,
            max_retry_seconds=max_retry_seconds,
        )

    def offers_streams(self) -> bool:
        """Whether the backend has change streams at all (mongomock has none)."""
        return offers_change_streams(self._collection())

    async def probe_stream(self, *, max_await_ms: int = 500) -> None:
        """Open a change stream on the approvals and read one (empty) batch, then close it.

        Raises what the server says: ``OperationFailure`` when it refuses change streams (a
        standalone ``mongod``), another ``PyMongoError`` when it could not be opened.
        """
        stream = await self._collection().watch(max_await_time_ms=max_await_ms)
        try:
            await stream.try_next()
        finally:
            await stream.close()
