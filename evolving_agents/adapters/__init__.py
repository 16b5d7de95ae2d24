"""Adapters that turn callables, SDK tools and EAT tool records into governed SDK tools.

Names load on first use (PEP 562), so importing one module of this package does not import
the others.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Where each name lives; its module is imported when the name is first used.
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(
        ["RunSignals", "recording_signals"],
        "evolving_agents.adapters.call_signals",
    ),
    **dict.fromkeys(
        [
            "DEFAULT_SENSITIVE_SYSTEMS",
            "AdaptableTool",
            "ApprovalPredicate",
            "GovernedFunctionTool",
            "OpenAIToolAdapter",
            "ToolAdapterError",
            "metadata_requires_approval",
        ],
        "evolving_agents.adapters.openai_tool_adapter",
    ),
    **dict.fromkeys(
        [
            "CallTool",
            "collect_tool_metadata",
            "strictest_metadata",
            "tool_for_call",
            "tool_for_record",
            "tool_metadata",
        ],
        "evolving_agents.adapters.tool_lookup",
    ),
}

__all__ = [
    "DEFAULT_SENSITIVE_SYSTEMS",
    "AdaptableTool",
    "ApprovalPredicate",
    "CallTool",
    "GovernedFunctionTool",
    "OpenAIToolAdapter",
    "RunSignals",
    "ToolAdapterError",
    "collect_tool_metadata",
    "metadata_requires_approval",
    "recording_signals",
    "strictest_metadata",
    "tool_for_call",
    "tool_for_record",
    "tool_metadata",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:  # what type checkers and editors see: the same names, imported eagerly
    from evolving_agents.adapters.call_signals import RunSignals, recording_signals
    from evolving_agents.adapters.openai_tool_adapter import (
        DEFAULT_SENSITIVE_SYSTEMS,
        AdaptableTool,
        ApprovalPredicate,
        GovernedFunctionTool,
        OpenAIToolAdapter,
        ToolAdapterError,
        metadata_requires_approval,
    )
    from evolving_agents.adapters.tool_lookup import (
        CallTool,
        collect_tool_metadata,
        strictest_metadata,
        tool_for_call,
        tool_for_record,
        tool_metadata,
    )
