"""The signed webhook: the first ``EventSink``, on when ``EAT_WEBHOOK_URL`` is set.

::

    sink = WebhookSink.from_settings(settings)       # None without EAT_WEBHOOK_URL
    service = WebhookService(client, sinks=[sink])

Each delivery is a JSON POST of the event (compact, keys sorted: the exact bytes signed) with
``X-EAT-Event``, ``X-EAT-Delivery`` (the delivery id, stable across retries),
``X-EAT-Timestamp`` and, with ``EAT_WEBHOOK_SECRET``, ``X-EAT-Signature: sha256=<hex>``
(see ``notify/outbox.py``: ``sign`` and ``verify_signature``). A 2xx answer delivers it;
anything else, or no answer within ``EAT_WEBHOOK_TIMEOUT``, is a failed attempt.
"""

from __future__ import annotations

import logging
import time

import httpx

from evolving_agents.config import NEW_SECRET_HINT, Settings, WebhookSettings
from evolving_agents.errors import ConfigurationError
from evolving_agents.notify.outbox import (
    DEFAULT_SINK,
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Delivery,
    body_of,
    sign,
)
from evolving_agents.notify.sinks.base import DeliveryFailed

logger = logging.getLogger(__name__)


class WebhookSink:
    """POSTs each event, signed with ``secret`` when there is one; an ``EventSink``."""

    name = DEFAULT_SINK

    def __init__(
        self,
        url: str,
        *,
        secret: str | None = None,
        timeout_seconds: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.destination = url
        self._secret = secret or None
        self._http = httpx.AsyncClient(timeout=timeout_seconds, transport=transport)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        client: object = None,
        reviewers: object = None,
    ) -> WebhookSink | None:
        """The sink ``settings.webhooks`` describes, or None when ``EAT_WEBHOOK_URL`` is unset.

        ``client`` and ``reviewers`` are unused: the webhook sends the event as it is. In
        production an unsigned webhook is refused: a receiver cannot tell an unsigned event
        from a forged one.
        """
        hooks: WebhookSettings = settings.webhooks
        if hooks.url is None:
            return None
        if not hooks.secret:
            if settings.is_production:
                raise ConfigurationError(
                    "EAT_WEBHOOK_SECRET is required when EAT_ENV=production: without it "
                    "webhook deliveries are unsigned and anyone who can reach the receiver can "
                    "forge events; set it to a random value (e.g. "
                    f"{NEW_SECRET_HINT}) and check each delivery with verify_signature"
                )
            logger.warning("EAT_WEBHOOK_SECRET is not set: webhook deliveries are unsigned")
        return cls(
            hooks.url,
            secret=hooks.secret,
            timeout_seconds=hooks.timeout_seconds,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def deliver(self, delivery: Delivery) -> None:
        try:
            body = body_of(delivery.event)
            timestamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "evolving-agents-webhooks",
                EVENT_HEADER: str(delivery.event.get("type", "")),
                DELIVERY_HEADER: delivery.id,
                TIMESTAMP_HEADER: timestamp,
            }
            if self._secret:
                headers[SIGNATURE_HEADER] = sign(self._secret, timestamp, body)
            response = await self._http.post(delivery.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise DeliveryFailed(reason) from exc
        except (ValueError, TypeError, httpx.InvalidURL) as exc:
            # Its body, id, type or URL cannot go into a request: no retry would change that.
            raise DeliveryFailed(f"{type(exc).__name__}: {exc}", permanent=True) from exc
        if not response.is_success:
            raise DeliveryFailed(f"HTTP {response.status_code}")
