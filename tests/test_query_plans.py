"""The worker's queries reach only live records, however many finished ones pile up.

What grew in the load run: the query for lapsed leases named its index with a hint, and
SecantusDB answers a hinted find by reading every entry of that index, so each poll of each
worker read the whole collection. SecantusDB's ``explain()`` cannot show that (its
executionStats count an index scan's documents as the number it returned, and it reported
0 for the hinted query), so these tests check what can be checked: the queries as the
worker sends them (no hint, no ``$or``, a live status pinned), the index each one's plan
names, and that the indexes behind them cannot hold a finished record. Timings at 500 to
100,000 records are the benchmarks' (``bench/queue.py``, ``bench/load.py``), never asserted.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring

from evolving_agents.approvals.models import ApprovalStatus, Claim, utcnow
from evolving_agents.approvals.store import COLLECTION_NAME, PendingApprovalStore
from evolving_agents.storage.mongodb_client import MongoDBClient
from evolving_agents.storage.names import ApprovalIndex
from tests.test_store import make_record

LIVE = {status.value for status in ApprovalStatus if not status.is_final}
FINISHED = [status for status in ApprovalStatus if status.is_final]


class Finds(monitoring.CommandListener):
    """Every ``find`` sent to the approvals collection, as sent."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "find" and event.command.get("find") == COLLECTION_NAME:
            self.sent.append(copy.deepcopy(dict(event.command)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def insert(
    store: PendingApprovalStore,
    approval_id: str,
    status: ApprovalStatus,
    *,
    minutes_ago: int = 60,
    **fields: Any,
) -> None:
    """A record as it would sit in ``status``; finished ones keep a lease long past, as
    records an older release finished do."""
    created = utcnow() - timedelta(minutes=minutes_ago)
    record = store.prepared(make_record(approval_id, created_at=created))
    record = record.model_copy(update={"status": status})
    if status.is_final:
        lapsed = created + timedelta(seconds=30)
        record = record.model_copy(
            update={"claim": Claim(worker_id="w0", lease_until=lapsed, attempts=1)}
        )
    await store._collection.insert_one({**record.to_document(), **fields})


async def fill_finished(store: PendingApprovalStore, count: int) -> None:
    for i in range(count):
        await insert(store, f"done{i:03d}", FINISHED[i % len(FINISHED)], minutes_ago=600 - i)


@pytest.fixture
async def watched(wire_uri: str) -> Any:
    """A store on the wire server whose client reports every find it sends."""
    finds = Finds()
    mongo: Any = AsyncMongoClient(wire_uri, tz_aware=True, event_listeners=[finds])
    client = MongoDBClient(client=mongo, db_name=f"eat_plans_{id(finds):x}")
    store = PendingApprovalStore(client)
    await store.ensure_indexes()
    yield store, finds, client
    await mongo.drop_database(client.db_name)
    await mongo.close()


def _stages(plan: dict[str, Any]) -> list[str]:
    stages, node = [], plan
    while node:
        stage = str(node.get("stage"))
        if node.get("indexName"):
            stage += f"({node['indexName']})"
        stages.append(stage)
        inputs = node.get("inputStages") or []
        node = node.get("inputStage") or (inputs[0] if inputs else None)
    return stages


@pytest.mark.wire
async def test_the_worker_asks_only_for_live_records_by_status_and_never_hints(
    watched: Any,
) -> None:
    store, finds, client = watched
    await fill_finished(store, 30)
    await insert(store, "decided", ApprovalStatus.DECIDED)
    lapsed = {"worker_id": "w1", "lease_until": utcnow() - timedelta(seconds=5)}
    await insert(store, "lapsed", ApprovalStatus.RESUMING, claim=lapsed)
    await insert(store, "partial", ApprovalStatus.PENDING, partial_ready=True)
    queue = store.queue
    finds.sent.clear()

    assert await queue.ready(8) == ["decided", "partial"]
    assert await queue.abandoned(8) == ["lapsed"]
    assert await queue.expire_overdue(limit=10) == []
    worker_finds = list(finds.sent)

    assert len(worker_finds) == 4, worker_finds
    for command in worker_finds:
        assert "hint" not in command, command  # SecantusDB reads the whole hinted index
        assert command["filter"]["status"] in LIVE, command
        assert not any(key.startswith("$") for key in command["filter"]), command

    # Each plan is on an index, and the index is the one that holds only what is asked for.
    plans = []
    for command in worker_finds:
        explained = await client.db.command(
            {"explain": {key: value for key, value in command.items() if key not in _WIRE_ONLY}}
        )
        plans.append(_stages(explained["queryPlanner"]["winningPlan"]))
    indexes = [next(s for s in stages if s.startswith("IXSCAN")) for stages in plans]
    assert indexes == [
        f"IXSCAN({ApprovalIndex.STATUS_CREATED})",
        f"IXSCAN({ApprovalIndex.PARTIAL_READY})",
        f"IXSCAN({ApprovalIndex.CLAIM_LEASE})",
        f"IXSCAN({ApprovalIndex.PENDING_EXPIRY})",
    ], plans


_WIRE_ONLY = {"$db", "lsid", "$clusterTime", "$readPreference"}


@pytest.mark.wire
async def test_a_list_page_past_a_cursor_is_no_or_of_ranges(watched: Any) -> None:
    store, finds, _ = watched
    await fill_finished(store, 10)
    for i in range(5):
        await insert(store, f"p{i}", ApprovalStatus.PENDING, minutes_ago=50 - i)

    first = await store.list(status="pending", limit=2)
    finds.sent.clear()
    second = await store.list(status="pending", limit=2, cursor=first.next_cursor)

    assert [r.id for r in first.items + second.items] == ["p0", "p1", "p2", "p3"]
    assert finds.sent, "the page was read"
    for command in finds.sent:
        # SecantusDB answers a top-level $or with a collection scan.
        assert not any(key.startswith("$") for key in command["filter"]), command
        assert command["filter"]["status"] == "pending", command
        assert "hint" not in command, command


async def test_the_indexes_the_worker_scans_cannot_hold_a_finished_record(
    mongo: MongoDBClient,
) -> None:
    store = PendingApprovalStore(mongo)
    await store.ensure_indexes()
    indexes = await mongo.collection(COLLECTION_NAME).index_information()

    for name in (ApprovalIndex.CLAIM_LEASE, ApprovalIndex.PARTIAL_READY,
                 ApprovalIndex.PENDING_EXPIRY):
        partial = indexes[name]["partialFilterExpression"]
        assert partial["status"] in LIVE, (name, partial)
    # The guarantees beside them are unchanged: one record per run and sequence, the purge.
    assert indexes[ApprovalIndex.RUN_SEQUENCE]["unique"] is True
    assert indexes[ApprovalIndex.PURGE_TTL]["expireAfterSeconds"] == 0


async def test_finished_records_with_old_leases_or_flags_are_no_work(
    mongo: MongoDBClient,
) -> None:
    store = PendingApprovalStore(mongo)
    await store.ensure_indexes()
    await fill_finished(store, 8)
    # A record stays flagged partial_ready once it moves on: the flag alone is no work.
    await insert(store, "moved-on", ApprovalStatus.COMPLETED, partial_ready=True)
    await insert(store, "still-held", ApprovalStatus.RESUMING,
                 claim={"worker_id": "w1", "lease_until": utcnow() + timedelta(minutes=5)})
    await insert(store, "lapsed", ApprovalStatus.RESUMING,
                 claim={"worker_id": "w2", "lease_until": utcnow() - timedelta(minutes=5)})
    await insert(store, "waiting", ApprovalStatus.PENDING)
    await insert(store, "partial", ApprovalStatus.PENDING, partial_ready=True)

    assert await store.queue.abandoned(8) == ["lapsed"]
    assert await store.queue.ready(8) == ["partial"]
    assert await store.queue.ready(8, excluded=["partial"]) == []


async def test_an_index_an_older_release_defined_otherwise_is_replaced(
    mongo: MongoDBClient,
) -> None:
    collection = mongo.collection(COLLECTION_NAME)
    # What releases before this one created: every record's lease, finished ones too.
    await collection.create_index([("claim.lease_until", 1)], name=ApprovalIndex.CLAIM_LEASE)

    stores = [PendingApprovalStore(mongo) for _ in range(2)]
    for store in stores:
        await store.ensure_indexes()

    indexes = await collection.index_information()
    assert indexes[ApprovalIndex.CLAIM_LEASE]["partialFilterExpression"] == {
        "status": ApprovalStatus.RESUMING.value
    }


async def test_pages_go_on_past_records_created_in_the_same_millisecond(
    mongo: MongoDBClient,
) -> None:
    store = PendingApprovalStore(mongo)
    moment = utcnow().replace(microsecond=0) - timedelta(minutes=30)
    for i in range(5):
        await store.create(make_record(f"same{i}", created_at=moment))
    for i in range(3):
        await store.create(make_record(f"later{i}", created_at=moment + timedelta(seconds=1 + i)))
    oldest_first = ["same0", "same1", "same2", "same3", "same4", "later0", "later1", "later2"]

    for newest_first, expected in ((False, oldest_first), (True, oldest_first[::-1])):
        seen: list[str] = []
        cursor = None
        while True:
            page = await store.list(
                status="pending", newest_first=newest_first, limit=2, cursor=cursor
            )
            seen += [record.id for record in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert seen == expected, newest_first
