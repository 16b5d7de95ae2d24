"""Follow the approvals, fill the outbox, deliver it to every sink: the notify service.

::

    service = WebhookService(client)           # the sinks client.settings switches on
    task = asyncio.create_task(service.run_until_cancelled())  # in a worker or the inbox

    service = WebhookService(client, sinks=[WebhookSink(url), MySlackSink()])   # explicit
    task = start_webhooks_from_env(client)   # the same, or None when no sink is configured

It runs beside whatever owns the event loop (``eat worker``, ``eat inbox``) or alone
(``eat webhooks run``). Nothing in a run waits for it: a receiver that is down only makes
deliveries wait in ``eat_webhook_outbox`` for their next attempt. The channels are
``EventSink`` implementations (``notify/sinks/``); the signed webhook is the first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
from bson.errors import BSONError
from pymongo.errors import PyMongoError

from evolving_agents.approvals.changes import ApprovalChanges
from evolving_agents.approvals.models import PendingApproval, utcnow
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.config import Settings, WebhookSettings
from evolving_agents.errors import ConfigurationError
from evolving_agents.notify.escalation import EscalationScheduler
from evolving_agents.notify.events import events_for
from evolving_agents.notify.feed import ApprovalFeed, LoopHealth, keep_going
from evolving_agents.notify.outbox import OUTBOX_COLLECTION, Delivery, WebhookOutbox
from evolving_agents.notify.routing import NotifyRoutes
from evolving_agents.notify.sinks import (
    DeliveryFailed,
    EventSink,
    ReviewerContacts,
    configured_sinks,
)
from evolving_agents.storage.mongodb_client import MongoDBClient
from evolving_agents.storage.names import APPROVALS

logger = logging.getLogger(__name__)

# Deliveries one dispatch round attempts before it looks for new events again.
_ROUND_LIMIT = 100

__all__ = ["WebhookService", "WebhookSettings", "start_webhooks_from_env"]


class WebhookService:
    """Turns approval transitions into deliveries on every sink, at least once.

    Two loops share one outbox: the *writer* follows the approvals collection (change stream
    or polling, see ``ApprovalFeed``) and enqueues each record's events once per sink; the
    *dispatcher* claims due deliveries of its sinks and hands each to its sink, rescheduling
    failures with exponential backoff up to ``max_attempts``, after which a delivery is
    ``dead`` and kept for inspection. Several services (an inbox and three workers, say) may
    run against one database. When a route of ``EAT_NOTIFY_FILE`` escalates or warns, a third
    loop (``escalation``, an ``EscalationScheduler``) audits overdue and near-deadline records
    once each, and the writer turns those entries into events like any other.

    ``settings`` (the retry policy and the webhook) default to ``client.settings.webhooks``;
    ``sinks`` default to those the client's settings switch on (``configured_sinks``), with
    ``settings`` as their webhook group and ``transport`` for their HTTP clients.
    """

    def __init__(
        self,
        client: MongoDBClient,
        settings: WebhookSettings | None = None,
        *,
        sinks: Sequence[EventSink] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], datetime] = utcnow,
        approvals_collection: str = APPROVALS,
        reviewers: ReviewerContacts | None = None,
    ) -> None:
        configured: Settings = client.settings
        if settings is not None:
            configured = configured.model_copy(update={"webhooks": settings})
        self.settings: WebhookSettings = configured.webhooks
        chosen = (
            configured_sinks(configured, transport=transport, client=client, reviewers=reviewers)
            if sinks is None
            else sinks
        )
        if not chosen:
            raise ConfigurationError("webhooks need EAT_WEBHOOK_URL (an http(s) URL)")
        self.sinks: dict[str, EventSink] = {}
        for sink in chosen:
            if sink.name in self.sinks:
                raise ConfigurationError(f"two notification sinks are named {sink.name!r}")
            self.sinks[sink.name] = sink
        self.url: str = chosen[0].destination
        """The first sink's destination (the webhook URL when it is configured)."""
        self.outbox = WebhookOutbox(client.collection(OUTBOX_COLLECTION))
        # The feed reads approvals through their owner's read-only view, never the collection.
        approvals = ApprovalChanges.on(client, approvals_collection)
        self.feed = ApprovalFeed(approvals, poll_interval=self.settings.poll_interval)
        self._clock = clock
        self._enqueued = asyncio.Event()
        self.dispatch_health = LoopHealth("webhooks: dispatching")
        self._unsendable: set[str] = set()
        self.escalation = _escalation_scheduler(client, configured, approvals_collection, clock)
        """The third loop, when a route escalates or warns (``EAT_NOTIFY_FILE``); else None."""
        self.escalation_health = LoopHealth("notify: escalations and deadline warnings")

    @property
    def health(self) -> list[LoopHealth]:
        """Its loops (following approvals, dispatching, escalating if on), for ``/healthz``."""
        loops = [self.feed.health, self.dispatch_health]
        return loops if self.escalation is None else [*loops, self.escalation_health]

    async def aclose(self) -> None:
        for sink in self.sinks.values():
            await sink.aclose()

    async def run_until_cancelled(self) -> None:
        """Follow and dispatch until the task is cancelled; then close the sinks."""
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
                if self.escalation is not None:
                    escalation = self.escalation
                    group.create_task(
                        keep_going(
                            self.escalation_health.name,
                            lambda: escalation.run_forever(self.escalation_health.succeeded),
                            self.escalation_health,
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
                for sink in self.sinks.values():
                    try:
                        if await self.outbox.enqueue(
                            event, url=sink.destination, now=now, sink=sink.name
                        ):
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
            delivery = await self.outbox.claim_due(self._clock(), lease=lease, sinks=self.sinks)
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
        error = await self._deliver(delivery)
        if error is not None and error.permanent:
            reason = f"cannot be sent: {error.reason}"
            await self.outbox.mark_failed(delivery.id, reason, retry_at=None)
            logger.error("%s delivery %s given up: %s", delivery.sink, delivery.id, reason)
            return
        now = self._clock()
        if error is None:
            await self.outbox.mark_delivered(delivery.id, now)
            logger.debug(
                "%s delivery %s delivered (attempt %d)",
                delivery.sink,
                delivery.id,
                delivery.attempts,
            )
            return
        retry_at = None
        if delivery.attempts < self.settings.max_attempts:
            retry_at = now + self.settings.backoff(delivery.attempts)
        await self.outbox.mark_failed(delivery.id, error.reason, retry_at=retry_at)
        if retry_at is None:
            logger.error(
                "%s delivery %s gave up after %d attempts: %s",
                delivery.sink,
                delivery.id,
                delivery.attempts,
                error.reason,
            )
        else:
            logger.warning(
                "%s delivery %s attempt %d failed (%s); next at %s",
                delivery.sink,
                delivery.id,
                delivery.attempts,
                error.reason,
                retry_at.isoformat(),
            )

    async def _deliver(self, delivery: Delivery) -> DeliveryFailed | None:
        """Hand the delivery to its sink: None when it was taken, else why not."""
        sink = self.sinks[delivery.sink]
        try:
            await sink.deliver(delivery)
        except DeliveryFailed as failed:
            return failed
        except Exception as exc:
            # Boundary: a sink is a channel's own code (Slack, email, yours). What it did not
            # name is one failed attempt of this delivery, retried like any other, and must
            # not stop the deliveries of every other sink.
            logger.exception("%s sink failed on delivery %s", delivery.sink, delivery.id)
            return DeliveryFailed(f"{type(exc).__name__}: {exc}")
        return None


def _escalation_scheduler(
    client: MongoDBClient,
    settings: Settings,
    approvals_collection: str,
    clock: Callable[[], datetime],
) -> EscalationScheduler | None:
    """The scheduler when a route escalates or warns; it writes through the approval store
    (built here, only then: it signs the audit entries with the store's key)."""
    routes = NotifyRoutes.from_settings(settings.notify)
    if not routes.escalates:
        return None
    store = PendingApprovalStore(client, collection_name=approvals_collection)
    return EscalationScheduler(
        store, routes, interval=settings.notify.escalation_interval, clock=clock
    )


def start_webhooks_from_env(
    client: MongoDBClient,
    settings: Settings | WebhookSettings | None = None,
    *,
    reviewers: ReviewerContacts | None = None,
) -> asyncio.Task[None] | None:
    """Start the service as a background task of the running loop when a sink is configured.

    An entry point: without ``settings`` it reads the environment (``Settings()``) once, here;
    a ``WebhookSettings`` overrides only the webhook group of ``client.settings``.
    ``reviewers`` (a ``ReviewerDirectory``) lets Slack and email escalations reach the holders
    of a role. The caller cancels the task on shutdown. Returns None when no sink is
    configured.
    """
    if settings is None:
        settings = Settings()
    if isinstance(settings, WebhookSettings):
        settings = client.settings.model_copy(update={"webhooks": settings})
    sinks = configured_sinks(settings, client=client, reviewers=reviewers)
    if not sinks:
        return None
    service = WebhookService(client, settings.webhooks, sinks=sinks)
    task = asyncio.create_task(service.run_until_cancelled(), name="eat-webhooks")
    task.add_done_callback(_log_crash)
    return task


def _log_crash(task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        return
    error = task.exception()
    if error is not None:
        logger.error("the webhook service stopped: %r", error)
