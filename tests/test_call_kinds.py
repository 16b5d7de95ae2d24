"""Every kind of call the SDK can gate is described as it will run, before and after a resume.

Each scenario runs the bare SDK with a ScriptedModel until it pauses, describes the live
interruption, then describes the same interruption read back from ``RunState.to_json()`` (through
a JSON string, as the store keeps it): both must agree, since a resume refuses a state whose
arguments hash differently from what the reviewer saw.
"""

from __future__ import annotations

import json
from typing import Any

from agents import (
    Agent,
    ApplyPatchTool,
    CustomTool,
    HostedMCPTool,
    Runner,
    ShellTool,
    function_tool,
)
from agents.items import ToolApprovalItem, TResponseOutputItem
from agents.mcp import MCPServer
from agents.run_state import RunState
from agents.testing import ScriptedModel, assistant_message, function_call
from agents.tool_context import ToolContext
from mcp import Tool as MCPTool
from mcp.types import CallToolResult, GetPromptResult, ListPromptsResult, TextContent
from openai.types.responses import (
    ResponseComputerToolCall,
    ResponseCustomToolCall,
    ResponseFunctionShellToolCall,
    ResponseFunctionToolCall,
)
from openai.types.responses.response_output_item import LocalShellCall, McpApprovalRequest

from evolving_agents import AgentRegistry, MongoDBClient, OpenAIAgentsProvider
from evolving_agents.approvals.models import CallKind, RunStatus, arguments_digest
from evolving_agents.providers.call_kinds import DescribedCall, describe_call
from tests.apps.kinds_app import (
    COMMANDS,
    PATCH_DIFF,
    PATCH_PATH,
    ops_agent,
    page_call,
    patch_call,
    run_shell,
    shell_call,
)


class TicketServer(MCPServer):
    """An in-process MCP server with one tool; it records the calls that reach it."""

    def __init__(self) -> None:
        super().__init__(require_approval="always")
        self.calls: list[tuple[str, dict[str, Any] | None]] = []

    @property
    def name(self) -> str:
        return "tickets"

    async def connect(self) -> None:
        pass

    async def cleanup(self) -> None:
        pass

    async def list_tools(self, run_context: Any = None, agent: Any = None) -> list[MCPTool]:
        schema = {"type": "object", "properties": {"ticket": {"type": "string"}}}
        return [MCPTool(name="close_ticket", inputSchema=schema)]

    async def call_tool(
        self, tool_name: str, arguments: dict[str, Any] | None, meta: dict[str, Any] | None = None
    ) -> CallToolResult:
        self.calls.append((tool_name, arguments))
        return CallToolResult(content=[TextContent(type="text", text="closed")])

    async def list_prompts(self) -> ListPromptsResult:
        return ListPromptsResult(prompts=[])

    async def get_prompt(
        self, name: str, arguments: dict[str, Any] | None = None
    ) -> GetPromptResult:
        raise KeyError(name)


@function_tool(needs_approval=True)
def grant_access(user: str, hours: int) -> str:
    """Grant a user admin access for some hours."""
    return f"granted {user}"


def scripted(outputs: list[TResponseOutputItem]) -> ScriptedModel:
    return ScriptedModel([outputs, [assistant_message("done")]])


async def described_twice(agent: Agent[Any]) -> list[DescribedCall]:
    """Each interruption described live, checked equal to its description after a round trip."""
    result = await Runner.run(agent, "go")
    assert result.interruptions, "the run must pause"
    stored = json.dumps(result.to_state().to_json())
    restored = await RunState.from_json(agent, json.loads(stored))
    live = [describe_call(item) for item in result.interruptions]
    again = [describe_call(item) for item in restored.get_interruptions()]
    assert again == live
    assert [arguments_digest(call.arguments) for call in again] == [
        arguments_digest(call.arguments) for call in live
    ]
    return live


async def test_a_function_call_is_described_by_its_parsed_json_arguments() -> None:
    agent = Agent(
        name="iam",
        tools=[grant_access],
        model=scripted(
            [function_call("grant_access", {"user": "alice", "hours": 48}, call_id="c1")]
        ),
    )
    [call] = await described_twice(agent)
    assert call == DescribedCall(CallKind.FUNCTION, "grant_access", {"user": "alice", "hours": 48})


async def test_malformed_json_arguments_are_shown_verbatim_not_dropped() -> None:
    broken = ResponseFunctionToolCall(
        type="function_call", name="grant_access", call_id="c1", arguments='{"hours": NaN'
    )
    agent = Agent(name="iam", tools=[grant_access], model=scripted([broken]))
    [call] = await described_twice(agent)
    assert (call.kind, call.arguments) == (CallKind.FUNCTION, '{"hours": NaN')


async def test_an_agent_as_tool_call_is_an_agent_tool_call_with_its_input() -> None:
    deployer = Agent(name="deployer", model=ScriptedModel([]))
    agent = Agent(
        name="lead",
        tools=[deployer.as_tool("ask_deployer", "Ask the deployer", needs_approval=True)],
        model=scripted([function_call("ask_deployer", {"input": "ship payments"}, call_id="c2")]),
    )
    [call] = await described_twice(agent)
    assert call == DescribedCall(CallKind.AGENT_TOOL, "ask_deployer", {"input": "ship payments"})
    assert call.kind.editable


async def test_a_nested_agents_shell_call_is_described_as_a_shell_call() -> None:
    runner = Agent(
        name="runner",
        tools=[ShellTool(executor=run_shell, needs_approval=True)],
        model=scripted([shell_call(commands=["make deploy"])]),
    )
    lead = Agent(
        name="lead",
        tools=[runner.as_tool("ops", "Run ops")],
        model=scripted([function_call("ops", {"input": "deploy"}, call_id="c3")]),
    )
    [call] = await described_twice(lead)
    assert call == DescribedCall(
        CallKind.SHELL, "shell", {"commands": ["make deploy"], "timeout_ms": 60000}
    )


async def test_a_local_mcp_call_names_its_server_and_keeps_the_json_arguments() -> None:
    server = TicketServer()
    agent = Agent(
        name="support",
        mcp_servers=[server],
        model=scripted([function_call("close_ticket", {"ticket": "T-42"}, call_id="c4")]),
    )
    [call] = await described_twice(agent)
    assert call == DescribedCall(CallKind.MCP, "tickets.close_ticket", {"ticket": "T-42"})
    assert server.calls == [] and not call.kind.editable


async def test_a_hosted_mcp_request_shows_its_server_tool_and_parsed_arguments() -> None:
    request = McpApprovalRequest(
        id="mcpr_1",
        type="mcp_approval_request",
        server_label="github",
        name="create_issue",
        arguments='{"repo": "acme/payments", "title": "Rotate keys"}',
    )
    github = HostedMCPTool(
        tool_config={
            "type": "mcp",
            "server_label": "github",
            "server_url": "https://mcp.example.test",
            "require_approval": "always",
        }
    )
    agent = Agent(name="triage", tools=[github], model=scripted([request]))
    [call] = await described_twice(agent)
    assert call == DescribedCall(
        CallKind.HOSTED_MCP,
        "github.create_issue",
        {
            "server": "github",
            "tool": "create_issue",
            "arguments": {"repo": "acme/payments", "title": "Rotate keys"},
        },
    )


async def test_a_shell_call_shows_every_command_and_its_limits() -> None:
    live_call = ResponseFunctionShellToolCall(
        id="item-sh",
        call_id="sh1",
        type="shell_call",
        status="completed",
        environment={"type": "local"},
        action={"commands": COMMANDS, "timeout_ms": 60000, "max_output_length": 4096},
    )
    [call] = await described_twice(ops_agent([live_call]))
    assert call == DescribedCall(
        CallKind.SHELL,
        "shell",
        {
            "commands": COMMANDS,
            "timeout_ms": 60000,
            "max_output_length": 4096,
            "environment": {"type": "local"},
        },
    )


async def test_a_patch_shows_each_operation_with_its_path_and_diff() -> None:
    [call] = await described_twice(ops_agent([patch_call()]))
    assert call == DescribedCall(
        CallKind.APPLY_PATCH,
        "apply_patch",
        {"operations": [{"type": "update_file", "path": PATCH_PATH, "diff": PATCH_DIFF}]},
    )


async def test_a_patch_sent_as_custom_input_lists_all_its_operations() -> None:
    # The SDK's fallback for models that send apply_patch as a custom tool call.
    operations = [
        {"type": "create_file", "path": "docs/RUNBOOK.md", "diff": "+# Runbook\n"},
        {"type": "delete_file", "path": "docs/OLD.md", "diff": "ignored"},
    ]
    fallback = ResponseCustomToolCall(
        type="custom_tool_call",
        call_id="ap2",
        name="apply_patch",
        input=json.dumps({"operations": operations}),
    )
    [call] = await described_twice(ops_agent([fallback]))
    assert call.kind is CallKind.APPLY_PATCH
    assert call.arguments == {
        "operations": [
            {"type": "create_file", "path": "docs/RUNBOOK.md", "diff": "+# Runbook\n"},
            {"type": "delete_file", "path": "docs/OLD.md", "diff": None},
        ]
    }


async def test_a_custom_tool_call_shows_its_raw_input() -> None:
    async def run_sql(context: ToolContext[Any], query: str) -> str:
        return "0 rows"

    sql = CustomTool(
        name="run_sql", description="Run SQL", on_invoke_tool=run_sql, needs_approval=True
    )
    query = "DELETE FROM sessions WHERE created_at < now() - interval '30 days'"
    custom = ResponseCustomToolCall(
        type="custom_tool_call", call_id="cu1", name="run_sql", input=query
    )
    agent = Agent(name="dba", tools=[sql], model=scripted([custom]))
    [call] = await described_twice(agent)
    assert call == DescribedCall(CallKind.CUSTOM, "run_sql", {"input": query})


async def test_every_call_of_one_pause_is_described_by_its_own_kind() -> None:
    outputs = [shell_call(), patch_call(), page_call()]
    calls = await described_twice(ops_agent(outputs))
    assert sorted((call.kind.value, call.tool_name) for call in calls) == [
        ("apply_patch", "apply_patch"),
        ("function", "page_oncall"),
        ("shell", "shell"),
    ]


def _item(raw: Any, tool_name: str | None = None) -> ToolApprovalItem:
    return ToolApprovalItem(agent=Agent(name="desk"), raw_item=raw, tool_name=tool_name)


def test_a_local_shell_call_is_one_command_line_with_its_working_directory() -> None:
    raw = LocalShellCall(
        id="ls1",
        call_id="ls1",
        type="local_shell_call",
        status="completed",
        action={
            "type": "exec",
            "command": ["rm", "-rf", "build dir"],
            "env": {},
            "working_directory": "/srv/app",
        },
    )
    live = describe_call(_item(raw))
    again = describe_call(_item(raw.model_dump(exclude_unset=True)))
    assert (
        live
        == again
        == DescribedCall(
            CallKind.SHELL,
            "local_shell",
            {"commands": ["rm -rf 'build dir'"], "working_directory": "/srv/app"},
        )
    )


def test_an_unknown_raw_item_is_dumped_as_json_never_dropped() -> None:
    # No gated SDK tool produces these today; a future one must still not be approved blind.
    raw = ResponseComputerToolCall(
        id="cc1",
        call_id="cc1",
        type="computer_call",
        status="completed",
        pending_safety_checks=[],
        action={"type": "click", "x": 10, "y": 20, "button": "left"},
    )
    live = describe_call(_item(raw, "computer"))
    again = describe_call(_item(json.loads(json.dumps(raw.model_dump(exclude_unset=True)))))
    assert live.kind is CallKind.OTHER and live.tool_name == "computer"
    assert live.arguments["action"] == {"type": "click", "x": 10, "y": 20, "button": "left"}
    assert arguments_digest(again.arguments) == arguments_digest(live.arguments)


async def test_an_approved_shell_call_and_patch_run_after_a_stored_pause(
    mongo: MongoDBClient,
) -> None:
    agent = ops_agent([shell_call(), patch_call()])
    registry = AgentRegistry()
    registry.register(agent)
    provider = OpenAIAgentsProvider(mongodb_client=mongo, registry=registry)
    run = await provider.execute_agent(agent.name, "restart payments and turn debug off")

    assert run.status is RunStatus.AWAITING_APPROVAL and run.approval_id is not None
    pending = {call.call_id: call for call in run.pending_tool_calls}
    assert pending["sh1"].kind is CallKind.SHELL
    assert pending["sh1"].arguments == {"commands": COMMANDS, "timeout_ms": 60000}
    assert pending["ap1"].kind is CallKind.APPLY_PATCH
    assert pending["ap1"].arguments["operations"][0]["diff"] == PATCH_DIFF
    editor = next(tool.editor for tool in agent.tools if isinstance(tool, ApplyPatchTool))
    assert editor.operations == []

    for call_id in pending:
        await provider.store.decide(
            run.approval_id, call_id=call_id, verdict="approved", reviewer="alice"
        )
    done = await provider.resume_agent(run.approval_id)
    assert done.status is RunStatus.SUCCESS, done.error
    outputs = {output.call_id: output.output for output in done.tool_outputs}
    assert "ran " + "; ".join(COMMANDS) in outputs["sh1"]
    assert [(op.type, op.path, op.diff) for op in editor.operations] == [
        ("update_file", PATCH_PATH, PATCH_DIFF)
    ]
