"""Tool kinds beyond plain function tools, paused, decided and resumed by a fresh provider.

What the reviewer approved must be what runs: a nested agent's gated call, an agent used as a
tool, a hosted MCP approval request and a custom tool, each on both backends. (Shell and patch
calls through the provider are in test_call_kinds.py, local MCP in test_sdk_parity.py.)
"""

from __future__ import annotations

from typing import Any

from agents import Agent, CustomTool, HostedMCPTool, ShellTool
from agents.testing import ScriptedModel, assistant_message, function_call
from agents.tool import ShellCommandRequest
from agents.tool_context import ToolContext
from openai.types.responses import ResponseCustomToolCall
from openai.types.responses.response_output_item import McpApprovalRequest

from evolving_agents import (
    AgentRegistry,
    ApprovalStatus,
    CallKind,
    CallOutcomeStatus,
    MongoDBClient,
    OpenAIAgentsProvider,
    RunStatus,
)
from tests.apps.kinds_app import shell_call


def fresh(mongo: MongoDBClient, agent: Agent[Any]) -> OpenAIAgentsProvider:
    registry = AgentRegistry()
    registry.register(agent)
    return OpenAIAgentsProvider(mongodb_client=mongo, registry=registry)


async def pause_approve_resume(
    mongo: MongoDBClient, agent: Agent[Any], *, verdict: str = "approved"
) -> tuple[Any, Any]:
    run = await fresh(mongo, agent).execute_agent(agent.name, "go")
    assert run.status is RunStatus.AWAITING_APPROVAL and run.approval_id is not None
    resumer = fresh(mongo, agent)
    record = await resumer.store.get(run.approval_id)
    await resumer.store.decide(run.approval_id, verdict=verdict, reviewer="alice", message=None)
    done = await resumer.resume_agent(run.approval_id)
    return record, done


async def test_a_nested_agents_gated_shell_call_runs_once_approved(mongo: MongoDBClient) -> None:
    ran: list[list[str]] = []

    async def executor(request: ShellCommandRequest) -> str:
        ran.append(list(request.data.action.commands))
        return "deployed"

    runner = Agent(
        name="runner",
        tools=[ShellTool(executor=executor, needs_approval=True)],
        model=ScriptedModel(
            [[shell_call(commands=["make deploy"])], [assistant_message("runner done")]]
        ),
    )
    lead = Agent(
        name="lead",
        tools=[runner.as_tool("ops", "Run ops")],
        model=ScriptedModel(
            [
                [function_call("ops", {"input": "deploy"}, call_id="c1")],
                [assistant_message("lead done")],
            ]
        ),
    )
    record, done = await pause_approve_resume(mongo, lead)

    [call] = record.tool_calls
    assert (call.kind, call.agent_name) == (CallKind.SHELL, "runner")
    assert call.arguments["commands"] == ["make deploy"]
    assert done.status is RunStatus.SUCCESS and done.final_output == "lead done"
    assert ran == [["make deploy"]]
    assert done.outcomes[call.call_id].status is CallOutcomeStatus.EXECUTED


async def test_an_agent_used_as_a_gated_tool_runs_with_the_reviewed_input(
    mongo: MongoDBClient,
) -> None:
    deployer_model = ScriptedModel([[assistant_message("shipped payments")]])
    deployer = Agent(name="deployer", model=deployer_model)
    lead = Agent(
        name="lead",
        tools=[deployer.as_tool("ask_deployer", "Ask the deployer", needs_approval=True)],
        model=ScriptedModel(
            [
                [function_call("ask_deployer", {"input": "ship payments"}, call_id="c2")],
                [assistant_message("lead done")],
            ]
        ),
    )
    record, done = await pause_approve_resume(mongo, lead)
    assert record.tool_calls[0].kind is CallKind.AGENT_TOOL
    assert done.status is RunStatus.SUCCESS
    assert deployer_model.last_call is not None
    assert "ship payments" in str(deployer_model.last_call.input)
    assert done.outcomes["c2"].output == "shipped payments"


async def test_a_hosted_mcp_request_is_answered_with_the_reviewers_verdict(
    mongo: MongoDBClient,
) -> None:
    for verdict, expected in (("approved", True), ("rejected", False)):
        request = McpApprovalRequest(
            id=f"mcpr_{verdict}",
            type="mcp_approval_request",
            server_label="github",
            name="create_issue",
            arguments='{"repo": "acme/payments", "title": "Rotate keys"}',
        )
        model = ScriptedModel([[request], [assistant_message("filed")]])
        github = HostedMCPTool(
            tool_config={
                "type": "mcp",
                "server_label": "github",
                "server_url": "https://mcp.example.test",
                "require_approval": "always",
            }
        )
        agent = Agent(name=f"triage-{verdict}", tools=[github], model=model)
        record, done = await pause_approve_resume(mongo, agent, verdict=verdict)

        [call] = record.tool_calls
        assert call.kind is CallKind.HOSTED_MCP and call.arguments["server"] == "github"
        assert done.status is RunStatus.SUCCESS
        assert model.last_call is not None
        responses = [
            item
            for item in model.last_call.input
            if isinstance(item, dict) and item.get("type") == "mcp_approval_response"
        ]
        assert [(r["approval_request_id"], r["approve"]) for r in responses] == [
            (f"mcpr_{verdict}", expected)
        ]
        final = await fresh(mongo, agent).store.get(str(record.id))
        assert final.status is ApprovalStatus.COMPLETED


async def test_a_custom_tool_call_runs_its_reviewed_input(mongo: MongoDBClient) -> None:
    queries: list[str] = []

    async def run_sql(context: ToolContext[Any], query: str) -> str:
        queries.append(query)
        return "3 rows deleted"

    query = "DELETE FROM sessions WHERE created_at < now() - interval '30 days'"
    model = ScriptedModel(
        [
            [
                ResponseCustomToolCall(
                    type="custom_tool_call", call_id="cu1", name="run_sql", input=query
                )
            ],
            [assistant_message("cleaned")],
        ]
    )
    sql = CustomTool(
        name="run_sql", description="Run SQL", on_invoke_tool=run_sql, needs_approval=True
    )
    record, done = await pause_approve_resume(mongo, Agent(name="dba", tools=[sql], model=model))
    assert record.tool_calls[0].arguments == {"input": query}
    assert done.status is RunStatus.SUCCESS and queries == [query]
    assert done.outcomes["cu1"].output == "3 rows deleted"
