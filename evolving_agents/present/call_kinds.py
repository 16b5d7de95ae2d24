"""What a call will do, per kind, as a reviewer reads it: a script, a diff, a hosted request.

::

    shell_commands(call)       # ["kubectl rollout restart deploy/api"], None for other kinds
    patch_operations(call)     # [PatchOperation(type="update_file", path=..., diff=...)]

Plain functions of a ``ToolCallRecord`` (see ``CallKind`` for the shape of its arguments);
shared by the web inbox and ``eat approvals show``.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from evolving_agents.approvals.models import CallKind, ToolCallRecord

KIND_LABELS = {
    CallKind.FUNCTION: "function",
    CallKind.AGENT_TOOL: "agent as tool",
    CallKind.MCP: "MCP tool",
    CallKind.HOSTED_MCP: "hosted MCP",
    CallKind.SHELL: "shell",
    CallKind.APPLY_PATCH: "patch",
    CallKind.CUSTOM: "custom tool",
    CallKind.OTHER: "other",
}


class DiffLine(BaseModel):
    text: str
    kind: str
    """add, remove, hunk, file or context: also the CSS class (``d-<kind>``) of the line."""


class PatchOperation(BaseModel):
    """One file operation of an apply_patch call: what it does to which path, and the diff."""

    type: str
    path: str
    move_to: str | None = None
    diff: str | None = None

    @property
    def lines(self) -> list[DiffLine]:
        return diff_lines(self.diff or "")


class HostedMcpCall(BaseModel):
    server: str
    tool: str
    arguments: Any = None


def diff_lines(diff: str) -> list[DiffLine]:
    """A diff line by line, each tagged with what it does; the text is never interpreted."""
    lines = []
    # Split on newlines only: splitlines() also breaks at U+2028, form feeds and the like, which
    # would show one line of the patch as two instead of revealing the character.
    texts = diff.split("\n")
    if texts and texts[-1] == "":
        texts.pop()
    for text in (line.removesuffix("\r") for line in texts):
        if text.startswith(("+++", "---", "*** ")):
            kind = "file"
        elif text.startswith("@@"):
            kind = "hunk"
        elif text.startswith("+"):
            kind = "add"
        elif text.startswith("-"):
            kind = "remove"
        else:
            kind = "context"
        lines.append(DiffLine(text=text, kind=kind))
    return lines


def _arguments_of(call: ToolCallRecord, kind: CallKind) -> dict[str, Any]:
    return call.arguments if call.kind is kind and isinstance(call.arguments, dict) else {}


def shell_commands(call: ToolCallRecord) -> list[str] | None:
    """A shell call's commands, in the order they run; None for any other call."""
    commands = _arguments_of(call, CallKind.SHELL).get("commands")
    return [str(command) for command in commands] if isinstance(commands, list) else None


def shell_options(call: ToolCallRecord) -> dict[str, str]:
    """A shell call's limits and working directory (everything but its commands), as text."""
    return {
        key: value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        for key, value in sorted(_arguments_of(call, CallKind.SHELL).items())
        if key != "commands"
    }


def patch_operations(call: ToolCallRecord) -> list[PatchOperation] | None:
    """An apply_patch call's operations; None for any other call."""
    operations = _arguments_of(call, CallKind.APPLY_PATCH).get("operations")
    if not isinstance(operations, list):
        return None
    return [
        PatchOperation(
            type=str(operation.get("type")),
            path=str(operation.get("path")),
            move_to=None if operation.get("move_to") is None else str(operation["move_to"]),
            diff=operation.get("diff") if isinstance(operation.get("diff"), str) else None,
        )
        for operation in operations
        if isinstance(operation, dict)
    ]


def hosted_mcp_call(call: ToolCallRecord) -> HostedMcpCall | None:
    """A hosted MCP request's server, tool and arguments; None for any other call."""
    arguments = _arguments_of(call, CallKind.HOSTED_MCP)
    if "server" not in arguments:
        return None
    return HostedMcpCall(
        server=str(arguments.get("server")),
        tool=str(arguments.get("tool")),
        arguments=arguments.get("arguments"),
    )


def custom_input(call: ToolCallRecord) -> str | None:
    """A custom tool call's raw input; None for any other call."""
    value = _arguments_of(call, CallKind.CUSTOM).get("input")
    return value if isinstance(value, str) else None
