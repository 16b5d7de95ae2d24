"""``eat approvals show`` shows each kind of call as it will run, on memory:// and a wire server.

Records are paused runs of ``tests.apps.kinds_app`` (the bare SDK with a gated ShellTool,
ApplyPatchTool and function tool), stored through ``PendingApprovalStore.create``.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from agents.items import TResponseOutputItem
from click.testing import Result
from typer.testing import CliRunner

from evolving_agents import MongoDBClient
from evolving_agents.approvals.models import (
    CallKind,
    PendingApproval,
    ToolCallRecord,
    arguments_digest,
)
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.cli import approval_views, common
from evolving_agents.cli.main import app
from tests.apps import kinds_app


@dataclass
class Eat:
    shared: MongoDBClient | None
    """memory:// lives in one process object, so the CLI gets it injected; wire: None."""

    def __call__(self, *args: str) -> Result:
        return CliRunner().invoke(app, list(args), obj=self.shared)

    def json(self, *args: str) -> Any:
        result = self(*args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    def pause(self, outputs: list[TResponseOutputItem], request: str) -> PendingApproval:
        async def go() -> PendingApproval:
            client = self.shared or MongoDBClient()
            try:
                return await kinds_app.pause(PendingApprovalStore(client), outputs, request)
            finally:
                if self.shared is None:
                    await client.close()

        return asyncio.run(go())


@pytest.fixture(params=["memory", "wire"])
def eat(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Eat]:
    monkeypatch.setattr(common.console, "width", 160)
    if request.param == "memory":
        yield Eat(MongoDBClient("memory://", f"eat_cli_{uuid.uuid4().hex[:8]}"))
    else:
        request.getfixturevalue("wire_env")
        yield Eat(None)


def test_show_prints_shell_commands_as_a_script_and_a_patch_as_its_diff(eat: Eat) -> None:
    outputs = [kinds_app.shell_call(), kinds_app.patch_call(), kinds_app.page_call()]
    record = eat.pause(outputs, "restart payments, turn debug off, tell on-call")

    shown = eat("approvals", "show", record.id)
    assert shown.exit_code == 0, shown.output
    out = shown.stdout
    lines = [line.strip() for line in out.splitlines()]
    assert [line for line in lines if line in kinds_app.COMMANDS] == kinds_app.COMMANDS
    assert "timeout_ms: 60000" in out
    assert f"update_file {kinds_app.PATCH_PATH}" in out
    for diff_line in kinds_app.PATCH_DIFF.splitlines():
        assert diff_line.strip() in lines, diff_line
    assert '"commands"' not in out and '"operations"' not in out, "not shown as raw JSON"
    assert '"team": "payments"' in out, "a function call's arguments stay JSON"

    data = eat.json("approvals", "show", record.id)
    by_id = {call["call_id"]: call for call in data["tool_calls"]}
    assert {call_id: call["kind"] for call_id, call in by_id.items()} == {
        "sh1": "shell",
        "ap1": "apply_patch",
        "fn1": "function",
    }
    assert by_id["sh1"]["arguments"]["commands"] == kinds_app.COMMANDS
    assert by_id["ap1"]["arguments"]["operations"][0]["diff"] == kinds_app.PATCH_DIFF


def _record(kind: CallKind, arguments: Any, tool_name: str) -> ToolCallRecord:
    return ToolCallRecord(
        call_id="c1",
        tool_name=tool_name,
        agent_name="desk",
        kind=kind,
        arguments=arguments,
        arguments_sha256=arguments_digest(arguments),
    )


def test_hosted_mcp_and_custom_calls_read_as_server_tool_and_raw_input(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(common.console, "width", 160)
    hosted = _record(
        CallKind.HOSTED_MCP,
        {"server": "github", "tool": "create_issue", "arguments": {"title": "Rotate keys"}},
        "github.create_issue",
    )
    query = "DELETE FROM sessions WHERE note = '[bold]x[/]'"
    custom = _record(CallKind.CUSTOM, {"input": query}, "run_sql")
    with common.console.capture() as captured:
        approval_views.show_call(hosted)
        approval_views.show_call(custom)
    out = captured.get()
    assert "server github  tool create_issue" in out and '"title": "Rotate keys"' in out
    assert query in out, "the input is printed verbatim, never read as Rich markup"
    assert "hosted MCP" in out and "custom tool" in out
