"""evolving-agents: durable human-in-the-loop approvals for OpenAI Agents SDK runs on MongoDB.

::

    from evolving_agents import AgentRegistry, MongoDBClient, OpenAIAgentsProvider

    registry = AgentRegistry()
    registry.register(ops_agent)
    provider = OpenAIAgentsProvider(mongodb_client=MongoDBClient(), registry=registry)
    run = await provider.execute_agent("ops-agent", "Grant Alice Okta admin for 48h")
    await provider.store.decide(run.approval_id, verdict="approved", reviewer="alice")
    done = await provider.resume_agent(run.approval_id)
"""

from evolving_agents.adapters.openai_tool_adapter import GovernedFunctionTool, OpenAIToolAdapter
from evolving_agents.approvals import (
    AgentRunResult,
    ApprovalConflict,
    ApprovalNotFound,
    ApprovalStatus,
    CallKind,
    CallOutcome,
    CallOutcomeStatus,
    IncompatibleStateVersion,
    NotAuthorized,
    PendingApproval,
    PendingApprovalStore,
    ResumeWorker,
    Reviewer,
    RunOptionMissing,
    RunStatus,
    StateIntegrityError,
    ToolCallRecord,
    ToolDecision,
    ToolOutcomeUnknown,
    idempotency_key,
)
from evolving_agents.config import Settings
from evolving_agents.core import AgentRegistry, MongoDBClient
from evolving_agents.errors import ConfigurationError, EvolvingAgentsError
from evolving_agents.providers import (
    ContextCodec,
    ContextNotSerializable,
    FrameworkProvider,
    OpenAIAgentsProvider,
    ProviderRegistry,
    TypeContextCodec,
)

__version__ = "0.1.0"

__all__ = [
    "AgentRegistry",
    "AgentRunResult",
    "ApprovalConflict",
    "ApprovalNotFound",
    "ApprovalStatus",
    "CallKind",
    "CallOutcome",
    "CallOutcomeStatus",
    "ConfigurationError",
    "ContextCodec",
    "ContextNotSerializable",
    "EvolvingAgentsError",
    "FrameworkProvider",
    "GovernedFunctionTool",
    "IncompatibleStateVersion",
    "MongoDBClient",
    "NotAuthorized",
    "OpenAIAgentsProvider",
    "OpenAIToolAdapter",
    "PendingApproval",
    "PendingApprovalStore",
    "ProviderRegistry",
    "ResumeWorker",
    "Reviewer",
    "RunOptionMissing",
    "RunStatus",
    "Settings",
    "StateIntegrityError",
    "ToolCallRecord",
    "ToolDecision",
    "ToolOutcomeUnknown",
    "TypeContextCodec",
    "idempotency_key",
]
