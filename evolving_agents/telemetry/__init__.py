"""Operational telemetry: OpenTelemetry metrics and spans of approvals, and ``/metrics``.

::

    from evolving_agents.telemetry import enable_prometheus
    export = enable_prometheus(service_name="my-app")   # what eat inbox --metrics does

The store, the provider, the worker and the inbox record through ``metrics.py`` and
``traces.py`` on the OpenTelemetry API only; with no meter or tracer provider configured
those calls are the API's no-ops. ``prometheus.py`` configures the SDK (the ``telemetry``
extra) when an endpoint is switched on. Names and labels: ``docs/OPERATIONS.md``.
"""

from evolving_agents.telemetry.prometheus import (
    INSTALL_HINT,
    PrometheusExport,
    enable_prometheus,
    prometheus_export,
    scrape,
    scrape_allowed,
)

__all__ = [
    "INSTALL_HINT",
    "PrometheusExport",
    "enable_prometheus",
    "prometheus_export",
    "scrape",
    "scrape_allowed",
]
