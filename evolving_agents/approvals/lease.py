"""The lease of a claimed run, kept while the run goes on and given up safely when it cannot be.

::

    async with hold_lease(store, approval_id, worker_id, lease_seconds) as lease:
        result = await Runner.run(agent, state)      # renewed every lease/3 meanwhile
        with lease.finishing():                      # storing the outcome is never cut off
            await store.complete(approval_id, worker_id, final_output=result.final_output)
    # LeaseLost: the lease could not be renewed; the run was stopped before it ran out

A failed renewal (a database error or a timeout) is logged, counted (``RunLease.
renewal_failures``, and the worker's ``WorkerStats.lease_renewal_failures`` through
``renewal_observer``) and retried until shortly before the lease would run out (``STOP_MARGIN``
of it). If no renewal got through by then, or the record is no longer this worker's, or the
renewing task itself died of an error nobody anticipated, the run is stopped, ``LeaseLost``
is raised, and the record is left ``resuming`` for another worker to take over once the
lease lapses. Nothing is written on the way out: the database may be the very thing that
failed.

A governed tool body is never cut off midway (that would turn an action that happened into
one whose outcome is unknown, and a synchronous body cannot be stopped anyway). Governed
tools run their body inside ``lease.tool_body()``; a stop that falls inside one waits for the
last running body to end, and the body's ledger entry keeps a heartbeat meanwhile, so a worker
that took the run over waits for it instead of judging it (see ``ledger.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Literal, Protocol

from evolving_agents.errors import (
    ApprovalConflict,
    ApprovalNotFound,
    ApprovalStoreError,
    LeaseLost,
)
from evolving_agents.telemetry import metrics

logger = logging.getLogger(__name__)

# The run stops once this share of the lease is all that is left without a renewal: room for
# the stop to land and for clocks that differ a little between workers.
STOP_MARGIN = 0.2
# Renewals are due every third of the lease; a failed one is retried this often (at most).
_RETRY_SECONDS = 1.0
_MIN_SLEEP = 0.02


class LeaseRenewer(Protocol):
    """What keeping a lease needs: ``PendingApprovalStore.renew_lease``."""

    async def renew_lease(
        self, approval_id: str, worker_id: str, lease_seconds: float
    ) -> object: ...


# Who hears of each failed renewal of the leases held in this context: a worker sets it around
# each resume it runs, so its stats count them (``WorkerStats.lease_renewal_failures``).
renewal_observer: contextvars.ContextVar[Callable[[str, str], None] | None] = (
    contextvars.ContextVar("eat_lease_renewal_observer", default=None)
)


class RunLease:
    """One claimed run's lease, as the run sees it. Safe within one event loop.

    ``lost`` is why the lease was lost (None while held). ``stop_with`` replaces how the run
    is stopped (the default cancels the task that entered ``hold_lease``; a streamed run
    passes its own ``cancel``).
    """

    def __init__(
        self, approval_id: str, worker_id: str, seconds: float, stop_run: Callable[[], None]
    ) -> None:
        self.approval_id = approval_id
        self.worker_id = worker_id
        self.seconds = seconds
        self.lost: str | None = None
        self._stop_run = stop_run
        self._bodies = 0
        self._finishing = False
        self.stopped = False
        self.cancelled_task = False
        self.renewal_failures = 0
        """Renewals that failed (a database error or a timeout, not a lost lease) so far."""
        self._observer = renewal_observer.get()

    def renewal_failed(self, error: str) -> None:
        """Count a failed renewal, and tell whoever runs the resume (a worker's stats)."""
        self.renewal_failures += 1
        if self._observer is not None:
            self._observer(self.approval_id, error)

    def stop_with(self, stop_run: Callable[[], None]) -> None:
        self._stop_run = stop_run
        self.cancelled_task = False

    @contextlib.contextmanager
    def tool_body(self) -> Iterator[None]:
        """A governed tool body runs: a stop waits until it (and every other) has ended."""
        self._bodies += 1
        try:
            yield
        finally:
            self._bodies -= 1
            self._stop_if_lost()

    @contextlib.contextmanager
    def finishing(self) -> Iterator[None]:
        """The run is over and its outcome is being stored: no stop any more."""
        self._finishing = True
        yield

    def lose(self, reason: str) -> None:
        if self.lost is not None:
            return
        self.lost = reason
        metrics.record_lease_loss()
        running = self._bodies
        waiting = f" once the {running} tool body(ies) running have ended" if running else ""
        logger.error(
            "worker %s lost the lease of %s (%s): stopping the run%s",
            self.worker_id,
            self.approval_id,
            reason,
            waiting,
        )
        self._stop_if_lost()

    def raise_if_lost(self) -> None:
        if self.lost is not None:
            raise LeaseLost(self.approval_id, self.worker_id, self.lost)

    def _stop_if_lost(self) -> None:
        if self.lost is None or self.stopped or self._bodies or self._finishing:
            return
        self.stopped = True
        self._stop_run()


def _keeper_ended(lease: RunLease, keeper: asyncio.Task[None]) -> None:
    """A keeper that died of an error nobody caught must not leave the run going unrenewed."""
    if keeper.cancelled() or keeper.exception() is None:
        return
    error = keeper.exception()
    logger.error(
        "worker %s: the lease keeper of %s died: %r",
        lease.worker_id,
        lease.approval_id,
        error,
        exc_info=error,
    )
    lease.lose(f"the lease keeper died: {type(error).__name__}: {error}")


current_lease: contextvars.ContextVar[RunLease | None] = contextvars.ContextVar(
    "eat_run_lease", default=None
)


@contextlib.asynccontextmanager
async def hold_lease(
    store: LeaseRenewer, approval_id: str, worker_id: str, lease_seconds: float
) -> AsyncIterator[RunLease]:
    """Renew the claim (made just before) while the body runs; stop it if the lease is lost.

    Raises ``LeaseLost`` when the run was stopped for that reason. A cancellation from
    elsewhere (a forced worker stop) passes through as it is.
    """
    task = asyncio.current_task()
    if task is None:
        raise RuntimeError("hold_lease needs a running task")

    def cancel_run() -> None:
        lease.cancelled_task = True
        task.cancel(f"lease of {approval_id} lost")

    lease = RunLease(approval_id, worker_id, lease_seconds, cancel_run)
    keeper = asyncio.create_task(_keep(store, lease), name=f"lease {approval_id}")
    keeper.add_done_callback(functools.partial(_keeper_ended, lease))
    previous = current_lease.get()
    # Set, not reset by token: a streamed run's generator may be closed from another context.
    current_lease.set(lease)
    try:
        yield lease
    except asyncio.CancelledError as exc:
        if lease.cancelled_task and task.uncancel() == 0:
            raise LeaseLost(approval_id, worker_id, lease.lost or "stopped") from exc
        raise
    finally:
        current_lease.set(previous)
        keeper.cancel()
        # A keeper that died of its own error was logged and lost the lease (_keeper_ended):
        # what leaves here is the run's outcome (LeaseLost), not the keeper's error.
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await keeper


async def _keep(store: LeaseRenewer, lease: RunLease) -> None:
    """Renew every third of the lease; retry failures until the stop margin; then lose it."""
    await _Keeper(store, lease).run()


class _Keeper:
    """One lease's renewals: due every third of the lease, a failed one retried every
    ``retry`` seconds while the lease still holds, and the lease lost once it cannot be."""

    def __init__(self, store: LeaseRenewer, lease: RunLease) -> None:
        self._store = store
        self._lease = lease
        self._loop = asyncio.get_running_loop()
        seconds = lease.seconds
        self._interval = max(seconds / 3, 0.05)
        self._retry = max(min(self._interval / 4, _RETRY_SECONDS), _MIN_SLEEP)
        # The claim was made just before the run started, so its lease ends no later than this.
        self._held_until = self._loop.time() + seconds
        self._failures = 0
        self._last_error = ""

    async def run(self) -> None:
        lease, loop = self._lease, self._loop
        due = loop.time() + self._interval
        while True:
            await asyncio.sleep(max(due - loop.time(), 0))
            sent = loop.time()
            stop_at = self._held_until - lease.seconds * STOP_MARGIN
            if sent >= stop_at:
                lease.lose(
                    f"{self._failures} renewal(s) failed within the {lease.seconds:g}s lease, "
                    f"the last with {self._last_error}"
                )
                return
            outcome = await self._renew(stop_at - sent)
            if outcome == "lost":
                return
            if outcome == "failed":
                due = loop.time() + self._retry
                continue
            self._held_until = sent + lease.seconds
            if self._failures:
                logger.info(
                    "worker %s renewed the lease of %s after %d failed attempt(s)",
                    lease.worker_id,
                    lease.approval_id,
                    self._failures,
                )
                self._failures = 0
            due = sent + self._interval

    async def _renew(self, timeout: float) -> Literal["renewed", "failed", "lost"]:
        lease = self._lease
        try:
            # A renewal that hangs (a server that does not answer) must not outlast the lease.
            await asyncio.wait_for(
                self._store.renew_lease(lease.approval_id, lease.worker_id, lease.seconds),
                timeout=timeout,
            )
        except (ApprovalConflict, ApprovalNotFound) as exc:
            # Another worker took the run over, or it ended: renewing again cannot help.
            lease.lose(f"the record is no longer this worker's: {exc}")
            return "lost"
        except (ApprovalStoreError, TimeoutError) as exc:
            self._failed(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
            return "failed"
        except Exception as exc:
            # Boundary: an unexpected renewal error is a failed renewal, never a held lease.
            logger.exception(
                "worker %s: renewing the lease of %s raised", lease.worker_id, lease.approval_id
            )
            self._failed(f"{type(exc).__name__}: {exc}")
            return "failed"
        return "renewed"

    def _failed(self, error: str) -> None:
        lease = self._lease
        self._failures += 1
        self._last_error = error
        lease.renewal_failed(error)
        logger.warning(
            "worker %s: renewal %d of the lease of %s failed (%s); retrying for %.2fs more",
            lease.worker_id,
            self._failures,
            lease.approval_id,
            error,
            max(self._held_until - lease.seconds * STOP_MARGIN - self._loop.time(), 0),
        )
