"""PendingApprovalStore transitions, on memory:// and on a real wire server."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest

from evolving_agents.approvals.codec import StateCodec
from evolving_agents.approvals.models import (
    ApprovalStatus,
    PendingApproval,
    ToolCallRecord,
    Verdict,
    arguments_digest,
    utcnow,
)
from evolving_agents.approvals.store import COLLECTION_NAME, PendingApprovalStore
from evolving_agents.errors import ApprovalConflict, ApprovalNotFound, InvalidDecision
from evolving_agents.storage.mongodb_client import MongoDBClient
from tests.conftest import TEST_SECRET

CODEC = StateCodec(TEST_SECRET.encode())


def make_record(
    approval_id: str,
    *,
    run_id: str | None = None,
    sequence: int = 0,
    calls: tuple[str, ...] = ("c1",),
    agent_name: str = "ops-agent",
    tool_name: str = "grant_okta_admin",
    created_at: datetime | None = None,
    metadata: dict[str, Any] | None = None,
    actor: str | None = None,
) -> PendingApproval:
    """A paused run; ``metadata`` is added to every call's tool metadata."""
    now = created_at or utcnow()
    tool_calls = [
        ToolCallRecord(
            call_id=call_id,
            tool_name=tool_name,
            agent_name=agent_name,
            arguments={"user": "alice", "hours": 48},
            arguments_sha256=arguments_digest({"user": "alice", "hours": 48}),
            metadata={"system": "okta", **(metadata or {})},
        )
        for call_id in calls
    ]
    return PendingApproval(
        id=approval_id,
        run_id=run_id or f"run-{approval_id}",
        sequence=sequence,
        agent_name=agent_name,
        actor=actor,
        tool_calls=tool_calls,
        state=CODEC.encode(approval_id, {"$schemaVersion": "1.21"}),
        created_at=now,
        updated_at=now,
    )


@pytest.fixture
def store(mongo: MongoDBClient) -> PendingApprovalStore:
    return PendingApprovalStore(mongo)


async def test_create_then_get_round_trips_with_bson_dates(
    store: PendingApprovalStore, mongo: MongoDBClient
) -> None:
    created = await store.create(make_record("a1"))
    loaded = await store.get("a1", include_state=True)
    assert loaded.model_dump(exclude={"audit"}) == created.model_dump(exclude={"audit"})
    raw = await mongo.collection(COLLECTION_NAME).find_one({"_id": "a1"})
    assert isinstance(raw["created_at"], datetime)
    assert raw["status"] == "pending"
    assert raw["tool_calls"][0]["arguments"] == {"user": "alice", "hours": 48}
    assert [entry.action for entry in loaded.audit] == ["created"]


async def test_get_without_state_skips_the_blob(store: PendingApprovalStore) -> None:
    await store.create(make_record("a1"))
    light = (await store.get("a1")).state
    # The digest and signature stay (the record's seal covers them), the bytes do not.
    assert light is not None and light.data == b"" and light.sha256
    full = (await store.get("a1", include_state=True)).state
    assert full is not None and full.data and full.sha256 == light.sha256


async def test_unknown_id_raises_approval_not_found(store: PendingApprovalStore) -> None:
    with pytest.raises(ApprovalNotFound, match="nope"):
        await store.get("nope")
    with pytest.raises(ApprovalNotFound):
        await store.decide("nope", verdict="approved", reviewer="alice")
    with pytest.raises(ApprovalNotFound):
        await store.claim_for_resume("nope", "w1", 60)


async def test_same_run_and_sequence_twice_is_a_conflict(store: PendingApprovalStore) -> None:
    await store.create(make_record("a1", run_id="r"))
    with pytest.raises(ApprovalConflict, match="sequence 0"):
        await store.create(make_record("a2", run_id="r"))
    await store.create(make_record("a3", run_id="r", sequence=1))
    assert [r.id for r in await store.run_history("r")] == ["a1", "a3"]


async def test_deciding_each_call_makes_the_record_decided_with_the_last_one(
    store: PendingApprovalStore,
) -> None:
    await store.create(make_record("a1", calls=("c1", "c2")))
    first = await store.decide("a1", call_id="c1", verdict="approved", reviewer="alice")
    assert first.status is ApprovalStatus.PENDING
    second = await store.decide(
        "a1", call_id="c2", verdict="rejected", reviewer="bob", message="too long"
    )
    assert second.status is ApprovalStatus.DECIDED
    c1, c2 = second.tool_calls
    assert c1.decision is not None and c1.decision.verdict is Verdict.APPROVED
    assert c2.decision is not None and c2.decision.message == "too long"
    assert c2.decision.reviewer == "bob"
    assert second.version == 3


async def test_deciding_without_call_id_decides_every_undecided_call(
    store: PendingApprovalStore,
) -> None:
    await store.create(make_record("a1", calls=("c1", "c2", "c3")))
    await store.decide("a1", call_id="c2", verdict="approved", reviewer="alice")
    record = await store.decide("a1", verdict="rejected", reviewer="bob")
    verdicts = [call.decision.verdict if call.decision else None for call in record.tool_calls]
    assert verdicts == [Verdict.REJECTED, Verdict.APPROVED, Verdict.REJECTED]
    assert record.status is ApprovalStatus.DECIDED


async def test_two_reviewers_racing_on_one_call_only_one_decision_lands(
    store: PendingApprovalStore,
) -> None:
    await store.create(make_record("a1", calls=("c1", "c2")))
    outcomes = await asyncio.gather(
        store.decide("a1", call_id="c1", verdict="approved", reviewer="alice"),
        store.decide("a1", call_id="c1", verdict="rejected", reviewer="bob"),
        return_exceptions=True,
    )
    conflicts = [o for o in outcomes if isinstance(o, ApprovalConflict)]
    landed = [o for o in outcomes if isinstance(o, PendingApproval)]
    assert len(conflicts) == 1 and len(landed) == 1
    assert "already" in str(conflicts[0])
    record = await store.get("a1")
    decision = record.tool_calls[0].decision
    assert decision is not None
    assert decision.reviewer == landed[0].tool_calls[0].decision.reviewer  # type: ignore[union-attr]
    assert len([e for e in record.audit if e.action.startswith("decision.")]) == 1


async def test_reviewers_deciding_different_calls_at_once_both_land(
    store: PendingApprovalStore,
) -> None:
    calls = tuple(f"c{i}" for i in range(6))
    await store.create(make_record("a1", calls=calls))
    await asyncio.gather(
        *(store.decide("a1", call_id=c, verdict="approved", reviewer=f"r{c}") for c in calls)
    )
    record = await store.get("a1")
    assert record.status is ApprovalStatus.DECIDED
    assert all(call.decision is not None for call in record.tool_calls)
    assert record.version == 1 + len(calls)


async def test_a_decided_call_cannot_be_decided_again(store: PendingApprovalStore) -> None:
    await store.create(make_record("a1"))
    await store.decide("a1", call_id="c1", verdict="rejected", reviewer="alice")
    with pytest.raises(ApprovalConflict, match="already rejected by alice"):
        await store.decide("a1", call_id="c1", verdict="approved", reviewer="mallory")
    with pytest.raises(ApprovalConflict, match="decided"):
        await store.decide("a1", verdict="approved", reviewer="mallory")


async def test_bad_decisions_are_refused_and_change_nothing(store: PendingApprovalStore) -> None:
    await store.create(make_record("a1"))
    with pytest.raises(InvalidDecision, match="no call 'c9'"):
        await store.decide("a1", call_id="c9", verdict="approved", reviewer="alice")
    with pytest.raises(InvalidDecision, match="unknown verdict"):
        await store.decide("a1", call_id="c1", verdict="maybe", reviewer="alice")
    with pytest.raises(InvalidDecision, match="reviewer"):
        await store.decide("a1", call_id="c1", verdict="approved", reviewer=" ")
    with pytest.raises(InvalidDecision, match="arguments shown differ"):
        await store.decide(
            "a1", call_id="c1", verdict="approved", reviewer="alice", arguments_sha256="0" * 64
        )
    record = await store.get("a1")
    assert record.version == 1 and record.tool_calls[0].decision is None


async def test_claim_moves_decided_to_resuming_once(store: PendingApprovalStore) -> None:
    await store.create(make_record("a1"))
    with pytest.raises(ApprovalConflict, match="not decided yet: 1 call"):
        await store.claim_for_resume("a1", "w1", 60)
    await store.decide("a1", verdict="approved", reviewer="alice")
    claimed = await store.claim_for_resume("a1", "w1", 60)
    assert claimed.status is ApprovalStatus.RESUMING
    assert claimed.claim.worker_id == "w1" and claimed.claim.attempts == 1
    assert claimed.state is not None
    with pytest.raises(ApprovalConflict, match="already claimed by worker w1"):
        await store.claim_for_resume("a1", "w2", 60)


async def test_two_workers_racing_to_claim_only_one_wins(store: PendingApprovalStore) -> None:
    await store.create(make_record("a1"))
    await store.decide("a1", verdict="approved", reviewer="alice")
    outcomes = await asyncio.gather(
        *(store.claim_for_resume("a1", f"w{i}", 60) for i in range(5)), return_exceptions=True
    )
    winners = [o for o in outcomes if isinstance(o, PendingApproval)]
    assert len(winners) == 1
    assert all(isinstance(o, ApprovalConflict) for o in outcomes if o not in winners)


async def test_an_expired_lease_can_be_claimed_again(mongo: MongoDBClient) -> None:
    now = [utcnow()]
    store = PendingApprovalStore(mongo, clock=lambda: now[0])
    await store.create(make_record("a1"))
    await store.decide("a1", verdict="approved", reviewer="alice")
    await store.claim_for_resume("a1", "w1", 30)
    now[0] += timedelta(seconds=31)
    again = await store.claim_for_resume("a1", "w2", 30)
    assert again.claim.worker_id == "w2" and again.claim.attempts == 2
    with pytest.raises(ApprovalConflict, match="does not hold"):
        await store.complete("a1", "w1", final_output="late")


async def test_complete_and_fail_need_the_claim_holder(store: PendingApprovalStore) -> None:
    for approval_id in ("a1", "a2"):
        await store.create(make_record(approval_id))
        await store.decide(approval_id, verdict="approved", reviewer="alice")
        await store.claim_for_resume(approval_id, "w1", 60)
    with pytest.raises(ApprovalConflict, match="does not hold"):
        await store.complete("a1", "w2", final_output="x")
    done = await store.complete("a1", "w1", final_output={"answer": 42})
    assert done.status is ApprovalStatus.COMPLETED
    assert done.result.final_output == {"answer": 42}
    assert done.purge_at is not None and done.purge_at > done.updated_at
    failed = await store.fail("a2", "w1", "RuntimeError: boom")
    assert failed.status is ApprovalStatus.FAILED and failed.result.error == "RuntimeError: boom"
    with pytest.raises(ApprovalConflict):
        await store.complete("a2", "w1")


async def test_release_gives_the_record_back_to_decided(store: PendingApprovalStore) -> None:
    await store.create(make_record("a1"))
    await store.decide("a1", verdict="approved", reviewer="alice")
    await store.claim_for_resume("a1", "w1", 60)
    released = await store.release("a1", "w1", reason="state refused")
    assert released.status is ApprovalStatus.DECIDED and released.claim.worker_id is None
    assert (await store.claim_for_resume("a1", "w2", 60)).claim.attempts == 2


async def test_cancel_only_before_resuming(store: PendingApprovalStore) -> None:
    await store.create(make_record("a1"))
    cancelled = await store.cancel("a1", by="alice", reason="wrong ticket")
    assert cancelled.status is ApprovalStatus.CANCELLED
    with pytest.raises(ApprovalConflict, match="cancelled"):
        await store.decide("a1", verdict="approved", reviewer="alice")
    await store.create(make_record("a2"))
    await store.decide("a2", verdict="approved", reviewer="alice")
    await store.claim_for_resume("a2", "w1", 60)
    with pytest.raises(ApprovalConflict, match="resuming"):
        await store.cancel("a2")


async def test_list_filters_orders_and_pages(store: PendingApprovalStore) -> None:
    base = utcnow()
    for i in range(7):
        record = make_record(
            f"a{i}",
            created_at=base + timedelta(seconds=i),
            agent_name="ops-agent" if i % 2 == 0 else "billing-agent",
            tool_name="deploy_service" if i == 3 else "grant_okta_admin",
        )
        await store.create(record)
    await store.decide("a0", verdict="approved", reviewer="alice")

    pending = await store.list(status="pending", limit=3)
    assert [r.id for r in pending.items] == ["a1", "a2", "a3"]
    assert pending.next_cursor is not None
    rest = await store.list(status="pending", limit=3, cursor=pending.next_cursor)
    assert [r.id for r in rest.items] == ["a4", "a5", "a6"]
    assert rest.next_cursor is None

    newest = await store.list(newest_first=True, limit=2)
    assert [r.id for r in newest.items] == ["a6", "a5"]
    older = await store.list(newest_first=True, limit=2, cursor=newest.next_cursor)
    assert [r.id for r in older.items] == ["a4", "a3"]

    assert [r.id for r in (await store.list(agent_name="billing-agent")).items] == [
        "a1",
        "a3",
        "a5",
    ]
    assert [r.id for r in (await store.list(tool_name="deploy_service")).items] == ["a3"]
    assert [r.id for r in (await store.list(run_id="run-a4")).items] == ["a4"]
    assert [r.id for r in (await store.list(status="decided")).items] == ["a0"]
    with pytest.raises(ValueError, match="invalid list cursor"):
        await store.list(cursor="garbage!")


@pytest.mark.parametrize("backend", ["wire"])
async def test_indexes_are_created_once_and_idempotently(mongo: MongoDBClient) -> None:
    await PendingApprovalStore(mongo).ensure_indexes()
    await PendingApprovalStore(mongo).ensure_indexes()
    indexes = await mongo.collection(COLLECTION_NAME).index_information()
    assert {"status_created", "run_sequence", "pending_expiry", "claim_lease", "purge_ttl"} <= set(
        indexes
    )
    assert indexes["run_sequence"]["unique"] is True
    assert indexes["purge_ttl"]["expireAfterSeconds"] == 0


async def test_an_unreachable_database_fails_typed_and_says_nothing_was_written() -> None:
    from pymongo import AsyncMongoClient

    from evolving_agents.errors import ApprovalStoreError

    client: Any = AsyncMongoClient(
        "mongodb://127.0.0.1:1/?directConnection=true&serverSelectionTimeoutMS=100"
    )
    store = PendingApprovalStore(MongoDBClient(client=client, db_name="nowhere"))
    try:
        with pytest.raises(ApprovalStoreError, match="approval a1: create failed") as created:
            await store.create(make_record("a1"))
        with pytest.raises(ApprovalStoreError, match="approval a1: decide failed") as decided:
            await store.decide("a1", verdict="approved", reviewer="alice")
        with pytest.raises(ApprovalStoreError, match="approval store: list failed"):
            await store.list()
    finally:
        await client.close()
    assert created.value.operation == "create"
    assert not created.value.outcome_unknown and not decided.value.outcome_unknown


async def test_ids_starting_with_is_a_range_on_the_id_index(
    store: PendingApprovalStore, mongo: MongoDBClient
) -> None:
    for approval_id in ("apr_aa1", "apr_aa2", "apr_ab1", "apr_b", "zzz"):
        await store.create(make_record(approval_id))
    # A document that does not parse still has an id a person may type.
    await mongo.collection(COLLECTION_NAME).insert_one({"_id": "apr_aa9", "status": 7})
    assert await store.ids_starting_with("apr_aa") == ["apr_aa1", "apr_aa2", "apr_aa9"]
    assert await store.ids_starting_with("apr_a", limit=2) == ["apr_aa1", "apr_aa2"]
    assert await store.ids_starting_with("apr_b") == ["apr_b"]
    assert await store.ids_starting_with("nope") == []
    with pytest.raises(ValueError, match="must not be empty"):
        await store.ids_starting_with("")
