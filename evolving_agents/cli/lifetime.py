"""How the long-running commands (``eat inbox``, ``eat worker``) run and end.

::

    with outage_lines(watch):                # one line per database outage, not a dump a round
        ...
    result = run_to_the_end(main())          # asyncio.run, with an end that cannot hang

``asyncio.run`` cancels the tasks left at the end and then waits for them without limit, so
one task a driver call kept from stopping (see ``storage/outage.py``) held the whole process
until SIGKILL. ``run_to_the_end`` gives them two seconds after their cancellation, then lets
the process exit anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

from evolving_agents.storage.outage import DatabaseWatch, OutageRecords, cancel_and_wait

T = TypeVar("T")

_CLEANUP_SECONDS = 2.0


def run_to_the_end(main: Coroutine[Any, Any, T], *, cleanup_seconds: float = _CLEANUP_SECONDS) -> T:
    """Run ``main`` in a new event loop; then cancel what is left and wait for it at most
    ``cleanup_seconds`` (``asyncio.run`` waits forever)."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(main)
    finally:
        try:
            left = asyncio.all_tasks(loop)
            if left:
                loop.run_until_complete(cancel_and_wait(left, timeout=cleanup_seconds))
            generators = loop.create_task(loop.shutdown_asyncgens())
            loop.run_until_complete(asyncio.wait([generators], timeout=cleanup_seconds))
        finally:
            asyncio.set_event_loop(None)
            loop.close()


@contextlib.contextmanager
def outage_lines(watch: DatabaseWatch) -> Iterator[None]:
    """While the block runs, the log shows a database outage as ``watch``'s two lines (it
    started, it ended), not as the driver's dump in every record about an operation it failed.

    The filter goes on the handlers that will print the records: the root logger's, or when
    nothing configured logging, Python's last-resort handler (what ``fail_cleanly`` puts there).
    """
    quiet = OutageRecords(watch)
    handlers = list(logging.getLogger().handlers)
    if not handlers and logging.lastResort is not None:
        handlers = [logging.lastResort]
    for handler in handlers:
        handler.addFilter(quiet)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(quiet)
