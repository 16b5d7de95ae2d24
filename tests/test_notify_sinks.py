"""The notify seam: a second channel, written here against ``EventSink``, beside the webhook.

The recording sink below is a channel of our own making (an in-memory "chat" that refuses its
first attempts), not a mock of the package: the outbox must give it the same events as the
signed webhook, each exactly once, retried on the same backoff. The webhook side is the real
HTTP receiver of ``tests/test_webhooks.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from evolving_agents import MongoDBClient, OpenAIAgentsProvider
from evolving_agents.config import Settings, WebhookSettings
from evolving_agents.errors import ConfigurationError
from evolving_agents.notify import (
    DELIVERY_HEADER,
    Delivery,
    DeliveryFailed,
    DeliveryStatus,
    EventSink,
    WebhookService,
    WebhookSink,
    configured_sinks,
    delivery_id,
)
from evolving_agents.notify.events import WebhookEventType
from tests.test_webhooks import SECRET, Clock, Receiver, _pause, _settings, provider, receiver

__all__ = ["provider", "receiver"]  # fixtures, imported for this module's tests


@dataclass
class ChatSink:
    """A channel that keeps what it was sent; ``refuse`` answers come first, one per attempt.

    ``"busy"`` is a passing failure, ``"crash"`` a bug in the channel's own code, ``"never"``
    a message the channel can never take.
    """

    name: str = "chat"
    destination: str = "chat://ops-room"
    refuse: list[str] = field(default_factory=list)
    attempts: list[str] = field(default_factory=list)
    taken: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    closed: bool = False

    async def deliver(self, delivery: Delivery) -> None:
        self.attempts.append(delivery.id)
        answer = self.refuse.pop(0) if self.refuse else "ok"
        if answer == "busy":
            raise DeliveryFailed("chat busy, try later")
        if answer == "crash":
            raise RuntimeError("chat client bug")
        if answer == "never":
            raise DeliveryFailed("message too long for the room", permanent=True)
        event = delivery.approval_event()
        self.taken.append(delivery.id)
        self.types.append(event.type.value)

    async def aclose(self) -> None:
        self.closed = True


async def _dispatch_until_quiet(service: WebhookService, clock: Clock, rounds: int = 8) -> None:
    for _ in range(rounds):
        await service.dispatch_due()
        clock.advance(3600)


async def test_a_second_sink_gets_every_event_once_through_the_outbox_with_retries(
    provider: OpenAIAgentsProvider, mongo: MongoDBClient, receiver: Receiver
) -> None:
    receiver.script = [500]
    chat = ChatSink(refuse=["busy", "crash"])
    assert isinstance(chat, EventSink)
    clock = Clock()
    settings = _settings(receiver.url)
    webhook = WebhookSink(receiver.url, secret=SECRET, timeout_seconds=2.0)
    service = WebhookService(mongo, settings, sinks=[webhook, chat], clock=clock)
    run = await _pause(provider)
    approval_id = str(run.approval_id)
    try:
        await provider.store.decide(approval_id, verdict="approved", reviewer="alice")
        await provider.resume_agent(approval_id)
        record = await provider.store.get(approval_id)
        assert await service.record([record]) == 6, "three events, once per sink"
        assert await service.record([record]) == 0, "reading the history again adds nothing"

        await service.dispatch_due()
        created = f"{approval_id}:{WebhookEventType.CREATED.value}"
        first = await service.outbox.get(delivery_id(created, "chat"))
        assert first is not None and first.status is DeliveryStatus.PENDING
        assert first.last_error == "chat busy, try later"
        assert first.next_attempt_at - clock.now == timedelta(seconds=10), "the same backoff"
        await _dispatch_until_quiet(service, clock)
    finally:
        await service.aclose()

    wanted = ["approval.created", "approval.decided", "approval.completed"]
    assert sorted(chat.types) == sorted(wanted)
    assert len(chat.taken) == len(set(chat.taken)) == 3, "each event exactly once"
    assert len(chat.attempts) == 5, "two refused attempts, retried"
    assert sorted(map(str, receiver.types())) == sorted(wanted)
    assert receiver.answered.count(500) == 1
    # The same event ids on both channels: the chat's keys are the webhook's plus its name.
    webhook_ids = {item.headers[DELIVERY_HEADER] for item in receiver.received}
    assert {f"{event_id}@chat" for event_id in webhook_ids} == set(chat.taken)
    deliveries = await service.outbox.deliveries()
    assert {d.status for d in deliveries} == {DeliveryStatus.DELIVERED}
    assert sorted({(d.sink, d.url) for d in deliveries}) == [
        ("chat", "chat://ops-room"),
        ("webhook", receiver.url),
    ]
    assert chat.closed


async def test_a_service_without_a_sink_leaves_that_sinks_deliveries_to_others(
    provider: OpenAIAgentsProvider, mongo: MongoDBClient, receiver: Receiver
) -> None:
    chat = ChatSink(refuse=["never"])
    clock = Clock()
    both = WebhookService(
        mongo,
        _settings(receiver.url),
        sinks=[WebhookSink(receiver.url, secret=SECRET), chat],
        clock=clock,
    )
    webhook_only = WebhookService(mongo, _settings(receiver.url), clock=clock)
    run = await _pause(provider)
    try:
        await both.record([await provider.store.get(str(run.approval_id))])
        assert await webhook_only.dispatch_due() == 1, "only the webhook delivery is its own"
        assert await both.dispatch_due() == 1, "the chat delivery waited for a chat sink"
        assert await both.dispatch_due() == 0
    finally:
        await both.aclose()
        await webhook_only.aclose()

    assert len(receiver.received) == 1, "the webhook event went out once, by one service"
    given_up = await both.outbox.get(f"{run.approval_id}:approval.created@chat")
    assert given_up is not None and given_up.status is DeliveryStatus.DEAD
    assert given_up.attempts == 1
    assert given_up.last_error == "cannot be sent: message too long for the room"
    assert chat.taken == []


def test_the_configuration_switches_the_webhook_sink_on() -> None:
    assert configured_sinks(Settings(webhooks=WebhookSettings())) == []
    hooks = WebhookSettings(url="https://hooks.example/eat", secret=SECRET)
    [sink] = configured_sinks(Settings(webhooks=hooks))
    assert isinstance(sink, WebhookSink) and isinstance(sink, EventSink)
    assert (sink.name, sink.destination) == ("webhook", "https://hooks.example/eat")


async def test_two_sinks_with_one_name_are_refused(mongo: MongoDBClient) -> None:
    with pytest.raises(ConfigurationError, match="two notification sinks are named 'chat'"):
        WebhookService(mongo, sinks=[ChatSink(), ChatSink()])
