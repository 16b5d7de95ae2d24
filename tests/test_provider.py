"""Pause, store and resume scenarios on the real SDK with ScriptedModel, on both backends."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from agents import Agent
from agents.stream_events import StreamEvent
from agents.testing import ScriptedModel, assistant_message, function_call

from evolving_agents import (
    AgentRegistry,
    AgentRunResult,
    ApprovalConflict,
    ApprovalNotFound,
    ApprovalStatus,
    IncompatibleStateVersion,
    MongoDBClient,
    OpenAIAgentsProvider,
    OpenAIToolAdapter,
    RunStatus,
    StateIntegrityError,
)
from evolving_agents.approvals.store import COLLECTION_NAME
from tests.apps.gated_app import AGENT_NAME

ROOT = Path(__file__).parent.parent


class ToolSpy:
    """Gated tools whose bodies record every real execution."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def tools(self) -> list[Any]:
        spy = self

        def grant_access(user: str, hours: int) -> str:
            """Grant a user admin access for some hours."""
            spy.calls.append(("grant_access", {"user": user, "hours": hours}))
            return f"granted {user} for {hours}h"

        def deploy(service: str) -> str:
            """Deploy a service to production."""
            spy.calls.append(("deploy", {"service": service}))
            return f"deployed {service}"

        adapter = OpenAIToolAdapter()
        return [
            adapter.adapt(grant_access, metadata={"system": "okta", "risk": "high"}),
            adapter.adapt(deploy, metadata={"environment": "production"}),
        ]


def scripted_agent(
    spy: ToolSpy, steps: list[Any], name: str = "ops-agent"
) -> tuple[Agent[Any], ScriptedModel]:
    model = ScriptedModel(steps)
    return Agent(name=name, instructions="ops", tools=spy.tools(), model=model), model


def provider_for(mongo: MongoDBClient, *agents: Agent[Any]) -> OpenAIAgentsProvider:
    registry = AgentRegistry()
    for agent in agents:
        registry.register(agent)
    return OpenAIAgentsProvider(mongodb_client=mongo, registry=registry)


def outputs_sent_to_model(model: ScriptedModel) -> dict[str, str]:
    last = model.last_call
    assert last is not None and isinstance(last.input, list)
    return {
        item["call_id"]: item["output"]
        for item in last.input
        if isinstance(item, dict) and item.get("type") == "function_call_output"
    }


async def test_approved_call_runs_once_with_its_arguments_and_the_run_completes(
    mongo: MongoDBClient,
) -> None:
    spy = ToolSpy()
    agent, model = scripted_agent(
        spy,
        [
            [function_call("grant_access", {"user": "alice", "hours": 48}, call_id="c1")],
            [assistant_message("Alice has access.")],
        ],
    )
    provider = provider_for(mongo, agent)
    run = await provider.execute_agent("ops-agent", "Grant Alice admin for 48h", actor="ops-bot")

    assert run.status == "awaiting_openai_tool_approval"
    assert run.status is RunStatus.AWAITING_APPROVAL and run.approval_id is not None
    [call] = run.pending_tool_calls
    assert (call.call_id, call.tool_name, call.agent_name) == ("c1", "grant_access", "ops-agent")
    assert call.arguments == {"user": "alice", "hours": 48}
    assert call.metadata == {"system": "okta", "risk": "high"}
    assert spy.calls == [] and model.remaining_steps == 1

    record = await provider.store.get(run.approval_id)
    assert record.status is ApprovalStatus.PENDING and record.actor == "ops-bot"
    assert record.input_preview == "Grant Alice admin for 48h"

    await provider.store.decide(run.approval_id, call_id="c1", verdict="approved", reviewer="alice")
    done = await provider.resume_agent(run.approval_id)

    assert done.status is RunStatus.SUCCESS and done.final_output == "Alice has access."
    assert spy.calls == [("grant_access", {"user": "alice", "hours": 48})]
    assert [(o.call_id, o.output) for o in done.tool_outputs] == [("c1", "granted alice for 48h")]
    final = await provider.store.get(run.approval_id)
    assert final.status is ApprovalStatus.COMPLETED
    assert final.result.final_output == "Alice has access."
    json.dumps(done.model_dump(mode="json"))


async def test_rejected_call_never_runs_and_the_model_reads_the_message(
    mongo: MongoDBClient,
) -> None:
    spy = ToolSpy()
    agent, model = scripted_agent(
        spy,
        [
            [function_call("grant_access", {"user": "alice", "hours": 48}, call_id="c1")],
            [assistant_message("Understood, not granted.")],
        ],
    )
    provider = provider_for(mongo, agent)
    run = await provider.execute_agent(agent, "Grant Alice admin for 48h")
    assert run.approval_id is not None
    await provider.store.decide(
        run.approval_id, verdict="rejected", reviewer="bob", message="48h is too long; ask for 2h"
    )
    done = await provider.resume_agent(run.approval_id)
    assert done.status is RunStatus.SUCCESS
    assert spy.calls == []
    assert outputs_sent_to_model(model) == {"c1": "48h is too long; ask for 2h"}


async def test_two_parallel_gated_calls_approve_one_reject_the_other(mongo: MongoDBClient) -> None:
    spy = ToolSpy()
    agent, model = scripted_agent(
        spy,
        [
            [
                function_call("grant_access", {"user": "alice", "hours": 2}, call_id="c1"),
                function_call("deploy", {"service": "payments"}, call_id="c2"),
            ],
            [assistant_message("One done, one refused.")],
        ],
    )
    provider = provider_for(mongo, agent)
    run = await provider.execute_agent(agent, "grant and deploy")
    assert run.approval_id is not None
    assert [c.call_id for c in run.pending_tool_calls] == ["c1", "c2"]
    records = await provider.store.list()
    assert len(records.items) == 1, "one record per paused run, holding every call"

    await provider.store.decide(
        run.approval_id, call_id="c2", verdict="rejected", reviewer="bob", message="deploy freeze"
    )
    with pytest.raises(ApprovalConflict, match="not decided yet"):
        await provider.resume_agent(run.approval_id)
    await provider.store.decide(run.approval_id, call_id="c1", verdict="approved", reviewer="bob")
    done = await provider.resume_agent(run.approval_id)

    assert done.final_output == "One done, one refused."
    assert spy.calls == [("grant_access", {"user": "alice", "hours": 2})]
    assert outputs_sent_to_model(model) == {"c1": "granted alice for 2h", "c2": "deploy freeze"}


async def test_nested_agent_as_tool_approval_pauses_and_resumes(mongo: MongoDBClient) -> None:
    spy = ToolSpy()
    inner, _ = scripted_agent(
        spy,
        [
            [function_call("grant_access", {"user": "carol", "hours": 1}, call_id="inner-1")],
            [assistant_message("carol granted")],
        ],
        name="iam-agent",
    )
    outer_model = ScriptedModel(
        [
            [function_call("ask_iam", {"input": "grant carol 1h"}, call_id="outer-1")],
            [assistant_message("IAM says: carol granted")],
        ]
    )
    outer = Agent(
        name="lead-agent",
        instructions="delegate",
        tools=[inner.as_tool(tool_name="ask_iam", tool_description="IAM specialist")],
        model=outer_model,
    )
    provider = provider_for(mongo, outer)
    run = await provider.execute_agent("lead-agent", "give carol access")
    assert run.status is RunStatus.AWAITING_APPROVAL and run.approval_id is not None
    [call] = run.pending_tool_calls
    assert (call.call_id, call.tool_name, call.agent_name) == (
        "inner-1",
        "grant_access",
        "iam-agent",
    )
    assert call.metadata == {"system": "okta", "risk": "high"}
    assert spy.calls == []

    await provider.store.decide(run.approval_id, verdict="approved", reviewer="alice")
    done = await provider.resume_agent(run.approval_id)
    assert done.status is RunStatus.SUCCESS and done.final_output == "IAM says: carol granted"
    assert spy.calls == [("grant_access", {"user": "carol", "hours": 1})]


async def test_streamed_run_pauses_then_resumes(mongo: MongoDBClient) -> None:
    spy = ToolSpy()
    agent, _ = scripted_agent(
        spy,
        [
            [function_call("deploy", {"service": "payments"}, call_id="c1")],
            [assistant_message("deployed")],
        ],
    )
    provider = provider_for(mongo, agent)
    events: list[StreamEvent] = []
    final: AgentRunResult | None = None
    async for item in provider.execute_agent_streamed(agent, "deploy payments"):
        if isinstance(item, AgentRunResult):
            final = item
        else:
            events.append(item)
    assert events, "the SDK's stream events are passed through"
    assert final is not None and final.status is RunStatus.AWAITING_APPROVAL
    assert final.approval_id is not None and spy.calls == []
    await provider.store.decide(final.approval_id, verdict="approved", reviewer="alice")
    done = await provider.resume_agent(final.approval_id)
    assert done.final_output == "deployed"
    assert spy.calls == [("deploy", {"service": "payments"})]


async def test_a_run_that_pauses_again_gets_the_next_record_in_its_chain(
    mongo: MongoDBClient,
) -> None:
    spy = ToolSpy()
    agent, _ = scripted_agent(
        spy,
        [
            [function_call("grant_access", {"user": "alice", "hours": 2}, call_id="c1")],
            [function_call("deploy", {"service": "payments"}, call_id="c2")],
            [assistant_message("both done")],
        ],
    )
    provider = provider_for(mongo, agent)
    first = await provider.execute_agent(agent, "grant then deploy")
    assert first.approval_id is not None
    await provider.store.decide(first.approval_id, verdict="approved", reviewer="alice")
    second = await provider.resume_agent(first.approval_id)

    assert second.status is RunStatus.AWAITING_APPROVAL and second.approval_id is not None
    assert second.run_id == first.run_id and second.sequence == 1
    old = await provider.store.get(first.approval_id)
    assert old.status is ApprovalStatus.COMPLETED and old.next_approval_id == second.approval_id
    new = await provider.store.get(second.approval_id)
    assert new.previous_approval_id == first.approval_id and new.sequence == 1

    await provider.store.decide(second.approval_id, verdict="approved", reviewer="alice")
    done = await provider.resume_agent(second.approval_id)
    assert done.final_output == "both done" and done.sequence == 1
    assert [name for name, _ in spy.calls] == ["grant_access", "deploy"]
    history = await provider.store.run_history(first.run_id)
    assert [(r.sequence, r.status) for r in history] == [
        (0, ApprovalStatus.COMPLETED),
        (1, ApprovalStatus.COMPLETED),
    ]


async def test_two_resumes_racing_only_one_runs_the_tool(mongo: MongoDBClient) -> None:
    spy = ToolSpy()
    agent, _ = scripted_agent(
        spy,
        [
            [function_call("grant_access", {"user": "alice", "hours": 2}, call_id="c1")],
            [assistant_message("done")],
        ],
    )
    provider = provider_for(mongo, agent)
    run = await provider.execute_agent(agent, "grant")
    assert run.approval_id is not None
    await provider.store.decide(run.approval_id, verdict="approved", reviewer="alice")
    outcomes = await asyncio.gather(
        provider.resume_agent(run.approval_id, worker_id="w1"),
        provider.resume_agent(run.approval_id, worker_id="w2"),
        return_exceptions=True,
    )
    results = [o for o in outcomes if isinstance(o, AgentRunResult)]
    conflicts = [o for o in outcomes if isinstance(o, ApprovalConflict)]
    assert len(results) == 1 and len(conflicts) == 1, outcomes
    assert results[0].status is RunStatus.SUCCESS
    assert spy.calls == [("grant_access", {"user": "alice", "hours": 2})]
    with pytest.raises(ApprovalConflict, match="completed"):
        await provider.resume_agent(run.approval_id)


async def _paused_and_approved(mongo: MongoDBClient) -> tuple[OpenAIAgentsProvider, str, ToolSpy]:
    spy = ToolSpy()
    agent, _ = scripted_agent(
        spy,
        [
            [function_call("grant_access", {"user": "alice", "hours": 2}, call_id="c1")],
            [assistant_message("done")],
        ],
    )
    provider = provider_for(mongo, agent)
    run = await provider.execute_agent(agent, "grant")
    assert run.approval_id is not None
    await provider.store.decide(run.approval_id, verdict="approved", reviewer="alice")
    return provider, run.approval_id, spy


async def test_an_altered_state_blob_is_refused_and_the_record_is_left_as_it_was(
    mongo: MongoDBClient,
) -> None:
    provider, approval_id, spy = await _paused_and_approved(mongo)
    collection = mongo.collection(COLLECTION_NAME)
    raw = await collection.find_one({"_id": approval_id})
    data = bytearray(raw["state"]["data"])
    data[len(data) // 2] ^= 0xFF
    await collection.update_one({"_id": approval_id}, {"$set": {"state.data": bytes(data)}})
    before = await collection.find_one({"_id": approval_id})

    with pytest.raises(StateIntegrityError, match=f"approval {approval_id}: state hash mismatch"):
        await provider.resume_agent(approval_id)
    assert await collection.find_one({"_id": approval_id}) == before
    assert spy.calls == []


async def test_a_blob_with_a_recomputed_hash_still_fails_the_signature(
    mongo: MongoDBClient,
) -> None:
    import hashlib
    import zlib

    provider, approval_id, spy = await _paused_and_approved(mongo)
    collection = mongo.collection(COLLECTION_NAME)
    raw = await collection.find_one({"_id": approval_id})
    state = json.loads(zlib.decompress(raw["state"]["data"]))
    state["max_turns"] = 99
    forged = zlib.compress(json.dumps(state).encode())
    await collection.update_one(
        {"_id": approval_id},
        {"$set": {"state.data": forged, "state.sha256": hashlib.sha256(forged).hexdigest()}},
    )
    with pytest.raises(StateIntegrityError, match="signature mismatch"):
        await provider.resume_agent(approval_id)
    assert (await provider.store.get(approval_id)).status is ApprovalStatus.DECIDED
    assert spy.calls == []


async def test_a_state_from_a_newer_sdk_schema_is_refused(mongo: MongoDBClient) -> None:
    provider, approval_id, spy = await _paused_and_approved(mongo)
    collection = mongo.collection(COLLECTION_NAME)
    raw = await collection.find_one({"_id": approval_id})
    import zlib

    state = json.loads(zlib.decompress(raw["state"]["data"]))
    state["$schemaVersion"] = "9.0"
    # Re-encode with the real codec so hash and signature are valid: only the version is wrong.
    stored = provider.codec.encode(approval_id, state)
    await collection.update_one(
        {"_id": approval_id}, {"$set": {"state": stored.model_dump(mode="python")}}
    )
    before = await collection.find_one({"_id": approval_id})
    with pytest.raises(IncompatibleStateVersion, match=r"schema 9\.0") as caught:
        await provider.resume_agent(approval_id)
    assert caught.value.schema_version == "9.0"
    assert await collection.find_one({"_id": approval_id}) == before
    assert spy.calls == []


async def test_arguments_changed_in_the_record_do_not_resume(mongo: MongoDBClient) -> None:
    provider, approval_id, spy = await _paused_and_approved(mongo)
    await mongo.collection(COLLECTION_NAME).update_one(
        {"_id": approval_id}, {"$set": {"tool_calls.0.arguments_sha256": "0" * 64}}
    )
    before = await mongo.collection(COLLECTION_NAME).find_one({"_id": approval_id})
    with pytest.raises(StateIntegrityError, match="do not match its seal"):
        await provider.resume_agent(approval_id)
    # Refused before the claim: the record is exactly as the writer left it.
    assert await mongo.collection(COLLECTION_NAME).find_one({"_id": approval_id}) == before
    assert spy.calls == []


async def test_unknown_approval_id_raises_not_found(mongo: MongoDBClient) -> None:
    provider = provider_for(mongo)
    with pytest.raises(ApprovalNotFound, match="apr_missing"):
        await provider.resume_agent("apr_missing")


# -- across processes (the wire server only: memory:// lives in one process) ---------------


def _gated_cli(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.apps.gated_cli", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _result(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    parsed: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return parsed


def _tool_runs(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.mark.wire
async def test_paused_in_one_process_approved_here_resumed_in_another(
    wire_env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "tool.log"
    env = wire_env | {"EAT_TEST_TOOL_LOG": str(log)}
    paused = _result(_gated_cli(env, "pause"))
    assert paused["status"] == "awaiting_openai_tool_approval"
    approval_id = paused["approval_id"]
    assert _tool_runs(log) == []

    client = MongoDBClient()
    provider = OpenAIAgentsProvider(mongodb_client=client)
    call = paused["pending_tool_calls"][0]
    await provider.store.decide(
        approval_id, call_id=call["call_id"], verdict="approved", reviewer="alice"
    )
    await client.close()

    done = _result(_gated_cli(env, "resume", approval_id))
    assert done["status"] == "success"
    assert done["final_output"] == "final: granted alice for 48h"
    runs = _tool_runs(log)
    assert [(r["user"], r["hours"]) for r in runs] == [("alice", 48)]


@pytest.mark.wire
async def test_two_processes_racing_to_resume_only_one_runs_the_tool(
    wire_env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "tool.log"
    go = tmp_path / "go"
    env = wire_env | {"EAT_TEST_TOOL_LOG": str(log)}
    paused = _result(_gated_cli(env, "pause"))
    approval_id = paused["approval_id"]
    client = MongoDBClient()
    await OpenAIAgentsProvider(mongodb_client=client).store.decide(
        approval_id, verdict="approved", reviewer="alice"
    )
    await client.close()

    racers = [_gated_cli(env, "resume", approval_id, "--go", str(go)) for _ in range(2)]
    await asyncio.sleep(1.5)  # both interpreters are up and polling for the signal
    go.touch()
    outcomes = [_result(p) for p in racers]
    assert sorted("conflict" in o for o in outcomes) == [False, True], outcomes
    winner = next(o for o in outcomes if "conflict" not in o)
    assert winner["status"] == "success"
    assert len(_tool_runs(log)) == 1
    assert paused["agent_name"] == AGENT_NAME
