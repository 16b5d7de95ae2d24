"""Paused runs of every reviewer-facing tool kind, for the CLI, inbox and browser tests.

An ops agent with a gated ``ShellTool``, ``ApplyPatchTool`` and function tool runs on the bare
SDK with a ScriptedModel; its interrupted state is signed with ``StateCodec`` and stored through
``PendingApprovalStore.create``, each call described by ``describe_call`` as the provider does.
"""

from __future__ import annotations

import secrets
from typing import Any

from agents import (
    Agent,
    ApplyPatchOperation,
    ApplyPatchResult,
    ApplyPatchTool,
    Runner,
    ShellCommandRequest,
    ShellTool,
    function_tool,
)
from agents.items import TResponseOutputItem
from agents.testing import ScriptedModel, assistant_message, function_call
from openai.types.responses import ResponseApplyPatchToolCall, ResponseFunctionShellToolCall

from evolving_agents.approvals.codec import StateCodec
from evolving_agents.approvals.models import (
    PendingApproval,
    ToolCallRecord,
    arguments_digest,
    utcnow,
)
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.providers.call_kinds import describe_call

AGENT_NAME = "ops-agent"
COMMANDS = ["kubectl -n payments rollout restart deploy/api", "rm -rf /var/cache/payments/*"]
PATCH_PATH = "services/payments/settings.py"
PATCH_DIFF = "@@ -1,3 +1,3 @@\n import os\n-DEBUG = True\n+DEBUG = False\n PORT = 8080\n"


class RecordingEditor:
    """An apply_patch editor that only remembers what it was asked to do."""

    def __init__(self) -> None:
        self.operations: list[ApplyPatchOperation] = []

    def create_file(self, operation: ApplyPatchOperation) -> ApplyPatchResult:
        self.operations.append(operation)
        return ApplyPatchResult(output="created")

    def update_file(self, operation: ApplyPatchOperation) -> ApplyPatchResult:
        self.operations.append(operation)
        return ApplyPatchResult(output="updated")

    def delete_file(self, operation: ApplyPatchOperation) -> ApplyPatchResult:
        self.operations.append(operation)
        return ApplyPatchResult(output="deleted")


async def run_shell(request: ShellCommandRequest) -> str:
    return "ran " + "; ".join(request.data.action.commands)


@function_tool(needs_approval=True)
def page_oncall(team: str, message: str) -> str:
    """Page a team's on-call engineer."""
    return f"paged {team}"


def ops_agent(outputs: list[TResponseOutputItem]) -> Agent[Any]:
    model = ScriptedModel([outputs, [assistant_message("done")]])
    return Agent(
        name=AGENT_NAME,
        instructions="ops",
        model=model,
        tools=[
            ShellTool(executor=run_shell, needs_approval=True),
            ApplyPatchTool(editor=RecordingEditor(), needs_approval=True),
            page_oncall,
        ],
    )


def shell_call(call_id: str = "sh1", commands: list[str] | None = None) -> TResponseOutputItem:
    return ResponseFunctionShellToolCall(
        id=f"item-{call_id}",
        call_id=call_id,
        type="shell_call",
        status="completed",
        action={"commands": commands or COMMANDS, "timeout_ms": 60000},
    )


def patch_call(call_id: str = "ap1") -> TResponseOutputItem:
    return ResponseApplyPatchToolCall(
        id=f"item-{call_id}",
        call_id=call_id,
        type="apply_patch_call",
        status="completed",
        operation={"type": "update_file", "path": PATCH_PATH, "diff": PATCH_DIFF},
    )


def page_call(call_id: str = "fn1") -> TResponseOutputItem:
    return function_call(
        "page_oncall", {"team": "payments", "message": "restarting api"}, call_id=call_id
    )


async def pause(
    store: PendingApprovalStore, outputs: list[TResponseOutputItem], request: str
) -> PendingApproval:
    """Run the ops agent until it pauses on ``outputs``, and store the pause."""
    agent = ops_agent(outputs)
    result = await Runner.run(agent, request)
    assert result.interruptions, "every call of the ops agent needs approval"
    approval_id = f"apr_{secrets.token_hex(8)}"
    calls = []
    for item in result.interruptions:
        described = describe_call(item)
        calls.append(
            ToolCallRecord(
                call_id=item.call_id or "",
                tool_name=described.tool_name,
                agent_name=item.agent.name,
                kind=described.kind,
                arguments=described.arguments,
                arguments_sha256=arguments_digest(described.arguments),
            )
        )
    now = utcnow()
    record = PendingApproval(
        _id=approval_id,
        run_id=secrets.token_hex(12),
        agent_name=agent.name,
        actor="ops-bot",
        input_preview=request,
        tool_calls=calls,
        state=StateCodec.from_settings().encode(approval_id, result.to_state().to_json()),
        created_at=now,
        updated_at=now,
    )
    return await store.create(record)
