"""OpenAIToolAdapter: real SDK tools with EAT metadata, and runs that pause for approval."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from agents import (
    Agent,
    FunctionTool,
    RunContextWrapper,
    Runner,
    RunState,
    function_tool,
    handoff,
    set_tracing_disabled,
)
from agents.testing import ScriptedModel, assistant_message, function_call

from evolving_agents.adapters import (
    GovernedFunctionTool,
    OpenAIToolAdapter,
    ToolAdapterError,
    collect_tool_metadata,
    metadata_requires_approval,
    tool_metadata,
)
from evolving_agents.errors import EvolvingAgentsError

OKTA_HIGH = {"system": "okta", "risk": "high", "owner": "iam-team"}


@pytest.fixture(autouse=True)
def _no_tracing() -> Iterator[None]:
    set_tracing_disabled(True)
    yield
    set_tracing_disabled(False)


def transfer_funds(account_id: str, amount: int, memo: str = "") -> str:
    """Move money out of an account.

    Args:
        account_id: The account to debit.
        amount: Amount in cents.
        memo: Free text shown on the statement.
    """
    return f"moved {amount} from {account_id}"


class Recorder:
    """A tool body that remembers every call it actually ran."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def rotate_okta_key(self, user_id: str, reason: str) -> str:
        """Rotate a user's Okta API key."""
        self.calls.append({"user_id": user_id, "reason": reason})
        return f"rotated key of {user_id}"


def okta_record(recorder: Recorder) -> dict[str, Any]:
    return {
        "name": "rotate_okta_key",
        "description": "Rotate the Okta API key of one user (EAT library record).",
        "metadata": dict(OKTA_HIGH),
        "func": recorder.rotate_okta_key,
    }


def sdk_tool(name: str | None = None) -> FunctionTool:
    return function_tool(transfer_funds, name_override=name)


def scripted_agent(tool: FunctionTool, *steps: Any, name: str = "ops") -> Agent[Any]:
    return Agent(name=name, instructions="Operate.", tools=[tool], model=ScriptedModel(steps))


def test_a_typed_callable_gets_its_real_schema_not_a_single_input_text() -> None:
    tool = OpenAIToolAdapter().adapt(transfer_funds)

    schema = tool.params_json_schema
    assert set(schema["properties"]) == {"account_id", "amount", "memo"}
    assert schema["properties"]["amount"]["type"] == "integer"
    assert "input_text" not in schema["properties"]
    assert {"account_id", "amount"} <= set(schema["required"])
    assert tool.name == "transfer_funds"
    assert tool.description == "Move money out of an account."
    assert isinstance(tool, FunctionTool)
    assert tool.needs_approval is False


def test_name_and_description_of_a_callable_can_be_overridden() -> None:
    tool = OpenAIToolAdapter().adapt(transfer_funds, name="pay", description="Pay someone.")

    assert (tool.name, tool.description) == ("pay", "Pay someone.")
    assert "account_id" in tool.params_json_schema["properties"]


def test_an_okta_high_risk_record_needs_approval_and_keeps_its_metadata() -> None:
    recorder = Recorder()
    tool = OpenAIToolAdapter().adapt(okta_record(recorder))

    assert tool.needs_approval is True
    assert tool.eat_metadata == OKTA_HIGH
    assert tool_metadata(tool) == OKTA_HIGH
    assert tool.name == "rotate_okta_key"
    assert tool.description == "Rotate the Okta API key of one user (EAT library record)."
    assert set(tool.params_json_schema["properties"]) == {"user_id", "reason"}


def test_a_low_risk_record_does_not_need_approval() -> None:
    record = {
        "name": "search_wiki",
        "description": "Search the wiki.",
        "metadata": {"system": "wiki", "risk": "low", "environment": "staging"},
    }

    tool = OpenAIToolAdapter().adapt(record, func=transfer_funds)

    assert tool.needs_approval is False
    assert tool.name == "search_wiki"


def test_metadata_is_copied_so_the_caller_cannot_change_the_tool_afterwards() -> None:
    metadata: dict[str, Any] = {"system": "wiki", "tags": ["a"]}
    tool = OpenAIToolAdapter().adapt(transfer_funds, metadata=metadata)

    metadata["tags"].append("b")
    tool_metadata(tool)["tags"].append("c")

    assert tool.eat_metadata == {"system": "wiki", "tags": ["a"]}


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({"risk": "HIGH"}, True),
        ({"risk": "critical"}, True),
        ({"risk": 0.5}, True),
        ({"risk": "0.9"}, True),
        ({"environment": "Production"}, True),
        ({"environment": "prod"}, True),
        ({"system": "AWS"}, True),
        ({"system": "github"}, True),
        ({"risk": "medium", "environment": "staging", "system": "wiki"}, False),
        ({"risk": 0.49}, False),
        ({"risk": True}, False),
        ({}, False),
    ],
)
def test_the_metadata_rule(metadata: dict[str, Any], expected: bool) -> None:
    assert metadata_requires_approval(metadata) is expected


def test_sensitive_systems_are_configurable() -> None:
    adapter = OpenAIToolAdapter(sensitive_systems=["Salesforce"])

    assert adapter.adapt(transfer_funds, metadata={"system": "salesforce"}).needs_approval is True
    assert adapter.adapt(transfer_funds, metadata={"system": "okta"}).needs_approval is False


def test_explicit_bool_overrides_the_metadata_both_ways() -> None:
    adapter = OpenAIToolAdapter()

    waived = adapter.adapt(transfer_funds, metadata=OKTA_HIGH, needs_approval=False)
    forced = adapter.adapt(transfer_funds, metadata={"risk": "low"}, needs_approval=True)
    declared = adapter.adapt(transfer_funds, metadata={**OKTA_HIGH, "needs_approval": False})

    assert (waived.needs_approval, forced.needs_approval, declared.needs_approval) == (
        False,
        True,
        False,
    )
    assert waived.eat_metadata == OKTA_HIGH


async def test_an_async_predicate_sees_ctx_parsed_args_and_call_id_and_decides_per_call() -> None:
    seen: list[tuple[RunContextWrapper[Any], dict[str, Any], str]] = []

    async def large_transfers(
        ctx: RunContextWrapper[Any], args: dict[str, Any], call_id: str
    ) -> bool:
        seen.append((ctx, args, call_id))
        return bool(args["amount"] > 1000)

    tool = OpenAIToolAdapter().adapt(
        transfer_funds, metadata=OKTA_HIGH, needs_approval=large_transfers
    )
    small = {"account_id": "acc-1", "amount": 50, "memo": "lunch"}
    large = {"account_id": "acc-1", "amount": 5000, "memo": "car"}
    agent = scripted_agent(
        tool,
        [
            function_call("transfer_funds", small, call_id="call-small"),
            function_call("transfer_funds", large, call_id="call-large"),
        ],
    )

    result = await Runner.run(agent, "pay")

    assert sorted((args["amount"], call_id) for _, args, call_id in seen) == [
        (50, "call-small"),
        (5000, "call-large"),
    ]
    assert all(isinstance(ctx, RunContextWrapper) for ctx, _, _ in seen)
    assert [item.call_id for item in result.interruptions] == ["call-large"]


def test_wrapping_an_sdk_function_tool_keeps_its_schema_and_leaves_it_untouched() -> None:
    @function_tool
    def lookup_user(email: str, include_groups: bool) -> str:
        """Look a user up by email."""
        return email

    tool = OpenAIToolAdapter().adapt(lookup_user, metadata={"system": "okta"})

    assert isinstance(tool, GovernedFunctionTool)
    assert tool is not lookup_user
    assert tool.params_json_schema == lookup_user.params_json_schema
    assert (tool.name, tool.description) == ("lookup_user", "Look a user up by email.")
    assert tool.needs_approval is True
    assert not isinstance(lookup_user, GovernedFunctionTool)
    assert lookup_user.needs_approval is False


def test_a_wrapped_tool_keeps_its_own_needs_approval_when_nothing_else_applies() -> None:
    @function_tool(needs_approval=True)
    def delete_repo(repo: str) -> str:
        """Delete a repository."""
        return repo

    tool = OpenAIToolAdapter().adapt(delete_repo, metadata={"system": "wiki"})

    assert tool.needs_approval is True


async def test_a_high_risk_call_pauses_and_runs_once_after_approval_in_a_fresh_agent() -> None:
    recorder = Recorder()
    arguments = {"user_id": "alice", "reason": "leaked in a log"}
    agent = scripted_agent(
        OpenAIToolAdapter().adapt(okta_record(recorder)),
        [function_call("rotate_okta_key", arguments, call_id="call-1")],
    )

    paused = await Runner.run(agent, "rotate alice's key")

    assert [item.tool_name for item in paused.interruptions] == ["rotate_okta_key"]
    assert recorder.calls == []
    stored = paused.to_state().to_string()

    # Resume as another process would: the agent and its tools are rebuilt from definitions.
    resumed_agent = scripted_agent(
        OpenAIToolAdapter().adapt(okta_record(recorder)), [assistant_message("Key rotated.")]
    )
    state = await RunState.from_string(resumed_agent, stored)
    (pending,) = state.get_interruptions()
    assert json.loads(pending.arguments or "{}") == arguments
    state.approve(pending)
    finished = await Runner.run(resumed_agent, state)

    assert recorder.calls == [arguments]
    assert finished.final_output == "Key rotated."
    assert finished.interruptions == []


async def test_a_rejected_call_never_runs_the_body() -> None:
    recorder = Recorder()
    agent = scripted_agent(
        OpenAIToolAdapter().adapt(okta_record(recorder)),
        [function_call("rotate_okta_key", {"user_id": "bob", "reason": "x"}, call_id="c")],
        [assistant_message("Not rotated.")],
    )
    paused = await Runner.run(agent, "rotate bob's key")
    state = paused.to_state()
    state.reject(paused.interruptions[0])

    finished = await Runner.run(agent, state)

    assert recorder.calls == []
    assert finished.final_output == "Not rotated."


async def test_the_governed_tool_survives_the_sdk_copying_it() -> None:
    recorder = Recorder()
    tool = OpenAIToolAdapter().adapt(okta_record(recorder))

    replaced = dataclasses.replace(tool, needs_approval=False)
    copied = copy.copy(tool)

    for clone in (replaced, copied):
        assert type(clone) is GovernedFunctionTool
        assert clone.eat_metadata == OKTA_HIGH
    agent = scripted_agent(
        replaced,
        [function_call("rotate_okta_key", {"user_id": "carol", "reason": "r"}, call_id="c")],
        [assistant_message("ok")],
    )
    result = await Runner.run(agent, "go")
    assert result.final_output == "ok"
    assert recorder.calls == [{"user_id": "carol", "reason": "r"}]


def test_collect_tool_metadata_walks_agent_tools_handoffs_and_cycles() -> None:
    adapter = OpenAIToolAdapter()

    def reset_password(user_id: str) -> str:
        """Reset a password."""
        return user_id

    def refund(order_id: str) -> str:
        """Refund an order."""
        return order_id

    def read_docs(query: str) -> str:
        """Read docs."""
        return query

    identity = Agent(
        name="identity",
        tools=[adapter.adapt(reset_password, metadata={"system": "okta", "risk": "high"})],
    )
    billing = Agent(name="billing", tools=[adapter.adapt(refund, metadata={"system": "payments"})])
    docs = Agent(name="docs", tools=[adapter.adapt(read_docs, metadata={"risk": "low"})])
    identity_tool = adapter.adapt(
        identity.as_tool("ask_identity", "Ask the identity team."), metadata={"risk": "medium"}
    )
    triage = Agent(
        name="triage",
        tools=[identity_tool, sdk_tool()],
        handoffs=[handoff(billing), docs],
    )
    billing.handoffs = [triage]  # a cycle back to the start

    found = collect_tool_metadata(triage)

    assert found == {
        "ask_identity": {"risk": "medium"},
        "reset_password": {"system": "okta", "risk": "high"},
        "refund": {"system": "payments"},
        "read_docs": {"risk": "low"},
    }


def test_a_record_without_a_callable_is_a_typed_error() -> None:
    with pytest.raises(ToolAdapterError, match=r"rotate_okta_key.*no callable"):
        OpenAIToolAdapter().adapt({"name": "rotate_okta_key", "metadata": OKTA_HIGH})


def test_a_record_without_a_name_is_a_typed_error() -> None:
    with pytest.raises(ToolAdapterError, match="no name") as raised:
        OpenAIToolAdapter().adapt({"description": "nameless"}, func=transfer_funds)
    assert isinstance(raised.value, EvolvingAgentsError)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metadata": ["system", "okta"]}, "metadata must be a mapping"),
        ({"metadata": {"owner": object()}}, r"metadata\['owner'\] is not JSON-safe"),
        ({"metadata": {"risk": float("nan")}}, r"metadata\['risk'\] is not JSON-safe"),
        ({"metadata": {"ids": (1, 2)}}, r"metadata\['ids'\] changes in a JSON round trip"),
        ({"metadata": {"needs_approval": "yes"}}, "must be a bool"),
        ({"needs_approval": "always"}, "needs_approval must be a bool"),
        ({"name": "rotate key"}, "not valid for the OpenAI APIs"),
    ],
)
def test_bad_arguments_are_typed_errors_naming_the_problem(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ToolAdapterError, match=message):
        OpenAIToolAdapter().adapt(transfer_funds, **kwargs)


def test_a_record_with_bad_metadata_type_is_a_typed_error() -> None:
    record = {"name": "x", "metadata": "high risk", "func": transfer_funds}
    with pytest.raises(ToolAdapterError, match="metadata must be a mapping"):
        OpenAIToolAdapter().adapt(record)


def test_adapt_all_adapts_each_kind_and_refuses_duplicate_names() -> None:
    recorder = Recorder()
    adapter = OpenAIToolAdapter()

    tools = adapter.adapt_all([transfer_funds, okta_record(recorder), sdk_tool("x")])

    assert [tool.name for tool in tools] == ["transfer_funds", "rotate_okta_key", "x"]
    with pytest.raises(ToolAdapterError, match="more than one tool named transfer_funds"):
        adapter.adapt_all([transfer_funds, transfer_funds])
