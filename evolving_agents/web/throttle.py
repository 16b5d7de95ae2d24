"""Backoff for wrong sign-in tokens, shared by every inbox process through MongoDB.

::

    throttle = SignInThrottle(client)
    wait = await throttle.reserve(client_address)   # > 0: answer 429, do not look at the token
    ...                                             # check the token
    await throttle.succeeded(client_address)        # a right token clears its client's count

Every attempt is counted before its token is checked, against two keys: its client address and
``all`` (every client together). A sign-in form has no user name, only the token, so each wrong
token is a guess at every reviewer's token at once: the ``all`` key is the per-reviewer limit,
and it also holds when a guesser spreads over many addresses. Past ``free`` attempts within
``window`` the next one must wait ``base_delay``, then twice that, and so on up to
``max_delay``; an attempt during the wait is answered 429 without its token being looked at,
so waiting is the only way to test another guess. A key's count is forgotten ``window`` after
its last attempt (and a TTL index removes it); a right token clears its client's count.

One document per key in ``eat_inbox_sign_in_attempts``::

    {_id: "client:203.0.113.7" | "all", attempts: 7, next_at: <date>, expires_at: <date>}

Each attempt takes its slot with one conditional update on the count it read, so concurrent
attempts (from one process or several) cannot all slip in before the first one's backoff.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from evolving_agents.approvals.models import utcnow
from evolving_agents.storage.mongodb_client import MongoDBClient
from evolving_agents.storage.names import INBOX_SIGN_IN_ATTEMPTS

ATTEMPTS_COLLECTION = INBOX_SIGN_IN_ATTEMPTS  # defined once, in storage/names.py
ALL_CLIENTS = "all"
# How often an attempt re-reads a count another attempt changed first, before answering "wait".
_CAS_RETRIES = 8


@dataclass(frozen=True)
class Backoff:
    """How many attempts a key has free within ``window``, then how long each next one waits."""

    free: int
    base_delay: timedelta = timedelta(seconds=1)
    max_delay: timedelta = timedelta(minutes=5)
    window: timedelta = timedelta(minutes=15)

    def delay_after(self, attempts: int) -> timedelta:
        """The wait before the attempt after attempt number ``attempts``."""
        if attempts < self.free:
            return timedelta(0)
        doublings = min(attempts - self.free, 30)
        delay: timedelta = self.base_delay * 2**doublings
        return min(delay, self.max_delay)


PER_CLIENT = Backoff(free=5)
ALL_TOGETHER = Backoff(free=50, max_delay=timedelta(minutes=1))


class SignInThrottle:
    """Per-client and all-clients sign-in backoff (see the module docstring)."""

    def __init__(
        self,
        client: MongoDBClient,
        *,
        per_client: Backoff = PER_CLIENT,
        all_clients: Backoff = ALL_TOGETHER,
        clock: Callable[[], datetime] = utcnow,
        collection_name: str = ATTEMPTS_COLLECTION,
    ) -> None:
        self._client = client
        self._per_client = per_client
        self._all_clients = all_clients
        self._clock = clock
        self._collection_name = collection_name
        self._indexes_ready = False
        self._index_lock = asyncio.Lock()

    @property
    def collection(self) -> Any:
        return self._client.collection(self._collection_name)

    async def reserve(self, client_address: str) -> float:
        """Count an attempt from ``client_address``; seconds it must wait first (0: go ahead).

        A refused attempt is not counted: it did not test a token.
        """
        await self._ensure_indexes()
        keys = ((f"client:{client_address}", self._per_client), (ALL_CLIENTS, self._all_clients))
        now = self._clock()
        documents = await self.collection.find({"_id": {"$in": [key for key, _ in keys]}}).to_list(
            None
        )
        waits = [_wait(doc, now) for doc in documents]
        if max(waits, default=0.0) > 0:
            return max(waits)
        for key, backoff in keys:
            wait = await self._take(key, backoff, now)
            if wait > 0:
                return wait
        return 0.0

    async def succeeded(self, client_address: str) -> None:
        """A right token: this client starts afresh; the all-clients count gives its slot back."""
        await self.collection.delete_one({"_id": f"client:{client_address}"})
        await self.collection.update_one(
            {"_id": ALL_CLIENTS, "attempts": {"$gt": 0}}, {"$inc": {"attempts": -1}}
        )

    async def _take(self, key: str, backoff: Backoff, now: datetime) -> float:
        """Take this attempt's slot under ``key``; >0 when another attempt took it first."""
        for _ in range(_CAS_RETRIES):
            document = await self.collection.find_one({"_id": key})
            if document is None or _expired(document, now):
                attempts = 0
            else:
                attempts = int(document.get("attempts", 0))
                if (wait := _wait(document, now)) > 0:
                    return wait
            update: dict[str, Any] = {"attempts": attempts + 1, "expires_at": now + backoff.window}
            delay = backoff.delay_after(attempts + 1)
            if delay > timedelta(0):
                # Only a real wait is written: "now" differs a little between racing attempts.
                update["next_at"] = now + delay
            if document is None:
                try:
                    await self.collection.insert_one({"_id": key, **update})
                except DuplicateKeyError:
                    continue  # another attempt created it first: read its count
                return 0.0
            # Conditional on the count read: of two racing attempts one wins, one re-reads.
            taken = await self.collection.find_one_and_update(
                {"_id": key, "attempts": document.get("attempts")},
                {"$set": update},
                return_document=ReturnDocument.AFTER,
            )
            if taken is not None:
                return 0.0
        return backoff.base_delay.total_seconds()

    async def _ensure_indexes(self) -> None:
        if self._indexes_ready:
            return
        async with self._index_lock:
            if not self._indexes_ready:
                await self.collection.create_index("expires_at", expireAfterSeconds=0)
                self._indexes_ready = True


def _expired(document: dict[str, Any], now: datetime) -> bool:
    expires_at = document.get("expires_at")
    return not isinstance(expires_at, datetime) or expires_at <= now


def _wait(document: dict[str, Any], now: datetime) -> float:
    next_at = document.get("next_at")
    if not isinstance(next_at, datetime) or next_at <= now:
        return 0.0
    return (next_at - now).total_seconds()
