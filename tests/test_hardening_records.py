"""Poison records (issue 10, class 4): one malformed document must not stop anything.

An operator's typo in ``status``, a field of the wrong type, a half-migrated document: each is
inserted directly into the collection, behind the app's back, on memory:// and on the wire
server. Then every reader and every loop meets it: lists, the expiry sweep, the worker (in
process and as ``eat worker``), ``eat approvals``, the inbox's pages and live feed, the
webhook service and its outbox. Each must skip it, say which record it is and what does not
parse, count it, and go on; health must say when a background task dies.
"""

# Fixtures are imported from the suites that own them (eat, inbox, the worker's), and pytest
# passes them by name, which ruff reads as redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from pymongo import MongoClient
from starlette.testclient import TestClient

from evolving_agents import MongoDBClient, OpenAIAgentsProvider
from evolving_agents.approvals.models import utcnow
from evolving_agents.approvals.store import COLLECTION_NAME, PendingApprovalStore
from evolving_agents.approvals.worker import ResumeWorker
from evolving_agents.cli.worker import _stats_table
from evolving_agents.errors import UnreadableRecord
from evolving_agents.notify import DeliveryStatus, WebhookService, WebhookSettings
from evolving_agents.notify.events import WebhookEvent, WebhookEventType
from evolving_agents.notify.feed import ApprovalFeed
from evolving_agents.web import create_app
from evolving_agents.web.live import InboxEvents
from tests.apps.review_app import AGENT_NAME as REVIEW_AGENT
from tests.apps.review_app import build_registry as review_registry
from tests.apps.worker_app import build_registry as worker_registry
from tests.apps.worker_app import pause_decided_runs
from tests.test_cli_approvals import Eat, eat  # noqa: F401  (the `eat` fixture)
from tests.test_store import make_record
from tests.test_web_inbox import ALICE, REVIEWERS, SECRET, Inbox, inbox  # noqa: F401
from tests.test_worker import eat_worker, processes, tool_log, worker_env  # noqa: F401

# -- malformed documents, as an operator or a half-finished migration leaves them -------------


def typo_status(approval_id: str, created_at: datetime | None = None) -> dict[str, Any]:
    """A record whose status someone typed by hand: ``aproved``."""
    document = make_record(approval_id, created_at=created_at).to_document()
    document["status"] = "aproved"
    return document


def wrong_type(
    approval_id: str, *, status: str = "pending", overdue: bool = False
) -> dict[str, Any]:
    """A record whose call's digest became a number, optionally past its deadline."""
    document = make_record(approval_id).to_document()
    document["status"] = status
    document["tool_calls"][0]["arguments_sha256"] = 12345
    if overdue:
        document["expires_at"] = utcnow() - timedelta(hours=1)
        document["tool_calls"][0]["expires_at"] = document["expires_at"]
    return document


def half_migrated(approval_id: str) -> dict[str, Any]:
    """A record from before a migration that never finished: no agent, a text sequence."""
    document = make_record(approval_id).to_document()
    del document["agent_name"]
    document["sequence"] = "first"
    return document


def undecidable_decision(approval_id: str) -> dict[str, Any]:
    """A decided record whose verdict no version of the code ever wrote."""
    document = make_record(approval_id).to_document()
    document["status"] = "decided"
    document["tool_calls"][0]["decision"] = {"verdict": "approve", "reviewer": "ops", "at": 1}
    return document


def skipped_logs(caplog: pytest.LogCaptureFixture, approval_id: str) -> int:
    return sum(
        1
        for entry in caplog.records
        if entry.levelno >= logging.ERROR and approval_id in entry.getMessage()
    )


@pytest.fixture
def store(mongo: MongoDBClient) -> PendingApprovalStore:
    return PendingApprovalStore(mongo)


# -- the store's readers -----------------------------------------------------------------------


async def test_a_malformed_record_is_listed_where_it_sits_as_unreadable_and_logged_once(
    store: PendingApprovalStore, caplog: pytest.LogCaptureFixture
) -> None:
    start = utcnow() - timedelta(minutes=5)
    await store.create(make_record("a1", created_at=start))
    await store._collection.insert_one(typo_status("bad", created_at=start + timedelta(seconds=1)))
    await store.create(make_record("a3", created_at=start + timedelta(seconds=2)))

    with caplog.at_level(logging.ERROR):
        page = await store.list()
        again = await store.list()

    assert [record.id for record in page.items] == ["a1", "a3"]
    [entry] = page.unreadable
    assert (entry.id, entry.position) == ("bad", 1)
    assert "status" in entry.problem and "'aproved'" in entry.problem
    assert [record.id for record in again.items] == ["a1", "a3"]
    assert skipped_logs(caplog, "bad") == 1, "logged once, with its id"
    assert store.unreadable_seen.keys() == {"bad"}


async def test_paging_goes_on_past_an_unreadable_record(store: PendingApprovalStore) -> None:
    start = utcnow() - timedelta(minutes=5)
    await store.create(make_record("a1", created_at=start))
    await store._collection.insert_one(typo_status("bad", created_at=start + timedelta(seconds=1)))
    await store.create(make_record("a3", created_at=start + timedelta(seconds=2)))

    seen: list[str] = []
    cursor = None
    for _ in range(5):
        page = await store.list(limit=1, cursor=cursor)
        seen += [record.id for record in page.items] + [entry.id for entry in page.unreadable]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == ["a1", "bad", "a3"]


@pytest.mark.parametrize("newest_first", [False, True])
async def test_paging_reaches_every_record_past_documents_without_a_date_or_a_string_id(
    store: PendingApprovalStore, newest_first: bool
) -> None:
    start = utcnow() - timedelta(minutes=5)
    await store.create(make_record("a1", created_at=start))
    no_date = typo_status("no-date")
    del no_date["created_at"]
    object_id = typo_status("object-id", created_at=start + timedelta(seconds=1))
    del object_id["_id"]  # the driver gives it an ObjectId
    await store._collection.insert_many([no_date, object_id])
    await store.create(make_record("a3", created_at=start + timedelta(seconds=2)))

    readable: list[str] = []
    pages, cursor = 0, None
    while pages < 10:
        page = await store.list(limit=1, cursor=cursor, newest_first=newest_first)
        readable += [record.id for record in page.items]
        pages, cursor = pages + 1, page.next_cursor
        if cursor is None:
            break
    assert cursor is None, "paging ends"
    assert readable == (["a3", "a1"] if newest_first else ["a1", "a3"])


async def test_get_of_an_unreadable_record_names_what_does_not_parse(
    store: PendingApprovalStore,
) -> None:
    await store._collection.insert_one(half_migrated("old"))

    with pytest.raises(UnreadableRecord) as refused:
        await store.get("old")

    assert refused.value.approval_id == "old"
    assert "agent_name: Field required" in str(refused.value)
    assert "sequence" in str(refused.value) and "\n" not in str(refused.value)


async def test_a_runs_history_leaves_out_its_unreadable_records(
    store: PendingApprovalStore,
) -> None:
    await store.create(make_record("a1", run_id="r", sequence=0))
    broken = wrong_type("a2")
    broken["run_id"], broken["sequence"] = "r", 1
    await store._collection.insert_one(broken)

    assert [record.id for record in await store.run_history("r")] == ["a1"]


async def test_the_expiry_sweep_skips_a_malformed_overdue_record_and_expires_the_others(
    store: PendingApprovalStore,
) -> None:
    await store._collection.insert_one(wrong_type("bad", overdue=True))
    late = make_record("late", created_at=utcnow() - timedelta(hours=2))
    await store.create(late.model_copy(update={"expires_at": utcnow() - timedelta(minutes=30)}))

    first = await store.expire_overdue(limit=1)
    second = await store.expire_overdue(limit=1)

    # The bad record is the oldest overdue one: met once, it no longer takes the sweep's place.
    assert first + second == ["late"]
    assert (await store.get("late")).status.value == "decided"
    assert store.unreadable_seen.keys() == {"bad"}


# -- the worker ------------------------------------------------------------------------------


async def test_a_worker_resumes_every_good_run_past_malformed_records_and_counts_them(
    mongo: MongoDBClient, tool_log: Any
) -> None:
    provider = OpenAIAgentsProvider(mongodb_client=mongo, registry=worker_registry())
    good = await pause_decided_runs(provider, 3)
    # One in the expiry sweep's way, one the worker would claim, one with a typo.
    await provider.store._collection.insert_many(
        [
            wrong_type("bad-overdue", overdue=True),
            undecidable_decision("bad-decided"),
            typo_status("bad-typo"),
        ]
    )

    worker = ResumeWorker(provider, concurrency=2, poll_interval=0.05, max_poll_interval=0.2)
    stats = await asyncio.wait_for(worker.run(drain=True), timeout=30)

    assert stats.completed == stats.claimed == 3 and stats.errors == 0
    assert stats.unreadable == 2  # the two it met: the sweep's and the claimable one
    for approval_id in good:
        assert (await provider.store.get(approval_id)).status.value == "completed"
    raw = await provider.store._collection.find_one({"_id": "bad-decided"})
    assert raw["status"] == "decided" and raw["claim"]["worker_id"] is None, "left untouched"


@pytest.mark.wire
async def test_eat_worker_keeps_running_past_a_malformed_record_and_reports_it(
    worker_env: dict[str, str], processes: list[Any]
) -> None:
    async with MongoDBClient() as mongo:
        provider = OpenAIAgentsProvider(mongodb_client=mongo, registry=worker_registry())
        good = await pause_decided_runs(provider, 2)
    with MongoClient(os.environ["MONGODB_URI"]) as plain:
        plain[os.environ["MONGODB_DATABASE_NAME"]][COLLECTION_NAME].insert_one(
            wrong_type("bad-overdue", overdue=True)
        )

    process = eat_worker(
        worker_env, "--app", "tests.apps.worker_app:build_provider", "--drain", "--json"
    )
    processes.append(process)
    out, err = await asyncio.to_thread(process.communicate, timeout=60)

    assert process.returncode == 0, err
    stats = json.loads(out)
    assert (stats["completed"], stats["unreadable"], stats["errors"]) == (2, 1, 0)
    assert "bad-overdue" in err and "Traceback" not in err
    async with MongoDBClient() as mongo:
        store = PendingApprovalStore(mongo)
        assert {(await store.get(approval_id)).status.value for approval_id in good} == {
            "completed"
        }


@pytest.mark.wire
async def test_a_worker_whose_change_stream_task_dies_says_so_and_polls_on(
    wire_uri: str, monkeypatch: pytest.MonkeyPatch, tool_log: Any
) -> None:
    async def crashing_watch(self: ResumeWorker, stream: Any) -> None:
        raise RuntimeError("the stream handler crashed")

    monkeypatch.setattr(ResumeWorker, "_watch", crashing_watch)
    async with MongoDBClient(wire_uri, f"eat_dead_{os.getpid()}") as mongo:
        try:
            provider = OpenAIAgentsProvider(mongodb_client=mongo, registry=worker_registry())
            await pause_decided_runs(provider, 2)
            worker = ResumeWorker(provider, poll_interval=0.05, max_poll_interval=0.2)
            stats = await asyncio.wait_for(worker.run(drain=True), timeout=30)
        finally:
            await mongo.client.drop_database(mongo.db_name)

    assert stats.completed == 2
    assert stats.dead_tasks == ["change stream: RuntimeError: the stream handler crashed"]
    assert stats.wakeup == "polling"
    caption = _stats_table(stats, final=True).caption
    assert caption is not None and "dead background task: change stream" in str(caption)


# -- eat approvals ----------------------------------------------------------------------------


def insert_raw(cli: Eat, *documents: dict[str, Any]) -> None:
    """Behind the app's back: the shared memory:// client, or a plain pymongo client."""
    if cli.shared is not None:
        shared = cli.shared

        async def go() -> None:
            await shared.collection(COLLECTION_NAME).insert_many(list(documents))

        asyncio.run(go())
        return
    with MongoClient(os.environ["MONGODB_URI"]) as plain:
        plain[os.environ["MONGODB_DATABASE_NAME"]][COLLECTION_NAME].insert_many(list(documents))


def test_eat_approvals_list_shows_an_unreadable_record_and_show_names_what_fails(
    eat: Eat,
) -> None:
    run = eat.pause("deploy payments-api")
    insert_raw(eat, typo_status("bad-typo"), wrong_type("bad-type"))

    listed = eat("approvals", "list", "--status", "all")
    assert listed.exit_code == 0, listed.output
    assert "Traceback" not in listed.output
    assert "unreadable record bad-typo" in listed.stdout
    assert "unreadable record bad-type" in listed.stdout
    assert str(run.approval_id) in listed.stdout
    pending = eat.json("approvals", "list")
    assert {"id": "bad-type", "status": "unreadable"}.items() <= pending[-1].items()
    assert "arguments_sha256" in pending[-1]["problem"]
    assert pending[0]["id"] == run.approval_id

    shown = eat("approvals", "show", "bad-typo")
    assert shown.exit_code == 1
    lines = [line for line in shown.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in shown.output
    assert "approval bad-typo: unreadable record: status" in lines[0]


# -- the inbox ----------------------------------------------------------------------------


def test_the_inbox_queue_shows_an_unreadable_row_and_its_page_says_why(
    inbox: Inbox,
) -> None:
    run = inbox.pause("deploy payments-api")
    documents = [typo_status("bad-typo"), wrong_type("bad")]
    inbox.http.portal.call(lambda: inbox.provider.store._collection.insert_many(documents))
    inbox.sign_in(ALICE)

    queue = inbox.http.get("/")
    assert queue.status_code == 200
    assert str(run.approval_id) in queue.text and "unreadable record bad" in queue.text
    everything = inbox.http.get("/", params={"status": "all"})
    assert everything.status_code == 200 and "unreadable record bad-typo" in everything.text
    rows = inbox.http.get("/approvals/rows", params={"status": "all"})
    assert rows.status_code == 200 and rows.text.count('class="row unreadable"') == 2

    page = inbox.http.get("/approvals/bad-typo")
    assert page.status_code == 422
    assert "Unreadable record bad-typo" in page.text and "aproved" in page.text
    forced = inbox.form("/approvals/bad-typo/decide", call_id="c1", verdict="approved")
    assert forced.status_code == 422, "a crafted vote is refused, not a server error"
    raw = inbox.http.portal.call(
        lambda: inbox.provider.store._collection.find_one({"_id": "bad-typo"})
    )
    assert raw["status"] == "aproved" and raw["version"] == 1, "nothing was written to it"
    health = inbox.http.get("/healthz")
    assert health.status_code == 200 and health.json()["ok"] is True


async def test_the_inbox_live_feed_goes_on_past_a_malformed_record(mongo: MongoDBClient) -> None:
    provider = OpenAIAgentsProvider(mongodb_client=mongo, registry=review_registry())
    await provider.store._collection.insert_one(wrong_type("bad"))
    events = InboxEvents(ApprovalFeed(provider.store, poll_interval=0.05))
    task = asyncio.create_task(events.run())
    try:
        with events.subscription() as queue:
            await asyncio.sleep(0.2)
            run = await provider.execute_agent(REVIEW_AGENT, "deploy it", actor="release-bot")
            message = await asyncio.wait_for(queue.get(), 5)
        assert not task.done(), "the feed must not die"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    data = json.loads(message.split("data: ", 1)[1])
    assert {"id": run.approval_id, "status": "pending", "version": 1} in data["changed"]
    assert events.feed.unreadable_ids == {"bad"}
    assert events.health.failures == 0


@pytest.fixture
def memory_app() -> Iterator[tuple[Any, MongoDBClient]]:
    client = MongoDBClient("memory://", f"eat_health_{os.getpid()}")
    provider = OpenAIAgentsProvider(mongodb_client=client, registry=review_registry())
    yield create_app(provider, REVIEWERS, session_secret=SECRET, poll_interval=0.05), client


def test_healthz_reports_a_dead_background_task(
    memory_app: tuple[Any, MongoDBClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def dies(self: InboxEvents) -> None:
        raise RuntimeError("the feed task died")

    monkeypatch.setattr(InboxEvents, "run", dies)
    app, _ = memory_app
    with TestClient(app, base_url="http://127.0.0.1:8765") as http:
        for _ in range(50):
            health = http.get("/healthz")
            if health.status_code != 200:
                break
        assert health.status_code == 503
        assert health.json()["ok"] is False
        assert health.json()["dead_tasks"] == ["eat-inbox-feed: RuntimeError"]


def test_healthz_reports_a_loop_that_keeps_failing_and_recovers_with_it(
    memory_app: tuple[Any, MongoDBClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    failing = True
    real_scan = ApprovalFeed.scan

    async def scan(self: ApprovalFeed, cursor: datetime) -> Any:
        if failing:
            raise RuntimeError("scan broke")
        return await real_scan(self, cursor)

    monkeypatch.setattr(ApprovalFeed, "scan", scan)
    app, _ = memory_app
    with TestClient(app, base_url="http://127.0.0.1:8765") as http:
        health = _health_until(http, lambda body: body["ok"] is False)
        [loop] = health["loops"]
        assert loop["state"] == "failing" and loop["last_error"] == "RuntimeError"
        assert health["dead_tasks"] == [], "failing, not dead: it keeps retrying"
        failing = False
        health = _health_until(http, lambda body: body["ok"] is True)
        assert health["loops"][0]["state"] == "running"


def _health_until(http: TestClient, done: Any) -> dict[str, Any]:
    for _ in range(150):
        body: dict[str, Any] = http.get("/healthz").json()
        if done(body):
            return body
        time.sleep(0.05)
    raise AssertionError(f"/healthz never changed: {body}")


# -- webhooks -----------------------------------------------------------------------------


class Hooks:
    """A receiver behind httpx's MockTransport: every POST is taken (200) and kept."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.transport = httpx.MockTransport(self._take)

    def _take(self, request: httpx.Request) -> httpx.Response:
        self.events.append(json.loads(request.content))
        return httpx.Response(200)

    def types_of(self, approval_id: str) -> list[str]:
        return [e["type"] for e in self.events if e["approval_id"] == approval_id]


def _webhooks(mongo: MongoDBClient, hooks: Hooks) -> WebhookService:
    settings = WebhookSettings.model_validate(
        {"url": "http://hooks.test/eat", "secret": "whsec-0123456789", "poll_interval": 0.05}
    )
    return WebhookService(mongo, settings, transport=hooks.transport)


async def test_the_webhook_service_delivers_past_a_malformed_record_and_a_bad_checkpoint(
    mongo: MongoDBClient,
) -> None:
    provider = OpenAIAgentsProvider(mongodb_client=mongo, registry=review_registry())
    await provider.store._collection.insert_many([wrong_type("bad"), half_migrated("old")])
    hooks = Hooks()
    service = _webhooks(mongo, hooks)
    await service.outbox.collection.insert_one(
        {"_id": "checkpoint:approval-feed", "kind": "checkpoint", "seen_until": "yesterday"}
    )
    task = asyncio.create_task(service.run_until_cancelled())
    try:
        await asyncio.sleep(0.2)
        run = await provider.execute_agent(REVIEW_AGENT, "deploy it", actor="release-bot")
        for _ in range(100):
            if hooks.types_of(str(run.approval_id)):
                break
            await asyncio.sleep(0.05)
        assert not task.done(), "the service must not die"
        health = [loop.state for loop in service.health]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert hooks.types_of(str(run.approval_id)) == ["approval.created"]
    assert service.feed.unreadable_ids == {"bad", "old"}
    assert health == ["running", "running"]


async def test_an_outbox_delivery_that_cannot_be_read_or_sent_is_given_up_and_the_rest_go_out(
    mongo: MongoDBClient,
) -> None:
    hooks = Hooks()
    service = _webhooks(mongo, hooks)
    now = utcnow()
    past = now - timedelta(seconds=5)
    await service.outbox.collection.insert_one(
        {"_id": "garbled", "kind": "delivery", "status": "pending", "next_attempt_at": past}
    )

    def event(approval_id: str) -> WebhookEvent:
        return WebhookEvent(
            id=f"{approval_id}:approval.created",
            type=WebhookEventType.CREATED,
            at=past,
            approval_id=approval_id,
            run_id="r",
            sequence=0,
            agent_name="ops",
            status="pending",
        )

    # An id only an operator could have typed: it cannot go into an HTTP header.
    await service.outbox.enqueue(event("apr_caf\u00e9"), url=service.url, now=past)
    await service.outbox.enqueue(event("apr_ok"), url=service.url, now=past)
    try:
        attempted = await service.dispatch_due()
    finally:
        await service.aclose()

    assert attempted == 2, "the garbled document is given up on, not attempted"
    garbled = await service.outbox.collection.find_one({"_id": "garbled"})
    assert garbled["status"] == DeliveryStatus.DEAD.value
    assert garbled["last_error"].startswith("unreadable delivery: ")
    unsendable = await service.outbox.get("apr_caf\u00e9:approval.created")
    assert unsendable is not None and unsendable.status is DeliveryStatus.DEAD
    assert unsendable.last_error is not None and "cannot be sent" in unsendable.last_error
    assert hooks.types_of("apr_ok") == ["approval.created"]
