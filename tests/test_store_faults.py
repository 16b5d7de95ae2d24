"""Every store transition under injected database faults, on a real wire server.

SecantusDB runs with ``--enable-test-commands``, so ``configureFailPoint``/``failCommand`` can
drop the connection, fail a command with an error code, or answer a write that was applied
with a write-concern error. Each case runs the same transition twice from the same starting
record with the same fake clock: once without a fault (the control), once with one. Then:

- one retryable fault: PyMongo's retryable write retries once, the transition succeeds, and the
  document equals the control's, field for field (no second ``$inc``, no second audit entry);
- a non-retryable error, or the same fault twice: ``ApprovalStoreError`` and the document is
  exactly what it was before;
- a write-concern error without a retry label (the write was applied, its durability was not
  confirmed): ``ApprovalStoreError`` with ``outcome_unknown`` and the document equals the
  control's: the whole transition, never part of it.

Fail points are server-wide; each is scoped to this test's client by ``appName`` and switched
off in a ``finally``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pymongo.common
import pytest
from pymongo import AsyncMongoClient, monitoring

from evolving_agents.approvals import ApprovalStoreError, PendingApproval, Reviewer
from evolving_agents.approvals.models import utcnow
from evolving_agents.approvals.store import COLLECTION_NAME, PendingApprovalStore
from evolving_agents.storage.mongodb_client import MongoDBClient
from tests.test_store import make_record

pytestmark = pytest.mark.wire

START = utcnow()
APPROVAL = "apr_faults"


class FakeClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> Any:
        return self.now


@dataclass
class Side:
    """One database (the control or the faulted one) with its own store."""

    mongo: MongoDBClient
    store: PendingApprovalStore
    clock: FakeClock

    async def document(self) -> dict[str, Any] | None:
        found = await self.mongo.collection(COLLECTION_NAME).find_one({"_id": APPROVAL})
        return None if found is None else dict(found)


class FailedCommands(monitoring.CommandListener):
    """Counts what the server answered with an error, to prove each fault really fired."""

    def __init__(self) -> None:
        self.failures: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        # A write-concern error rides on an "ok" reply for insert and update.
        if "writeConcernError" in event.reply:
            self.failures.append(event.command_name)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self.failures.append(event.command_name)


@dataclass
class Harness:
    client: Any
    app_name: str
    control: Side
    faulted: Side
    listener: FailedCommands

    async def arm(self, command: str, times: int, data: dict[str, Any]) -> None:
        await self.client.admin.command(
            {
                "configureFailPoint": "failCommand",
                "mode": {"times": times},
                "data": {"failCommands": [command], "appName": self.app_name, **data},
            }
        )

    async def disarm(self) -> None:
        await self.client.admin.command({"configureFailPoint": "failCommand", "mode": "off"})


@pytest.fixture
async def harness(wire_uri: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Harness]:
    # Only how soon the driver checks the server again after it reported "shutting down" or
    # dropped the connection (at least 0.5 s, per fault, by default): polled at once instead.
    # The retry itself is PyMongo's, unchanged.
    monkeypatch.setattr(pymongo.common, "MIN_HEARTBEAT_INTERVAL", 0.02)
    app_name = f"eat-faults-{uuid.uuid4().hex[:8]}"
    listener = FailedCommands()
    client: Any = AsyncMongoClient(
        wire_uri,
        appname=app_name,
        tz_aware=True,
        heartbeatFrequencyMS=500,
        serverMonitoringMode="poll",
        event_listeners=[listener],
    )
    sides = []
    for role in ("control", "faulted"):
        mongo = MongoDBClient(client=client, db_name=f"eat_test_{role}_{uuid.uuid4().hex[:8]}")
        clock = FakeClock()
        store = PendingApprovalStore(mongo, clock=clock, approval_timeout="1h")
        await store.ensure_indexes()
        sides.append(Side(mongo, store, clock))
    harness = Harness(client, app_name, sides[0], sides[1], listener)
    try:
        yield harness
    finally:
        await harness.disarm()
        for side in sides:
            await client.drop_database(side.mongo.db_name)
        await client.close()


# -- transitions: how to reach the starting record, and the transition itself -----------------

Step = Callable[[Side], Awaitable[Any]]


async def _create(side: Side) -> Any:
    return await side.store.create(
        make_record(APPROVAL, created_at=START, metadata={"min_approvals": 2})
    )


async def _vote(side: Side) -> Any:
    return await side.store.decide(
        APPROVAL, call_id="c1", verdict="approved", reviewer=Reviewer(name="bob"), surface="web"
    )


async def _second_vote(side: Side) -> Any:
    return await side.store.decide(APPROVAL, call_id="c1", verdict="approved", reviewer="carol")


async def _claim(side: Side) -> Any:
    return await side.store.claim_for_resume(APPROVAL, "w1", 60)


async def _renew(side: Side) -> Any:
    side.clock.now = START + timedelta(seconds=30)
    return await side.store.renew_lease(APPROVAL, "w1", 60)


async def _release(side: Side) -> Any:
    return await side.store.release(APPROVAL, "w1", reason="shutting down")


async def _complete(side: Side) -> Any:
    return await side.store.complete(APPROVAL, "w1", final_output={"granted": True})


async def _fail(side: Side) -> Any:
    return await side.store.fail(APPROVAL, "w1", "RuntimeError: boom")


async def _cancel(side: Side) -> Any:
    return await side.store.cancel(APPROVAL, by="alice", reason="wrong ticket")


async def _expire(side: Side) -> Any:
    side.clock.now = START + timedelta(hours=2)
    return await side.store.expire(APPROVAL)


DECIDED: list[Step] = [_create, _vote, _second_vote]
CLAIMED: list[Step] = [*DECIDED, _claim]

# name -> (steps to the starting record, the transition, the command it sends)
TRANSITIONS: dict[str, tuple[list[Step], Step, str]] = {
    "create": ([], _create, "insert"),
    "decide (vote)": ([_create], _vote, "update"),
    "decide (quorum)": ([_create, _vote], _second_vote, "update"),
    "claim_for_resume": (DECIDED, _claim, "update"),
    "renew_lease": (CLAIMED, _renew, "update"),
    "release": (CLAIMED, _release, "update"),
    "complete": (CLAIMED, _complete, "update"),
    "fail": (CLAIMED, _fail, "update"),
    "cancel": ([_create], _cancel, "update"),
    "expire": ([_create, _vote], _expire, "update"),
}

WCE = {"code": 91, "errmsg": "injected: replication not confirmed"}

# name -> (times, failCommand data, expected outcome)
#   "retried": succeeds, document equals the control's
#   "refused": ApprovalStoreError, document unchanged
#   "applied": ApprovalStoreError(outcome_unknown), document equals the control's
FAULTS: dict[str, tuple[int, dict[str, Any], str]] = {
    "network error once": (1, {"closeConnection": True}, "retried"),
    "ShutdownInProgress (91) once": (1, {"errorCode": 91}, "retried"),
    "InterruptedAtShutdown (11600) once": (1, {"errorCode": 11600}, "retried"),
    "write concern error, retryable, once": (
        1,
        {"writeConcernError": WCE, "errorLabels": ["RetryableWriteError"]},
        "retried",
    ),
    "network error twice": (2, {"closeConnection": True}, "refused"),
    "InterruptedAtShutdown (11600) twice": (2, {"errorCode": 11600}, "refused"),
    "BadValue (2), not retryable": (1, {"errorCode": 2}, "refused"),
    "write concern error, not retryable": (1, {"writeConcernError": WCE}, "applied"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("transition", list(TRANSITIONS))
async def test_a_transition_under_a_fault_retries_or_fails_typed_never_half_written(
    harness: Harness, transition: str, fault: str
) -> None:
    setup, operation, command = TRANSITIONS[transition]
    times, data, expected = FAULTS[fault]
    for side in (harness.control, harness.faulted):
        for step in setup:
            await step(side)
    control_result = await operation(harness.control)
    control = await harness.control.document()
    before = await harness.faulted.document()
    assert control != before

    harness.listener.failures.clear()
    await harness.arm(command, times, data)
    try:
        if expected == "retried":
            result = await operation(harness.faulted)
        else:
            with pytest.raises(ApprovalStoreError) as raised:
                await operation(harness.faulted)
    finally:
        await harness.disarm()

    after = await harness.faulted.document()
    # The fault fired as often as armed, unless the first one was final (no retry after it).
    fired = 1 if expected == "applied" or "not retryable" in fault else times
    assert harness.listener.failures == [command] * fired
    if expected == "retried":
        assert after == control
        if isinstance(control_result, PendingApproval):
            assert result == control_result
        return
    error = raised.value
    assert error.approval_id == APPROVAL
    assert error.operation in transition
    assert APPROVAL in str(error) and error.operation in str(error)
    if expected == "refused":
        assert after == before
        assert not error.outcome_unknown or times > 1
    else:
        assert error.outcome_unknown
        assert after == control


async def test_reads_retry_once_and_then_fail_typed(harness: Harness) -> None:
    side = harness.faulted
    await _create(side)
    expected = await side.store.get(APPROVAL)
    await harness.arm("find", 1, {"closeConnection": True})
    try:
        assert await side.store.get(APPROVAL) == expected
    finally:
        await harness.disarm()
    await harness.arm("find", 2, {"closeConnection": True})
    try:
        with pytest.raises(ApprovalStoreError, match=f"approval {APPROVAL}: get failed"):
            await side.store.get(APPROVAL)
    finally:
        await harness.disarm()
    await harness.arm("find", 1, {"errorCode": 2})
    try:
        with pytest.raises(ApprovalStoreError, match="approval store: list failed") as raised:
            await side.store.list()
        assert not raised.value.outcome_unknown
    finally:
        await harness.disarm()
    assert await side.store.get(APPROVAL) == expected
