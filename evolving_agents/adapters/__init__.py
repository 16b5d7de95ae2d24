"""Adapters that turn callables, SDK tools and EAT tool records into governed SDK tools."""

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
