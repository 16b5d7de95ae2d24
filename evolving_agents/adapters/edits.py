"""Approving with edited arguments: checking an edit, and applying it to the stored state.

::

    signal = await check_edited_arguments(agent, call, {"duration_hours": 2, "user": "alice"})
    reviewed = apply_edits(state_json, record)   # call id -> the hash the tool must now see

An edit keeps the tool: only the arguments change. It must validate against the tool's JSON
schema and pass the decision layer again (a ``block`` refuses it); that fresh signal is
returned, so the store keeps it with the vote and the AI cap judges an AI's edit by it. When
applied, every copy of the call in the state (the model's response, the generated items, the
pending interruption) gets the edited arguments, so the tool runs with them and the model's
history shows them.

Only function and agent-as-tool calls can be edited (``CallKind.editable``): a shell command, a
patch, a custom tool's input or an MCP call is approved or rejected as it is.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
from agents import Agent

from evolving_agents.adapters.decision_gate import DecisionGate, needs_context
from evolving_agents.adapters.tool_lookup import fingerprint, tool_for_record
from evolving_agents.approvals.models import (
    CallKind,
    PendingApproval,
    ToolCallRecord,
    arguments_digest,
)
from evolving_agents.decisions.base import DecisionContext, DecisionVerdict, ToolCallRequest
from evolving_agents.errors import InvalidDecision


async def check_edited_arguments(
    agent: Agent[Any], call: ToolCallRecord, edited: dict[str, Any]
) -> dict[str, Any] | None:
    """Raise ``InvalidDecision`` unless ``edited`` fits the tool's schema and its policy; return
    the decision layer's fresh signal on ``edited`` (JSON), None for a tool without one.

    The tool is the one of the agent that made the call (``call.agent_name`` in ``agent``'s
    graph), never a same-named tool of another agent; when that agent's tool cannot be told
    apart from another with a different schema or policy, the edit is refused naming both.
    """
    tool = _tool_to_check(agent, call)
    _check_schema(tool, call, edited)
    gate = getattr(tool, "eat_gate", None)
    if gate is None:
        return None
    return await _check_policy(gate, call, edited)


def _tool_to_check(agent: Agent[Any], call: ToolCallRecord) -> Any:
    """The one tool the call went through, or ``InvalidDecision`` saying why there is none."""
    approval = f"call {call.call_id}"
    if not call.kind.editable:
        why = _NOT_EDITABLE.get(call.kind, f"a {call.kind.value} call cannot be edited")
        raise InvalidDecision(approval, f"{why}; reject it with a message instead")
    found = tool_for_record(agent, call.agent_name, call.tool_name)
    if not found.tools:
        raise InvalidDecision(
            approval,
            f"agent {call.agent_name!r} has no tool {call.tool_name!r} to check edits on; "
            "reject the call with a message instead",
        )
    if len({fingerprint(tool) for tool in found.tools}) > 1:
        raise InvalidDecision(
            approval,
            f"the call may have gone through any of {found.describe()}, which differ in schema "
            "or policy, so the edit cannot be checked; reject the call with a message instead",
        )
    return found.tools[0]


def _check_schema(tool: Any, call: ToolCallRecord, edited: dict[str, Any]) -> None:
    approval = f"call {call.call_id}"
    schema = getattr(tool, "params_json_schema", None)
    if not isinstance(schema, dict):
        raise InvalidDecision(approval, f"tool {call.tool_name} has no schema to check edits on")
    try:
        jsonschema.validate(edited, schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(part) for part in exc.absolute_path) or "(arguments)"
        raise InvalidDecision(
            approval, f"edited arguments do not fit {call.tool_name}: {where}: {exc.message}"
        ) from None


async def _check_policy(
    gate: DecisionGate, call: ToolCallRecord, edited: dict[str, Any]
) -> dict[str, Any]:
    request = ToolCallRequest(
        tool_name=call.tool_name,
        arguments=edited,
        metadata=call.metadata,
        call_id=f"{call.call_id}#edit-{arguments_digest(edited)[:12]}",
        agent_name=call.agent_name,
        tool_requires_approval=True,
    )
    # Scored afresh, never from a recorded signal: an edit is a new call.
    signal = await gate.evaluate(request, DecisionContext())
    if signal.verdict is DecisionVerdict.BLOCK:
        raise InvalidDecision(
            f"call {call.call_id}",
            f"the edited arguments are blocked by policy ({signal.provider}): {signal.reason}",
        )
    if needs_context(signal):
        # Approved, it would still not run: the resume's guardrail refuses it for context.
        raise InvalidDecision(
            f"call {call.call_id}",
            f"the edited arguments would not run: the decision layer ({signal.provider}) "
            f"needs more context first: {signal.reason}",
        )
    fresh: dict[str, Any] = signal.model_dump(mode="json")
    return fresh


# Only JSON-schema tools can be checked and rewritten; why each other kind cannot be edited.
_NOT_EDITABLE = {
    CallKind.SHELL: "a shell call's commands cannot be edited",
    CallKind.APPLY_PATCH: "a patch's operations cannot be edited",
    CallKind.CUSTOM: "a custom tool's raw input cannot be edited",
    CallKind.MCP: "an MCP tool call's arguments cannot be edited (its server owns the schema)",
    CallKind.HOSTED_MCP: "a hosted MCP call runs on the MCP server and cannot be edited",
}


def apply_edits(state_json: dict[str, Any], record: PendingApproval) -> dict[str, str]:
    """Rewrite edited calls inside ``state_json`` in place; return call id -> edited hash.

    Only function calls are rewritten. An edit recorded on any other kind (which
    ``check_edited_arguments`` refuses) leaves the state alone but still reports its hash, so
    the resume's argument check refuses the state instead of running the unedited call.
    """
    edits: dict[str, dict[str, Any]] = {}
    encoded: dict[str, str] = {}
    for call in record.tool_calls:
        edited = getattr(call.decision, "edited_arguments", None) if call.decision else None
        if isinstance(edited, dict):
            edits[call.call_id] = edited
            if call.kind.editable:
                encoded[call.call_id] = json.dumps(edited)
    if not edits:
        return {}
    _rewrite(state_json, encoded)
    invocations = state_json.get("context", {}).get("tool_invocations")
    if isinstance(invocations, dict):
        # The SDK fingerprints each call's arguments; the edited call is registered afresh.
        for call_id in encoded:
            invocations.pop(call_id, None)
    return {call_id: arguments_digest(args) for call_id, args in edits.items()}


def _rewrite(node: Any, encoded: dict[str, str]) -> None:
    if isinstance(node, dict):
        call_id = node.get("call_id")
        if (
            isinstance(call_id, str)
            and call_id in encoded
            and node.get("type") == "function_call"
            and isinstance(node.get("arguments"), str)
        ):
            node["arguments"] = encoded[call_id]
        for value in node.values():
            _rewrite(value, encoded)
    elif isinstance(node, list):
        for value in node:
            _rewrite(value, encoded)
