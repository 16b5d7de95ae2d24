"""Wake-ups from a collection's changes: its change stream where the server offers one, else
polling. Written once for every reader that waits on new work (the worker, the approval feed).

::

    changes = ChangeFeed(collection, label="worker w1", pipeline=[{"$match": ...}])
    await changes.open()                     # False: no change stream here, poll instead
    task = asyncio.create_task(changes.follow())
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(changes.changed.wait(), poll_interval)   # a change, or a poll
    changes.changed.clear()
    changes.mode                             # "change_stream" or "polling", for stats

A change only *wakes* the reader; the reader then runs its own indexed query, so a missed or
duplicated event costs a poll interval at worst, never a record. Where the server has no
change streams (``memory://``, a standalone ``mongod``) the feed says so and the reader polls.
A stream that breaks (a failover, a dropped connection) is reopened after ``retry_seconds``,
doubling up to ``max_retry_seconds``; meanwhile the reader polls. With ``give_up_when_refused``
a reopen the server refuses ends ``follow`` (polling from then on, as a worker does).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from pymongo.asynchronous.change_stream import AsyncChangeStream
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import OperationFailure, PyMongoError

from evolving_agents.storage.mongodb_client import driver_reason

logger = logging.getLogger(__name__)

WakeupMode = Literal["starting", "change_stream", "polling"]
Document = dict[str, Any]


def offers_change_streams(collection: object) -> bool:
    """Whether the collection's driver has change streams at all (mongomock has none)."""
    # mongomock-motor answers any unknown attribute with a sub-collection: ask the class.
    return callable(getattr(type(collection), "watch", None))


class ChangeFeed:
    """Sets ``changed`` on every change of one collection that matches ``pipeline``.

    ``mode`` is ``starting`` until the first ``open``, then ``change_stream`` while a stream
    is open and ``polling`` otherwise. ``on_error`` hears of errors nobody named (they are
    logged with their traceback, then treated as a lost stream). Safe within one event loop.
    """

    def __init__(
        self,
        collection: AsyncCollection[Document],
        *,
        label: str,
        pipeline: Sequence[Mapping[str, Any]] | None = None,
        enabled: bool = True,
        retry_seconds: float = 1.0,
        max_retry_seconds: float | None = None,
        give_up_when_refused: bool = False,
        max_await_time_ms: int | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self._collection = collection
        self._label = label
        self._pipeline = [dict(stage) for stage in pipeline or ()]
        self._enabled = enabled
        self._retry = retry_seconds
        self._max_retry = retry_seconds if max_retry_seconds is None else max_retry_seconds
        self._give_up = give_up_when_refused
        self._max_await_time_ms = max_await_time_ms
        self._on_error = on_error
        self._stream: AsyncChangeStream[Document] | None = None
        self.changed = asyncio.Event()
        """Set by each change (and after a reopen, for what landed while the stream was down)."""
        self.mode: WakeupMode = "starting"

    @property
    def watching(self) -> bool:
        """Whether a change stream is open right now."""
        return self.mode == "change_stream"

    async def open(self) -> bool:
        """Open the change stream; False (and ``mode`` polling) where there is none."""
        if not self._enabled:
            self.mode = "polling"
            return False
        if not offers_change_streams(self._collection):
            self._set_mode("polling", "the backend has no change streams")
            return False
        try:
            options: dict[str, Any] = {}
            if self._max_await_time_ms is not None:
                options["max_await_time_ms"] = self._max_await_time_ms
            stream: Any = self._collection.watch(self._pipeline or None, **options)
            if inspect.isawaitable(stream):  # PyMongo's async client; Motor returns it directly
                stream = await stream
        except OperationFailure as exc:
            # A standalone mongod refuses $changeStream (it needs a replica set's oplog).
            self._set_mode("polling", f"the server refused a change stream: {exc}")
            return False
        except PyMongoError as exc:
            self._set_mode("polling", f"could not open a change stream: {driver_reason(exc)}")
            return False
        except Exception as exc:
            # Boundary: a driver or backend that fails in a way nobody named costs the reader
            # its wake-ups, never its work; polling finds the same records.
            logger.exception("%s: opening a change stream failed", self._label)
            self._report(exc)
            self._set_mode("polling", f"could not open a change stream: {exc!r}")
            return False
        self._stream = stream
        self._set_mode("change_stream", "following the collection's change stream")
        return True

    async def follow(self) -> None:
        """Follow the stream (opening it first if needed) until cancelled; where the backend
        has none, or a reopen is refused with ``give_up_when_refused``, return (poll on)."""
        if not self._enabled or not offers_change_streams(self._collection):
            self.mode = "polling"
            return
        delay = self._retry
        first = True
        while True:
            if self._stream is not None or await self.open():
                if not first:
                    self.changed.set()  # anything that landed while the stream was down
                delay = self._retry
                await self._drain()
                self._stream = None
            elif self._give_up:
                return
            first = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_retry)

    async def _drain(self) -> None:
        stream = self._stream
        assert stream is not None
        try:
            async with stream:
                async for _change in stream:
                    self.changed.set()
        except PyMongoError as exc:
            # The stream broke (failover, network): the reader polls meanwhile.
            self._set_mode("polling", f"change stream lost: {driver_reason(exc)}")
        except Exception as exc:
            # Boundary, as in open: logged and reported, then reopened.
            logger.exception("%s: the change stream failed", self._label)
            self._report(exc)
            self._set_mode("polling", f"change stream lost: {exc!r}")
        else:
            self._set_mode("polling", "the change stream ended")

    def _report(self, exc: BaseException) -> None:
        if self._on_error is not None:
            self._on_error(exc)

    def _set_mode(self, mode: WakeupMode, why: str) -> None:
        # Said once per change of mode: a standalone server refuses every reopen, quietly.
        log = logger.info if self.mode != mode else logger.debug
        log("%s: %s (%s)", self._label, mode.replace("_", " "), why)
        self.mode = mode
