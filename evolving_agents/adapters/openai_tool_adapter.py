"""Turn Python callables, SDK tools and EAT tool records into governed SDK function tools.

    from agents import Agent
    from evolving_agents.adapters import OpenAIToolAdapter

    async def rotate_okta_key(user_id: str, reason: str) -> str: ...

    adapter = OpenAIToolAdapter()
    record = {"name": "rotate_okta_key", "description": "Rotate a user's Okta API key.",
              "metadata": {"system": "okta", "risk": "high"}}
    agent = Agent(name="ops", tools=[adapter.adapt(record, func=rotate_okta_key)])
    # A call to rotate_okta_key now pauses the run: result.interruptions holds it.

The result is an ordinary SDK ``FunctionTool`` (schema and invoker built by the SDK's own
``function_tool``), so ``Runner`` and ``RunState`` treat it like any other tool. It also carries
the EAT metadata (``system``, ``environment``, ``risk``, ...) that the provider copies into the
pending approval record, read from the tool of the agent that made each call
(``tool_lookup.tool_for_call``), never from a same-named tool elsewhere in the graph.

The approval policy is chosen once, at adaptation, from the first of: the explicit
``needs_approval=`` argument, ``metadata["needs_approval"]``, the adapter's
``decision_provider`` (asked per call, see ``decision_gate.py``; a ``block`` is refused by a
tool input guardrail; an error means approval), the metadata rule
(:func:`metadata_requires_approval`), the wrapped tool's own setting, else no approval.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeAlias

from agents import FunctionTool, RunContextWrapper, function_tool
from agents.exceptions import UserError
from pydantic import PydanticUserError

from evolving_agents.adapters.decision_gate import DecisionGate
from evolving_agents.adapters.ledgered_invoker import ledgered
from evolving_agents.adapters.tool_lookup import (
    collect_tool_metadata as collect_tool_metadata,  # re-exported; approvals never use it
)
from evolving_agents.adapters.tool_lookup import find_tool as find_tool
from evolving_agents.adapters.tool_lookup import tool_metadata as tool_metadata
from evolving_agents.decisions.base import DecisionProvider
from evolving_agents.errors import EvolvingAgentsError

logger = logging.getLogger(__name__)

ApprovalPredicate: TypeAlias = Callable[
    [RunContextWrapper[Any], dict[str, Any], str], Awaitable[bool]
]
"""Decides per call whether it needs approval: ``(run context, parsed arguments, call_id)``."""

AdaptableTool: TypeAlias = Callable[..., Any] | FunctionTool | Mapping[str, Any]
"""What :meth:`OpenAIToolAdapter.adapt` accepts: a callable, an SDK tool or an EAT tool record."""

DEFAULT_SENSITIVE_SYSTEMS: frozenset[str] = frozenset(
    {"okta", "iam", "aws", "gcp", "azure", "kubernetes", "terraform", "vault", "payments", "github"}
)

_HIGH_RISK_LABELS = frozenset({"high", "critical"})
_PRODUCTION_ENVIRONMENTS = frozenset({"production", "prod"})
_RISK_THRESHOLD = 0.5
# The OpenAI APIs reject other function names, but only when the model is first called;
# checking here turns a late HTTP 400 into an error that names the record.
_TOOL_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_RECORD_CALLABLE_KEYS = ("func", "callable")


class ToolAdapterError(EvolvingAgentsError):
    """A tool cannot be adapted; the message names the tool (when known) and what is wrong."""


@dataclass
class GovernedFunctionTool(FunctionTool):
    """An SDK FunctionTool that also carries EAT metadata (system, environment, risk,
    needs_approval, anything else), which travels into the pending approval record.

    A plain dataclass subclass: the SDK finds tools with ``isinstance(tool, FunctionTool)``,
    copies them with ``copy.copy`` (which keeps the subclass) or ``dataclasses.replace`` (which
    re-runs this ``__init__``), and never serialises tools into a ``RunState``: a restored state
    looks tools up by name on the agent it is given, so the metadata is read from that agent's
    tools, not from the state blob. ``eat_metadata`` is keyword-only so the SDK's positional
    constructor order stays untouched, and is always a JSON-safe copy.
    """

    eat_metadata: dict[str, Any] = field(default_factory=dict, kw_only=True)
    eat_gate: DecisionGate | None = field(default=None, kw_only=True, repr=False, compare=False)

    def __post_init__(self) -> None:
        # FunctionTool.__post_init__ binds the invoker to this instance and normalises the
        # schema; it is unannotated in the SDK, hence the ignore.
        super().__post_init__()  # type: ignore[no-untyped-call]
        self.eat_metadata = _json_safe_metadata(self.eat_metadata, tool_name=self.name)


def metadata_requires_approval(
    metadata: Mapping[str, Any],
    sensitive_systems: Iterable[str] = DEFAULT_SENSITIVE_SYSTEMS,
) -> bool:
    """The metadata rule: True when ``risk`` is "high"/"critical" or a number >= 0.5, when
    ``environment`` is "production"/"prod", or when ``system`` is a sensitive system.

    Labels and system names compare case-insensitively; a numeric string counts as a number.
    """
    systems = {system.strip().lower() for system in sensitive_systems}
    return (
        _is_high_risk(metadata.get("risk"))
        or _label(metadata.get("environment")) in _PRODUCTION_ENVIRONMENTS
        or _label(metadata.get("system")) in systems
    )


class OpenAIToolAdapter:
    """Builds :class:`GovernedFunctionTool` objects whose ``needs_approval`` follows EAT policy.

    ``decision_provider`` is where the decision layer plugs in: when neither the caller nor
    the metadata sets ``needs_approval`` explicitly, it scores each call (allow, needs
    approval, or block) instead of the metadata rule, which it receives as the tool's own
    setting. If it fails, the call needs approval.
    """

    def __init__(
        self,
        *,
        sensitive_systems: Iterable[str] = DEFAULT_SENSITIVE_SYSTEMS,
        decision_provider: DecisionProvider | None = None,
    ) -> None:
        self._sensitive_systems = frozenset(system.strip().lower() for system in sensitive_systems)
        self._gate = None if decision_provider is None else DecisionGate(decision_provider)

    @property
    def gate(self) -> DecisionGate | None:
        """The decision gate shared by every tool this adapter built (None without a provider)."""
        return self._gate

    @property
    def sensitive_systems(self) -> frozenset[str]:
        """The lowercased system names the metadata rule treats as sensitive."""
        return self._sensitive_systems

    def adapt(
        self,
        tool: AdaptableTool,
        *,
        func: Callable[..., Any] | None = None,
        name: str | None = None,
        description: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        needs_approval: bool | ApprovalPredicate | None = None,
    ) -> GovernedFunctionTool:
        """Adapt one tool. ``metadata`` is merged over the record's or tool's own metadata."""
        source = _source_of(tool, func, name, description)
        safe_metadata = _json_safe_metadata(
            {**source.metadata, **_metadata_mapping(metadata, source.name)}, tool_name=source.name
        )
        explicit = _checked_needs_approval(needs_approval, source.name)
        resolved = _resolve_needs_approval(
            explicit=explicit,
            metadata=safe_metadata,
            sensitive_systems=self._sensitive_systems,
            inherited=source.tool.needs_approval,
        )
        gate = None
        if self._gate is not None and explicit is None and _declared(safe_metadata) is None:
            gate = self._gate
            own_setting = resolved if isinstance(resolved, bool) else True
            resolved = gate.needs_approval(source.name, safe_metadata, own_setting)
            guardrail = gate.guardrail(source.name, safe_metadata, own_setting)
            source = dataclasses.replace(
                source,
                tool=dataclasses.replace(
                    source.tool,
                    tool_input_guardrails=[*(source.tool.tool_input_guardrails or []), guardrail],
                ),
            )
        logger.debug("adapted tool %r (needs_approval: %s)", source.name, _describe(resolved))
        return _governed_copy(source, needs_approval=resolved, metadata=safe_metadata, gate=gate)

    def adapt_all(self, tools: Iterable[AdaptableTool]) -> list[GovernedFunctionTool]:
        """Adapt each tool; two tools ending up with the same name is an error."""
        adapted = [self.adapt(tool) for tool in tools]
        names = [tool.name for tool in adapted]
        duplicates = sorted({tool_name for tool_name in names if names.count(tool_name) > 1})
        if duplicates:
            raise ToolAdapterError(f"more than one tool named {', '.join(duplicates)}")
        return adapted


def _resolve_needs_approval(
    *,
    explicit: bool | ApprovalPredicate | None,
    metadata: Mapping[str, Any],
    sensitive_systems: Iterable[str],
    inherited: bool | ApprovalPredicate,
) -> bool | ApprovalPredicate:
    """The tool's own approval policy; the first rule that speaks wins. A decision provider,
    when the adapter has one, then replaces anything that was not set explicitly."""
    if explicit is not None:
        return explicit
    declared = _declared(metadata)
    if declared is not None:
        return declared
    if metadata_requires_approval(metadata, sensitive_systems):
        return True
    return inherited


def _declared(metadata: Mapping[str, Any]) -> bool | None:
    declared = metadata.get("needs_approval")
    return declared if isinstance(declared, bool) else None


@dataclass(frozen=True)
class _Source:
    """The SDK tool to wrap, with the name, description and metadata the wrapper takes."""

    tool: FunctionTool
    name: str
    description: str
    metadata: Mapping[str, Any]


def _source_of(
    tool: AdaptableTool,
    func: Callable[..., Any] | None,
    name: str | None,
    description: str | None,
) -> _Source:
    if isinstance(tool, Mapping):
        return _source_of_record(tool, func, name, description)
    if func is not None:
        raise ToolAdapterError("func= is only for tool records")
    if isinstance(tool, FunctionTool):
        return _source_of_function_tool(tool, name, description, {})
    if callable(tool):
        return _source_of_callable(tool, name, description, {})
    raise ToolAdapterError(
        f"cannot adapt a {type(tool).__name__}: pass a callable, a FunctionTool "
        "or a tool record mapping"
    )


def _source_of_function_tool(
    tool: FunctionTool, name: str | None, description: str | None, metadata: Mapping[str, Any]
) -> _Source:
    if name is not None:
        _check_tool_name(name)
    return _Source(
        tool=tool,
        name=name if name is not None else tool.name,
        description=description if description is not None else tool.description,
        metadata={**tool_metadata(tool), **metadata},
    )


def _source_of_callable(
    func: Callable[..., Any], name: str | None, description: str | None, metadata: Mapping[str, Any]
) -> _Source:
    label = name or getattr(func, "__name__", None) or repr(func)
    problem = _signature_problem(func)
    if problem is not None:
        raise ToolAdapterError(f"tool {label!r}: {problem}")
    try:
        tool = function_tool(func, name_override=name, description_override=description)
    except UserError as error:
        raise ToolAdapterError(
            f"tool {label!r}: cannot build a tool from {func!r}: {error}"
        ) from error
    except (NameError, TypeError, ValueError, PydanticUserError) as error:
        # An annotation that does not resolve, or a type pydantic cannot describe as JSON
        # (a socket, a callable): the SDK lets these through raw.
        raise ToolAdapterError(
            f"tool {label!r}: its parameters cannot be described as a JSON schema: "
            f"{type(error).__name__}: {error}"
        ) from error
    _check_tool_name(tool.name)
    return _Source(tool=tool, name=tool.name, description=tool.description, metadata=metadata)


def _signature_problem(func: Callable[..., Any]) -> str | None:
    """What about ``func``'s signature the SDK would mishandle or refuse obscurely, if anything.

    Positional-only parameters and ``*args`` are fine: the SDK passes them by position (``*args``
    as a JSON array). Generators are not: the SDK would hand the model the generator object's
    repr instead of what it yields.
    """
    if inspect.isclass(func):
        return (
            "a class is not a tool (calling it builds an instance); pass a function, "
            "or an instance whose __call__ is the tool"
        )
    body: Any = func
    target = inspect.unwrap(body.__call__ if _is_call_object(body) else body)
    if inspect.isasyncgenfunction(target) or inspect.isgeneratorfunction(target):
        kind = "an async generator" if inspect.isasyncgenfunction(target) else "a generator"
        return (
            f"it is {kind}: a tool returns one result, and the SDK would give the model the "
            "generator object instead of its items; collect them and return a list"
        )
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError) as error:
        return f"its signature cannot be read ({error}); wrap it in a def with typed parameters"
    parameters = list(signature.parameters.values())
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return (
            "it takes **kwargs, which a strict JSON schema cannot describe; "
            "name each parameter (or take one dict parameter)"
        )
    if parameters and parameters[0].name in ("self", "cls") and not inspect.ismethod(func):
        return (
            f"its first parameter is {parameters[0].name!r}: an unbound method would let the "
            "model supply it; pass the bound method (instance.method) instead"
        )
    return None


def _is_call_object(func: object) -> bool:
    return not (
        inspect.isfunction(func) or inspect.ismethod(func) or inspect.isbuiltin(func)
    ) and callable(func)


def _source_of_record(
    record: Mapping[str, Any],
    func: Callable[..., Any] | None,
    name: str | None,
    description: str | None,
) -> _Source:
    record_name = record.get("name")
    if not isinstance(record_name, str) or not record_name.strip():
        raise ToolAdapterError(f"tool record has no name (keys: {sorted(map(str, record))})")
    record_description = record.get("description")
    if record_description is not None and not isinstance(record_description, str):
        raise ToolAdapterError(f"tool record {record_name!r}: description must be a string")
    metadata = _metadata_mapping(record.get("metadata"), record_name)
    implementation: object = func
    for key in _RECORD_CALLABLE_KEYS:
        if implementation is None:
            implementation = record.get(key)
    if implementation is None:
        raise ToolAdapterError(
            f"tool record {record_name!r} has no callable: pass func= or put it under "
            "the 'func' or 'callable' key"
        )
    chosen_name = name if name is not None else record_name
    chosen_description = description if description is not None else record_description
    if isinstance(implementation, FunctionTool):
        return _source_of_function_tool(implementation, chosen_name, chosen_description, metadata)
    if not callable(implementation):
        raise ToolAdapterError(
            f"tool record {record_name!r}: the callable is a {type(implementation).__name__}"
        )
    return _source_of_callable(implementation, chosen_name, chosen_description, metadata)


def _governed_copy(
    source: _Source,
    *,
    needs_approval: bool | ApprovalPredicate,
    metadata: dict[str, Any],
    gate: DecisionGate | None,
) -> GovernedFunctionTool:
    # Rebuild through the constructor from every FunctionTool field (private ones included, such
    # as the agent-as-tool link and the failure formatter) so FunctionTool.__post_init__ binds
    # the invoker's error handling to the new tool, exactly as dataclasses.replace would.
    values = {
        spec.name: getattr(source.tool, spec.name) for spec in fields(FunctionTool) if spec.init
    }
    values.update(name=source.name, description=source.description, needs_approval=needs_approval)
    tool = GovernedFunctionTool(**values, eat_metadata=metadata, eat_gate=gate)
    tool.on_invoke_tool = ledgered(tool.on_invoke_tool)
    return tool


def _metadata_mapping(metadata: object, tool_name: str) -> Mapping[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise ToolAdapterError(
            f"tool {tool_name!r}: metadata must be a mapping, not a {type(metadata).__name__}"
        )
    return metadata


def _json_safe_metadata(metadata: object, *, tool_name: str) -> dict[str, Any]:
    """A deep copy of ``metadata`` that survives a JSON round trip unchanged, or an error."""
    mapping = _metadata_mapping(metadata, tool_name)
    safe: dict[str, Any] = {}
    for key, value in mapping.items():
        if not isinstance(key, str):
            raise ToolAdapterError(f"tool {tool_name!r}: metadata key {key!r} is not a string")
        try:
            copied = json.loads(json.dumps(value, allow_nan=False))
        except (TypeError, ValueError) as error:
            raise ToolAdapterError(
                f"tool {tool_name!r}: metadata[{key!r}] is not JSON-safe: {error}"
            ) from error
        if copied != value:
            raise ToolAdapterError(
                f"tool {tool_name!r}: metadata[{key!r}] changes in a JSON round trip "
                "(tuples or non-string keys?)"
            )
        safe[key] = copied
    needs_approval = safe.get("needs_approval")
    if needs_approval is not None and not isinstance(needs_approval, bool):
        raise ToolAdapterError(f"tool {tool_name!r}: metadata['needs_approval'] must be a bool")
    return safe


def _checked_needs_approval(
    needs_approval: object, tool_name: str
) -> bool | ApprovalPredicate | None:
    if needs_approval is None or isinstance(needs_approval, bool):
        return needs_approval
    if callable(needs_approval):
        predicate: ApprovalPredicate = needs_approval
        return predicate
    raise ToolAdapterError(
        f"tool {tool_name!r}: needs_approval must be a bool or an async callable, "
        f"not a {type(needs_approval).__name__}"
    )


def _check_tool_name(name: str) -> None:
    if not _TOOL_NAME_PATTERN.fullmatch(name):
        raise ToolAdapterError(
            f"tool name {name!r} is not valid for the OpenAI APIs: use 1-64 letters, digits, "
            "'_' or '-' (pass name=)"
        )


def _is_high_risk(risk: object) -> bool:
    if isinstance(risk, bool) or risk is None:
        return False
    if isinstance(risk, int | float):
        # Written as "not below" so a NaN risk counts as high: unknown risk fails closed.
        return not risk < _RISK_THRESHOLD
    if isinstance(risk, str):
        label = risk.strip().lower()
        if label in _HIGH_RISK_LABELS:
            return True
        try:
            return not float(label) < _RISK_THRESHOLD
        except ValueError:
            return False
    return False


def _label(value: object) -> str | None:
    return value.strip().lower() if isinstance(value, str) else None


def _describe(needs_approval: bool | ApprovalPredicate) -> str:
    return str(needs_approval) if isinstance(needs_approval, bool) else "decided per call"
