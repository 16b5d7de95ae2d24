"""What an interrupted tool call will do, per kind of tool, as a reviewer must see it.

::

    described = describe_call(item)          # item: a ToolApprovalItem from result.interruptions
    described.kind, described.tool_name, described.arguments

The provider stores ``arguments`` on the call record and binds ``arguments_sha256`` to it, and
recomputes both from the signed state before a resume, so what a reviewer approved is exactly
what runs. See ``CallKind`` for the shape of ``arguments`` per kind.

A live interruption holds the SDK's typed raw item (``ResponseFunctionShellToolCall``,
``McpApprovalRequest``, ...); the same interruption read back with ``RunState.from_json`` often
holds a plain dict, and optional fields that were ``None`` are gone. Every description reads
fields from either form and leaves ``None`` out, so both describe the same call identically.
"""

from __future__ import annotations

import json
import math
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from agents.items import ToolApprovalItem
from agents.tool import ToolOriginType

from evolving_agents.approvals.models import CallKind


@dataclass(frozen=True)
class DescribedCall:
    kind: CallKind
    tool_name: str
    arguments: Any


def describe_call(item: ToolApprovalItem) -> DescribedCall:
    """The kind, name and reviewable arguments of one interrupted call."""
    describe = _BY_RAW_TYPE.get(str(_field(item.raw_item, "type")), _other)
    return describe(item)


def _function(item: ToolApprovalItem) -> DescribedCall:
    name = _display_name(item)
    arguments = _parsed(_field(item.raw_item, "arguments"))
    origin = item.tool_origin
    if origin is not None and origin.type is ToolOriginType.AGENT_AS_TOOL:
        return DescribedCall(CallKind.AGENT_TOOL, name, arguments)
    if origin is not None and origin.type is ToolOriginType.MCP:
        return DescribedCall(CallKind.MCP, _on_server(origin.mcp_server_name, name), arguments)
    return DescribedCall(CallKind.FUNCTION, name, arguments)


def _hosted_mcp(item: ToolApprovalItem) -> DescribedCall:
    raw = item.raw_item
    server = _field(raw, "server_label")
    tool = _field(raw, "name")
    arguments = {
        "server": server,
        "tool": tool,
        "arguments": _parsed(_field(raw, "arguments")),
    }
    name = _on_server(server, str(tool) if tool is not None else _display_name(item))
    return DescribedCall(CallKind.HOSTED_MCP, name, arguments)


def _shell(item: ToolApprovalItem) -> DescribedCall:
    # The fields the SDK's ``coerce_shell_call`` hands the executor, spelled the same way.
    action = _field(item.raw_item, "action")
    commands = _field(action, "commands")
    arguments: dict[str, Any] = {
        "commands": [str(entry) for entry in commands if entry is not None]
        if isinstance(commands, list | tuple)
        else _json_safe(commands)
    }
    # A zero timeout means "no timeout" to the SDK, which then tries the next spelling.
    timeout = next(
        (
            found
            for alias in ("timeout_ms", "timeoutMs", "timeout")
            if (found := _field(action, alias)) is not None and found != 0
        ),
        None,
    )
    max_output_length = _field(action, "max_output_length")
    if max_output_length is None:
        max_output_length = _field(action, "maxOutputLength")
    for key, value in (("timeout_ms", timeout), ("max_output_length", max_output_length)):
        if value is not None:
            arguments[key] = _json_safe(value)
    environment = _json_safe(_field(item.raw_item, "environment"))
    if environment is not None:
        arguments["environment"] = environment
    return DescribedCall(CallKind.SHELL, _display_name(item, "shell"), arguments)


def _local_shell(item: ToolApprovalItem) -> DescribedCall:
    # One argv, run as is: shown as the one command line it amounts to.
    action = _field(item.raw_item, "action")
    argv = _field(action, "command")
    command = shlex.join(str(part) for part in argv) if isinstance(argv, list | tuple) else argv
    arguments: dict[str, Any] = {"commands": [] if command is None else [str(command)]}
    for key in ("working_directory", "timeout_ms", "env", "user"):
        value = _json_safe(_field(action, key))
        if value not in (None, {}):
            arguments[key] = value
    return DescribedCall(CallKind.SHELL, _display_name(item, "local_shell"), arguments)


def _apply_patch(item: ToolApprovalItem) -> DescribedCall:
    # The SDK runs ``operations`` when the call has the list, else its one ``operation``.
    raw = item.raw_item
    listed = _field(raw, "operations")
    single = _field(raw, "operation")
    raw_operations = listed if isinstance(listed, list) else [] if single is None else [single]
    operations = []
    for raw_operation in raw_operations:
        kind = str(_field(raw_operation, "type"))
        operation: dict[str, Any] = {
            "type": kind,
            "path": _json_safe(_field(raw_operation, "path")),
            # A delete runs without its diff, whatever the model sent.
            "diff": None if kind == "delete_file" else _json_safe(_field(raw_operation, "diff")),
        }
        move_to = _field(raw_operation, "move_to")
        if move_to is not None:
            operation["move_to"] = _json_safe(move_to)
        operations.append(operation)
    arguments = {"operations": operations}
    return DescribedCall(CallKind.APPLY_PATCH, _display_name(item, "apply_patch"), arguments)


def _custom(item: ToolApprovalItem) -> DescribedCall:
    arguments = {"input": _json_safe(_field(item.raw_item, "input"))}
    return DescribedCall(CallKind.CUSTOM, _display_name(item), arguments)


def _other(item: ToolApprovalItem) -> DescribedCall:
    raw_type = _field(item.raw_item, "type")
    fallback = str(raw_type) if raw_type is not None else "unknown"
    return DescribedCall(CallKind.OTHER, _display_name(item, fallback), _json_safe(item.raw_item))


_BY_RAW_TYPE: dict[str, Callable[[ToolApprovalItem], DescribedCall]] = {
    "function_call": _function,
    "mcp_approval_request": _hosted_mcp,
    "mcp_call": _hosted_mcp,
    "shell_call": _shell,
    "local_shell_call": _local_shell,
    "apply_patch_call": _apply_patch,
    "custom_tool_call": _custom,
}


def _field(raw: Any, key: str) -> Any:
    if isinstance(raw, Mapping):
        return raw.get(key)
    return getattr(raw, key, None)


def _display_name(item: ToolApprovalItem, fallback: str = "unknown") -> str:
    return item.qualified_name or item.name or fallback


def _on_server(server: Any, tool_name: str) -> str:
    """``server.tool``, unless the name already says the server (or there is none)."""
    if not isinstance(server, str) or not server or tool_name.startswith(f"{server}."):
        return tool_name
    return f"{server}.{tool_name}"


def _parsed(raw: Any) -> Any:
    """JSON arguments parsed; anything that is not plain JSON is kept verbatim for the reviewer."""
    if raw is None:
        return None
    if not isinstance(raw, str):
        return _json_safe(raw)
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except ValueError:
        # A model can emit malformed JSON (or NaN, which canonical JSON cannot hash).
        return raw


def _refuse_constant(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _json_safe(value: Any) -> Any:
    """Plain JSON data of ``value``, ``None`` members left out, the same for a model or a dict.

    Pydantic raw items dump only the fields that were set, as the SDK's ``RunState`` does, so a
    live item and its deserialized dict give the same data.
    """
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump):
        return _json_safe(model_dump(mode="json", exclude_unset=True))
    if isinstance(value, Mapping):
        return {str(key): _json_safe(member) for key, member in value.items() if member is not None}
    if isinstance(value, list | tuple):
        return [_json_safe(member) for member in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)
