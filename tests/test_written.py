"""Transitions return the record they wrote without reading it back, and it is the stored one.

``approvals/written.py`` computes the document a version-pinned update leaves. These tests
hold it to the server: the same updates applied by the database and in memory give the same
document, on mongomock and on the wire server; every store transition returns exactly what a
fresh read returns; and on the wire server the read-backs are gone from the commands sent.
"""

from __future__ import annotations

import copy
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring

from evolving_agents.approvals.models import ApprovalStatus, PendingApproval
from evolving_agents.approvals.store import COLLECTION_NAME, PendingApprovalStore
from evolving_agents.approvals.written import UnknownUpdate, applied, remember, source_of
from evolving_agents.storage.mongodb_client import MongoDBClient
from tests.test_store import make_record

BEFORE: dict[str, Any] = {
    "_id": "d1",
    "status": "pending",
    "version": 3,
    "claim": {"worker_id": None, "attempts": 0},
    "tool_calls": [{"call_id": "c1", "decision": None}, {"call_id": "c2", "votes": []}],
    "audit": [{"action": "created"}],
    "state": {"data": b"blob", "sha256": "abc"},
}

UPDATES: list[dict[str, Any]] = [
    {"$set": {"status": "decided", "tool_calls.0.decision": {"verdict": "approved"}}},
    {"$inc": {"version": 1, "claim.attempts": 1, "claim.new_counter": 2}},
    {"$push": {"audit": {"$each": [{"action": "vote"}, {"action": "decision"}]}}},
    {"$push": {"audit": {"action": "claimed"}, "tool_calls.1.votes": {"r": "alice"}}},
    {"$set": {"result.final_output": ("a", 1), "claim.lease_until": None}},
    {"$set": {"at": datetime(2026, 12, 2, 17, 0, 0, 123456, tzinfo=UTC)}},
    {"$unset": {"claim.worker_id": ""}, "$set": {"nested.deep.field": [1, {"x": 2}]}},
]


@pytest.mark.parametrize("update", UPDATES, ids=[str(sorted(u)) for u in UPDATES])
async def test_an_update_applied_in_memory_equals_the_servers(
    mongo: MongoDBClient, update: dict[str, Any]
) -> None:
    collection = mongo.collection("written_check")
    await collection.insert_one(dict(BEFORE))
    stored = await collection.find_one({"_id": "d1"})
    assert stored is not None
    await collection.update_one({"_id": "d1", "version": 3}, update)
    after = await collection.find_one({"_id": "d1"})
    snapshot = copy.deepcopy(stored)
    assert applied(stored, update) == after
    assert stored == snapshot, "the document it started from is never changed"


@pytest.mark.parametrize(
    "update",
    [
        {"$pull": {"audit": {"action": "created"}}},
        {"$set": {"tool_calls.7.decision": {}}},
        {"$set": {"status.inner": 1}},
    ],
)
def test_an_update_it_cannot_apply_is_refused_so_the_caller_reads_back(
    update: dict[str, Any],
) -> None:
    with pytest.raises(UnknownUpdate):
        applied(BEFORE, update)


def test_a_remembered_source_belongs_to_that_object_alone() -> None:
    record = make_record("s1")
    remember(record, {"_id": "s1"})
    assert source_of(record) == {"_id": "s1"}
    assert source_of(record.model_copy()) is None, "a copy is another record: read it back"


def _same(returned: PendingApproval, fresh: PendingApproval) -> None:
    assert returned.model_dump() == fresh.model_dump()


async def test_every_transition_returns_the_record_as_stored(mongo: MongoDBClient) -> None:
    store = PendingApprovalStore(mongo)
    await store.create(make_record("t1", calls=("c1", "c2")))
    voted = await store.decide("t1", call_id="c1", verdict="approved", reviewer="alice")
    _same(voted, await store.get("t1"))
    decided = await store.decide("t1", call_id="c2", verdict="approved", reviewer="bob")
    assert decided.status is ApprovalStatus.DECIDED
    _same(decided, await store.get("t1"))

    known = await store.get("t1", include_state=True)
    claimed = await store.claim_for_resume("t1", "w1", 60, known=known)
    _same(claimed, await store.get("t1", include_state=True))
    assert claimed.state is not None and claimed.state.data, "the claim carries the state"
    await store.renew_lease("t1", "w1", 120)  # moves the lease, not the version
    done = await store.complete("t1", "w1", final_output={"ok": True}, known=claimed)
    _same(done, await store.get("t1"))
    assert done.claim.lease_until is None and done.claim.worker_id == "w1"

    await store.create(make_record("t2", run_id="r2"))
    _same(await store.cancel("t2", reason="not needed"), await store.get("t2"))
    await store.create(make_record("t3", run_id="r3"))
    _same(await store.link_plan("t3", "plan-1"), await store.get("t3"))

    await store.create(make_record("t4", run_id="r4"))
    await store.decide("t4", verdict="approved", reviewer="alice")
    claimed = await store.claim_for_resume("t4", "w1", 60)
    _same(claimed, await store.get("t4", include_state=True))
    _same(await store.release("t4", "w1", reason="shutdown", known=claimed), await store.get("t4"))
    claimed = await store.claim_for_resume("t4", "w2", 60)
    _same(await store.fail("t4", "w2", "boom", known=claimed), await store.get("t4"))

    past = datetime.now(UTC) - timedelta(hours=2)
    hourly = PendingApprovalStore(mongo, approval_timeout=timedelta(hours=1))
    await hourly.create(make_record("t5", run_id="r5", created_at=past))
    expired = await hourly.get("t5")  # expired on read: the timeout's decision written
    assert expired.status is ApprovalStatus.DECIDED
    _same(expired, await hourly.get("t5"))


class _Commands(monitoring.CommandListener):
    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        target = event.command.get(event.command_name)
        self.names.append(f"{event.command_name} {target}")

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.mark.wire
async def test_a_decision_and_a_claim_are_one_read_and_one_write_each(wire_uri: str) -> None:
    listener = _Commands()
    client: Any = AsyncMongoClient(wire_uri, tz_aware=True, event_listeners=[listener])
    db_name = f"eat_test_{secrets.token_hex(5)}"
    store = PendingApprovalStore(MongoDBClient(client=client, db_name=db_name))
    try:
        await store.create(make_record("n1"))
        listener.names.clear()
        await store.decide("n1", verdict="approved", reviewer="alice")
        assert listener.names == [f"find {COLLECTION_NAME}", f"update {COLLECTION_NAME}"]
        listener.names.clear()
        known = await store.get("n1", include_state=True)
        claimed = await store.claim_for_resume("n1", "w1", 60, known=known)
        await store.complete("n1", "w1", known=claimed)
        assert listener.names == [f"find {COLLECTION_NAME}"] + [f"update {COLLECTION_NAME}"] * 2
    finally:
        await client.drop_database(db_name)
        await client.close()
