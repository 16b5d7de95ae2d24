"""Follow the approvals, fill the outbox, deliver it: the webhook service.

::

    service = WebhookService(client, WebhookSettings())      # EAT_WEBHOOK_URL, _SECRET, ...
    task = asyncio.create_task(service.run_until_cancelled())  # in a worker or the inbox

    task = start_webhooks_from_env(client)   # the same, or None when EAT_WEBHOOK_URL is unset

It runs beside whatever owns the event loop (``eat worker``, ``eat inbox``) or alone
(``eat webhooks run``). Nothing in a run waits for it: a receiver that is down only makes
deliveries wait in ``eat_webhook_outbox`` for their next attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
from bson.errors import BSONError
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pymongo.errors import PyMongoError

from evolving_agents.approvals.models import PendingApproval, utcnow
from evolving_agents.approvals.store import COLLECTION_NAME
from evolving_agents.config import NEW_SECRET_HINT, Settings
from evolving_agents.errors import ConfigurationError
from evolving_agents.notify.events import events_for
from evolving_agents.notify.feed import ApprovalFeed, LoopHealth, keep_going
from evolving_agents.notify.outbox import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    OUTBOX_COLLECTION,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Delivery,
    WebhookOutbox,
    body_of,
    sign,
)
from evolving_agents.storage.mongodb_client import MongoDBClient

logger = logging.getLogger(__name__)

# Deliveries one dispatch round attempts before it looks for new events again.
_ROUND_LIMIT = 100


class WebhookSettings(BaseSettings):
    """Where events go and how hard to try; every field has an ``EAT_WEBHOOK_*`` variable."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    url: str | None = Field(default=None, validation_alias="EAT_WEBHOOK_URL")
    secret: str | None = Field(default=None, validation_alias="EAT_WEBHOOK_SECRET")
    timeout_seconds: float = Field(default=5.0, gt=0, validation_alias="EAT_WEBHOOK_TIMEOUT")
    max_attempts: int = Field(default=10, ge=1, validation_alias="EAT_WEBHOOK_MAX_ATTEMPTS")
    backoff_seconds: float = Field(default=2.0, gt=0, validation_alias="EAT_WEBHOOK_BACKOFF")
    max_backoff_seconds: float = Field(
        default=3600.0, gt=0, validation_alias="EAT_WEBHOOK_MAX_BACKOFF"
    )
    poll_interval: float = Field(default=1.0, gt=0, validation_alias="EAT_WEBHOOK_POLL_INTERVAL")
    lease_seconds: float = Field(default=60.0, gt=0, validation_alias="EAT_WEBHOOK_LEASE")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"EAT_WEBHOOK_URL must be an http(s) URL, got {value!r}")
        return value or None

    def backoff(self, attempts: int) -> timedelta:
        """Wait before attempt ``attempts + 1``: doubling from ``backoff_seconds``, capped."""
        seconds = self.backoff_seconds * 2 ** max(attempts - 1, 0)
        return timedelta(seconds=min(seconds, self.max_backoff_seconds))


class WebhookService:
    """Turns approval transitions into signed POSTs to ``settings.url``, at least once.

    Two loops share one outbox: the *writer* follows the approvals collection (change stream
    or polling, see ``ApprovalFeed``) and enqueues each record's events; the *dispatcher*
    claims due deliveries and sends them, rescheduling failures with exponential backoff up to
    ``max_attempts``, after which a delivery is ``dead`` and kept for inspection. Several
    services (an inbox and three workers, say) may run against one database.
    """

    def __init__(
        self,
        client: MongoDBClient,
        settings: WebhookSettings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], datetime] = utcnow,
        approvals_collection: str = COLLECTION_NAME,
    ) -> None:
        self.settings = WebhookSettings() if settings is None else settings
        if self.settings.url is None:
            raise ConfigurationError("webhooks need EAT_WEBHOOK_URL (an http(s) URL)")
        self.url: str = self.settings.url
        if not self.settings.secret:
            if Settings().is_production:
                # A receiver cannot tell an unsigned event from a forged one.
                raise ConfigurationError(
                    "EAT_WEBHOOK_SECRET is required when EAT_ENV=production: without it "
                    "webhook deliveries are unsigned and anyone who can reach the receiver can "
                    "forge events; set it to a random value (e.g. "
                    f"{NEW_SECRET_HINT}) and check each delivery with verify_signature"
                )
            logger.warning("EAT_WEBHOOK_SECRET is not set: webhook deliveries are unsigned")
        self.outbox = WebhookOutbox(client.collection(OUTBOX_COLLECTION))
        self.feed = ApprovalFeed(
            client.collection(approvals_collection), poll_interval=self.settings.poll_interval
        )
        self._clock = clock
        self._http = httpx.AsyncClient(timeout=self.settings.timeout_seconds, transport=transport)
        self._enqueued = asyncio.Event()
        self.dispatch_health = LoopHealth("webhooks: dispatching")
        self._unsendable: set[str] = set()

    @property
    def health(self) -> list[LoopHealth]:
        """Its two loops (following approvals, dispatching), for ``/healthz``."""
        return [self.feed.health, self.dispatch_health]

    async def aclose(self) -> None:
        await self._http.aclose()

    async def run_until_cancelled(self) -> None:
        """Follow and dispatch until the task is cancelled; then close the HTTP client."""
        try:
            try:
                await self.outbox.ensure_indexes()
            except PyMongoError as exc:
                # The index only speeds claims up; a database that is down now must not end
                # the service before its loops (which wait it out) have started.
                logger.warning("webhooks: could not create the outbox index yet: %s", exc)
            # Each loop survives what fails in it (keep_going); neither can end the other.
            first = self.settings.poll_interval
            async with asyncio.TaskGroup() as group:
                group.create_task(
                    keep_going(
                        "webhooks: following approvals",
                        self._follow,
                        self.feed.health,
                        first_delay=first,
                    )
                )
                group.create_task(
                    keep_going(
                        "webhooks: dispatching",
                        self._dispatch_forever,
                        self.dispatch_health,
                        first_delay=first,
                    )
                )
        finally:
            await self.aclose()

    # -- the writer -------------------------------------------------------------------------

    async def record(self, records: Sequence[PendingApproval]) -> int:
        """Enqueue every event these records hold; returns how many were new.

        An event that cannot become a delivery (a final output BSON or JSON cannot hold) is
        skipped and logged once; the other events go out.
        """
        now = self._clock()
        added = 0
        for record in records:
            for event in events_for(record):
                try:
                    if await self.outbox.enqueue(event, url=self.url, now=now):
                        added += 1
                except (ValueError, TypeError, BSONError) as exc:
                    if event.id not in self._unsendable:
                        self._unsendable.add(event.id)
                        logger.error("webhook event %s cannot be enqueued: %s", event.id, exc)
        if added:
            self._enqueued.set()
        return added

    async def _follow(self) -> None:
        since = await self.outbox.checkpoint() or self._clock()
        async for batch in self.feed.changes(since):
            await self.record(batch)
            await self.outbox.save_checkpoint(max(record.updated_at for record in batch))

    async def _dispatch_round(self) -> int:
        attempted = await self.dispatch_due()
        self.dispatch_health.succeeded()
        return attempted

    # -- the dispatcher ---------------------------------------------------------------------

    async def dispatch_due(self) -> int:
        """Attempt every delivery due now, once each; returns how many were attempted."""
        attempted = 0
        lease = timedelta(seconds=self.settings.lease_seconds)
        while attempted < _ROUND_LIMIT:
            delivery = await self.outbox.claim_due(self._clock(), lease=lease)
            if delivery is None:
                break
            attempted += 1
            await self._attempt(delivery)
        return attempted

    async def _dispatch_forever(self) -> None:
        while True:
            self._enqueued.clear()
            if await self._dispatch_round():
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._enqueued.wait(), self.settings.poll_interval)

    async def _attempt(self, delivery: Delivery) -> None:
        try:
            error = await self._send(delivery)
        except (ValueError, TypeError, httpx.InvalidURL) as exc:
            # Its body, id, type or URL cannot go into a request: no retry would change that.
            error = f"cannot be sent: {type(exc).__name__}: {exc}"
            await self.outbox.mark_failed(delivery.id, error, retry_at=None)
            logger.error("webhook %s given up: %s", delivery.id, error)
            return
        now = self._clock()
        if error is None:
            await self.outbox.mark_delivered(delivery.id, now)
            logger.debug("webhook %s delivered (attempt %d)", delivery.id, delivery.attempts)
            return
        retry_at = None
        if delivery.attempts < self.settings.max_attempts:
            retry_at = now + self.settings.backoff(delivery.attempts)
        await self.outbox.mark_failed(delivery.id, error, retry_at=retry_at)
        if retry_at is None:
            logger.error(
                "webhook %s gave up after %d attempts: %s", delivery.id, delivery.attempts, error
            )
        else:
            logger.warning(
                "webhook %s attempt %d failed (%s); next at %s",
                delivery.id,
                delivery.attempts,
                error,
                retry_at.isoformat(),
            )

    async def _send(self, delivery: Delivery) -> str | None:
        """POST the delivery; None when the receiver took it (2xx), else why it did not."""
        body = body_of(delivery.event)
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "evolving-agents-webhooks",
            EVENT_HEADER: str(delivery.event.get("type", "")),
            DELIVERY_HEADER: delivery.id,
            TIMESTAMP_HEADER: timestamp,
        }
        if self.settings.secret:
            headers[SIGNATURE_HEADER] = sign(self.settings.secret, timestamp, body)
        try:
            response = await self._http.post(delivery.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if response.is_success:
            return None
        return f"HTTP {response.status_code}"


def start_webhooks_from_env(
    client: MongoDBClient, settings: WebhookSettings | None = None
) -> asyncio.Task[None] | None:
    """Start the service as a background task of the running loop when EAT_WEBHOOK_URL is set.

    The caller cancels the task on shutdown. Returns None when webhooks are not configured.
    """
    settings = WebhookSettings() if settings is None else settings
    if settings.url is None:
        return None
    service = WebhookService(client, settings)
    task = asyncio.create_task(service.run_until_cancelled(), name="eat-webhooks")
    task.add_done_callback(_log_crash)
    return task


def _log_crash(task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        return
    error = task.exception()
    if error is not None:
        logger.error("the webhook service stopped: %r", error)
