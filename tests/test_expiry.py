"""Expiry: deadlines set at create, timeout rejections, reads that never show stale calls.

Every store scenario runs on memory:// and on a real wire server, with a fake clock.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from evolving_agents.approvals import (
    ApprovalConflict,
    PendingApproval,
    Reviewer,
    parse_duration,
)
from evolving_agents.approvals.models import (
    ApprovalStatus,
    ReviewerKind,
    Verdict,
    format_duration,
    utcnow,
)
from evolving_agents.approvals.store import COLLECTION_NAME, PendingApprovalStore
from evolving_agents.config import Settings
from evolving_agents.storage.mongodb_client import MongoDBClient
from tests.test_store import make_record

START = utcnow()


class FakeClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> Any:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(mongo: MongoDBClient, clock: FakeClock) -> PendingApprovalStore:
    return PendingApprovalStore(mongo, clock=clock, approval_timeout="24h")


def record(approval_id: str, **kwargs: Any) -> PendingApproval:
    kwargs.setdefault("created_at", START)
    return make_record(approval_id, **kwargs)


async def raw(mongo: MongoDBClient, approval_id: str) -> dict[str, Any]:
    document = await mongo.collection(COLLECTION_NAME).find_one({"_id": approval_id})
    assert document is not None
    return dict(document)


# -- durations and the setting -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", timedelta(hours=24)),
        ("30m", timedelta(minutes=30)),
        ("90s", timedelta(seconds=90)),
        ("2d", timedelta(days=2)),
        ("1h30m", timedelta(minutes=90)),
        ("1.5h", timedelta(minutes=90)),
        (" 45 M ", timedelta(minutes=45)),
        ("3600", timedelta(hours=1)),
        (120, timedelta(minutes=2)),
        (timedelta(minutes=5), timedelta(minutes=5)),
        ("0", None),
        ("never", None),
        (0, None),
    ],
)
def test_durations_parse(text: Any, expected: timedelta | None) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "soon", "5x", "-5", "24h tomorrow", "nan", "inf", True])
def test_bad_durations_are_refused_with_the_value(text: Any) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(hours=24), "24h"),
        (timedelta(hours=36), "36h"),
        (timedelta(days=2), "2d"),
        (timedelta(minutes=30), "30m"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(days=3, hours=4), "3d4h"),
    ],
)
def test_durations_format_for_people(delta: timedelta, text: str) -> None:
    assert format_duration(delta) == text


def test_the_timeout_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().approval_timeout == timedelta(hours=24)
    monkeypatch.setenv("EAT_APPROVAL_TIMEOUT", "30m")
    assert Settings().approval_timeout == timedelta(minutes=30)
    monkeypatch.setenv("EAT_APPROVAL_TIMEOUT", "never")
    assert Settings().approval_timeout is None
    monkeypatch.setenv("EAT_APPROVAL_TIMEOUT", "tomorrow")
    with pytest.raises(ValidationError, match="tomorrow"):
        Settings()


# -- deadlines at create -----------------------------------------------------------------------


async def test_create_gives_each_call_its_deadline(store: PendingApprovalStore) -> None:
    base = record("a1", calls=("c1", "c2", "c3"))
    base.tool_calls[1].metadata["expires_in"] = "30m"
    base.tool_calls[2].metadata["expires_in"] = "never"
    created = await store.create(base)
    assert [c.expires_at for c in created.tool_calls] == [
        START + timedelta(hours=24),
        START + timedelta(minutes=30),
        None,
    ]
    assert created.expires_at == START + timedelta(minutes=30)
    assert (await store.get("a1", include_state=True)).model_dump() == created.model_dump()


async def test_the_environment_sets_the_default(
    mongo: MongoDBClient, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The environment is read once, by the client's settings (issue 11): a client built after
    # the variable is set, on the same database, is what "the environment" means now.
    monkeypatch.setenv("EAT_APPROVAL_TIMEOUT", "2h")
    async with MongoDBClient(mongo.uri, mongo.db_name) as configured:
        created = await PendingApprovalStore(configured, clock=clock).create(record("a1"))
    assert created.expires_at == START + timedelta(hours=2)
    monkeypatch.setenv("EAT_APPROVAL_TIMEOUT", "0")
    async with MongoDBClient(mongo.uri, mongo.db_name) as configured:
        never = await PendingApprovalStore(configured, clock=clock).create(record("a2"))
    assert never.expires_at is None and never.tool_calls[0].expires_at is None


async def test_a_caller_set_expiry_caps_every_call(store: PendingApprovalStore) -> None:
    base = record("a1", calls=("c1", "c2"))
    base.expires_at = START + timedelta(hours=1)
    base.tool_calls[1].metadata["expires_in"] = "10m"
    created = await store.create(base)
    assert [c.expires_at for c in created.tool_calls] == [
        START + timedelta(hours=1),
        START + timedelta(minutes=10),
    ]
    assert created.expires_at == START + timedelta(minutes=10)


# -- expiring ----------------------------------------------------------------------------------


async def test_an_undecided_call_becomes_a_timeout_rejection_the_model_reads(
    store: PendingApprovalStore, clock: FakeClock
) -> None:
    await store.create(record("a1"))
    clock.advance(hours=23, minutes=59)
    unchanged = await store.expire("a1")
    assert unchanged.status is ApprovalStatus.PENDING and unchanged.version == 1
    clock.advance(minutes=1)
    expired = await store.expire("a1")
    decision = expired.tool_calls[0].decision
    assert decision is not None
    assert decision.verdict is Verdict.REJECTED
    assert decision.reviewer == "eat-timeout" and decision.reviewer_kind is ReviewerKind.TIMEOUT
    assert decision.message == "Not approved within 24h; do not retry without a new request."
    assert decision.at == clock.now
    assert expired.status is ApprovalStatus.DECIDED and expired.version == 2
    entry = expired.audit[-1]
    assert (entry.action, entry.actor, entry.call_id) == ("decision.rejected", "eat-timeout", "c1")
    assert entry.detail["reviewer_kind"] == "timeout"
    again = await store.expire("a1")
    assert again.version == 2


async def test_calls_expire_one_by_one_and_the_record_tracks_the_next_deadline(
    store: PendingApprovalStore, clock: FakeClock
) -> None:
    base = record("a1", calls=("c1", "c2"))
    base.tool_calls[0].metadata["expires_in"] = "30m"
    await store.create(base)
    clock.advance(minutes=31)
    first = await store.expire("a1")
    c1, c2 = first.tool_calls
    assert c1.decision is not None and c1.decision.message is not None
    assert c1.decision.message.startswith("Not approved within 30m;")
    assert c2.decision is None and first.status is ApprovalStatus.PENDING
    assert first.expires_at == START + timedelta(hours=24)
    clock.advance(hours=24)
    second = await store.expire("a1")
    assert second.status is ApprovalStatus.DECIDED
    assert second.tool_calls[0].decision == c1.decision


async def test_a_partial_quorum_is_kept_on_the_timeout_decision(
    store: PendingApprovalStore, clock: FakeClock
) -> None:
    await store.create(record("a1", metadata={"min_approvals": 2}))
    await store.decide("a1", call_id="c1", verdict="approved", reviewer=Reviewer(name="bob"))
    clock.advance(days=2)
    expired = await store.expire("a1")
    decision = expired.tool_calls[0].decision
    assert decision is not None and decision.reviewer_kind is ReviewerKind.TIMEOUT
    assert [v.reviewer for v in decision.votes] == ["bob"]


async def test_reads_never_show_a_pending_call_past_its_deadline(
    store: PendingApprovalStore, clock: FakeClock, mongo: MongoDBClient
) -> None:
    await store.create(record("a1"))
    await store.create(record("a2", created_at=START + timedelta(hours=2)))
    await store.create(record("a3", created_at=START + timedelta(hours=4)))
    clock.advance(hours=25)
    assert (await raw(mongo, "a1"))["status"] == "pending"
    assert (await store.get("a1")).status is ApprovalStatus.DECIDED
    assert (await raw(mongo, "a1"))["status"] == "decided"

    pending = await store.list(status="pending")
    assert [r.id for r in pending.items] == ["a2", "a3"]
    clock.advance(hours=2)
    pending = await store.list(status="pending")
    assert [r.id for r in pending.items] == ["a3"]
    everything = await store.list()
    assert [r.status for r in everything.items] == [
        ApprovalStatus.DECIDED,
        ApprovalStatus.DECIDED,
        ApprovalStatus.PENDING,
    ]
    clock.advance(hours=2)
    history = await store.run_history("run-a3")
    assert history[0].status is ApprovalStatus.DECIDED


async def test_a_list_of_decided_records_includes_the_ones_that_just_expired(
    store: PendingApprovalStore, clock: FakeClock
) -> None:
    await store.create(record("a1"))
    await store.create(record("a2", created_at=START + timedelta(hours=2)))
    clock.advance(hours=25)
    assert [r.id for r in (await store.list(status="decided")).items] == ["a1"]
    assert [r.id for r in (await store.list(agent_name="ops-agent", status="pending")).items] == [
        "a2"
    ]


async def test_an_approval_after_the_deadline_does_not_land(
    store: PendingApprovalStore, clock: FakeClock
) -> None:
    await store.create(record("a1"))
    clock.advance(hours=24)
    with pytest.raises(ApprovalConflict, match="already rejected by eat-timeout"):
        await store.decide("a1", call_id="c1", verdict="approved", reviewer="alice")
    with pytest.raises(ApprovalConflict, match="decided"):
        await store.decide("a1", verdict="approved", reviewer="alice")


async def test_records_written_before_per_call_expiry_share_the_record_deadline(
    store: PendingApprovalStore, clock: FakeClock, mongo: MongoDBClient
) -> None:
    document = record("a1", calls=("c1", "c2")).to_document()
    document["expires_at"] = START + timedelta(hours=1)
    await mongo.collection(COLLECTION_NAME).insert_one(document)
    clock.advance(hours=1)
    expired = await store.get("a1")
    assert expired.status is ApprovalStatus.DECIDED
    assert all(c.decision is not None for c in expired.tool_calls)
    assert expired.tool_calls[0].decision is not None
    assert expired.tool_calls[0].decision.message == (
        "Not approved within 1h; do not retry without a new request."
    )


async def test_the_sweep_expires_overdue_records_oldest_first(
    store: PendingApprovalStore, clock: FakeClock
) -> None:
    for i in range(5):
        await store.create(record(f"a{i}", created_at=START + timedelta(minutes=i)))
    no_expiry = record("forever")
    no_expiry.tool_calls[0].metadata["expires_in"] = "never"
    await store.create(no_expiry)
    await store.decide("a2", verdict="approved", reviewer="alice")
    clock.advance(hours=24, minutes=3)
    assert await store.expire_overdue(limit=2) == ["a0", "a1"]
    assert await store.expire_overdue() == ["a3"]
    assert await store.expire_overdue() == []
    clock.advance(days=365)
    assert await store.expire_overdue() == ["a4"]
    assert (await store.get("forever")).status is ApprovalStatus.PENDING
    decided = (await store.get("a2")).tool_calls[0].decision
    assert decided is not None and decided.reviewer == "alice"


# -- races -------------------------------------------------------------------------------------


async def test_expiry_racing_a_last_moment_approval_lands_exactly_one_decision(
    store: PendingApprovalStore, clock: FakeClock
) -> None:
    outcomes: dict[str, int] = {"approved": 0, "expired": 0}
    for round_ in range(10):
        approval_id = f"a{round_}"
        await store.create(record(approval_id))
        # The reviewer's clock still reads before the deadline; the sweep's reads after it.
        approval, expiry = await asyncio.gather(
            store.decide(approval_id, call_id="c1", verdict="approved", reviewer="alice"),
            store.expire(approval_id, now=START + timedelta(hours=25)),
            return_exceptions=True,
        )
        current = await store.get(approval_id)
        decision = current.tool_calls[0].decision
        assert decision is not None and current.status is ApprovalStatus.DECIDED
        decisions = [e for e in current.audit if e.action.startswith("decision.")]
        assert len(decisions) == 1, decisions
        if decision.reviewer == "alice":
            outcomes["approved"] += 1
            assert isinstance(approval, PendingApproval)
        else:
            outcomes["expired"] += 1
            assert decision.reviewer == "eat-timeout"
            assert isinstance(approval, ApprovalConflict)
        assert isinstance(expiry, PendingApproval)
    assert sum(outcomes.values()) == 10


async def test_concurrent_sweeps_expire_each_record_once(
    store: PendingApprovalStore, clock: FakeClock
) -> None:
    ids = [f"a{i}" for i in range(12)]
    for approval_id in ids:
        await store.create(record(approval_id, calls=("c1", "c2")))
    clock.advance(hours=25)
    sweeps = await asyncio.gather(*(store.expire_overdue() for _ in range(4)))
    swept = [approval_id for sweep in sweeps for approval_id in sweep]
    assert sorted(swept) == sorted(ids)
    for approval_id in ids:
        current = await store.get(approval_id)
        assert current.status is ApprovalStatus.DECIDED
        timeouts = [e for e in current.audit if e.actor == "eat-timeout"]
        assert len(timeouts) == 2
