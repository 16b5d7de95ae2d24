"""Webhooks: events from the audit trail, an idempotent outbox, signed delivery, backoff.

A real HTTP receiver runs on 127.0.0.1 in a thread; the store runs on memory:// and on the wire
server (where the service follows a real change stream).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from evolving_agents import MongoDBClient, OpenAIAgentsProvider
from evolving_agents.approvals.models import (
    AgentRunResult,
    CallOutcome,
    CallOutcomeStatus,
    utcnow,
)
from evolving_agents.notify import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    DeliveryStatus,
    WebhookService,
    WebhookSettings,
    events_for,
    verify_signature,
)
from tests.apps.review_app import AGENT_NAME, build_registry
from tests.test_cli_approvals import finish_with_outcomes

SECRET = "whsec-test-0123456789"


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, object]:
        parsed: dict[str, object] = json.loads(self.body)
        return parsed


@dataclass
class Receiver:
    """Answers each POST with the next status of ``script`` (200 once it runs out)."""

    url: str = ""
    script: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    answered: list[int] = field(default_factory=list)

    def types(self) -> list[object]:
        return [item.event["type"] for item in self.received if item.headers["status"] == "200"]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                status = state.script.pop(0) if state.script else 200
                headers = {key: value for key, value in self.headers.items()}
                headers["status"] = str(status)
                state.received.append(Received(headers, body))
                state.answered.append(status)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _settings(url: str, **overrides: object) -> WebhookSettings:
    values: dict[str, object] = {
        "url": url,
        "secret": SECRET,
        "backoff_seconds": 10.0,
        "max_attempts": 4,
        "timeout_seconds": 2.0,
        **overrides,
    }
    return WebhookSettings.model_validate(values)


async def _pause(provider: OpenAIAgentsProvider, request: str = "deploy it") -> AgentRunResult:
    run = await provider.execute_agent(AGENT_NAME, request, actor="release-bot")
    assert run.approval_id is not None
    return run


@pytest.fixture
def provider(mongo: MongoDBClient) -> OpenAIAgentsProvider:
    return OpenAIAgentsProvider(mongodb_client=mongo, registry=build_registry())


async def test_events_follow_the_audit_trail_with_stable_ids(
    provider: OpenAIAgentsProvider,
) -> None:
    rejected = await _pause(provider)
    cancelled = await _pause(provider)
    expired = await _pause(provider)
    store = provider.store
    approval_id = str(rejected.approval_id)
    await store.decide(approval_id, verdict="rejected", reviewer="alice", message="no ticket")
    await provider.resume_agent(approval_id)
    await store.cancel(str(cancelled.approval_id), by="alice")
    await store.decide(
        str(expired.approval_id), verdict="rejected", reviewer="eat", reviewer_kind="timeout"
    )

    done = events_for(await store.get(approval_id))
    assert [event.type.value for event in done] == [
        "approval.created",
        "approval.decided",
        "approval.completed",
    ]
    assert [event.id for event in done] == [f"{approval_id}:{event.type.value}" for event in done]
    assert done[1].tool_calls[0].message == "no ticket"
    assert "no ticket" in str(done[2].final_output)
    assert done[0].tool_calls[0].verdict is None, "a created event does not leak later decisions"

    assert [e.type.value for e in events_for(await store.get(str(cancelled.approval_id)))] == [
        "approval.created",
        "approval.cancelled",
    ]
    assert [e.type.value for e in events_for(await store.get(str(expired.approval_id)))] == [
        "approval.created",
        "approval.expired",
        "approval.decided",
    ]


async def test_a_run_whose_approved_call_raised_ends_with_a_tool_error_event(
    provider: OpenAIAgentsProvider,
) -> None:
    store = provider.store
    broken = await _pause(provider)
    fine = await _pause(provider)
    call = broken.pending_tool_calls[0].call_id
    for run in (broken, fine):
        await store.decide(str(run.approval_id), verdict="approved", reviewer="alice")
    failed = CallOutcome(status=CallOutcomeStatus.TOOL_ERROR, error="RuntimeError: cluster down")
    record = await finish_with_outcomes(store, str(broken.approval_id), {call: failed})
    ran = CallOutcome(status=CallOutcomeStatus.EXECUTED, output="deployed")
    clean = await finish_with_outcomes(
        store, str(fine.approval_id), {fine.pending_tool_calls[0].call_id: ran}
    )

    events = events_for(record)
    assert [event.type.value for event in events] == [
        "approval.created",
        "approval.decided",
        "approval.completed",
        "approval.tool_error",
    ]
    decided, completed, tool_error = events[1:]
    assert decided.tool_calls[0].outcome is None, "the decided event stays as it was sent"
    assert completed.tool_errors == 1 and completed.tool_calls[0].outcome == failed
    assert tool_error.id == f"{broken.approval_id}:approval.tool_error"
    assert tool_error.at == completed.at and tool_error.status.value == "completed"
    body = tool_error.model_dump(mode="json")
    assert body["tool_errors"] == 1
    assert body["tool_calls"][0]["outcome"] == {
        "status": "tool_error",
        "output": None,
        "error": "RuntimeError: cluster down",
    }

    clean_events = events_for(clean)
    assert [event.type.value for event in clean_events][-1] == "approval.completed"
    assert clean_events[-1].tool_errors == 0
    assert clean_events[-1].tool_calls[0].outcome == ran


async def test_reading_the_same_history_twice_from_two_services_enqueues_each_event_once(
    provider: OpenAIAgentsProvider, mongo: MongoDBClient, receiver: Receiver
) -> None:
    run = await _pause(provider)
    await provider.store.decide(str(run.approval_id), verdict="approved", reviewer="alice")
    record = await provider.store.get(str(run.approval_id))
    first = WebhookService(mongo, _settings(receiver.url))
    second = WebhookService(mongo, _settings(receiver.url))
    try:
        assert await first.record([record]) == 2
        assert await first.record([record]) == 0
        assert await second.record([record]) == 0
        deliveries = await first.outbox.deliveries()
        assert sorted(d.id for d in deliveries) == sorted(
            [f"{run.approval_id}:approval.created", f"{run.approval_id}:approval.decided"]
        )
    finally:
        await first.aclose()
        await second.aclose()


async def test_a_delivery_is_signed_over_timestamp_and_body_and_verifies_at_the_receiver(
    provider: OpenAIAgentsProvider, mongo: MongoDBClient, receiver: Receiver
) -> None:
    run = await _pause(provider)
    service = WebhookService(mongo, _settings(receiver.url))
    try:
        await service.record([await provider.store.get(str(run.approval_id))])
        assert await service.dispatch_due() == 1
    finally:
        await service.aclose()

    [got] = receiver.received
    assert got.headers[EVENT_HEADER] == "approval.created"
    assert got.headers[DELIVERY_HEADER] == f"{run.approval_id}:approval.created"
    assert got.headers[SIGNATURE_HEADER].startswith("sha256=")
    timestamp, signature = got.headers[TIMESTAMP_HEADER], got.headers[SIGNATURE_HEADER]
    assert verify_signature(SECRET, got.body, timestamp, signature)
    assert not verify_signature("another-secret", got.body, timestamp, signature)
    assert not verify_signature(
        SECRET, got.body.replace(b"release", b"r3lease"), timestamp, signature
    )
    assert not verify_signature(SECRET, got.body, str(int(timestamp) + 1), signature)
    assert not verify_signature(
        SECRET, got.body, timestamp, signature, now=float(timestamp) + 3600
    ), "an old capture cannot be replayed"
    assert got.event["approval_id"] == run.approval_id
    assert got.event["tool_calls"] == [
        {
            "call_id": run.pending_tool_calls[0].call_id,
            "tool_name": "deploy_service",
            "arguments_sha256": run.pending_tool_calls[0].arguments_sha256,
            "verdict": None,
            "reviewer": None,
            "reviewer_kind": None,
            "message": None,
            "outcome": None,
        }
    ]
    assert got.event["tool_errors"] == 0
    delivery = await service.outbox.get(f"{run.approval_id}:approval.created")
    assert delivery is not None and delivery.status is DeliveryStatus.DELIVERED


async def test_a_failing_receiver_is_retried_with_exponential_backoff_until_it_answers(
    provider: OpenAIAgentsProvider, mongo: MongoDBClient, receiver: Receiver
) -> None:
    receiver.script = [500, 503]
    clock = Clock()
    run = await _pause(provider)
    service = WebhookService(mongo, _settings(receiver.url), clock=clock)
    event_id = f"{run.approval_id}:approval.created"
    try:
        await service.record([await provider.store.get(str(run.approval_id))])
        attempts_at = []
        for wait in (0, 0, 10, 0, 20):
            clock.advance(wait)
            attempted = await service.dispatch_due()
            delivery = await service.outbox.get(event_id)
            assert delivery is not None
            attempts_at.append((attempted, delivery.attempts, delivery.status.value))
            if attempted and delivery.status is DeliveryStatus.PENDING:
                waited = delivery.next_attempt_at - clock.now
                assert waited == timedelta(seconds=10 * 2 ** (delivery.attempts - 1))
                assert delivery.last_error == f"HTTP {receiver.answered[-1]}"
    finally:
        await service.aclose()

    assert attempts_at == [
        (1, 1, "pending"),  # 500: next try in 10s
        (0, 1, "pending"),  # not due yet
        (1, 2, "pending"),  # 503: next try in 20s
        (0, 2, "pending"),
        (1, 3, "delivered"),
    ]
    assert receiver.answered == [500, 503, 200]
    assert len({item.headers[DELIVERY_HEADER] for item in receiver.received}) == 1


async def test_a_receiver_that_stays_down_ends_dead_after_max_attempts(
    provider: OpenAIAgentsProvider, mongo: MongoDBClient, receiver: Receiver
) -> None:
    clock = Clock()
    run = await _pause(provider)
    # A port nobody listens on: connection refused, every time.
    service = WebhookService(
        mongo, _settings("http://127.0.0.1:9/hooks", max_attempts=3), clock=clock
    )
    try:
        await service.record([await provider.store.get(str(run.approval_id))])
        for _ in range(3):
            assert await service.dispatch_due() == 1
            clock.advance(3600)
        assert await service.dispatch_due() == 0
    finally:
        await service.aclose()
    delivery = await service.outbox.get(f"{run.approval_id}:approval.created")
    assert delivery is not None
    assert delivery.status is DeliveryStatus.DEAD and delivery.attempts == 3
    assert delivery.last_error is not None and "ConnectError" in delivery.last_error


async def test_the_running_service_delivers_a_runs_life_while_the_receiver_recovers(
    provider: OpenAIAgentsProvider, mongo: MongoDBClient, receiver: Receiver
) -> None:
    receiver.script = [500, 500]
    settings = _settings(receiver.url, backoff_seconds=0.05, poll_interval=0.05, max_attempts=10)
    service = WebhookService(mongo, settings)
    task = asyncio.create_task(service.run_until_cancelled())
    try:
        await asyncio.sleep(0.1)
        run = await _pause(provider)
        approval_id = str(run.approval_id)
        await provider.store.decide(approval_id, verdict="approved", reviewer="alice")
        started = asyncio.get_running_loop().time()
        done = await provider.resume_agent(approval_id)
        assert done.status.value == "success"
        assert asyncio.get_running_loop().time() - started < 5, "a down receiver never blocks a run"
        wanted = ["approval.created", "approval.decided", "approval.completed"]
        for _ in range(200):
            if sorted(map(str, receiver.types())) == sorted(wanted):
                break
            await asyncio.sleep(0.05)
        assert sorted(map(str, receiver.types())) == sorted(wanted)
        assert receiver.answered.count(500) == 2
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    checkpoint = await service.outbox.checkpoint()
    assert (
        checkpoint is not None and checkpoint >= (await provider.store.get(approval_id)).updated_at
    )
