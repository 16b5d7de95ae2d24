"""Resume decided runs as they appear, exactly once, from any number of worker processes.

::

    provider = OpenAIAgentsProvider(mongodb_client=MongoDBClient(), registry=registry)
    worker = ResumeWorker(provider, concurrency=4)
    install_signal_handlers(worker)          # SIGTERM/SIGINT: finish what runs, then return
    stats = await worker.run()               # or run(drain=True): return when nothing is left
    stats.completed, stats.conflicts

``eat worker --app myapp.agents:registry`` runs the same loop from the command line.

Size: about 450 lines, over the ~400 mark: the loop's scheduling (batches, skips, backoff),
its outcome counting and its stopping are one state machine over the same fields; split, each
part would reach into the others' state.

This module is the loop only: what is ready, claims and leases are the ``ResumeQueue``'s
(``queue.py`` for MongoDB), wake-ups the queue's ``ChangeFeed`` (``storage/changes.py``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Coroutine
from typing import Any, Protocol

from pymongo.errors import PyMongoError

from evolving_agents.approvals.lease import renewal_observer
from evolving_agents.approvals.models import (
    AgentRunResult,
    ApprovalStatus,
    PendingApproval,
    RunStatus,
)
from evolving_agents.approvals.protocols import ApprovalStore, Ready
from evolving_agents.approvals.worker_stats import (
    WorkerStats,
    default_worker_id,
    install_signal_handlers,
)
from evolving_agents.errors import (
    ApprovalConflict,
    ApprovalNotFound,
    ApprovalStoreError,
    EvolvingAgentsError,
    LeaseLost,
    UnreadableRecord,
)
from evolving_agents.storage.changes import ChangeFeed
from evolving_agents.storage.outage import cancel_and_wait

__all__ = [
    "ResumeWorker",
    "RunResumer",
    "WorkerStats",
    "default_worker_id",
    "install_signal_handlers",
]

logger = logging.getLogger(__name__)

# One query reads a batch of the oldest decided ids (at least this many); the worker then takes
# them in random order as slots free up. Fewer queries, since on some servers a query reads
# every matching entry, and workers sharing a queue do not all race for the oldest record.
_MIN_BATCH = 32
_MAX_REFRESHES = 3
_EXPIRE_BATCH = 100
# How long what is left at the end of run() gets after its cancellation (a release, a stream).
_STOP_SECONDS = 5.0


class RunResumer(Protocol):
    """What the worker needs from a provider: its store and a claiming ``resume_agent``."""

    @property
    def store(self) -> ApprovalStore: ...

    async def resume_agent(
        self,
        approval_id: str,
        *,
        worker_id: str | None = None,
        known: PendingApproval | None = None,
    ) -> AgentRunResult: ...


class ResumeWorker:
    """Claims and resumes ``decided`` records, at most ``concurrency`` at a time.

    Work is a ``decided`` record, or a ``resuming`` one whose lease ran out (its worker died),
    found oldest first with indexed queries. Each is resumed through
    ``provider.resume_agent(id, worker_id=...)``, which claims it with one conditional update
    and renews the lease while the run goes on; when two workers pick the same record one of
    them gets ``ApprovalConflict`` and moves on. So any number of workers, in one process or
    many, can share a collection and every run is resumed once.

    Waking up: a change stream on the collection where the server offers one (MongoDB replica
    sets and Atlas, SecantusDB), else polling that backs off from ``poll_interval`` to
    ``max_poll_interval`` and starts over when work is found. Both paths then run the same
    query-and-claim code; with a change stream the query still runs every
    ``max_poll_interval``, because an expiring lease produces no change event.

    Stopping: ``request_stop()`` (what SIGTERM/SIGINT do after ``install_signal_handlers``)
    takes no new work and lets the runs in flight finish. ``request_stop(force=True)`` (a second
    signal) cancels them and releases their claims, so another worker can resume them at once.
    A worker killed hard keeps its claims until their leases run out (``EAT_LEASE_SECONDS``);
    then any other worker takes them over.
    """

    def __init__(
        self,
        provider: RunResumer,
        *,
        concurrency: int = 4,
        worker_id: str | None = None,
        poll_interval: float = 0.5,
        max_poll_interval: float = 5.0,
        use_change_stream: bool = True,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        if poll_interval <= 0 or max_poll_interval < poll_interval:
            raise ValueError("need 0 < poll_interval <= max_poll_interval")
        self._provider = provider
        self._store = provider.store
        self._queue = self._store.queue
        self.concurrency = concurrency
        self.worker_id = worker_id or default_worker_id()
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.use_change_stream = use_change_stream
        self._stats = WorkerStats(worker_id=self.worker_id)
        self._stop = asyncio.Event()
        # Wake-ups: a change stream where the server offers one; with a change stream the
        # query still runs every max_poll_interval, since an expiring lease makes no event.
        self._changes = self._queue.wakeups(
            label=f"worker {self.worker_id}",
            enabled=use_change_stream,
            retry_seconds=max_poll_interval,
            on_error=lambda exc: self._count_error("change stream", exc),
        )
        self._wake = self._changes.changed
        self._force = False
        self._running: dict[str, asyncio.Task[None]] = {}
        # approval id -> monotonic time before which this worker does not try it again.
        self._skip_until: dict[str, float] = {}
        self._next_expiry = 0.0
        self._batch = max(_MIN_BATCH, concurrency * 4)
        self._candidates: list[str] = []
        self._candidates_until = 0.0
        self._next_abandoned_check = 0.0
        # Whether the last search found nothing at all (what ``drain`` waits for).
        self._queue_empty = False
        self._unreadable: set[str] = set()
        self._helpers: dict[str, asyncio.Task[None]] = {}

    @property
    def stats(self) -> WorkerStats:
        """A snapshot of the counts so far, with the background tasks that died."""
        snapshot = self._stats.model_copy(deep=True)
        snapshot.wakeup = self._changes.mode
        # The store also meets unreadable records in the expiry sweep, which skips them.
        snapshot.unreadable = len(self._unreadable | set(self._queue.unreadable_seen))
        if self._helpers:
            snapshot.dead_tasks = self._dead_helpers()
        if any(dead.startswith("change stream:") for dead in snapshot.dead_tasks):
            snapshot.wakeup = "polling"  # it is: the worker polls on without its stream
        return snapshot

    def _dead_helpers(self) -> list[str]:
        dead = []
        for name, task in self._helpers.items():
            why = _ended_with(task) if task.done() else None
            if why is not None:
                dead.append(f"{name}: {why}")
        return dead

    @property
    def in_flight(self) -> int:
        return len(self._running)

    def request_stop(self, *, force: bool = False) -> None:
        """Take no new work; with ``force``, also cancel the runs in flight and release them."""
        self._stop.set()
        if force and not self._force:
            self._force = True
            for task in self._running.values():
                task.cancel()

    async def _unless_stopped(self, search: Coroutine[Any, Any, int]) -> int:
        """``search``'s result, or 0 once a stop is requested: a search waits up to the
        server selection timeout per query on a database that does not answer, and must not
        hold up the stop. (It only reads and expires, so it can be cut anywhere.)"""
        searching = asyncio.ensure_future(search)
        stopped = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait((searching, stopped), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            if not searching.done():
                searching.cancel()
        return searching.result() if searching.done() else 0

    async def run(self, *, stop: asyncio.Event | None = None, drain: bool = False) -> WorkerStats:
        """Resume runs until stopped (``request_stop`` or ``stop`` set) and return the counts.

        ``drain=True`` returns once nothing is left to take and nothing is in flight: for
        scripts, tests and batch jobs.
        """
        started = time.monotonic()
        if await self._changes.open():
            self._helpers["change stream"] = asyncio.create_task(self._watch(self._changes))
        if stop is not None:
            self._helpers["stop signal"] = asyncio.create_task(_forward(stop, self._stop))
        helpers = list(self._helpers.values())
        try:
            await self._loop(drain)
            if self._running:
                await asyncio.wait(self._running.values())
        finally:
            # What died while the worker ran stays in the stats; the stop itself kills nothing.
            self._stats.dead_tasks = self._dead_helpers()
            self._helpers.clear()
            # Only reached with runs still going when run() itself was cancelled.
            pending = [*self._running.values(), *helpers]
            # Bounded: a driver call can keep a cancelled task waiting on a silent database.
            await cancel_and_wait(pending, timeout=_STOP_SECONDS)
            self._stats.seconds = round(time.monotonic() - started, 3)
        return self.stats

    # -- the loop ------------------------------------------------------------------------

    async def _loop(self, drain: bool) -> None:
        interval = self.poll_interval
        while not self._stop.is_set():
            self._wake.clear()
            try:
                started = await self._unless_stopped(self._take_work())
            except Exception as exc:
                # Boundary: whatever one round of looking for work raised (a record nothing
                # anticipated, a driver surprise), the worker logs it, counts it, and goes on.
                logger.exception("worker %s: looking for work failed", self.worker_id)
                self._count_error("looking for work", exc)
                started = 0
            if drain and self._queue_empty and not self._running:
                return
            if started:
                interval = self.poll_interval
            if self._free_slots() == 0:
                # Full: the next useful moment is when a run ends (or a stop arrives).
                await self._wait(None, wake=False)
                continue
            streaming = self._changes.watching
            woke = await self._wait(self.max_poll_interval if streaming else interval)
            if not woke and not started:
                interval = min(interval * 2, self.max_poll_interval)

    async def _wait(self, timeout: float | None, *, wake: bool = True) -> bool:
        """Sleep until a run ends, a change arrives (if ``wake``), a stop, or ``timeout``.

        Returns whether anything but the timeout ended the wait.
        """
        waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(self._stop.wait())]
        if wake:
            waiters.append(asyncio.ensure_future(self._wake.wait()))
        waiters.extend(self._running.values())
        done, _ = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters[: 2 if wake else 1]:
            waiter.cancel()
        return bool(done)

    def _free_slots(self) -> int:
        return self.concurrency - len(self._running)

    async def _take_work(self) -> int:
        """Expire what is overdue, find claimable records, start a resume for each."""
        self._queue_empty = False
        await self._expire_overdue()
        free = self._free_slots()
        if free <= 0 or self._stop.is_set():
            return 0
        try:
            candidates = await self._find_work(free)
        except PyMongoError as exc:
            # The database is unreachable or failing: log, back off, try again next cycle.
            logger.warning("worker %s could not look for work: %s", self.worker_id, exc)
            return 0
        for approval_id, known in candidates:
            task = asyncio.create_task(
                self._resume(approval_id, known), name=f"resume {approval_id}"
            )
            self._running[approval_id] = task
            task.add_done_callback(self._forget)
        return len(candidates)

    def _forget(self, task: asyncio.Task[None]) -> None:
        for approval_id, running in list(self._running.items()):
            if running is task:
                del self._running[approval_id]

    async def _find_work(self, free: int) -> list[Ready]:
        """Runs to resume, at most ``free``: runs of dead workers first, then decided ones."""
        now = time.monotonic()
        self._skip_until = {key: until for key, until in self._skip_until.items() if until > now}
        # Leases run for minutes, so looking for lapsed ones once per poll interval is plenty.
        checked_abandoned = now >= self._next_abandoned_check or not self._candidates
        stale = not self._candidates or now > self._candidates_until
        # Both searches at once when both are due (a wake-up): one round trip, not two.
        abandoned, fresh = await asyncio.gather(
            self._abandoned(free) if checked_abandoned else _none(),
            self._oldest_decided() if stale else _none(),
        )
        chosen = [Ready(approval_id) for approval_id in abandoned]
        taken = set(abandoned)  # the ids in chosen
        refreshes = 0
        while len(chosen) < free:
            if stale or not self._candidates or time.monotonic() > self._candidates_until:
                if refreshes and len(fresh) < self._batch:
                    # The last search found every ready run there was, and a new one wakes
                    # the worker: searching again now would find only what it just chose.
                    self._queue_empty = not chosen
                    break
                if refreshes == _MAX_REFRESHES:
                    break  # others keep taking what we find; the next cycle tries again
                refreshes += 1
                if not stale:
                    fresh = await self._oldest_decided()
                stale = False
                # What this search already chose is still decided: found again, it is not new.
                self._candidates = [found for found in fresh if found not in taken]
                self._candidates_until = time.monotonic() + self.max_poll_interval
                if not self._candidates:
                    if not checked_abandoned:
                        checked_abandoned = True
                        more = await self._abandoned(free - len(chosen))
                        chosen.extend(Ready(found) for found in more)
                        taken.update(more)
                    self._queue_empty = not chosen
                    break
                random.shuffle(self._candidates)
            approval_id = self._candidates.pop()
            if approval_id in taken or approval_id in self._running:
                continue
            if approval_id in self._skip_until:
                continue
            ready = await self._queue.still_ready(approval_id)
            if ready is not None:
                chosen.append(ready)
                taken.add(approval_id)
        return chosen

    def _excluded(self) -> list[str]:
        return [*self._running, *self._skip_until]

    async def _abandoned(self, limit: int) -> list[str]:
        """``resuming`` records whose lease ran out: their worker died or lost the database."""
        self._next_abandoned_check = time.monotonic() + self.poll_interval
        return await self._queue.abandoned(limit, excluded=self._excluded())

    async def _oldest_decided(self) -> list[str]:
        """Decided records, then pending ones a partial-resume policy lets run now."""
        return await self._queue.ready(self._batch, excluded=self._excluded())

    async def _expire_overdue(self) -> None:
        # At most once per poll interval, since approval timeouts are counted in minutes or hours.
        if time.monotonic() < self._next_expiry:
            return
        self._next_expiry = time.monotonic() + self.poll_interval
        try:
            expired = await self._queue.expire_overdue(limit=_EXPIRE_BATCH)
        except (PyMongoError, EvolvingAgentsError) as exc:
            # Expiry is retried next cycle; it must not stop the resumes.
            logger.warning("worker %s could not expire overdue approvals: %s", self.worker_id, exc)
            return
        count = len(expired)
        if count:
            self._stats.expired += count
            logger.info("worker %s expired %d overdue approval(s)", self.worker_id, count)

    # -- one resume ----------------------------------------------------------------------

    async def _resume(self, approval_id: str, known: PendingApproval | None = None) -> None:
        # This task's leases report their failed renewals to this worker's stats.
        renewal_observer.set(self._lease_renewal_failed)
        stats = self._stats
        try:
            result = await self._provider.resume_agent(
                approval_id, worker_id=self.worker_id, known=known
            )
        except (ApprovalConflict, ApprovalNotFound) as exc:
            stats.conflicts += 1
            logger.debug("worker %s skipped %s: %s", self.worker_id, approval_id, exc)
            return
        except asyncio.CancelledError:
            await self._release_after_cancel(approval_id)
            raise
        except UnreadableRecord as exc:
            # Not claimed: the document does not parse, so nothing in it can be trusted to
            # resume. Skipped from now on; the store logged it once with what does not parse.
            self._unreadable.add(approval_id)
            self._skip_until[approval_id] = math.inf
            logger.debug("worker %s skipped unreadable %s: %s", self.worker_id, approval_id, exc)
            return
        except (ApprovalStoreError, PyMongoError) as exc:
            # The database failed us; it may answer again soon, so retry after a pause.
            logger.warning("worker %s could not resume %s: %s", self.worker_id, approval_id, exc)
            await self._after_error(approval_id, exc)
            return
        except EvolvingAgentsError as exc:
            # The record was left as it was (bad signature, unknown agent, unreadable state):
            # retrying in this process cannot help, and a person must look at it.
            stats.refused += 1
            self._skip_until[approval_id] = math.inf
            logger.error("worker %s refused %s: %s", self.worker_id, approval_id, exc)
            return
        except Exception as exc:
            # Boundary: one run's unexpected failure must not stop the worker; it is counted,
            # kept in ``last_error`` and logged with its traceback.
            logger.exception("worker %s failed to resume %s", self.worker_id, approval_id)
            await self._after_error(approval_id, exc)
            return
        self._count_result(approval_id, result)

    def _count_result(self, approval_id: str, result: AgentRunResult) -> None:
        stats = self._stats
        stats.claimed += 1
        if result.status is RunStatus.ERROR:
            stats.failed += 1
        else:
            stats.completed += 1
        if result.status is RunStatus.TOOL_ERROR:
            # Completed, but an approved action did not happen: never counted as plain success.
            stats.tool_errors += 1
            logger.error(
                "worker %s: run %s finished with a failed approved call: %s",
                self.worker_id,
                approval_id,
                result.error,
            )
        elif result.status is RunStatus.ERROR:
            logger.error("worker %s: run %s failed: %s", self.worker_id, approval_id, result.error)
        else:
            logger.info("worker %s resumed %s: %s", self.worker_id, approval_id, _said(result))

    def _lease_renewal_failed(self, approval_id: str, error: str) -> None:
        self._stats.lease_renewal_failures += 1

    def _count_error(self, where: str, exc: BaseException) -> None:
        self._stats.errors += 1
        self._stats.last_error = f"{where}: {type(exc).__name__}: {exc}"

    async def _after_error(self, approval_id: str, exc: Exception) -> None:
        # If we held the claim, the record keeps its lease and is taken over (by any worker,
        # this one included) once the lease runs out; until then, nobody resumes it twice.
        self._skip_until[approval_id] = time.monotonic() + self.max_poll_interval
        held = isinstance(exc, LeaseLost) or await self._holds(approval_id)
        # Both counters move together, after the last await: a reader that sees the error
        # (a forced stop, ``eat worker``'s table) also sees the claim it came from.
        self._count_error(approval_id, exc)
        if held:
            self._stats.claimed += 1

    async def _release_after_cancel(self, approval_id: str) -> None:
        try:
            await self._queue.release(approval_id, self.worker_id, reason="worker stopped")
        except (ApprovalConflict, ApprovalNotFound):
            return  # cancelled before the claim, or after the run had ended: nothing held
        except (ApprovalStoreError, PyMongoError) as exc:
            logger.warning(
                "worker %s could not release %s; its lease will run out: %s",
                self.worker_id,
                approval_id,
                exc,
            )
            return
        self._stats.claimed += 1
        self._stats.released += 1
        logger.info("worker %s released %s on a forced stop", self.worker_id, approval_id)

    async def _holds(self, approval_id: str) -> bool:
        try:
            record = await self._store.get(approval_id)
        except (ApprovalNotFound, ApprovalStoreError, UnreadableRecord, PyMongoError):
            return False
        return record.status is ApprovalStatus.RESUMING and record.claim.worker_id == self.worker_id

    # -- change stream -------------------------------------------------------------------

    async def _watch(self, changes: ChangeFeed) -> None:
        """Follow the change stream; it polls meanwhile when the stream breaks, and for good
        once the server refuses to reopen it (see ``storage/changes.py``)."""
        await changes.follow()


async def _none() -> list[str]:
    return []


def _ended_with(task: asyncio.Task[None]) -> str | None:
    """Why a finished background task ended early: its error, or None if it just returned."""
    if task.cancelled():
        return "cancelled"
    error = task.exception()
    return None if error is None else f"{type(error).__name__}: {error}"


async def _forward(source: asyncio.Event, target: asyncio.Event) -> None:
    await source.wait()
    target.set()


def _said(result: AgentRunResult) -> str:
    """One run's outcome in a log line: what each decided call did, and how the run ended."""
    did = ", ".join(
        f"{call_id} {outcome.status.value}" for call_id, outcome in result.outcomes.items()
    )
    if result.status is RunStatus.AWAITING_APPROVAL:
        ended = f"paused again as {result.approval_id}"
    else:
        ended = "completed"
    return f"{did}; {ended}" if did else ended
