"""The notification channels, and which ones the configuration switches on.

::

    sinks = configured_sinks(settings)       # [WebhookSink] when EAT_WEBHOOK_URL is set
    sinks = configured_sinks(settings, client=client, reviewers=directory)   # Slack, email too
    service = WebhookService(client, sinks=sinks)

A new channel is one module implementing ``EventSink`` (read its docstring) and one line in
``SINKS`` below, with its settings group in ``config.py``.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from evolving_agents.config import Settings
from evolving_agents.notify.sinks.base import (
    DeliveryFailed,
    EventSink,
    ReviewerContact,
    ReviewerContacts,
)
from evolving_agents.notify.sinks.email import EmailSink
from evolving_agents.notify.sinks.slack import SlackSink
from evolving_agents.notify.sinks.webhook import WebhookSink
from evolving_agents.storage.mongodb_client import MongoDBClient

SinkFactory = Callable[..., EventSink | None]
"""``factory(settings, *, transport=None, client=None, reviewers=None)``: the sink, or None when
it is not configured. ``client`` is the database the service runs on, for sinks that read the
record an event is about (Slack and email show its calls; an event carries only their digests);
``reviewers`` says who holds a role, for escalations to a role (a mention, an address)."""

# name -> factory. Order is the order sinks are enqueued and listed in.
SINKS: dict[str, SinkFactory] = {
    WebhookSink.name: WebhookSink.from_settings,
    EmailSink.name: EmailSink.from_settings,
    SlackSink.name: SlackSink.from_settings,
}


def configured_sinks(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    client: MongoDBClient | None = None,
    reviewers: ReviewerContacts | None = None,
) -> list[EventSink]:
    """Every sink ``settings`` switches on; ``transport`` goes to the HTTP clients (tests);
    ``client`` to the sinks that read records (without one such a sink can be listed, as
    ``eat doctor`` does, but every delivery it attempts fails permanently, naming why);
    ``reviewers`` (a ``ReviewerDirectory``) to the sinks that escalate to a role (without
    one, an escalation to a role names the role but reaches nobody in it, and says so)."""
    built = (
        factory(settings, transport=transport, client=client, reviewers=reviewers)
        for factory in SINKS.values()
    )
    return [sink for sink in built if sink is not None]


__all__ = [
    "SINKS",
    "DeliveryFailed",
    "EventSink",
    "ReviewerContact",
    "ReviewerContacts",
    "SinkFactory",
    "WebhookSink",
    "configured_sinks",
]
