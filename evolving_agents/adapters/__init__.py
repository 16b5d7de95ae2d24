"""Adapters that turn callables, SDK tools and EAT tool records into governed SDK tools."""

from evolving_agents.adapters.openai_tool_adapter import (
    DEFAULT_SENSITIVE_SYSTEMS,
    AdaptableTool,
    ApprovalPredicate,
    GovernedFunctionTool,
    OpenAIToolAdapter,
    ToolAdapterError,
    collect_tool_metadata,
    metadata_requires_approval,
    tool_metadata,
)

__all__ = [
    "DEFAULT_SENSITIVE_SYSTEMS",
    "AdaptableTool",
    "ApprovalPredicate",
    "GovernedFunctionTool",
    "OpenAIToolAdapter",
    "ToolAdapterError",
    "collect_tool_metadata",
    "metadata_requires_approval",
    "tool_metadata",
]
