"""What a ``ResumeWorker`` did, and how it is stopped from outside (signals, ids).

::

    undo = install_signal_handlers(worker)   # SIGTERM/SIGINT: finish what runs, then return
    stats: WorkerStats = await worker.run()
    stats.completed, stats.conflicts, stats.lease_renewal_failures
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
from collections.abc import Callable
from typing import Literal, Protocol

from pydantic import BaseModel

logger = logging.getLogger(__name__)


class WorkerStats(BaseModel):
    """What one worker did. Every resume it attempts ends in exactly one of the outcome counts.

    ``claimed``: runs this worker took over (each then ends ``completed``, ``failed`` or
    ``released``, or after an unexpected error is left to its lease). ``conflicts``: another
    worker got there first. ``refused``: records left untouched because they cannot be resumed
    here (tampered state, unknown agent); this worker skips them from then on. ``expired``:
    overdue approvals this worker turned into timeout rejections. ``tool_errors``: completed
    runs in which an approved call's body raised (also counted in ``completed``).
    ``unreadable``: records that do not parse (an unknown status, a field of the wrong type),
    met by a resume or the expiry sweep; each is skipped from then on and logged once.
    ``errors``: anything else, logged, with the last one kept in ``last_error``.
    ``dead_tasks``: background tasks of the worker (its change-stream watcher) that ended with
    an error while it ran, as ``name: error``; the worker goes on polling without them.
    ``lease_renewal_failures``: renewals of a held lease that failed (a database error or a
    timeout; each logged and retried while the lease holds, see ``lease.py``). A run whose
    lease could not be renewed in time is stopped with ``LeaseLost`` and counted in ``errors``.
    """

    worker_id: str
    wakeup: Literal["change_stream", "polling", "starting"] = "starting"
    claimed: int = 0
    completed: int = 0
    failed: int = 0
    conflicts: int = 0
    released: int = 0
    expired: int = 0
    refused: int = 0
    tool_errors: int = 0
    unreadable: int = 0
    errors: int = 0
    last_error: str | None = None
    dead_tasks: list[str] = []
    lease_renewal_failures: int = 0
    seconds: float = 0.0


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Stoppable(Protocol):
    """What the signal handlers stop: a ``ResumeWorker``."""

    worker_id: str

    @property
    def in_flight(self) -> int: ...

    def request_stop(self, *, force: bool = False) -> None: ...


def install_signal_handlers(worker: Stoppable) -> Callable[[], None]:
    """SIGTERM/SIGINT stop ``worker`` gracefully; a second signal forces it. Returns an undo.

    Call from inside the running event loop (before ``await worker.run()``).
    """
    loop = asyncio.get_running_loop()
    received = 0

    def on_signal(signum: int) -> None:
        nonlocal received
        received += 1
        force = received > 1
        logger.warning(
            "worker %s got %s: %s",
            worker.worker_id,
            signal.Signals(signum).name,
            "cancelling and releasing the runs in flight"
            if force
            else f"finishing {worker.in_flight} run(s) in flight, taking no new work",
        )
        worker.request_stop(force=force)

    signals = (signal.SIGTERM, signal.SIGINT)
    installed: list[signal.Signals] = []
    for signum in signals:
        with contextlib.suppress(NotImplementedError):  # no add_signal_handler on Windows
            loop.add_signal_handler(signum, on_signal, signum)
            installed.append(signum)

    def undo() -> None:
        for signum in installed:
            loop.remove_signal_handler(signum)

    return undo
