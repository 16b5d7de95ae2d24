"""Handing a step the record the last one returned (``known=``): fewer reads, same rules.

One process that pauses, decides and resumes (a callback, a policy, a CLI) holds every record
it wrote: ``AgentRunResult.record`` after the pause, what ``store.decide`` returns after the
vote. Passed on as ``known=``, each step writes without reading first, pinned to the
record's version, so a record that changed meanwhile is read again and re-checked, never
written over. The command counts are from a pymongo ``CommandListener`` on the wire server.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from agents import Agent
from agents.testing import ScriptedModel, assistant_message, function_call
from pymongo import AsyncMongoClient, monitoring

from evolving_agents import (
    AgentRegistry,
    AgentRunResult,
    ApprovalConflict,
    ApprovalStatus,
    MongoDBClient,
    OpenAIAgentsProvider,
    OpenAIToolAdapter,
    RunStatus,
    StateIntegrityError,
)
from evolving_agents.approvals.models import utcnow
from evolving_agents.approvals.worker import ResumeWorker


class Commands(monitoring.CommandListener):
    """The name and target collection of every command sent, index creation left out; and
    the filter of every ``find``."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.find_filters: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in ("createIndexes", "listIndexes", "listCollections"):
            return
        target = event.command.get(event.command_name)
        self.sent.append(f"{event.command_name} {target}")
        if event.command_name == "find":
            self.find_filters.append(dict(event.command.get("filter") or {}))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


class Gated:
    """A provider with one gated tool whose body counts its runs."""

    def __init__(self, mongo: MongoDBClient, *, metadata: dict[str, Any] | None = None) -> None:
        self.ran: list[dict[str, Any]] = []
        ran = self.ran

        def grant_access(user: str, hours: int) -> str:
            """Grant a user admin access for some hours."""
            ran.append({"user": user, "hours": hours})
            return f"granted {user} for {hours}h"

        self.tool = OpenAIToolAdapter().adapt(
            grant_access, metadata=metadata or {}, needs_approval=True
        )
        self.registry = AgentRegistry()
        self.provider = OpenAIAgentsProvider(mongodb_client=mongo, registry=self.registry)

    async def pause(self, call_id: str = "c1") -> AgentRunResult:
        steps = [
            [function_call("grant_access", {"user": "alice", "hours": 4}, call_id=call_id)],
            [assistant_message("done")],
        ]
        agent = Agent(name="ops-agent", tools=[self.tool], model=ScriptedModel(steps))
        self.registry.register(agent, replace=True)
        run = await self.provider.execute_agent("ops-agent", "grant alice")
        assert run.status is RunStatus.AWAITING_APPROVAL
        return run


@pytest.fixture
async def counted(wire_uri: str) -> Any:
    commands = Commands()
    mongo: Any = AsyncMongoClient(wire_uri, tz_aware=True, event_listeners=[commands])
    client = MongoDBClient(client=mongo, db_name=f"eat_known_{id(commands):x}")
    yield client, commands
    await mongo.drop_database(client.db_name)
    await mongo.close()


async def test_one_process_cycle_is_six_commands_and_runs_once(counted: Any) -> None:
    client, commands = counted
    gated = Gated(client)
    await gated.pause("warm")  # index creation and first connections
    commands.sent.clear()

    run = await gated.pause()
    assert run.record is not None and run.record.state is not None and run.record.state.data
    decided = await gated.provider.store.decide(
        run.approval_id or "", verdict="approved", reviewer="bob", known=run.record
    )
    assert decided.status is ApprovalStatus.DECIDED and decided.state is not None
    done = await gated.provider.resume_agent(decided.id, known=decided)

    assert done.status is RunStatus.SUCCESS and gated.ran == [{"user": "alice", "hours": 4}]
    sent = Counter(commands.sent)
    assert sum(sent.values()) == 6, commands.sent
    assert not any(name.startswith("find") for name in sent), commands.sent
    stored = await gated.provider.store.get(decided.id)
    assert stored.status is ApprovalStatus.COMPLETED
    # What was computed instead of read back is what the database holds, seals and all.
    assert [entry.action for entry in stored.audit] == [
        "created",
        "decision.approved",
        "claimed",
        "completed",
    ]
    gated.provider.store.check_integrity(stored)


async def test_by_id_reads_before_each_decision_and_claim(counted: Any) -> None:
    client, commands = counted
    gated = Gated(client)
    await gated.pause("warm")
    commands.sent.clear()

    run = await gated.pause()
    await gated.provider.store.decide(run.approval_id or "", verdict="approved", reviewer="bob")
    done = await gated.provider.resume_agent(run.approval_id or "")

    assert done.status is RunStatus.SUCCESS
    finds = [name for name in commands.sent if name.startswith("find")]
    assert len(finds) == 2 and len(commands.sent) == 8, commands.sent


async def test_a_stale_known_record_is_read_again_and_keeps_votes(mongo: MongoDBClient) -> None:
    gated = Gated(mongo, metadata={"min_approvals": 2})
    run = await gated.pause()
    assert run.record is not None and run.approval_id is not None
    store = gated.provider.store
    # Someone else's vote lands after the pause: the record this process holds is stale.
    await store.decide(run.approval_id, verdict="approved", reviewer="carol")

    decided = await store.decide(
        run.approval_id, verdict="approved", reviewer="bob", known=run.record
    )

    assert decided.status is ApprovalStatus.DECIDED
    voters = [vote.reviewer for vote in decided.tool_calls[0].votes]
    assert sorted(voters) == ["bob", "carol"]
    # The same reviewer on the stale record again: refused after the re-read, not recorded.
    with pytest.raises(ApprovalConflict):
        await store.decide(run.approval_id, verdict="approved", reviewer="bob", known=run.record)
    # The vote that landed on the re-read came back without the state blob: the resume reads.
    done = await gated.provider.resume_agent(decided.id, known=decided)
    assert done.status is RunStatus.SUCCESS and len(gated.ran) == 1


async def test_an_overdue_known_record_is_expired_not_approved(mongo: MongoDBClient) -> None:
    gated = Gated(mongo)
    run = await gated.pause()
    assert run.record is not None and run.approval_id is not None
    store = gated.provider.store
    late = utcnow() + timedelta(days=400)
    store._records.clock = lambda: late  # the record's deadline has passed

    with pytest.raises(ApprovalConflict):
        await store.decide(run.approval_id, verdict="approved", reviewer="bob", known=run.record)

    record = await store.get(run.approval_id)
    decision = record.tool_calls[0].decision
    assert decision is not None and decision.verdict == "rejected"
    assert decision.reviewer == "eat-timeout"


async def test_known_must_be_the_record_named(mongo: MongoDBClient) -> None:
    gated = Gated(mongo)
    first, second = await gated.pause("c1"), await gated.pause("c2")
    assert first.record is not None and second.approval_id is not None
    with pytest.raises(ValueError, match="not " + second.approval_id):
        await gated.provider.store.decide(
            second.approval_id, verdict="approved", reviewer="bob", known=first.record
        )
    with pytest.raises(ValueError, match="not " + second.approval_id):
        await gated.provider.resume_agent(second.approval_id, known=first.record)
    assert (await gated.provider.store.get(second.approval_id)).status is ApprovalStatus.PENDING


async def test_a_stale_known_claim_is_tried_again_on_a_fresh_read(mongo: MongoDBClient) -> None:
    gated = Gated(mongo)
    run = await gated.pause()
    store = gated.provider.store
    decided = await store.decide(
        run.approval_id or "", verdict="approved", reviewer="bob", known=run.record
    )
    # Another worker claims it and gives it back: decided again, at a newer version.
    await store.claim_for_resume(decided.id, "w-other", 60)
    await store.release(decided.id, "w-other", "shutting down")

    done = await gated.provider.resume_agent(decided.id, known=decided)

    assert done.status is RunStatus.SUCCESS and len(gated.ran) == 1
    with pytest.raises(ApprovalConflict, match="completed"):
        await gated.provider.resume_agent(decided.id, known=decided)
    assert len(gated.ran) == 1


async def test_a_forged_known_record_is_refused_and_left_alone(mongo: MongoDBClient) -> None:
    gated = Gated(mongo)
    run = await gated.pause()
    assert run.record is not None
    store = gated.provider.store

    def forged(record: Any) -> Any:
        call = record.tool_calls[0]
        mallory = call.model_copy(update={"arguments": {"user": "mallory", "hours": 400}})
        return record.model_copy(update={"tool_calls": [mallory]})

    with pytest.raises(StateIntegrityError):
        await store.decide(
            run.record.id, verdict="approved", reviewer="bob", known=forged(run.record)
        )
    assert (await store.get(run.record.id)).status is ApprovalStatus.PENDING

    decided = await store.decide(
        run.record.id, verdict="approved", reviewer="bob", known=run.record
    )
    with pytest.raises(StateIntegrityError):
        await gated.provider.resume_agent(decided.id, known=forged(decided))

    assert gated.ran == []
    assert (await store.get(decided.id)).status is ApprovalStatus.DECIDED


async def test_the_record_is_never_serialized(mongo: MongoDBClient) -> None:
    run = await Gated(mongo).pause()
    assert run.record is not None
    rebuilt = AgentRunResult.model_validate_json(run.model_dump_json())
    assert rebuilt.record is None and "state" not in run.model_dump_json()


async def test_the_worker_reads_a_decided_record_once_and_resumes_from_that_read(
    counted: Any,
) -> None:
    client, commands = counted
    gated = Gated(client)
    await gated.pause("warm")
    run = await gated.pause()
    assert run.approval_id is not None
    await gated.provider.store.decide(run.approval_id, verdict="approved", reviewer="bob")
    commands.find_filters.clear()

    stats = await ResumeWorker(gated.provider, poll_interval=0.05).run(drain=True)

    assert stats.completed == 1 and gated.ran == [{"user": "alice", "hours": 4}]
    by_id = [found for found in commands.find_filters if found.get("_id") == run.approval_id]
    # still_ready's read, whole: handed to the resume, which claims without reading again.
    assert len(by_id) == 1, commands.find_filters
    stored = await gated.provider.store.get(run.approval_id)
    assert stored.status is ApprovalStatus.COMPLETED
    gated.provider.store.check_integrity(stored)
