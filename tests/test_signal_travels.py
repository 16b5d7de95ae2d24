"""Issue 11, part 3: the decision signal travels with the call, and a resume decodes once.

The decision layer's verdict reaches the pending record through the run's own recorder (no
cache in the gate, no walk of the agent graph), so a run paused by one provider shows its
signal to any other reader, in this process or another; two runs in flight in one process each
record their own. A resume verifies the state blob once, before the claim, and after the claim
only checks that the claimed record still holds that very blob.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

import pytest
from agents import Agent
from agents.testing import ScriptedModel, assistant_message, function_call

from evolving_agents import (
    AgentRegistry,
    AgentRunResult,
    ApprovalStatus,
    MongoDBClient,
    OpenAIAgentsProvider,
    OpenAIToolAdapter,
    RunStatus,
    StateIntegrityError,
)
from evolving_agents.adapters.call_signals import current_signals, recording_signals
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.decisions.base import DecisionContext, DecisionSignal, ToolCallRequest
from evolving_agents.storage.names import APPROVALS


class RunNamingPolicy:
    """Asks a person for every grant and names the run it was asked in; ``gather`` parties
    must all be inside ``decide`` at once, so concurrent runs are proven to overlap."""

    name = "run-naming"

    def __init__(self, gather: int = 1, verdict: str = "needs_approval") -> None:
        self.asked: list[str | None] = []
        self.verdict = verdict
        self._barrier = asyncio.Barrier(gather)

    async def decide(self, tool_call: ToolCallRequest, context: DecisionContext) -> DecisionSignal:
        self.asked.append(context.run_id)
        await asyncio.wait_for(self._barrier.wait(), timeout=10)
        return DecisionSignal.of(
            self.verdict,
            provider=self.name,
            risk=0.6,
            reason=f"asked in run {context.run_id}",
            request_id=f"req-{context.run_id}",
        )


class Grants:
    """An agent whose model grants al access for 12h under call id c1 (``calls`` times, each
    a turn of its own), then says it is done."""

    def __init__(self, adapter: OpenAIToolAdapter, name: str = "grants", calls: int = 1) -> None:
        self.ran: list[int] = []
        ran = self.ran

        def grant_access(user: str, hours: int) -> str:
            """Grant access for some hours."""
            ran.append(hours)
            return f"granted {hours}h"

        call = function_call("grant_access", {"user": "al", "hours": 12}, call_id="c1")
        steps: list[Any] = [[call] for _ in range(calls)] + [[assistant_message("done")]]
        self.agent = Agent(
            name=name, tools=[adapter.adapt(grant_access)], model=ScriptedModel(steps)
        )


def provider_for(mongo: MongoDBClient, *agents: Agent[Any]) -> OpenAIAgentsProvider:
    registry = AgentRegistry()
    for agent in agents:
        registry.register(agent)
    return OpenAIAgentsProvider(mongodb_client=mongo, registry=registry)


async def test_a_run_paused_by_one_provider_shows_its_signal_to_another(
    mongo: MongoDBClient, backend: str, request: pytest.FixtureRequest
) -> None:
    policy = RunNamingPolicy()
    pausing = provider_for(mongo, Grants(OpenAIToolAdapter(decision_provider=policy)).agent)
    run = await pausing.execute_agent("grants", "twelve hours")
    assert run.status is RunStatus.AWAITING_APPROVAL and run.approval_id is not None

    # Another provider: its own client on the wire server, no agents, no gate, no recorder.
    other = (
        mongo
        if backend == "memory"
        else MongoDBClient(request.getfixturevalue("wire_uri"), mongo.db_name)
    )
    reader = OpenAIAgentsProvider(mongodb_client=other, registry=AgentRegistry())
    try:
        page = await reader.store.list(status=ApprovalStatus.PENDING)
        [listed] = [item for item in page.items if item.id == run.approval_id]
        [call] = listed.tool_calls
        assert call.signal is not None
        assert call.signal["verdict"] == "needs_approval"
        assert call.signal["reason"] == f"asked in run {run.run_id}"
        assert (await reader.store.get(run.approval_id)).tool_calls[0].signal == call.signal
    finally:
        if other is not mongo:
            await other.close()


_READ_SIGNAL = """
import asyncio, json, os, sys
from evolving_agents import MongoDBClient
from evolving_agents.approvals.store import PendingApprovalStore

async def main() -> None:
    client = MongoDBClient(os.environ["MONGODB_URI"], os.environ["MONGODB_DATABASE_NAME"])
    record = await PendingApprovalStore(client).get(sys.argv[1])
    print(json.dumps(record.tool_calls[0].signal))
    await client.close()

asyncio.run(main())
"""


async def test_another_process_reads_the_signal_from_the_record(wire_env: dict[str, str]) -> None:
    mongo = MongoDBClient(wire_env["MONGODB_URI"], wire_env["MONGODB_DATABASE_NAME"])
    try:
        provider = provider_for(
            mongo, Grants(OpenAIToolAdapter(decision_provider=RunNamingPolicy())).agent
        )
        run = await provider.execute_agent("grants", "twelve hours")
        assert run.approval_id is not None
        shown = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-c", _READ_SIGNAL, run.approval_id],
            env=wire_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        await mongo.close()
    assert shown.returncode == 0, shown.stderr
    signal = json.loads(shown.stdout)
    assert signal["verdict"] == "needs_approval"
    assert signal["reason"] == f"asked in run {run.run_id}"


async def test_two_runs_in_flight_in_one_process_each_record_their_own_signal(
    mongo: MongoDBClient,
) -> None:
    # One adapter, so one gate for both agents: same tool, same call id, same arguments.
    policy = RunNamingPolicy(gather=2)
    adapter = OpenAIToolAdapter(decision_provider=policy)
    first, second = Grants(adapter, "first").agent, Grants(adapter, "second").agent
    provider = provider_for(mongo, first, second)

    runs = await asyncio.gather(
        provider.execute_agent("first", "twelve hours"),
        provider.execute_agent("second", "twelve hours"),
    )

    assert sorted(policy.asked, key=str) == sorted((run.run_id for run in runs), key=str)
    for run in runs:
        assert run.status is RunStatus.AWAITING_APPROVAL and run.approval_id is not None
        [call] = (await provider.store.get(run.approval_id)).tool_calls
        assert call.signal is not None
        assert call.signal["reason"] == f"asked in run {run.run_id}", "never the other run's"
        assert call.signal["request_id"] == f"req-{run.run_id}"


async def test_a_streamed_run_records_its_signal_through_the_sdks_task(
    mongo: MongoDBClient,
) -> None:
    policy = RunNamingPolicy()
    provider = provider_for(mongo, Grants(OpenAIToolAdapter(decision_provider=policy)).agent)
    events = [event async for event in provider.execute_agent_streamed("grants", "twelve hours")]
    result = events[-1]
    assert isinstance(result, AgentRunResult) and result.approval_id is not None
    assert result.status is RunStatus.AWAITING_APPROVAL
    [call] = (await provider.store.get(result.approval_id)).tool_calls
    assert call.signal is not None and call.signal["reason"] == f"asked in run {result.run_id}"
    assert current_signals() is None, "the recorder does not outlive the run's scope"


async def test_the_gate_remembers_nothing_between_runs(mongo: MongoDBClient) -> None:
    policy = RunNamingPolicy()
    grants = Grants(OpenAIToolAdapter(decision_provider=policy), calls=2)
    provider = provider_for(mongo, grants.agent)
    first = await provider.execute_agent("grants", "twelve hours")
    second = await provider.execute_agent("grants", "twelve hours, again")

    assert policy.asked == [first.run_id, second.run_id], "the same call, asked once per run"
    assert second.approval_id is not None
    [call] = (await provider.store.get(second.approval_id)).tool_calls
    assert call.signal is not None and call.signal["reason"] == f"asked in run {second.run_id}"


async def test_a_resumed_run_asks_again_so_a_policy_that_now_blocks_stops_the_call(
    mongo: MongoDBClient,
) -> None:
    policy = RunNamingPolicy()
    grants = Grants(OpenAIToolAdapter(decision_provider=policy))
    provider = provider_for(mongo, grants.agent)
    run = await provider.execute_agent("grants", "twelve hours")
    assert run.approval_id is not None
    await provider.store.decide(run.approval_id, verdict="approved", reviewer="bob")

    policy.verdict = "block"  # the policy changed while the call waited for a person
    done = await provider.resume_agent(run.approval_id)

    assert grants.ran == [], "the guardrail of the resumed run asked again and blocked it"
    assert policy.asked == [run.run_id, run.run_id]
    assert "Blocked by policy (run-naming)" in done.tool_outputs[0].output


async def test_a_plain_runner_run_can_record_its_own_signals() -> None:
    from agents import Runner

    policy = RunNamingPolicy()
    grants = Grants(OpenAIToolAdapter(decision_provider=policy))
    with recording_signals() as signals:
        result = await Runner.run(grants.agent, "twelve hours")
    [item] = result.interruptions
    given = signals.for_call("grant_access", "c1", {"user": "al", "hours": 12})
    assert item.call_id == "c1" and given is not None and given.verdict.value == "needs_approval"
    assert signals.for_call("grant_access", "c1", {"user": "al", "hours": 13}) is None


# -- the state is decoded once per resume ------------------------------------------------------


async def test_a_resume_decodes_and_verifies_the_state_once(
    mongo: MongoDBClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    grants = Grants(OpenAIToolAdapter(decision_provider=RunNamingPolicy()))
    provider = provider_for(mongo, grants.agent)
    run = await provider.execute_agent("grants", "twelve hours")
    assert run.approval_id is not None
    await provider.store.decide(run.approval_id, verdict="approved", reviewer="bob")
    decoded: list[str] = []
    decode = provider.codec.decode

    def counting(approval_id: str, stored: Any) -> dict[str, Any]:
        decoded.append(approval_id)
        return decode(approval_id, stored)

    monkeypatch.setattr(provider.codec, "decode", counting)
    done = await provider.resume_agent(run.approval_id)

    assert done.status is RunStatus.SUCCESS and grants.ran == [12]
    assert decoded == [run.approval_id]


class SwappingStore(PendingApprovalStore):
    """Between the resume's check and its claim, someone with database access swaps in the
    state blob of another record (validly signed, for that other record)."""

    swap_from: str | None = None
    raw: Any = None

    async def claim_for_resume(self, approval_id: str, *args: Any, **kwargs: Any) -> Any:
        if self.swap_from is not None:
            raw = self.raw
            other = await raw.find_one({"_id": self.swap_from})
            assert other is not None
            await raw.update_one({"_id": approval_id}, {"$set": {"state": other["state"]}})
        return await super().claim_for_resume(approval_id, *args, **kwargs)


async def test_a_state_swapped_between_the_check_and_the_claim_is_refused_unclaimed(
    mongo: MongoDBClient,
) -> None:
    """The claim pins the verified blob by its digest and signature, so a swap that leaves the
    version alone makes the claim miss: nothing is claimed, so nothing needs releasing."""
    grants = Grants(OpenAIToolAdapter(decision_provider=RunNamingPolicy()), calls=2)
    registry = AgentRegistry()
    registry.register(grants.agent)
    plain = OpenAIAgentsProvider(mongodb_client=mongo, registry=registry)
    store = SwappingStore(mongo, signer=plain.codec.signer, edit_checker=plain.check_edit)
    provider = OpenAIAgentsProvider(mongodb_client=mongo, registry=registry, store=store)
    target = await provider.execute_agent("grants", "twelve hours")
    donor = await provider.execute_agent("grants", "twelve hours, again")
    assert target.approval_id is not None and donor.approval_id is not None
    await provider.store.decide(target.approval_id, verdict="approved", reviewer="bob")

    store.swap_from, store.raw = donor.approval_id, mongo.collection(APPROVALS)
    with pytest.raises(StateIntegrityError, match="changed between its check and the claim"):
        await provider.resume_agent(target.approval_id)

    record = await provider.store.get(target.approval_id)
    assert record.status is ApprovalStatus.DECIDED and record.claim.worker_id is None
    actions = [entry.action for entry in record.audit]
    assert actions == ["created", "decision.approved"], actions
    assert record.claim.attempts == 0
    assert grants.ran == []
