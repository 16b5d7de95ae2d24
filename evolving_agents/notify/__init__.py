"""Approval events, delivered to every configured sink through an outbox with retry and backoff.

::

    EAT_WEBHOOK_URL=https://hooks.example.com/eat EAT_WEBHOOK_SECRET=... eat webhooks run

    task = start_webhooks_from_env(client)    # inside a worker or the inbox (None if unset)
    service = WebhookService(client, sinks=[WebhookSink(url), MySink()])   # or explicitly

A channel is an ``EventSink`` (``notify/sinks/base.py`` is the guide for writing one); the
signed webhook (``notify/sinks/webhook.py``) is the first, switched on by ``EAT_WEBHOOK_URL``.

Every event (``approval.created``, ``approval.decided``, ``approval.expired``,
``approval.completed``, ``approval.tool_error`` (after ``completed``, when an approved call's
body raised), ``approval.failed``, ``approval.cancelled``) is a JSON POST with
``X-EAT-Event``, ``X-EAT-Delivery`` (the event id, stable across retries),
``X-EAT-Timestamp`` and ``X-EAT-Signature: sha256=<hex>``, an HMAC-SHA256 with
``EAT_WEBHOOK_SECRET`` over ``<timestamp>.<raw body>``; receivers check it with
:func:`verify_signature`.

Names load on first use (PEP 562), so importing one module of this package does not import
the others.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Where each name lives; its module is imported when the name is first used.
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(
        ["WebhookEvent", "WebhookEventType", "events_for"],
        "evolving_agents.notify.events",
    ),
    "ApprovalFeed": "evolving_agents.notify.feed",
    **dict.fromkeys(
        [
            "DEFAULT_SINK",
            "DELIVERY_HEADER",
            "EVENT_HEADER",
            "OUTBOX_COLLECTION",
            "SIGNATURE_HEADER",
            "TIMESTAMP_HEADER",
            "Delivery",
            "DeliveryStatus",
            "WebhookOutbox",
            "delivery_id",
            "sign",
            "verify_signature",
        ],
        "evolving_agents.notify.outbox",
    ),
    **dict.fromkeys(
        ["WebhookService", "WebhookSettings", "start_webhooks_from_env"],
        "evolving_agents.notify.service",
    ),
    **dict.fromkeys(
        ["SINKS", "DeliveryFailed", "EventSink", "WebhookSink", "configured_sinks"],
        "evolving_agents.notify.sinks",
    ),
}

__all__ = [
    "DEFAULT_SINK",
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "OUTBOX_COLLECTION",
    "SIGNATURE_HEADER",
    "SINKS",
    "TIMESTAMP_HEADER",
    "ApprovalFeed",
    "Delivery",
    "DeliveryFailed",
    "DeliveryStatus",
    "EventSink",
    "WebhookEvent",
    "WebhookEventType",
    "WebhookOutbox",
    "WebhookService",
    "WebhookSettings",
    "WebhookSink",
    "configured_sinks",
    "delivery_id",
    "events_for",
    "sign",
    "start_webhooks_from_env",
    "verify_signature",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:  # what type checkers and editors see: the same names, imported eagerly
    from evolving_agents.notify.events import WebhookEvent, WebhookEventType, events_for
    from evolving_agents.notify.feed import ApprovalFeed
    from evolving_agents.notify.outbox import (
        DEFAULT_SINK,
        DELIVERY_HEADER,
        EVENT_HEADER,
        OUTBOX_COLLECTION,
        SIGNATURE_HEADER,
        TIMESTAMP_HEADER,
        Delivery,
        DeliveryStatus,
        WebhookOutbox,
        delivery_id,
        sign,
        verify_signature,
    )
    from evolving_agents.notify.service import (
        WebhookService,
        WebhookSettings,
        start_webhooks_from_env,
    )
    from evolving_agents.notify.sinks import (
        SINKS,
        DeliveryFailed,
        EventSink,
        WebhookSink,
        configured_sinks,
    )
