"""The Prometheus view of this process's metrics: what ``/metrics`` serves.

::

    export = enable_prometheus(service_name="eat-worker")   # once per process; idempotent
    body, content_type = await scrape(export, store.pending_call_counts, accept=None)

``enable_prometheus`` needs the ``telemetry`` extra (the OpenTelemetry SDK, its Prometheus
exporter and ``prometheus_client``): without it, it raises ``ConfigurationError`` naming
``pip install 'evolving-agents[telemetry]'``. It sets the global meter provider, an SDK one
with a ``PrometheusMetricReader`` on a registry of its own, unless the application already
set one: then the application's provider is left alone, and the endpoint serves
``prometheus_client``'s default registry, where a ``PrometheusMetricReader`` the application
added registers by default. The service name is ``OTEL_SERVICE_NAME`` (or ``service.name`` in
``OTEL_RESOURCE_ATTRIBUTES``) when set.

A process has one global meter provider, so this module keeps the one export it made.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from evolving_agents.errors import ConfigurationError
from evolving_agents.telemetry.metrics import PENDING

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'evolving-agents[telemetry]'"
# A scrape that waits longer than this on the database reports no pending gauge.
PENDING_TIMEOUT_SECONDS = 5.0

PendingReader = Callable[[], Awaitable[Mapping[tuple[str, str], int]]]
"""Reads the undecided calls of pending records by (agent, tool): the store's
``pending_call_counts``."""


class PrometheusExport:
    """The registry ``/metrics`` renders."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """The exposition (text format, or OpenMetrics when ``accept`` asks) and its type."""
        from prometheus_client.exposition import choose_encoder

        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type


_lock = threading.Lock()
_export: PrometheusExport | None = None


def prometheus_export() -> PrometheusExport | None:
    """The export ``enable_prometheus`` made in this process, or None: metrics are off."""
    return _export


def enable_prometheus(*, service_name: str = "evolving-agents") -> PrometheusExport:
    """Switch this process's metrics on for Prometheus (see the module docstring)."""
    global _export
    with _lock:
        if _export is None:
            _export = _make_export(service_name)
        return _export


def _make_export(service_name: str) -> PrometheusExport:
    try:
        from opentelemetry import metrics
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.resources import SERVICE_NAME, OTELResourceDetector, Resource
        from prometheus_client import REGISTRY, CollectorRegistry
    except ImportError as exc:
        raise ConfigurationError(
            f"metrics need the OpenTelemetry SDK and the Prometheus exporter "
            f"({exc.name or exc} is missing): {INSTALL_HINT}"
        ) from exc
    if isinstance(metrics.get_meter_provider(), MeterProvider):
        logger.info(
            "a meter provider is already configured: /metrics serves prometheus_client's "
            "default registry (give your provider a PrometheusMetricReader to see eat_* there)"
        )
        return PrometheusExport(REGISTRY)
    registry = CollectorRegistry()
    reader = PrometheusMetricReader(registry=registry, scope_info_enabled=False)
    # The environment's resource (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES) wins.
    resource = Resource.create({SERVICE_NAME: service_name}).merge(OTELResourceDetector().detect())
    provider = MeterProvider(metric_readers=[reader], resource=resource)
    metrics.set_meter_provider(provider)
    if metrics.get_meter_provider() is not provider:
        # Another provider (not the SDK's) was set first; it keeps the instruments.
        provider.shutdown()
        logger.warning("a meter provider was already set: /metrics serves the default registry")
        return PrometheusExport(REGISTRY)
    return PrometheusExport(registry)


async def scrape(
    export: PrometheusExport, pending: PendingReader | None, *, accept: str | None
) -> tuple[bytes, str]:
    """Refresh the pending gauge from ``pending`` (one read), then render ``export``.

    Scrapes that arrive while a read is under way share it: however many requests come at
    once, the database answers one query. A read that fails or times out is logged and the
    gauge reports nothing for this scrape: the other metrics are still served.
    """
    if pending is not None:
        await _refresh_pending(pending)
    return export.render(accept)


_reading: dict[PendingReader, asyncio.Future[None]] = {}


async def _refresh_pending(pending: PendingReader) -> None:
    under_way = _reading.get(pending)
    if under_way is not None:
        await asyncio.shield(under_way)
        return
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    _reading[pending] = done
    try:
        counts = await asyncio.wait_for(pending(), PENDING_TIMEOUT_SECONDS)
    except Exception as exc:  # noqa: BLE001
        # Boundary: a scrape never fails for the gauge (a driver error of any kind, a record
        # that does not parse); the other metrics are still served.
        logger.warning("metrics: the pending approvals could not be counted: %s", exc)
        PENDING.forget()
    else:
        PENDING.replace(counts)
    finally:
        del _reading[pending]
        done.set_result(None)


def scrape_allowed(authorization: str | None, token: str | None) -> bool:
    """Whether a scrape may read ``/metrics``: always without ``EAT_METRICS_TOKEN``, else only
    with ``Authorization: Bearer <token>`` (compared in constant time), as Prometheus sends
    with ``authorization: {credentials: ...}`` in its scrape config."""
    if not token:
        return True
    scheme, _, given = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)
