"""Which tool a call went through, found on the agent that made it, never by name elsewhere.

::

    found = tool_for_call(item, starting_agent)   # item: a ToolApprovalItem of result.interruptions
    found.metadata()                               # that agent's tool's metadata, not a namesake's
    found = tool_for_record(starting_agent, call.agent_name, call.tool_name)   # for edits

The SDK names tools per agent, so one graph may hold a harmless ``deploy`` on the starting agent
and a production ``deploy`` (role ``security``, two approvers) on a handoff target. A call's
settings (roles, quorum, risk, AI eligibility) therefore come from the tool of the agent that
made it, ``ToolApprovalItem.agent``, matched as the SDK dispatches: a function tool (or agent as
tool) by name and namespace among that agent's tools, the last enabled one of several as the SDK
picks; a local MCP tool by its server (an ``eat_metadata`` mapping the app sets on the server
object applies to every tool it serves); a shell, patch, custom or hosted MCP tool by its name or
server label. (The decision signal does not come from here: the run's recorder holds it, see
``call_signals.py``.)

When the match is in doubt, the call fails closed: the graph holds two agents of the calling
agent's name (a restored ``RunState`` cannot tell them apart), or several same-named tools whose
``is_enabled`` is decided per run. A record then gets the strictest of the candidates' settings
and names them under ``ambiguous_tools``; an edit, which must run through one schema, is refused.
"""

from __future__ import annotations

import copy
import json
import logging
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agents import Agent, FunctionTool, HostedMCPTool
from agents._tool_identity import get_function_tool_lookup_keys  # the SDK's own dispatch keys
from agents.items import ToolApprovalItem
from agents.tool import ToolOriginType

from evolving_agents.approvals.models import parse_duration
from evolving_agents.approvals.rules import ai_review_allowed, metadata_risk

logger = logging.getLogger(__name__)

AMBIGUOUS_ROLE = "eat:ambiguous-tool"
"""The approver role given to a call whose candidate tools ask for disjoint roles: nobody holds
it, so only a rejection by policy, an expiry or a cancellation can settle the call."""

_PRODUCTION_ENVIRONMENTS = frozenset({"production", "prod"})


def tool_metadata(tool: object) -> dict[str, Any]:
    """A copy of the EAT metadata a tool carries; ``{}`` for tools without metadata."""
    metadata = getattr(tool, "eat_metadata", None)
    if not isinstance(metadata, Mapping):
        return {}
    return copy.deepcopy(dict(metadata))


@dataclass(frozen=True)
class CallTool:
    """The tool object(s) a call may have gone through, with the agent and name of each."""

    tools: tuple[Any, ...] = ()
    owners: tuple[str, ...] = ()

    @property
    def tool(self) -> Any | None:
        """The tool, when exactly one was found."""
        return self.tools[0] if len(self.tools) == 1 else None

    def metadata(self) -> dict[str, Any]:
        """The tool's metadata; of several candidates, the strictest of each setting."""
        if not self.tools:
            return {}
        return strictest_metadata([tool_metadata(tool) for tool in self.tools], self.owners)

    def describe(self) -> str:
        return " and ".join(self.owners)


def tool_for_call(item: ToolApprovalItem, start: Agent[Any] | None = None) -> CallTool:
    """The tool of ``item.agent`` the call went through. ``start`` is the run's starting agent:
    another agent of the same name in its graph makes the match ambiguous."""
    found: list[tuple[str, Any]] = []
    for agent in _agents_named(item.agent, start):
        for tool in _matches(agent, item):
            if all(tool is not kept for _, kept in found):
                found.append((f"{agent.name}.{_tool_name(tool)}", tool))
    if len(found) > 1:
        logger.warning(
            "call %s of %r matches more than one tool (%s); the strictest settings apply",
            item.call_id,
            item.name,
            ", ".join(owner for owner, _ in found),
        )
    return CallTool(tuple(tool for _, tool in found), tuple(owner for owner, _ in found))


def tool_for_record(start: Agent[Any], agent_name: str, tool_name: str) -> CallTool:
    """The function tool named ``tool_name`` (as a call record names it: ``namespace.name``
    when namespaced) on the agent named ``agent_name`` in ``start``'s graph."""
    found: list[tuple[str, Any]] = []
    for agent in _reachable_agents(start):
        if agent.name != agent_name:
            continue
        named = [
            tool
            for tool in agent.tools
            if isinstance(tool, FunctionTool) and _qualified_name(tool) == tool_name
        ]
        for tool in _as_sdk_dispatches(named):
            if all(tool is not kept for _, kept in found):
                found.append((f"{agent.name}.{tool_name}", tool))
    return CallTool(tuple(tool for _, tool in found), tuple(owner for owner, _ in found))


def strictest_metadata(
    candidates: Sequence[Mapping[str, Any]], owners: Sequence[str] = ()
) -> dict[str, Any]:
    """One metadata mapping at least as strict as each candidate's; equal candidates give a
    copy of the first. Differing settings: ``needs_approval`` if any, the highest ``risk`` and
    ``min_approvals``, roles every candidate accepts (``AMBIGUOUS_ROLE`` when none is common),
    AI review only if every candidate allows it, the shortest expiry, a production environment
    if any; malformed rules are kept as they are so the store refuses to apply them. Other keys
    that differ list their distinct values. ``ambiguous_tools`` names the candidates."""
    if not candidates:
        return {}
    first = copy.deepcopy(dict(candidates[0]))
    if all(dict(candidate) == first for candidate in candidates[1:]):
        return first
    merged: dict[str, Any] = {}
    keys = dict.fromkeys(key for candidate in candidates for key in candidate)
    for key in keys:
        values = [candidate[key] for candidate in candidates if key in candidate]
        if len(values) == len(candidates) and all(value == values[0] for value in values):
            merged[key] = copy.deepcopy(values[0])
            continue
        merged[key] = _strictest_value(key, values)
    roles = _strictest_roles([candidate.get("approver_roles") for candidate in candidates])
    if roles is None:
        merged.pop("approver_roles", None)
    else:
        merged["approver_roles"] = roles
    if not all(ai_review_allowed(candidate) for candidate in candidates):
        merged["ai_review"] = False
        if merged.get("reviewer") == "ai":
            merged.pop("reviewer")
    merged["ambiguous_tools"] = list(owners)
    return merged


def _strictest_value(key: str, values: list[Any]) -> Any:
    if key == "needs_approval":
        return True if any(value is True for value in values) else values[0]
    if key == "risk":
        return max(values, key=lambda value: metadata_risk({"risk": value}))
    if key == "min_approvals":
        malformed = [v for v in values if isinstance(v, bool) or not isinstance(v, int) or v < 1]
        return malformed[0] if malformed else max(values)
    if key == "expires_in":
        return _shortest_expiry(values)
    if key == "environment":
        production = [v for v in values if str(v).strip().lower() in _PRODUCTION_ENVIRONMENTS]
        if production:
            return production[0]
    distinct: list[Any] = []
    for value in values:
        if value not in distinct:
            distinct.append(copy.deepcopy(value))
    return distinct[0] if len(distinct) == 1 else distinct


def _strictest_roles(values: list[Any]) -> Any:
    """Roles that satisfy every candidate; None when no candidate asks for any."""
    required: list[frozenset[str]] = []
    for value in values:
        if value is None:
            continue
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(role, str) for role in value):
            return value  # malformed: the store refuses to decide on it
        if value:
            required.append(frozenset(value))
    if not required:
        return None
    common = frozenset.intersection(*required)
    return sorted(common) if common else [AMBIGUOUS_ROLE]


def _shortest_expiry(values: list[Any]) -> Any:
    parsed: list[tuple[float, Any]] = []
    for value in values:
        try:
            duration = parse_duration(value)
        except (TypeError, ValueError):
            return value  # malformed: the store refuses to decide on it
        parsed.append((float("inf") if duration is None else duration.total_seconds(), value))
    return min(parsed, key=lambda pair: pair[0])[1]


def _matches(agent: Agent[Any], item: ToolApprovalItem) -> list[Any]:
    """The tools of ``agent`` the SDK would have dispatched ``item``'s call to."""
    raw_type = _field(item.raw_item, "type")
    origin = item.tool_origin
    if raw_type == "function_call":
        if origin is not None and origin.type is ToolOriginType.MCP:
            return [
                server
                for server in agent.mcp_servers
                if getattr(server, "name", None) == origin.mcp_server_name
            ]
        return _as_sdk_dispatches(
            [
                tool
                for tool in agent.tools
                if isinstance(tool, FunctionTool) and _answers(tool, item)
            ]
        )
    if raw_type in ("mcp_approval_request", "mcp_call"):
        label = _field(item.raw_item, "server_label")
        return [
            tool
            for tool in agent.tools
            if isinstance(tool, HostedMCPTool) and tool.tool_config.get("server_label") == label
        ]
    return [
        tool
        for tool in agent.tools
        if not isinstance(tool, FunctionTool) and getattr(tool, "name", None) == item.name
    ]


def _answers(tool: FunctionTool, item: ToolApprovalItem) -> bool:
    if item.tool_lookup_key is not None:
        return item.tool_lookup_key in get_function_tool_lookup_keys(tool)
    return tool.name == item.name


def _as_sdk_dispatches(tools: list[Any]) -> list[Any]:
    """Of several tools under one name the SDK runs the last enabled one; when ``is_enabled``
    is decided per run, which one ran cannot be told here, and all stay candidates."""
    if len(tools) <= 1:
        return tools
    if any(not isinstance(tool.is_enabled, bool) for tool in tools):
        return tools
    enabled = [tool for tool in tools if tool.is_enabled]
    return enabled[-1:] if enabled else tools


def _agents_named(agent: Agent[Any], start: Agent[Any] | None) -> list[Agent[Any]]:
    agents = [agent]
    if start is not None:
        agents.extend(
            other
            for other in _reachable_agents(start)
            if other is not agent and other.name == agent.name
        )
    return agents


def _qualified_name(tool: FunctionTool) -> str:
    namespace = getattr(tool, "_tool_namespace", None)
    if isinstance(namespace, str) and namespace and namespace != tool.name:
        return f"{namespace}.{tool.name}"
    return tool.name


def _tool_name(tool: Any) -> str:
    if isinstance(tool, FunctionTool):
        return _qualified_name(tool)
    name = getattr(tool, "name", None)
    return name if isinstance(name, str) else type(tool).__name__


def _field(raw: Any, key: str) -> Any:
    if isinstance(raw, Mapping):
        return raw.get(key)
    return getattr(raw, key, None)


# -- the agent graph, for the name-based indexes below -----------------------------------


def collect_tool_metadata(agent: Agent[Any]) -> dict[str, dict[str, Any]]:
    """Tool name -> metadata for every tool with metadata reachable from ``agent``: an index for
    display and tooling. Approvals never read it: two agents may carry a tool of the same name
    with different settings, and here the one nearest ``agent`` wins (a warning is logged);
    the provider resolves each call on its own agent with :func:`tool_for_call` instead.

    Walks ``agent.tools``, handoffs and agents exposed with ``Agent.as_tool``, each agent once.
    A handoff built by hand that does not expose its target agent is skipped (logged at debug),
    as are MCP tools, which exist only once a run lists them.
    """
    found: dict[str, dict[str, Any]] = {}
    for current in _reachable_agents(agent):
        for tool in current.tools:
            metadata = tool_metadata(tool)
            name = getattr(tool, "name", None)
            if not metadata or not isinstance(name, str):
                continue
            kept = found.setdefault(name, metadata)
            if kept is not metadata and kept != metadata:
                logger.warning(
                    "tool %r on agent %r has different metadata than a nearer tool of the same "
                    "name; keeping the nearer one",
                    name,
                    current.name,
                )
    return found


def find_tool(agent: Agent[Any], tool_name: str) -> Any:
    """The tool named ``tool_name`` nearest ``agent`` in its graph, or None (by name only: for
    settings of a call use :func:`tool_for_call` or :func:`tool_for_record`)."""
    for current in _reachable_agents(agent):
        for tool in current.tools:
            if getattr(tool, "name", None) == tool_name:
                return tool
    return None


def _reachable_agents(start: Agent[Any]) -> Iterator[Agent[Any]]:
    """Each agent reachable by handoff or agent-as-tool, once, nearest first."""
    queue: deque[Agent[Any]] = deque([start])
    seen: set[int] = set()
    while queue:
        current = queue.popleft()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for item in current.handoffs:
            target = _handoff_target(item)
            if target is not None:
                queue.append(target)
        for tool in current.tools:
            nested = getattr(tool, "_agent_instance", None)  # set by Agent.as_tool
            if isinstance(nested, Agent):
                queue.append(nested)


def _handoff_target(item: object) -> Agent[Any] | None:
    if isinstance(item, Agent):
        return item
    # handoff() keeps a weak reference to its target; a Handoff built by hand only has a
    # callback that produces the agent at run time, which cannot be followed here.
    agent_ref = getattr(item, "_agent_ref", None)
    target = agent_ref() if callable(agent_ref) else getattr(item, "agent", None)
    if isinstance(target, Agent):
        return target
    logger.debug(
        "handoff %r does not expose its target agent; its tools are not collected",
        getattr(item, "tool_name", item),
    )
    return None


def fingerprint(tool: Any) -> str:
    """What an edit is checked against: the tool's schema and its decision gate."""
    schema = getattr(tool, "params_json_schema", None)
    gate = getattr(tool, "eat_gate", None)
    return f"{json.dumps(schema, sort_keys=True, default=str)}|{id(gate)}"
