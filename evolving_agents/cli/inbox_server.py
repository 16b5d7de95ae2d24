"""uvicorn as ``eat inbox`` runs it: on a socket bound first, stopped by the first signal.

::

    sock = listen("127.0.0.1", 8765)          # OSError (EADDRINUSE) before anything is served
    serve(app, sock, client, on_stop=events.close)   # returns after SIGINT or SIGTERM

The first SIGINT or SIGTERM stops accepting, ends the live streams (``on_stop``), gives the
requests in flight ``GRACE_SECONDS``, and closes the database client, which waits for a
server that does not answer for a second at most; a second signal stops without waiting for
requests. uvicorn's own handlers are not used: after its shutdown they raised the signal
again, so Ctrl-C ended in a ``KeyboardInterrupt`` and SIGTERM killed the process before the
client was closed. Its own module so that ``eat inbox`` imports uvicorn only when it serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Callable, Iterator

import uvicorn
from fastapi import FastAPI

from evolving_agents.cli.common import console
from evolving_agents.cli.lifetime import run_to_the_end
from evolving_agents.storage.mongodb_client import MongoDBClient

# How long requests in flight at a stop may still take; a hung one is cancelled after it.
GRACE_SECONDS = 2


def serve(
    app: FastAPI, sock: socket.socket, client: MongoDBClient, *, on_stop: Callable[[], None]
) -> bool:
    """Serve ``app`` on ``sock`` until a signal stops it; False if it never started."""
    server = _InboxServer(
        uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=GRACE_SECONDS),
        on_stop=on_stop,
    )
    logging.getLogger("uvicorn.error").addFilter(_CancelledAtShutdown())
    run_to_the_end(_serve(server, sock, client))
    return server.started


async def _serve(server: uvicorn.Server, sock: socket.socket, client: MongoDBClient) -> None:
    try:
        await server.serve(sockets=[sock])
    finally:
        # Inside the loop, before it ends: closing stops the driver's monitors, including
        # those of a client left behind when the embedded server came back on a new port.
        await client.close()
        sock.close()


class _InboxServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, *, on_stop: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_stop = on_stop

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # Called by serve(), inside the running loop: handlers of the loop, undone after.
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows, threads
                loop.add_signal_handler(signum, self._stop, signum)
                installed.append(signum)
        try:
            yield
        finally:
            for signum in installed:
                loop.remove_signal_handler(signum)

    def _stop(self, signum: signal.Signals) -> None:
        if self.should_exit:
            self.force_exit = True  # a second signal: do not wait for the requests
            return
        self.should_exit = True
        console.print(
            f"stopping the inbox ({signum.name}; requests in flight get {GRACE_SECONDS} s, "
            "a second signal stops at once)",
            highlight=False,
        )
        self._on_stop()


class _CancelledAtShutdown(logging.Filter):
    """A request cut at the end of the graceful shutdown is said in uvicorn's one line
    ("Cancel 1 running task(s)"); its ``CancelledError`` traceback repeats nothing useful."""

    def filter(self, record: logging.LogRecord) -> bool:
        info = record.exc_info
        return not (info is not None and isinstance(info[1], asyncio.CancelledError))
