"""The notification channels, and which ones the configuration switches on.

::

    sinks = configured_sinks(settings)       # [WebhookSink] when EAT_WEBHOOK_URL is set
    service = WebhookService(client, sinks=sinks)

A new channel is one module implementing ``EventSink`` (read its docstring) and one line in
``SINKS`` below, with its settings group in ``config.py``.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from evolving_agents.config import Settings
from evolving_agents.notify.sinks.base import DeliveryFailed, EventSink
from evolving_agents.notify.sinks.webhook import WebhookSink
from evolving_agents.storage.mongodb_client import MongoDBClient

SinkFactory = Callable[..., EventSink | None]
"""``factory(settings, *, transport=None, client=None)``: the sink, or None when it is not
configured. ``client`` is the database the service runs on, for sinks that read the record an
event is about (Slack and email show its calls; an event carries only their digests)."""

# name -> factory. Order is the order sinks are enqueued and listed in.
SINKS: dict[str, SinkFactory] = {
    WebhookSink.name: WebhookSink.from_settings,
}


def configured_sinks(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    client: MongoDBClient | None = None,
) -> list[EventSink]:
    """Every sink ``settings`` switches on; ``transport`` goes to the HTTP clients (tests);
    ``client`` to the sinks that read records (without one such a sink can be listed, as
    ``eat doctor`` does, but every delivery it attempts fails permanently, naming why)."""
    built = (
        factory(settings, transport=transport, client=client) for factory in SINKS.values()
    )
    return [sink for sink in built if sink is not None]


__all__ = ["SINKS", "DeliveryFailed", "EventSink", "SinkFactory", "WebhookSink", "configured_sinks"]
