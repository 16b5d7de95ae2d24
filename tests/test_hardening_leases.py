"""A lease that fails once is not lost; a lease that is lost stops its run; a body runs once.

Two providers ("w1", "w2") resume the same paused run on the real wire server with a short
lease. Faults reach only w1's renewals: each provider's store has its own client, w1's with an
``appName`` that a ``failCommand`` fail point matches, and the tool ledgers use other clients,
so the fault lands on the renewal (an ``update``) and nowhere else. The interleavings of two
workers around one tool body are driven from here: w1 inside the body while w2 claims, w1
finishing (or raising) after w2 saw ``started``, and a body whose worker vanished.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pymongo.common
import pytest
from agents import Agent
from agents.items import TResponseOutputItem
from agents.testing import ModelCall, ModelStep, ScriptedModel, assistant_message, function_call
from pymongo import AsyncMongoClient, monitoring

from evolving_agents import (
    AgentRegistry,
    ApprovalConflict,
    ApprovalStatus,
    MongoDBClient,
    OpenAIAgentsProvider,
    OpenAIToolAdapter,
    RunStatus,
)
from evolving_agents.approvals import LeaseLost
from evolving_agents.approvals.ledger import ExecutionStatus, ToolExecutionLedger, idempotency_key
from evolving_agents.approvals.models import utcnow

pytestmark = pytest.mark.wire

LEASE = 0.6
AGENT = "pay-agent"


class FailedCommands(monitoring.CommandListener):
    """What the server refused on one client: proves the fail point hit the renewal."""

    def __init__(self) -> None:
        self.failures: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self.failures.append(event.command_name)


@dataclass
class Body:
    """The governed tool's body: counts starts and ends across workers (and threads)."""

    seconds: float = 0.0
    mode: str = "async"  # "async", "sync" (runs in a thread, cannot be cancelled), "raise"
    starts: list[tuple[str | None, float]] = field(default_factory=list)
    ends: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _start(self) -> None:
        with self.lock:
            self.starts.append((idempotency_key(), time.monotonic()))

    def _end(self) -> None:
        with self.lock:
            self.ends.append(time.monotonic())

    def tool(self) -> Any:
        body = self
        if self.mode == "sync":

            def pay(vendor: str, amount: int) -> str:
                """Pay a vendor."""
                body._start()
                time.sleep(body.seconds)
                body._end()
                return f"paid {amount} to {vendor}"

            return OpenAIToolAdapter().adapt(pay, metadata={"system": "payments"})

        async def pay_async(vendor: str, amount: int) -> str:
            """Pay a vendor."""
            body._start()
            await asyncio.sleep(body.seconds)
            body._end()
            if body.mode == "raise":
                raise RuntimeError("the payment gateway answered 502")
            return f"paid {amount} to {vendor}"

        return OpenAIToolAdapter().adapt(pay_async, name="pay", metadata={"system": "payments"})


def _agent(body: Body, *, hang_after_tool: bool) -> Agent[Any]:
    async def respond(call: ModelCall) -> list[TResponseOutputItem]:
        items = call.input if isinstance(call.input, list) else []
        outputs = [
            i for i in items if isinstance(i, dict) and i.get("type") == "function_call_output"
        ]
        if not outputs:
            return [function_call("pay", {"vendor": "ACME", "amount": 900}, call_id="c1")]
        if hang_after_tool:
            await asyncio.Event().wait()
        return [assistant_message(f"done: {outputs[0]['output']}")]

    model = ScriptedModel([ModelStep.respond(respond) for _ in range(6)])
    return Agent(name=AGENT, tools=[body.tool()], model=model)


@dataclass
class Worker:
    provider: OpenAIAgentsProvider
    app_name: str
    listener: FailedCommands


@dataclass
class Deployment:
    admin: Any
    db_name: str
    wire_uri: str
    clients: list[Any] = field(default_factory=list)

    def worker(self, name: str, body: Body, *, hang_after_tool: bool = False) -> Worker:
        app_name = f"eat-lease-{name}-{uuid.uuid4().hex[:6]}"
        listener = FailedCommands()
        store_client: Any = AsyncMongoClient(
            self.wire_uri,
            appname=app_name,
            tz_aware=True,
            event_listeners=[listener],
            # After a dropped connection the driver checks the server again before retrying:
            # polled at once here (see test_store_faults.py), the retry itself unchanged.
            heartbeatFrequencyMS=500,
            serverMonitoringMode="poll",
        )
        ledger_client: Any = AsyncMongoClient(self.wire_uri, tz_aware=True)
        self.clients += [store_client, ledger_client]
        registry = AgentRegistry()
        registry.register(_agent(body, hang_after_tool=hang_after_tool))
        provider = OpenAIAgentsProvider(
            mongodb_client=MongoDBClient(client=store_client, db_name=self.db_name),
            registry=registry,
            ledger=ToolExecutionLedger(MongoDBClient(client=ledger_client, db_name=self.db_name)),
            worker_id=name,
        )
        provider.lease_seconds = LEASE
        return Worker(provider, app_name, listener)

    async def fail_updates_of(self, worker: Worker, mode: Any, **data: Any) -> None:
        """Arm ``failCommand`` for the ``update`` commands of one worker's store client."""
        await self.admin.admin.command(
            {
                "configureFailPoint": "failCommand",
                "mode": mode,
                "data": {"failCommands": ["update"], "appName": worker.app_name, **data},
            }
        )

    async def disarm(self) -> None:
        await self.admin.admin.command({"configureFailPoint": "failCommand", "mode": "off"})


@pytest.fixture
async def deployment(wire_uri: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Deployment]:
    monkeypatch.setattr(pymongo.common, "MIN_HEARTBEAT_INTERVAL", 0.02)
    admin: Any = AsyncMongoClient(wire_uri, tz_aware=True)
    setup = Deployment(admin, f"eat_test_lease_{uuid.uuid4().hex[:8]}", wire_uri)
    try:
        yield setup
    finally:
        await setup.disarm()
        await admin.drop_database(setup.db_name)
        for client in [*setup.clients, admin]:
            await client.close()


async def _decided_run(worker: Worker) -> str:
    run = await worker.provider.execute_agent(AGENT, "pay ACME 900")
    assert run.status is RunStatus.AWAITING_APPROVAL and run.approval_id is not None
    await worker.provider.store.decide(run.approval_id, verdict="approved", reviewer="alice")
    return run.approval_id


async def _until(check: Callable[[], Awaitable[bool] | bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        outcome = check()
        if outcome if isinstance(outcome, bool) else await outcome:
            return
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


async def _lease_lapsed(worker: Worker, approval_id: str) -> bool:
    record = await worker.provider.store.get(approval_id)
    lease_until = record.claim.lease_until
    return lease_until is not None and lease_until < utcnow()


# -- one failed renewal ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [{"errorCode": 2}, {"closeConnection": True}],
    ids=["BadValue once", "connection dropped twice (the retry too)"],
)
async def test_one_failed_renewal_is_retried_and_no_other_worker_takes_the_run(
    deployment: Deployment, fault: dict[str, Any]
) -> None:
    body = Body(seconds=2.0)
    w1, w2 = deployment.worker("w1", body), deployment.worker("w2", body)
    approval_id = await _decided_run(w1)

    first = asyncio.create_task(w1.provider.resume_agent(approval_id))
    await _until(lambda: bool(body.starts))
    # Exactly one renewal fails: PyMongo's own retry of a dropped connection fails as well.
    times = 2 if "closeConnection" in fault else 1
    await deployment.fail_updates_of(w1, {"times": times}, **fault)
    claims_by_w2 = conflicts = 0
    started = time.monotonic()
    while not first.done():
        assert time.monotonic() - started < 10, "w1 never finished"
        try:
            await w2.provider.resume_agent(approval_id)
            claims_by_w2 += 1
        except ApprovalConflict:
            conflicts += 1
        await asyncio.sleep(0.1)
    done = await first

    assert w1.listener.failures.count("update") == times, "the renewal really failed"
    assert claims_by_w2 == 0 and conflicts >= 5, "w2 never took the run while w1 held it"
    assert done.status is RunStatus.SUCCESS and done.final_output == "done: paid 900 to ACME"
    assert len(body.starts) == 1
    record = await w1.provider.store.get(approval_id)
    assert record.status is ApprovalStatus.COMPLETED
    assert record.claim.attempts == 1 and record.claim.worker_id == "w1"


# -- a lease that cannot be renewed --------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [{"errorCode": 2}, {"blockConnection": True, "blockTimeMS": 3000, "errorCode": 2}],
    ids=["every renewal refused", "every renewal hangs"],
)
async def test_a_worker_that_cannot_renew_stops_before_its_lease_runs_out_and_is_taken_over(
    deployment: Deployment, fault: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    body = Body()
    w1 = deployment.worker("w1", body, hang_after_tool=True)  # its model call after the tool hangs
    w2 = deployment.worker("w2", body)
    approval_id = await _decided_run(w1)

    first = asyncio.create_task(w1.provider.resume_agent(approval_id))
    await _until(lambda: bool(body.ends))
    await deployment.fail_updates_of(w1, "alwaysOn", **fault)
    await asyncio.sleep(LEASE / 3 + 0.05)  # from here on, no renewal of w1 lands
    lease_until = (await w1.provider.store.get(approval_id)).claim.lease_until
    assert lease_until is not None

    with caplog.at_level(logging.ERROR), pytest.raises(LeaseLost, match="lost the lease"):
        await asyncio.wait_for(first, timeout=LEASE * 3)
    stopped_at = utcnow()
    assert stopped_at < lease_until, "w1 stopped its run before its lease ran out"
    assert any("lost the lease" in r.getMessage() for r in caplog.records), "and said so"
    left = await w1.provider.store.get(approval_id)
    assert left.status is ApprovalStatus.RESUMING and left.claim.worker_id == "w1"
    assert left.result.final_output is None, "nothing was reported as done"

    await deployment.disarm()
    await _until(lambda: _lease_lapsed(w2, approval_id))
    done = await w2.provider.resume_agent(approval_id)
    assert done.status is RunStatus.SUCCESS and done.final_output == "done: paid 900 to ACME"
    assert len(body.starts) == 1, "the takeover reused the stored output"
    final = await w2.provider.store.get(approval_id)
    assert final.status is ApprovalStatus.COMPLETED and final.claim.attempts == 2


async def test_a_streamed_resume_that_loses_its_lease_raises_and_leaves_the_record(
    deployment: Deployment,
) -> None:
    body = Body()
    w1 = deployment.worker("w1", body, hang_after_tool=True)
    approval_id = await _decided_run(w1)

    async def consume() -> list[Any]:
        seen = []
        async for event in w1.provider.resume_agent_streamed(approval_id):
            seen.append(event)
        return seen

    streaming = asyncio.create_task(consume())
    await _until(lambda: bool(body.ends))
    await deployment.fail_updates_of(w1, "alwaysOn", errorCode=2)
    with pytest.raises(LeaseLost):
        await asyncio.wait_for(streaming, timeout=LEASE * 3)
    left = await w1.provider.store.get(approval_id)
    assert left.status is ApprovalStatus.RESUMING and left.claim.worker_id == "w1"


# -- two workers around one tool body ----------------------------------------------------------


@pytest.mark.parametrize("mode", ["async", "sync"])
async def test_first_worker_inside_the_body_while_the_second_claims_runs_the_body_once(
    deployment: Deployment, mode: str
) -> None:
    """w1's renewals fail while its body runs 2.5 s; w2 claims once the lease lapsed, finds
    the call ``started`` with a fresh heartbeat, waits, and completes with w1's output."""
    body = Body(seconds=2.5, mode=mode)
    w1, w2 = deployment.worker("w1", body), deployment.worker("w2", body)
    approval_id = await _decided_run(w1)

    first = asyncio.create_task(w1.provider.resume_agent(approval_id))
    await _until(lambda: bool(body.starts))
    await deployment.fail_updates_of(w1, "alwaysOn", errorCode=2)
    await _until(lambda: _lease_lapsed(w2, approval_id))
    w2_claimed_at = time.monotonic()
    done = await asyncio.wait_for(w2.provider.resume_agent(approval_id), timeout=10)
    with pytest.raises(LeaseLost):
        await asyncio.wait_for(first, timeout=10)

    assert w2_claimed_at < body.ends[0], "w2 claimed while w1 was still inside the body"
    assert done.status is RunStatus.SUCCESS and done.final_output == "done: paid 900 to ACME"
    assert len(body.starts) == 1 and len(body.ends) == 1
    record = await w2.provider.store.get(approval_id)
    assert record.status is ApprovalStatus.COMPLETED
    assert record.claim.attempts == 2 and record.claim.worker_id == "w2"
    entry = await w2.provider._ledger.get(record.run_id, "c1")
    assert entry is not None and entry.status is ExecutionStatus.FINISHED
    assert entry.worker_id == "w1" and entry.output == "paid 900 to ACME"


async def test_a_body_that_raises_after_the_second_worker_saw_started_is_never_run_again(
    deployment: Deployment,
) -> None:
    body = Body(seconds=2.0, mode="raise")
    w1, w2 = deployment.worker("w1", body), deployment.worker("w2", body)
    approval_id = await _decided_run(w1)

    first = asyncio.create_task(w1.provider.resume_agent(approval_id))
    await _until(lambda: bool(body.starts))
    await deployment.fail_updates_of(w1, "alwaysOn", errorCode=2)
    await _until(lambda: _lease_lapsed(w2, approval_id))
    w2_claimed_at = time.monotonic()
    done = await asyncio.wait_for(w2.provider.resume_agent(approval_id), timeout=10)
    with pytest.raises(LeaseLost):
        await asyncio.wait_for(first, timeout=10)

    assert w2_claimed_at < body.ends[0]
    assert done.status is RunStatus.ERROR
    assert done.error is not None and "outcome unknown" in done.error
    assert len(body.starts) == 1, "the body that raised was not run a second time"
    record = await w2.provider.store.get(approval_id)
    assert record.status is ApprovalStatus.FAILED


async def test_a_body_whose_worker_vanished_is_judged_only_once_its_heartbeat_lapsed(
    deployment: Deployment,
) -> None:
    """A worker killed inside the body leaves a ``started`` entry whose heartbeat stops."""
    body = Body()
    w2 = deployment.worker("w2", body)
    approval_id = await _decided_run(w2)
    record = await w2.provider.store.get(approval_id)
    ledger = w2.provider._ledger
    assert (
        await ledger.begin(record.run_id, "c1", tool_name="pay", worker_id="w-dead", alive_for=1.0)
        is None
    )
    entry = await ledger.get(record.run_id, "c1")
    assert entry is not None and entry.alive_until is not None

    done = await w2.provider.resume_agent(approval_id)

    judged_at = utcnow()
    assert judged_at >= entry.alive_until, "w2 waited until the heartbeat had lapsed"
    assert (await w2.provider.store.get(approval_id)).status is ApprovalStatus.FAILED
    assert done.status is RunStatus.ERROR
    assert done.error is not None and "outcome unknown" in done.error and "w-dead" in done.error
    assert body.starts == [], "the body was never run by the second worker"
