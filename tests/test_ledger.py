"""The tool-execution ledger: a governed body runs at most once per call, across resumes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from agents import Agent
from agents.testing import ModelCall, ModelStep, ScriptedModel, assistant_message, function_call

from evolving_agents import (
    AgentRegistry,
    ApprovalStatus,
    MongoDBClient,
    OpenAIAgentsProvider,
    OpenAIToolAdapter,
    RunStatus,
)
from evolving_agents.approvals import codec as codec_module
from evolving_agents.approvals.ledger import (
    COLLECTION_NAME,
    ExecutionStatus,
    ToolExecutionLedger,
    idempotency_key,
)
from evolving_agents.errors import StateTooLarge


class Body:
    """A gated tool body that counts its runs and can be made to hang.

    ``stuck`` is set once the run reaches the place it hangs (the body, or the model call
    after it), so a test kills the worker there and not at whatever point a timer reached.
    """

    def __init__(self) -> None:
        self.runs: list[str | None] = []
        self.stuck = asyncio.Event()
        self.hanging = False

    def tool(self) -> Any:
        body = self

        async def transfer(account: str, amount: int) -> str:
            """Move money."""
            body.runs.append(idempotency_key())
            if body.hanging:
                body.stuck.set()
                await asyncio.Event().wait()
            return f"moved {amount} to {account}"

        return OpenAIToolAdapter().adapt(transfer, metadata={"system": "payments"})


def _never(body: Body) -> Any:
    """A model turn that hangs, after saying it was reached."""

    async def respond(call: ModelCall) -> Any:
        body.stuck.set()
        await asyncio.Event().wait()

    return ModelStep.respond(respond)


def _provider(mongo: MongoDBClient, body: Body, steps: list[Any]) -> OpenAIAgentsProvider:
    agent = Agent(name="pay-agent", tools=[body.tool()], model=ScriptedModel(steps))
    registry = AgentRegistry()
    registry.register(agent)
    provider = OpenAIAgentsProvider(mongodb_client=mongo, registry=registry)
    provider.lease_seconds = 0.3
    return provider


CALL = function_call("transfer", {"account": "ACME", "amount": 900}, call_id="c1")


async def _approved(provider: OpenAIAgentsProvider) -> str:
    run = await provider.execute_agent("pay-agent", "pay ACME 900")
    assert run.approval_id is not None
    await provider.store.decide(run.approval_id, verdict="approved", reviewer="alice")
    return run.approval_id


async def _dies_midway(provider: OpenAIAgentsProvider, approval_id: str, body: Body) -> None:
    """A worker that claims the run, gets stuck where the body says, and is then lost (its
    task cancelled, lease not renewed)."""
    task = asyncio.create_task(provider.resume_agent(approval_id, worker_id="doomed"))
    await asyncio.wait_for(body.stuck.wait(), timeout=30)
    assert (await provider.store.get(approval_id)).status is ApprovalStatus.RESUMING
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.35)  # the lease runs out


async def test_a_retry_after_the_tool_finished_returns_the_stored_output(
    mongo: MongoDBClient,
) -> None:
    body = Body()
    provider = _provider(
        mongo, body, [[CALL], _never(body), [assistant_message("paid")]]
    )
    approval_id = await _approved(provider)
    await _dies_midway(provider, approval_id, body)  # the tool ran; the model call after it hung
    assert body.runs == ["c1"]

    done = await provider.resume_agent(approval_id, worker_id="rescuer")
    assert done.status is RunStatus.SUCCESS and done.final_output == "paid"
    assert body.runs == ["c1"], "the body did not run a second time"
    assert [o.output for o in done.tool_outputs] == ["moved 900 to ACME"]
    record = await provider.store.get(approval_id)
    assert record.claim.attempts == 2 and record.claim.worker_id == "rescuer"


async def test_a_tool_that_started_and_never_finished_is_never_run_again(
    mongo: MongoDBClient,
) -> None:
    body = Body()
    body.hanging = True
    provider = _provider(mongo, body, [[CALL], [assistant_message("unused")]])
    approval_id = await _approved(provider)
    await _dies_midway(provider, approval_id, body)  # died inside the tool body
    body.hanging = False

    done = await provider.resume_agent(approval_id, worker_id="rescuer")
    assert done.status is RunStatus.ERROR
    assert done.error is not None and "outcome unknown" in done.error
    assert body.runs == ["c1"], "the body was not re-run"
    record = await provider.store.get(approval_id)
    assert record.status is ApprovalStatus.FAILED
    assert record.result.error is not None and "outcome unknown" in record.result.error
    assert "transfer call c1" in record.result.error


async def test_the_body_gets_the_call_id_and_the_ledger_records_it(mongo: MongoDBClient) -> None:
    body = Body()
    provider = _provider(mongo, body, [[CALL], [assistant_message("paid")]])
    approval_id = await _approved(provider)
    done = await provider.resume_agent(approval_id)
    assert done.status is RunStatus.SUCCESS and body.runs == ["c1"]
    [entry] = await mongo.collection(COLLECTION_NAME).find({}).to_list(None)
    assert entry["call_id"] == "c1" and entry["status"] == ExecutionStatus.FINISHED.value
    assert entry["output"] == "moved 900 to ACME" and entry["approval_id"] == approval_id
    assert entry["run_id"] == done.run_id


async def test_concurrent_begins_for_one_call_have_exactly_one_owner(
    mongo: MongoDBClient,
) -> None:
    ledger = ToolExecutionLedger(mongo)
    results = await asyncio.gather(
        *(ledger.begin("r1", "c1", tool_name="t", worker_id=f"w{i}") for i in range(8))
    )
    assert sum(result is None for result in results) == 1
    await ledger.finish("r1", "c1", "out")
    await ledger.raised("r1", "c1", "late")  # an end after the end changes nothing
    entry = await ledger.get("r1", "c1")
    assert entry is not None and entry.status is ExecutionStatus.FINISHED and entry.output == "out"
    assert await ledger.begin("r2", "c1", tool_name="t") is None, "call ids are per run"


async def test_an_oversized_state_is_refused_naming_the_run(
    mongo: MongoDBClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(codec_module, "MAX_STATE_BYTES", 200)
    body = Body()
    provider = _provider(mongo, body, [[CALL]])
    with pytest.raises(StateTooLarge, match=r"the run state of run [0-9a-f]+ is .* 16 MiB"):
        await provider.execute_agent("pay-agent", "pay ACME 900")
    assert (await provider.store.list()).items == []
