"""The ``eat_webhook_outbox`` collection: one document per event and sink, and the signature.

::

    outbox = WebhookOutbox(client.collection(OUTBOX_COLLECTION))
    await outbox.enqueue(event, url=..., sink="webhook")  # idempotent on (event.id, sink)
    delivery = await outbox.claim_due(now, lease=timedelta(seconds=30))
    await outbox.mark_delivered(delivery.id, now)  # or mark_failed(..., retry_at=...)

    # on the receiving side:
    verify_signature(secret, raw_body, request.headers["X-EAT-Timestamp"],
                     request.headers["X-EAT-Signature"])

Layout: ``_id`` = the delivery id (see ``delivery_id``: the event id ``<approval id>:<event
type>`` for the webhook sink, ``<event id>@<sink>`` for any other), ``kind`` = ``delivery``,
``sink`` (the ``EventSink`` name; absent on deliveries written before sinks existed, which
are the webhook's), ``event`` (the JSON body), ``url`` (the sink's destination when the event
was enqueued), ``status`` (pending | sending | delivered | dead), ``attempts``,
``next_attempt_at``, ``lease_until``, ``last_error``, ``created_at``, ``delivered_at``. One
``kind = checkpoint`` document remembers how far the feed has read.

Concurrency: enqueueing is an upsert keyed on the delivery id, so any number of processes
reading the same history insert each event once per sink. A delivery is claimed with one
conditional update (pending and due, or sending with an expired lease), so two dispatchers
never send the same delivery at the same time; a dispatcher that dies mid-send loses its claim
when the lease ends. A dispatcher claims only the deliveries of the sinks it has, so processes
configured with different sinks share one outbox. Delivery is at least once: receivers drop
repeats by the ``X-EAT-Delivery`` id.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Collection
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pymongo import ASCENDING, ReturnDocument

from evolving_agents.approvals.documents import problems_of
from evolving_agents.approvals.models import UtcDatetime
from evolving_agents.notify.events import WebhookEvent
from evolving_agents.storage.names import WEBHOOK_OUTBOX

DEFAULT_SINK = "webhook"
"""The first sink's name; its deliveries keep the bare event id they had before sinks."""
OUTBOX_COLLECTION = WEBHOOK_OUTBOX  # re-exported: defined once, in storage/names.py
SIGNATURE_HEADER = "X-EAT-Signature"
TIMESTAMP_HEADER = "X-EAT-Timestamp"
EVENT_HEADER = "X-EAT-Event"
DELIVERY_HEADER = "X-EAT-Delivery"
_CHECKPOINT_ID = "checkpoint:approval-feed"
# Unreadable deliveries one claim gives up on before it returns (the next claim goes on).
_UNREADABLE_PER_CLAIM = 16

logger = logging.getLogger(__name__)


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"
    DEAD = "dead"


class Delivery(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    id: str = Field(alias="_id")
    sink: str = DEFAULT_SINK
    event: dict[str, Any]
    url: str
    status: DeliveryStatus
    attempts: int = 0
    next_attempt_at: UtcDatetime
    lease_until: UtcDatetime | None = None
    last_error: str | None = None
    created_at: UtcDatetime
    delivered_at: UtcDatetime | None = None

    def approval_event(self) -> WebhookEvent:
        """The stored body as the typed event (raises ``ValidationError`` if it is not one)."""
        return WebhookEvent.model_validate(self.event)


def delivery_id(event_id: str, sink: str = DEFAULT_SINK) -> str:
    """The outbox key of one event for one sink."""
    return event_id if sink == DEFAULT_SINK else f"{event_id}@{sink}"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 over ``<timestamp>.<raw body>``.

    The timestamp is inside the MAC so a captured request cannot be replayed later with a
    fresh ``X-EAT-Timestamp``.
    """
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, "sha256")
    return f"sha256={mac.hexdigest()}"


def verify_signature(
    secret: str,
    body: bytes,
    timestamp: str,
    signature: str,
    *,
    tolerance_seconds: float = 300,
    now: float | None = None,
) -> bool:
    """What a receiver runs: the MAC matches and the timestamp is recent.

    Any header a sender could not have produced (not ASCII, not decimal digits, the wrong
    type) is simply a mismatch: False, never an exception.
    """
    if not isinstance(timestamp, str) or not isinstance(signature, str):
        return False
    if not isinstance(body, bytes | bytearray):
        return False
    # ASCII digits only: int() would also take "1_700_000_000", " 17", or Arabic-Indic digits,
    # and a header that is not ASCII cannot be the one we signed.
    if not (0 < len(timestamp) <= _MAX_TIMESTAMP_DIGITS and _ascii_digits(timestamp)):
        return False
    if not signature.isascii():
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance_seconds:
        return False
    expected = sign(secret, timestamp, bytes(body)).encode("ascii")
    return hmac.compare_digest(expected, signature.encode("ascii"))


_MAX_TIMESTAMP_DIGITS = 12


def _ascii_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def body_of(event: dict[str, Any]) -> bytes:
    """The exact bytes sent (and signed): compact JSON, keys sorted."""
    return json.dumps(event, sort_keys=True, separators=(",", ":")).encode("utf-8")


class WebhookOutbox:
    """Deliveries waiting, being sent, sent, or given up on; see the module docstring."""

    def __init__(self, collection: Any) -> None:
        self._collection = collection
        self._indexes_ready = False

    @property
    def collection(self) -> Any:
        return self._collection

    async def ensure_indexes(self) -> None:
        if self._indexes_ready:
            return
        await self._collection.create_index(
            [("status", ASCENDING), ("next_attempt_at", ASCENDING)], name="due"
        )
        self._indexes_ready = True

    async def enqueue(
        self, event: WebhookEvent, *, url: str, now: datetime, sink: str = DEFAULT_SINK
    ) -> bool:
        """Add the event for ``sink`` unless it is already there; True when this call added it."""
        document = {
            "kind": "delivery",
            "sink": sink,
            "event": event.model_dump(mode="json"),
            "url": url,
            "status": DeliveryStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "lease_until": None,
            "last_error": None,
            "created_at": now,
            "delivered_at": None,
        }
        result = await self._collection.update_one(
            {"_id": delivery_id(event.id, sink)}, {"$setOnInsert": document}, upsert=True
        )
        return result.upserted_id is not None

    async def claim_due(
        self, now: datetime, *, lease: timedelta, sinks: Collection[str] = (DEFAULT_SINK,)
    ) -> Delivery | None:
        """Take the delivery due first among those for ``sinks``, or None; its ``attempts``
        already counts this one.

        A claimed document that does not parse as a delivery is given up on (``dead``, with
        why in ``last_error``) and the next one is taken: it can never be sent.
        """
        names: list[str | None] = [*sorted(sinks)]
        if DEFAULT_SINK in sinks:
            names.append(None)  # matches a missing ``sink``: written before sinks existed
        for _ in range(_UNREADABLE_PER_CLAIM):
            document = await self._collection.find_one_and_update(
                {
                    "kind": "delivery",
                    "sink": {"$in": names},
                    "$or": [
                        {"status": DeliveryStatus.PENDING.value, "next_attempt_at": {"$lte": now}},
                        {"status": DeliveryStatus.SENDING.value, "lease_until": {"$lt": now}},
                    ],
                },
                {
                    "$set": {"status": DeliveryStatus.SENDING.value, "lease_until": now + lease},
                    "$inc": {"attempts": 1},
                },
                sort=[("next_attempt_at", ASCENDING)],
                return_document=ReturnDocument.AFTER,
            )
            if document is None:
                return None
            try:
                return Delivery.model_validate(document)
            except ValidationError as exc:
                await self._give_up_unreadable(document, exc)
        return None

    async def _give_up_unreadable(self, document: dict[str, Any], exc: ValidationError) -> None:
        error = "unreadable delivery: " + "; ".join(problems_of(exc))
        logger.error("webhook outbox: gave up delivery %s: %s", document.get("_id"), error)
        await self._collection.update_one(
            {"_id": document["_id"]},
            {
                "$set": {
                    "status": DeliveryStatus.DEAD.value,
                    "lease_until": None,
                    "last_error": error,
                }
            },
        )

    async def mark_delivered(self, delivery_id: str, now: datetime) -> None:
        await self._collection.update_one(
            {"_id": delivery_id, "status": DeliveryStatus.SENDING.value},
            {
                "$set": {
                    "status": DeliveryStatus.DELIVERED.value,
                    "delivered_at": now,
                    "lease_until": None,
                    "last_error": None,
                }
            },
        )

    async def mark_failed(self, delivery_id: str, error: str, *, retry_at: datetime | None) -> None:
        """Schedule the next attempt at ``retry_at``, or give up (``dead``) when it is None."""
        status = DeliveryStatus.DEAD if retry_at is None else DeliveryStatus.PENDING
        sets: dict[str, Any] = {"status": status.value, "lease_until": None, "last_error": error}
        if retry_at is not None:
            sets["next_attempt_at"] = retry_at
        await self._collection.update_one(
            {"_id": delivery_id, "status": DeliveryStatus.SENDING.value}, {"$set": sets}
        )

    async def get(self, delivery_id: str) -> Delivery | None:
        document = await self._collection.find_one({"_id": delivery_id, "kind": "delivery"})
        return None if document is None else Delivery.model_validate(document)

    async def deliveries(self) -> list[Delivery]:
        """Every delivery that parses, oldest first (the others are logged and left out)."""
        documents = (
            await self._collection.find({"kind": "delivery"})
            .sort([("created_at", ASCENDING), ("_id", ASCENDING)])
            .to_list(None)
        )
        found = []
        for document in documents:
            try:
                found.append(Delivery.model_validate(document))
            except ValidationError as exc:
                logger.warning(
                    "webhook outbox: delivery %s does not parse: %s",
                    document.get("_id"),
                    "; ".join(problems_of(exc)),
                )
        return found

    async def counts(self) -> dict[str, int]:
        counts = {status.value: 0 for status in DeliveryStatus}
        for delivery in await self.deliveries():
            counts[delivery.status.value] += 1
        return counts

    async def checkpoint(self) -> datetime | None:
        document = await self._collection.find_one({"_id": _CHECKPOINT_ID})
        if document is None:
            return None
        try:
            seen: datetime = Checkpoint.model_validate(document).seen_until
        except ValidationError as exc:
            # Start from now rather than never: events of the gap are the price of a bad edit.
            # The bad value goes, or ``$max`` would compare every later save with it.
            logger.error(
                "webhook outbox: the feed checkpoint does not parse (%s); following from now",
                "; ".join(problems_of(exc)),
            )
            await self._collection.delete_one(
                {"_id": _CHECKPOINT_ID, "seen_until": document.get("seen_until")}
            )
            return None
        return seen

    async def save_checkpoint(self, seen_until: datetime) -> None:
        # $max: two feeds in two processes never move the checkpoint backwards.
        await self._collection.update_one(
            {"_id": _CHECKPOINT_ID},
            {"$max": {"seen_until": seen_until}, "$set": {"kind": "checkpoint"}},
            upsert=True,
        )


class Checkpoint(BaseModel):
    model_config = ConfigDict(extra="ignore")

    seen_until: UtcDatetime
