"""Approve with edited arguments: checked, re-decided, applied to the tool and the history."""

from __future__ import annotations

import json
from typing import Any

import pytest
from agents import Agent
from agents.run_state import RunState
from agents.testing import ScriptedModel, assistant_message, function_call

from evolving_agents import AgentRegistry, MongoDBClient, OpenAIAgentsProvider, OpenAIToolAdapter
from evolving_agents.adapters.edits import apply_edits
from evolving_agents.approvals.codec import StateCodec
from evolving_agents.approvals.models import (
    RunStatus,
    ToolDecision,
    Verdict,
    arguments_digest,
    utcnow,
)
from evolving_agents.decisions.local_rules import LocalRulePolicy
from evolving_agents.errors import InvalidDecision
from evolving_agents.providers.call_kinds import describe_call
from tests.apps import kinds_app

POLICY = LocalRulePolicy.from_dict(
    [
        {
            "name": "long",
            "tools": ["grant_access"],
            "verdict": "needs_approval",
            "when": [{"arg": "hours", "op": ">", "value": 24}],
            "reason": "over 24h",
        },
        {
            "name": "root",
            "tools": ["grant_access"],
            "verdict": "block",
            "when": [{"arg": "role", "op": "==", "value": "root"}],
            "reason": "never root",
        },
        {
            "name": "short",
            "tools": ["grant_access"],
            "verdict": "allow",
            "when": [{"arg": "hours", "op": "<=", "value": 24}],
        },
    ]
)


class Grants:
    def __init__(self, mongo: MongoDBClient) -> None:
        self.runs: list[dict[str, Any]] = []
        runs = self.runs

        def grant_access(user: str, role: str, hours: int) -> str:
            """Grant a role for some hours."""
            runs.append({"user": user, "role": role, "hours": hours})
            return f"granted {user} {role} for {hours}h"

        self.model = ScriptedModel(
            [
                [
                    function_call(
                        "grant_access",
                        {"user": "alice", "role": "admin", "hours": 48},
                        call_id="c1",
                    )
                ],
                [assistant_message("done")],
            ]
        )
        tool = OpenAIToolAdapter(decision_provider=POLICY).adapt(grant_access)
        registry = AgentRegistry()
        registry.register(Agent(name="iam-agent", tools=[tool], model=self.model))
        self.provider = OpenAIAgentsProvider(mongodb_client=mongo, registry=registry)

    async def pause(self) -> str:
        run = await self.provider.execute_agent("iam-agent", "give alice admin for 48h")
        assert run.approval_id is not None and self.runs == []
        return run.approval_id


async def test_the_tool_runs_with_the_edit_and_the_model_sees_it(mongo: MongoDBClient) -> None:
    grants = Grants(mongo)
    approval_id = await grants.pause()
    edited = {"user": "alice", "role": "admin", "hours": 2}
    record = await grants.provider.store.decide(
        approval_id, call_id="c1", verdict="approved", reviewer="bob", edited_arguments=edited
    )
    call = record.tool_calls[0]
    assert call.arguments["hours"] == 48, "the original arguments are kept"
    assert call.decision is not None and call.decision.edited_arguments == edited
    assert call.decision.edited_arguments_sha256 == arguments_digest(edited)
    audit = [entry for entry in record.audit if entry.call_id == "c1"][-1]
    assert "48" in str(audit.detail) and "2" in str(audit.detail)

    done = await grants.provider.resume_agent(approval_id)
    assert done.status is RunStatus.SUCCESS
    assert grants.runs == [edited]
    last = grants.model.last_call
    assert last is not None and isinstance(last.input, list)
    calls = [item for item in last.input if item.get("type") == "function_call"]
    assert [json.loads(c["arguments"]) for c in calls] == [edited]


async def test_an_edit_the_rules_block_is_refused(mongo: MongoDBClient) -> None:
    grants = Grants(mongo)
    approval_id = await grants.pause()
    with pytest.raises(InvalidDecision, match=r"blocked by policy .*never root"):
        await grants.provider.store.decide(
            approval_id,
            call_id="c1",
            verdict="approved",
            reviewer="bob",
            edited_arguments={"user": "alice", "role": "root", "hours": 1},
        )
    record = await grants.provider.store.get(approval_id)
    assert record.tool_calls[0].decision is None and record.status == "pending"


async def test_an_edit_that_breaks_the_schema_is_refused(mongo: MongoDBClient) -> None:
    grants = Grants(mongo)
    approval_id = await grants.pause()
    with pytest.raises(InvalidDecision, match="hours"):
        await grants.provider.store.decide(
            approval_id,
            call_id="c1",
            verdict="approved",
            reviewer="bob",
            edited_arguments={"user": "alice", "role": "admin", "hours": "two"},
        )
    with pytest.raises(InvalidDecision, match="do not fit"):
        await grants.provider.store.decide(
            approval_id,
            call_id="c1",
            verdict="approved",
            reviewer="bob",
            edited_arguments={"user": "alice", "role": "admin", "hours": 2, "sudo": True},
        )
    assert (await grants.provider.store.get(approval_id)).tool_calls[0].decision is None


async def test_a_shell_call_cannot_be_approved_with_edits_only_rejected(
    mongo: MongoDBClient,
) -> None:
    agent = kinds_app.ops_agent([kinds_app.shell_call()])
    registry = AgentRegistry()
    registry.register(agent)
    provider = OpenAIAgentsProvider(mongodb_client=mongo, registry=registry)
    record = await kinds_app.pause(provider.store, [kinds_app.shell_call()], "restart payments")

    with pytest.raises(
        InvalidDecision,
        match="a shell call's commands cannot be edited; reject it with a message instead",
    ):
        await provider.store.decide(
            record.id,
            call_id="sh1",
            verdict="approved",
            reviewer="bob",
            edited_arguments={"commands": ["echo harmless"]},
        )
    assert (await provider.store.get(record.id)).tool_calls[0].decision is None
    rejected = await provider.store.decide(
        record.id, call_id="sh1", verdict="rejected", reviewer="bob", message="no rm -rf"
    )
    assert rejected.tool_calls[0].decision is not None


async def test_applying_edits_rewrites_function_calls_and_never_a_shell_call(
    mongo: MongoDBClient,
) -> None:
    outputs = [kinds_app.shell_call(), kinds_app.page_call()]
    store = OpenAIAgentsProvider(mongodb_client=mongo, registry=AgentRegistry()).store
    record = await kinds_app.pause(store, outputs, "restart payments and page on-call")
    page_edit = {"team": "payments", "message": "restart at 14:00"}
    # A shell edit cannot be decided through the store; one forged into a record must not run.
    shell_edit = {"commands": ["echo harmless"], "timeout_ms": 60000}
    for call in record.tool_calls:
        edit = page_edit if call.call_id == "fn1" else shell_edit
        call.decision = ToolDecision(
            verdict=Verdict.APPROVED,
            reviewer="bob",
            at=utcnow(),
            edited_arguments=edit,
            edited_arguments_sha256=arguments_digest(edit),
        )
    state_json = StateCodec.from_settings().decode(record.id, record.state)
    reviewed = apply_edits(state_json, record)

    state = await RunState.from_json(kinds_app.ops_agent(outputs), state_json)
    now = {item.call_id: describe_call(item).arguments for item in state.get_interruptions()}
    assert now["fn1"] == page_edit and reviewed["fn1"] == arguments_digest(page_edit)
    assert now["sh1"] == {"commands": kinds_app.COMMANDS, "timeout_ms": 60000}
    assert reviewed["sh1"] != arguments_digest(now["sh1"]), "the resume refuses the shell call"
