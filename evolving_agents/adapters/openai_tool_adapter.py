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
What ``adapt`` accepts is read and checked in ``tool_sources.py``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeAlias

from agents import FunctionTool, RunContextWrapper

from evolving_agents.adapters.decision_gate import DecisionGate
from evolving_agents.adapters.ledgered_invoker import ledgered
from evolving_agents.adapters.tool_lookup import (
    collect_tool_metadata as collect_tool_metadata,  # re-exported; approvals never use it
)
from evolving_agents.adapters.tool_lookup import find_tool as find_tool
from evolving_agents.adapters.tool_lookup import tool_metadata as tool_metadata
from evolving_agents.adapters.tool_sources import AdaptableTool as AdaptableTool
from evolving_agents.adapters.tool_sources import ToolAdapterError as ToolAdapterError
from evolving_agents.adapters.tool_sources import (
    ToolSource,
    json_safe_metadata,
    metadata_mapping,
    source_of,
)
from evolving_agents.approvals.rules import RiskBand, risk_band
from evolving_agents.decisions.base import DecisionProvider

logger = logging.getLogger(__name__)

ApprovalPredicate: TypeAlias = Callable[
    [RunContextWrapper[Any], dict[str, Any], str], Awaitable[bool]
]
"""Decides per call whether it needs approval: ``(run context, parsed arguments, call_id)``."""

DEFAULT_SENSITIVE_SYSTEMS: frozenset[str] = frozenset(
    {"okta", "iam", "aws", "gcp", "azure", "kubernetes", "terraform", "vault", "payments", "github"}
)

_HIGH_RISK_LABELS = frozenset({"high", "critical"})
_PRODUCTION_ENVIRONMENTS = frozenset({"production", "prod"})


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
        self.eat_metadata = json_safe_metadata(self.eat_metadata, tool_name=self.name)


def metadata_requires_approval(
    metadata: Mapping[str, Any],
    sensitive_systems: Iterable[str] = DEFAULT_SENSITIVE_SYSTEMS,
) -> bool:
    """The metadata rule: True when ``risk`` is "high"/"critical" or a number in the medium
    band or above (>= 0.5, ``approvals.rules.risk_band``), when ``environment`` is
    "production"/"prod", or when ``system`` is a sensitive system.

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
        source = source_of(tool, func, name, description)
        safe_metadata = json_safe_metadata(
            {**source.metadata, **metadata_mapping(metadata, source.name)}, tool_name=source.name
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


def _governed_copy(
    source: ToolSource,
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


def _is_high_risk(risk: object) -> bool:
    """A risk label "high"/"critical", or a number (or numeric string) of medium band or
    above (``approvals.rules.risk_band``, which puts a NaN in the highest band: unknown risk
    fails closed)."""
    if isinstance(risk, bool) or risk is None:
        return False
    if isinstance(risk, int | float):
        return risk_band(risk) is not RiskBand.LOW
    if isinstance(risk, str):
        label = risk.strip().lower()
        if label in _HIGH_RISK_LABELS:
            return True
        try:
            return risk_band(float(label)) is not RiskBand.LOW
        except ValueError:
            return False
    return False


def _label(value: object) -> str | None:
    return value.strip().lower() if isinstance(value, str) else None


def _describe(needs_approval: bool | ApprovalPredicate) -> str:
    return str(needs_approval) if isinstance(needs_approval, bool) else "decided per call"
