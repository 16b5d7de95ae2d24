"""Escalations and deadline warnings: audited once, then one event per sink, on a short clock.

The clock is injected (no sleeps): the store and the schedulers read it, and ``run_once(now)``
takes one look. Two schedulers on two stores stand for two processes sharing a database. The
sinks are the recording chat of ``tests/test_notify_sinks.py`` and the real email sink with an
``aiosmtpd`` server on loopback.
"""

from __future__ import annotations

import asyncio
import tomllib
import uuid
from pathlib import Path

from evolving_agents.approvals.lifecycle import Notice
from evolving_agents.approvals.models import PendingApproval
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.config import NotifySettings, Settings
from evolving_agents.notify import WebhookService, delivery_id
from evolving_agents.notify.escalation import (
    SCHEDULER_ACTOR,
    DeadlineNotice,
    EscalationNotice,
    EscalationScheduler,
)
from evolving_agents.notify.events import WebhookEventType, events_for
from evolving_agents.notify.routing import NotifyRoutes
from evolving_agents.notify.sinks.email import EmailSink
from evolving_agents.reviewers.directory import ReviewerDirectory
from evolving_agents.storage.mongodb_client import MongoDBClient
from tests.test_email import (
    Mailbox,
    email_settings,
    grant_call,
    memory,
    pending,
    smtp,
    text_and_html,
)
from tests.test_notify_sinks import ChatSink
from tests.test_webhooks import Clock

__all__ = ["memory", "smtp"]  # fixtures, imported for this module's tests

ROUTES = """
[default]
emails = ["oncall@example.com"]
warn_before = "3s"

[[routes]]
tools = ["grant_*"]
emails = ["security@example.com"]
escalate_after = "5s"
escalate_to = { emails = ["lead@example.com"], role = "security-lead" }
"""

REVIEWERS = ReviewerDirectory.from_data(
    [
        {
            "name": "sam",
            "token": "sam-token-0123456789",
            "roles": ["security-lead"],
            "email": "sam@example.com",
        },
        {"name": "ann", "token": "ann-token-0123456789", "roles": ["sre"], "email": "a@x.io"},
    ],
    source="test",
)


def routes() -> NotifyRoutes:
    return NotifyRoutes.from_data(tomllib.loads(ROUTES), source="test routes")


def two_schedulers(
    client: MongoDBClient, clock: Clock, *, timeout: str | None = None
) -> tuple[PendingApprovalStore, EscalationScheduler, EscalationScheduler]:
    """Two processes' schedulers: each on its own store, sharing the database and the clock."""
    stores = [PendingApprovalStore(client, clock=clock, approval_timeout=timeout) for _ in "ab"]
    first, second = (EscalationScheduler(store, routes(), clock=clock) for store in stores)
    return stores[0], first, second


def entries(record: PendingApproval, notice: Notice) -> list[dict[str, object]]:
    return [entry.detail for entry in record.audit if entry.action == notice.value]


async def test_an_undecided_approval_escalates_once_even_with_two_schedulers(
    memory: MongoDBClient, smtp: Mailbox, tmp_path: Path
) -> None:
    clock = Clock()
    store, first, second = two_schedulers(memory, clock)
    record = await store.create(pending("apr_esc", grant_call(), created_at=clock.now))

    clock.advance(4)
    assert await first.run_once() == 0, "not before escalate_after"
    clock.advance(1.5)
    counts = await asyncio.gather(first.run_once(), second.run_once())
    assert sorted(counts) == [0, 1], "one of the two wrote it"
    assert await first.run_once() == 0 and await second.run_once() == 0

    escalated = await store.get(record.id)
    [detail] = entries(escalated, Notice.ESCALATED)
    notice = EscalationNotice.model_validate(detail)
    assert notice.escalate_to.emails == ("lead@example.com",)
    assert notice.escalate_to.role == "security-lead"
    assert notice.after_seconds == 5.0 and notice.route == 0
    entry = next(item for item in escalated.audit if item.action == "escalated")
    assert entry.actor == SCHEDULER_ACTOR and entry.at == clock.now
    assert store.integrity_problems(escalated) == [], "the audit chain stays sealed"

    # Two processes' notifiers read the same history: one delivery per sink, each sent once.
    chat = ChatSink()
    mail = EmailSink.from_settings(
        email_settings(smtp, tmp_path, routes=ROUTES), client=memory, reviewers=REVIEWERS
    )
    assert mail is not None
    services = [WebhookService(memory, sinks=[chat, mail], clock=clock) for _ in "ab"]
    try:
        for service in services:
            await service.record([escalated])
        await asyncio.gather(*(service.dispatch_due() for service in services))
    finally:
        for service in services:
            await service.aclose()

    assert chat.types.count(WebhookEventType.ESCALATED.value) == 1
    event_id = f"{record.id}:{WebhookEventType.ESCALATED.value}"
    assert delivery_id(event_id, "chat") in chat.taken
    escalation_mail = [m for m in smtp.messages if m["X-EAT-Event"] == "approval.escalated"]
    assert len(escalation_mail) == 1
    assert escalation_mail[0]["To"] == "lead@example.com, sam@example.com", (
        "the target's addresses and the role's holders, nobody else"
    )
    assert escalation_mail[0]["Subject"] == "Escalated: grant_okta_admin waiting 5s - ops-agent"
    text, _ = text_and_html(escalation_mail[0])
    assert "https://inbox.example.com/approvals/apr_esc" in text
    created_mail = [m for m in smtp.messages if m["X-EAT-Event"] == "approval.created"]
    assert [m["To"] for m in created_mail] == ["security@example.com"]


async def test_many_schedulers_racing_write_each_notice_once(mongo: MongoDBClient) -> None:
    """On the wire server the schedulers' reads and writes interleave: most read a record
    before any of them wrote its entry, so only the conditional update keeps it to one."""
    clock = Clock()
    stores = [PendingApprovalStore(mongo, clock=clock, approval_timeout="10s") for _ in range(6)]
    schedulers = [EscalationScheduler(store, routes(), clock=clock) for store in stores]
    ids = [f"apr_race{n}" for n in range(5)]
    for approval_id in ids:
        await stores[0].create(pending(approval_id, grant_call(), created_at=clock.now))
    clock.advance(7.5)  # past escalate_after (5s), inside warn_before (3s) of the 10s deadline
    counts = await asyncio.gather(*(scheduler.run_once() for scheduler in schedulers))
    assert sum(counts) == 2 * len(ids), "one escalation and one warning per record"
    for approval_id in ids:
        record = await stores[0].get(approval_id)
        assert len(entries(record, Notice.ESCALATED)) == 1
        assert len(entries(record, Notice.DEADLINE_WARNING)) == 1
        assert stores[0].integrity_problems(record) == []


async def test_no_escalation_when_the_decision_landed_in_time(memory: MongoDBClient) -> None:
    clock = Clock()
    store, first, second = two_schedulers(memory, clock)
    record = await store.create(pending("apr_decided", grant_call(), created_at=clock.now))
    clock.advance(2)
    await store.decide(record.id, verdict="approved", reviewer="alice")
    clock.advance(10)
    assert await first.run_once() == 0 and await second.run_once() == 0
    decided = await store.get(record.id)
    assert entries(decided, Notice.ESCALATED) == []
    assert WebhookEventType.ESCALATED not in [event.type for event in events_for(decided)]

    # Half decided is still waiting: a record with one call left escalates.
    two_calls = pending("apr_half", grant_call(), created_at=clock.now)
    second_call = grant_call().model_copy(update={"call_id": "c2"})
    two_calls = two_calls.model_copy(update={"tool_calls": [*two_calls.tool_calls, second_call]})
    half = await store.create(two_calls)
    await store.decide(half.id, call_id="c1", verdict="approved", reviewer="alice")
    clock.advance(6)
    assert await first.run_once() == 1
    assert len(entries(await store.get(half.id), Notice.ESCALATED)) == 1


async def test_a_deadline_warning_is_recorded_once_before_the_deadline(
    memory: MongoDBClient,
) -> None:
    clock = Clock()
    store, first, second = two_schedulers(memory, clock, timeout="10s")
    call = grant_call().model_copy(update={"tool_name": "lookup"})  # the default: warn 3s
    record = await store.create(pending("apr_warn", call, created_at=clock.now))
    deadline = record.call_deadline(record.tool_calls[0])
    assert deadline is not None

    clock.advance(6)
    assert await first.run_once() == 0, "7s before the deadline: too early"
    clock.advance(1.5)
    counts = await asyncio.gather(first.run_once(), second.run_once())
    assert sorted(counts) == [0, 1]
    clock.advance(1)
    assert await first.run_once() == 0 and await second.run_once() == 0, "once"

    warned = await store.get(record.id)
    [detail] = entries(warned, Notice.DEADLINE_WARNING)
    notice = DeadlineNotice.model_validate(detail)
    assert notice.deadline == deadline and notice.warn_before_seconds == 3.0
    assert notice.tool_name == "lookup" and notice.route is None
    assert detail["deadline"] == deadline.isoformat().replace("+00:00", "Z")
    entry = next(item for item in warned.audit if item.action == "deadline_warning")
    assert entry.call_id == "c1"
    types = [event.type for event in events_for(warned)]
    assert types == [WebhookEventType.CREATED, WebhookEventType.DEADLINE_WARNING]
    assert entries(warned, Notice.ESCALATED) == [], "the default route does not escalate"


async def test_nothing_is_sent_after_the_deadline_passed(memory: MongoDBClient) -> None:
    clock = Clock()
    store, first, _ = two_schedulers(memory, clock, timeout="10s")
    # grant_*: escalates after 5s, warns 3s before; nobody looked in time for either.
    record = await store.create(pending("apr_late", grant_call(), created_at=clock.now))
    clock.advance(11)
    assert await first.run_once() == 0
    expired = await store.get(record.id)
    assert expired.status.value == "decided", "expired as a timeout rejection"
    assert entries(expired, Notice.DEADLINE_WARNING) == []
    assert entries(expired, Notice.ESCALATED) == []


async def test_the_webhook_service_runs_the_scheduler_only_when_a_route_escalates(
    memory: MongoDBClient, tmp_path: Path
) -> None:
    quiet = WebhookService(memory, sinks=[ChatSink()])
    assert quiet.escalation is None and len(quiet.health) == 2
    routes_file = tmp_path / "notify.toml"
    routes_file.write_text(ROUTES, encoding="utf-8")
    settings = Settings(notify=NotifySettings(routes_file=routes_file, escalation_interval=0.05))
    client = MongoDBClient("memory://", memory.db_name, settings=settings)
    clock = Clock()
    service = WebhookService(client, sinks=[ChatSink()], clock=clock)
    assert service.escalation is not None and service.escalation.interval == 0.05
    assert [loop.name for loop in service.health][-1] == service.escalation_health.name

    store = PendingApprovalStore(client, clock=clock)
    record = await store.create(pending("apr_loop", grant_call(), created_at=clock.now))
    clock.advance(6)
    task = asyncio.create_task(service.run_until_cancelled())
    try:
        for _ in range(100):  # at most a second
            if entries(await store.get(record.id), Notice.ESCALATED):
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.15)  # a few more rounds of the loop: still one entry
        assert len(entries(await store.get(record.id), Notice.ESCALATED)) == 1
        assert service.escalation_health.state == "running"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.close()


async def test_sinks_built_from_the_settings_reach_a_roles_holders_only_with_the_directory(
    smtp: Mailbox, tmp_path: Path
) -> None:
    """The path ``eat inbox``, ``eat webhooks run`` and ``start_webhooks_from_env`` take: the
    service builds its sinks from the settings and hands them the reviewers directory."""
    clock = Clock()
    settings = email_settings(smtp, tmp_path, routes=ROUTES)
    client = MongoDBClient("memory://", f"eat_test_{uuid.uuid4().hex[:10]}", settings=settings)
    try:
        store, scheduler, _ = two_schedulers(client, clock)
        record = await store.create(pending("apr_dir", grant_call(), created_at=clock.now))
        clock.advance(6)
        assert await scheduler.run_once() == 1
        escalated = await store.get(record.id)
        for reviewers in (REVIEWERS, None):
            service = WebhookService(client, reviewers=reviewers, clock=clock)
            assert [sink.name for sink in service.sinks.values()] == ["email"]
            try:
                await client.collection("eat_webhook_outbox").delete_many({})
                await service.record([escalated])
                await service.dispatch_due()
            finally:
                await service.aclose()
    finally:
        await client.close()

    sent = [m["To"] for m in smtp.messages if m["X-EAT-Event"] == "approval.escalated"]
    assert sent == ["lead@example.com, sam@example.com", "lead@example.com"], (
        "with the directory the role's holder is mailed too; without it only the route's list"
    )
