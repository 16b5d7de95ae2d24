"""``eat worker --metrics-port N``: Prometheus's ``/metrics`` beside the worker, on its loop.

::

    server = MetricsServer.bind("127.0.0.1", 9464, export, provider.store)  # PortInUse if taken
    async with server.running():
        await worker.run()                                  # scraped at server.url meanwhile

The socket is bound before the worker starts, so a port already taken is ``PortInUse`` (exit 8)
before anything runs. uvicorn serves a one-route Starlette app on the worker's own event loop:
each scrape counts the calls still waiting in the worker's store (one read, only then) for the
pending gauge and renders the process's metrics (``telemetry/prometheus.py``). The worker's
signal handlers stay in charge: this server never installs its own and stops when told.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.cli.sockets import listen
from evolving_agents.storage.outage import cancel_and_wait
from evolving_agents.telemetry import PrometheusExport
from evolving_agents.web.scrape import answer_scrape

_STOP_SECONDS = 2.0


class MetricsServer:
    """One bound socket and the uvicorn server that answers ``GET /metrics`` on it."""

    def __init__(self, sock: socket.socket, export: PrometheusExport, store: PendingApprovalStore):
        self._sock = sock
        host, port = sock.getsockname()[:2]
        self.host: str = host
        self.port: int = port
        self._server = _QuietServer(
            uvicorn.Config(
                _metrics_app(export, store), log_level="warning", lifespan="off", access_log=False
            )
        )

    @classmethod
    def bind(
        cls, host: str, port: int, export: PrometheusExport, store: PendingApprovalStore
    ) -> MetricsServer:
        """Bind ``host:port`` now (0: any free port); ``PortInUse`` when it is taken."""
        sock = listen(
            host,
            port,
            taken="the metrics port {port} on {host} is taken: choose another with --metrics-port",
            refused="cannot serve metrics on {host}:{port}: {reason}; check --metrics-host and "
            "--metrics-port",
        )
        return cls(sock, export, store)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Answer scrapes while the block runs; then stop, within two seconds."""
        serving = asyncio.create_task(self._serve(), name="eat-worker-metrics")
        try:
            yield
        finally:
            self._server.should_exit = True
            await asyncio.wait([serving], timeout=_STOP_SECONDS)
            await cancel_and_wait([serving], timeout=_STOP_SECONDS)

    async def _serve(self) -> None:
        try:
            await self._server.serve(sockets=[self._sock])
        finally:
            self._sock.close()


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The worker's handlers decide how the process stops (see install_signal_handlers).
        yield


def _metrics_app(export: PrometheusExport, store: PendingApprovalStore) -> Starlette:
    async def metrics(request: Request) -> Response:
        return await answer_scrape(request, export, store)

    async def elsewhere(request: Request) -> Response:
        return PlainTextResponse("this server answers GET /metrics only\n", status_code=404)

    return Starlette(routes=[Route("/metrics", metrics), Route("/", elsewhere)])
