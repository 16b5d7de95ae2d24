"""Living through a database outage: notice it at once, say it once, and still stop on time.

::

    watch = DatabaseWatch(client, label="inbox")
    task = asyncio.create_task(watch.run())      # a ping every second, under a deadline
    watch.problem                                # DatabaseUnreachable while it does not answer
    await watch.until_answering()                # returns at once while it answers
    handler.addFilter(OutageRecords(watch))      # the driver dumps of an outage stay quiet
    await cancel_and_wait(tasks, timeout=2.0)    # tasks a driver call kept from stopping

An outage is logged twice, one line each: when it starts (the masked URI, the database, why
and what to check) and when the database answers again. In between, records about operations
that failed because nobody answered are the same news, so ``OutageRecords`` drops them.

``cancel_and_wait`` exists because on Python 3.11 a PyMongo call waiting for a server can
swallow a cancellation (``asyncio.wait_for`` returns the inner result when a cancel and the
result arrive together), so a single ``cancel()`` may never end a task that retries forever:
the inbox ignored SIGTERM that way after its database went away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from typing import Any

import pymongo
from pymongo.errors import ConnectionFailure, NetworkTimeout, PyMongoError

from evolving_agents.storage.mongodb_client import DatabaseUnreachable, MongoDBClient

logger = logging.getLogger(__name__)

CHECK_SECONDS = 1.0
# A ping's deadline: a local server answers in milliseconds, a remote one well within this.
_CHECK_TIMEOUT_SECONDS = 2.0
# How long a cancelled task gets to clean up (a release, a close) before it is asked again.
_PATIENCE_SECONDS = 0.5
_RECANCEL_SECONDS = 0.1


class DatabaseWatch:
    """Whether ``client``'s database answers, asked every ``interval`` seconds.

    Each check is one ``ping`` under a deadline (at most 2 s, less if the client's server
    selection timeout is shorter), so an outage is known within about ``interval`` plus that
    deadline, whatever the timeouts of the operations that wait on it. ``failed`` lets a
    caller report an operation of its own that found nobody answering, and ``suspect`` asks
    for a check now. Safe within one event loop.
    """

    def __init__(
        self,
        client: MongoDBClient,
        *,
        label: str,
        interval: float = CHECK_SECONDS,
        timeout: float | None = None,
    ) -> None:
        self.client = client
        self.label = label
        self.interval = interval
        self.timeout = (
            min(_CHECK_TIMEOUT_SECONDS, client.selection_timeout_seconds())
            if timeout is None
            else timeout
        )
        self._problem: DatabaseUnreachable | None = None
        self._since = 0.0
        # Futures of whoever waits for a change, each made in its waiter's loop: a handler
        # served by another loop than the checks (a test client's) still waits safely.
        self._waiters: set[asyncio.Future[None]] = set()
        self._check_now = asyncio.Event()

    @property
    def problem(self) -> DatabaseUnreachable | None:
        """The current outage, one line naming where and why; None while the database
        answers (or before anything found it silent)."""
        return self._problem

    async def until_answering(self) -> None:
        """Return once the database answers (at once while it does)."""
        while self._problem is not None:
            await self._change()

    async def until_silent(self) -> None:
        """Return once an outage is known (at once during one)."""
        while self._problem is None:
            await self._change()

    def suspect(self) -> None:
        """Check now rather than at the next interval: something failed that may be an outage."""
        self._check_now.set()

    def failed(self, exc: BaseException) -> DatabaseUnreachable | None:
        """An operation failed with ``exc``: the outage it shows (now the current one), or
        None when it is not one (the server answered, or only a connection dropped)."""
        problem = DatabaseUnreachable.of(self.client, exc)
        if problem is None:
            if is_outage(exc):
                self.suspect()
            return None
        self._down(problem)
        return problem

    async def check(self) -> DatabaseUnreachable | None:
        """Ping once; the outage found, or None if the database answered."""
        try:
            with pymongo.timeout(self.timeout):
                await self.client.ping()
        except PyMongoError as exc:
            problem = DatabaseUnreachable.of_check(self.client, exc, waited=self.timeout)
            if problem is not None:
                self._down(problem)
                return problem
        self._up()
        return None

    async def run(self) -> None:
        """Check every ``interval`` seconds (sooner when ``suspect`` is called), until cancelled."""
        while True:
            await self.check()
            self._check_now.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._check_now.wait(), self.interval)

    def _down(self, problem: DatabaseUnreachable) -> None:
        news = self._problem is None
        self._problem = problem
        if news:
            self._since = time.monotonic()
            logger.warning("%s: %s; trying again every %g s", self.label, problem, self.interval)
            self._changed()

    def _up(self) -> None:
        if self._problem is None:
            return
        logger.warning(
            "%s: the database %s at %s answers again (after %.0f s)",
            self.label,
            self.client.db_name,
            self._problem.address,
            time.monotonic() - self._since,
        )
        self._problem = None
        self._changed()

    async def _change(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            await waiter
        finally:
            self._waiters.discard(waiter)

    def _changed(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc``, or an error that caused it, says the database did not answer or the
    connection to it dropped (not a slow operation's timeout: the server was there)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ConnectionFailure) and not isinstance(current, NetworkTimeout):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


class OutageRecords(logging.Filter):
    """Drops log records about operations that failed because the database did not answer:
    ``watch`` says that once per outage, and each of them would repeat it with the driver's
    whole dump. Add it to the handlers of a long-running process (``eat worker``)."""

    def __init__(self, watch: DatabaseWatch) -> None:
        super().__init__()
        self._watch = watch

    def filter(self, record: logging.LogRecord) -> bool:
        errors = [arg for arg in _args_of(record) if isinstance(arg, BaseException)]
        if record.exc_info is not None and record.exc_info[1] is not None:
            errors.append(record.exc_info[1])
        if any(is_outage(error) for error in errors):
            self._watch.suspect()  # the watch confirms it (one line) or finds it answering
            return False
        return True


def _args_of(record: logging.LogRecord) -> tuple[object, ...]:
    args = record.args
    if isinstance(args, tuple):
        return args
    return () if args is None else tuple(args.values())


async def cancel_and_wait(
    tasks: Iterable[asyncio.Future[Any]], *, timeout: float
) -> set[asyncio.Future[Any]]:
    """Cancel ``tasks`` and wait up to ``timeout`` seconds for them to end; returns those
    still running then.

    Each gets half a second to clean up after its cancellation (a claim released, a client
    closed); one still running after that is cancelled again, every 0.1 s, in case a driver
    call swallowed the cancellation (see the module docstring).
    """
    given = list(tasks)
    pending: set[asyncio.Future[Any]] = {task for task in given if not task.done()}
    for task in pending:
        task.cancel()
    deadline = time.monotonic() + timeout
    patience = min(_PATIENCE_SECONDS, timeout)
    while pending:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        _, pending = await asyncio.wait(pending, timeout=min(patience, remaining))
        patience = _RECANCEL_SECONDS
        for task in pending:
            task.cancel()
    for task in given:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved, as gather(return_exceptions=True) would
    return pending
