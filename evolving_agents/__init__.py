"""evolving-agents: durable human-in-the-loop approvals for OpenAI Agents SDK runs on MongoDB.

::

    from evolving_agents import AgentRegistry, MongoDBClient, OpenAIAgentsProvider

    registry = AgentRegistry()
    registry.register(ops_agent)
    provider = OpenAIAgentsProvider(mongodb_client=MongoDBClient(), registry=registry)
    run = await provider.execute_agent("ops-agent", "Grant Alice Okta admin for 48h")
    await provider.store.decide(run.approval_id, verdict="approved", reviewer="alice")
    done = await provider.resume_agent(run.approval_id)

Every public name is importable from here, and this is the contract: the modules behind it
may move (the old deep paths stay as aliases), these names do not. Names load on first use,
so ``import evolving_agents`` (and the ``eat`` command line) does not pay for the Agents SDK
until something that runs agents is touched.

Size: over the ~400 mark by design: the export table, the literal ``__all__`` and the
same names for type checkers are the contract written out three times (a test keeps them equal).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from evolving_agents.version import __version__

# Where each public name lives. The folders are floors (docs/ARCHITECTURE.md); a name is
# listed under the package that owns it, never under an alias.
_EXPORTS: dict[str, str] = {
    # the ground
    "MongoDBClient": "evolving_agents.storage.mongodb_client",
    "EmbeddedServer": "evolving_agents.storage.embedded",
    "Settings": "evolving_agents.config",
    "WebhookSettings": "evolving_agents.config",
    "NotifySettings": "evolving_agents.config",
    "BighubSettings": "evolving_agents.config",
    # errors: the one hierarchy (drawn in evolving_agents/errors.py)
    **dict.fromkeys(
        [
            "EvolvingAgentsError",
            "ConfigurationError",
            "PortInUse",
            "ApprovalError",
            "ApprovalNotFound",
            "ApprovalConflict",
            "ApprovalStoreError",
            "IncompatibleStateVersion",
            "InvalidDecision",
            "LeaseLost",
            "NotAuthorized",
            "RecordTooLarge",
            "RunOptionMissing",
            "StateIntegrityError",
            "StateTooLarge",
            "UnreadableRecord",
            "UnstorableRecord",
            "UnstorableToolCall",
            "UnexpectedPause",
            "DeliveryFailed",
            "NewerRecordSchema",
        ],
        "evolving_agents.errors",
    ),
    # the approval domain
    **dict.fromkeys(
        [
            "AgentRunResult",
            "ApprovalStatus",
            "CallKind",
            "CallOutcome",
            "CallOutcomeStatus",
            "PendingApproval",
            "PendingToolCall",
            "ReviewerKind",
            "RunStatus",
            "StoredRunOptions",
            "ToolCallRecord",
            "ToolDecision",
            "Verdict",
            "Vote",
        ],
        "evolving_agents.approvals.models",
    ),
    "PendingApprovalStore": "evolving_agents.approvals.store",
    "ApprovalPage": "evolving_agents.approvals.store",
    "StateCodec": "evolving_agents.approvals.codec",
    "ToolExecutionLedger": "evolving_agents.approvals.ledger",
    "ToolOutcomeUnknown": "evolving_agents.approvals.ledger",
    "idempotency_key": "evolving_agents.approvals.ledger",
    "Reviewer": "evolving_agents.approvals.rules",
    **dict.fromkeys(
        [
            "ApprovalRules",
            "ToolMetadata",
            "RiskBand",
            "risk_band",
            "Refusal",
            "RefusalKind",
            "decide_refusal",
            "cancel_refusal",
        ],
        "evolving_agents.approvals.rules",
    ),
    "ResumeWorker": "evolving_agents.approvals.worker",
    "WorkerStats": "evolving_agents.approvals.worker",
    # intent plans
    "Intent": "evolving_agents.plans.intent_plans",
    "IntentPlan": "evolving_agents.plans.intent_plans",
    "IntentPlanStore": "evolving_agents.plans.intent_plans",
    "IntentStatus": "evolving_agents.plans.intent_plans",
    "PlanStatus": "evolving_agents.plans.intent_plans",
    "PlanNotFound": "evolving_agents.plans.intent_plans",
    # the decision layer
    "DecisionProvider": "evolving_agents.decisions.base",
    "DecisionSignal": "evolving_agents.decisions.base",
    "DecisionVerdict": "evolving_agents.decisions.base",
    "DecisionMode": "evolving_agents.decisions.base",
    "DecisionContext": "evolving_agents.decisions.base",
    "ToolCallRequest": "evolving_agents.decisions.base",
    "LocalRulePolicy": "evolving_agents.decisions.local_rules",
    "CompositeDecisionProvider": "evolving_agents.decisions.composite",
    "BighubDecisionProvider": "evolving_agents.decisions.bighub",
    # notifications
    "ApprovalFeed": "evolving_agents.notify.feed",
    "WebhookEvent": "evolving_agents.notify.events",
    "WebhookEventType": "evolving_agents.notify.events",
    "WebhookOutbox": "evolving_agents.notify.outbox",
    "WebhookService": "evolving_agents.notify.service",
    "verify_signature": "evolving_agents.notify.outbox",
    "EventSink": "evolving_agents.notify.sinks",
    "WebhookSink": "evolving_agents.notify.sinks",
    "configured_sinks": "evolving_agents.notify.sinks",
    "start_webhooks_from_env": "evolving_agents.notify.service",
    "NotifyRoutes": "evolving_agents.notify.routing",
    "EscalationScheduler": "evolving_agents.notify.escalation",
    "ReviewerContacts": "evolving_agents.notify.sinks",
    "SlackSink": "evolving_agents.notify.sinks.slack",
    "EmailSink": "evolving_agents.notify.sinks.email",
    # operations
    "enable_prometheus": "evolving_agents.telemetry",
    # SDK glue: tools and the provider (the only code that runs agents)
    "OpenAIToolAdapter": "evolving_agents.adapters.openai_tool_adapter",
    "GovernedFunctionTool": "evolving_agents.adapters.openai_tool_adapter",
    "OpenAIAgentsProvider": "evolving_agents.providers.openai_agents_provider",
    "FrameworkProvider": "evolving_agents.providers.base",
    "ProviderRegistry": "evolving_agents.providers.registry",
    "AgentRegistry": "evolving_agents.providers.agent_registry",
    "AgentNotRegistered": "evolving_agents.providers.agent_registry",
    "load_app": "evolving_agents.providers.agent_registry",
    "ContextCodec": "evolving_agents.providers.context_codec",
    "ContextNotSerializable": "evolving_agents.providers.context_codec",
    "TypeContextCodec": "evolving_agents.providers.context_codec",
    "RunSupplies": "evolving_agents.providers.run_options",
    "SessionFactory": "evolving_agents.providers.run_options",
    # reviewers
    "IntentReviewAgent": "evolving_agents.reviewers.ai",
    "IntentReviewDecision": "evolving_agents.reviewers.ai",
    "ReviewReport": "evolving_agents.reviewers.ai",
    "ReviewVerdict": "evolving_agents.reviewers.ai",
    "ReviewerDirectory": "evolving_agents.reviewers.directory",
    "token_digest": "evolving_agents.reviewers.directory",
    # EAT's names on top
    "SystemAgent": "evolving_agents.core.system_agent",
    "DecisionAgent": "evolving_agents.actions.sync",
    "AsyncDecisionAgent": "evolving_agents.actions.agent",
    "approval_context": "evolving_agents.actions.approval_loop",
    "suggested_arguments": "evolving_agents.approvals.suggestions",
    "argument_changes": "evolving_agents.approvals.suggestions",
    "SystemRunResult": "evolving_agents.core.system_agent",
    "ReviewerMode": "evolving_agents.core.system_agent",
    "ApprovePlanTool": "evolving_agents.tools.intent_review.approve_plan_tool",
    "PlanDecider": "evolving_agents.reviewers.base",
    "PlanReview": "evolving_agents.tools.intent_review.approve_plan_tool",
    "IntentVerdict": "evolving_agents.reviewers.base",
    "PlanVerdicts": "evolving_agents.reviewers.base",
    "callback_decider": "evolving_agents.tools.intent_review.approve_plan_tool",
    "agent_decider": "evolving_agents.tools.intent_review.approve_plan_tool",
    "policy_decider": "evolving_agents.tools.intent_review.approve_plan_tool",
    "OpenAIToolApprovalTool": "evolving_agents.tools.intent_review.openai_tool_approval_tool",
}

# Literal, so linters and readers see the contract; a test checks it matches _EXPORTS.
__all__ = [
    "AgentNotRegistered",
    "AgentRegistry",
    "AgentRunResult",
    "ApprovalConflict",
    "ApprovalError",
    "ApprovalFeed",
    "ApprovalNotFound",
    "ApprovalPage",
    "ApprovalRules",
    "ApprovalStatus",
    "ApprovalStoreError",
    "ApprovePlanTool",
    "AsyncDecisionAgent",
    "BighubDecisionProvider",
    "BighubSettings",
    "CallKind",
    "CallOutcome",
    "CallOutcomeStatus",
    "CompositeDecisionProvider",
    "ConfigurationError",
    "ContextCodec",
    "ContextNotSerializable",
    "DecisionAgent",
    "DecisionContext",
    "DecisionMode",
    "DecisionProvider",
    "DecisionSignal",
    "DecisionVerdict",
    "DeliveryFailed",
    "EmailSink",
    "EmbeddedServer",
    "EscalationScheduler",
    "EventSink",
    "EvolvingAgentsError",
    "FrameworkProvider",
    "GovernedFunctionTool",
    "IncompatibleStateVersion",
    "Intent",
    "IntentPlan",
    "IntentPlanStore",
    "IntentReviewAgent",
    "IntentReviewDecision",
    "IntentStatus",
    "IntentVerdict",
    "InvalidDecision",
    "LeaseLost",
    "LocalRulePolicy",
    "MongoDBClient",
    "NewerRecordSchema",
    "NotAuthorized",
    "NotifyRoutes",
    "NotifySettings",
    "OpenAIAgentsProvider",
    "OpenAIToolAdapter",
    "OpenAIToolApprovalTool",
    "PendingApproval",
    "PendingApprovalStore",
    "PendingToolCall",
    "PlanDecider",
    "PlanNotFound",
    "PlanReview",
    "PlanStatus",
    "PlanVerdicts",
    "PortInUse",
    "ProviderRegistry",
    "RecordTooLarge",
    "Refusal",
    "RefusalKind",
    "ResumeWorker",
    "ReviewReport",
    "ReviewVerdict",
    "Reviewer",
    "ReviewerContacts",
    "ReviewerDirectory",
    "ReviewerKind",
    "ReviewerMode",
    "RiskBand",
    "RunOptionMissing",
    "RunStatus",
    "RunSupplies",
    "SessionFactory",
    "Settings",
    "SlackSink",
    "StateCodec",
    "StateIntegrityError",
    "StateTooLarge",
    "StoredRunOptions",
    "SystemAgent",
    "SystemRunResult",
    "ToolCallRecord",
    "ToolCallRequest",
    "ToolDecision",
    "ToolExecutionLedger",
    "ToolMetadata",
    "ToolOutcomeUnknown",
    "TypeContextCodec",
    "UnexpectedPause",
    "UnreadableRecord",
    "UnstorableRecord",
    "UnstorableToolCall",
    "Verdict",
    "Vote",
    "WebhookEvent",
    "WebhookEventType",
    "WebhookOutbox",
    "WebhookService",
    "WebhookSettings",
    "WebhookSink",
    "WorkerStats",
    "__version__",
    "agent_decider",
    "approval_context",
    "argument_changes",
    "callback_decider",
    "cancel_refusal",
    "configured_sinks",
    "decide_refusal",
    "enable_prometheus",
    "idempotency_key",
    "load_app",
    "policy_decider",
    "risk_band",
    "start_webhooks_from_env",
    "suggested_arguments",
    "token_digest",
    "verify_signature",
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
    from evolving_agents.actions.agent import AsyncDecisionAgent
    from evolving_agents.actions.approval_loop import approval_context
    from evolving_agents.actions.sync import DecisionAgent
    from evolving_agents.adapters.openai_tool_adapter import (
        GovernedFunctionTool,
        OpenAIToolAdapter,
    )
    from evolving_agents.approvals.codec import StateCodec
    from evolving_agents.approvals.ledger import (
        ToolExecutionLedger,
        ToolOutcomeUnknown,
        idempotency_key,
    )
    from evolving_agents.approvals.models import (
        AgentRunResult,
        ApprovalStatus,
        CallKind,
        CallOutcome,
        CallOutcomeStatus,
        PendingApproval,
        PendingToolCall,
        ReviewerKind,
        RunStatus,
        StoredRunOptions,
        ToolCallRecord,
        ToolDecision,
        Verdict,
        Vote,
    )
    from evolving_agents.approvals.rules import (
        ApprovalRules,
        Refusal,
        RefusalKind,
        Reviewer,
        RiskBand,
        ToolMetadata,
        cancel_refusal,
        decide_refusal,
        risk_band,
    )
    from evolving_agents.approvals.store import ApprovalPage, PendingApprovalStore
    from evolving_agents.approvals.suggestions import argument_changes, suggested_arguments
    from evolving_agents.approvals.worker import ResumeWorker, WorkerStats
    from evolving_agents.config import BighubSettings, NotifySettings, Settings, WebhookSettings
    from evolving_agents.core.system_agent import ReviewerMode, SystemAgent, SystemRunResult
    from evolving_agents.decisions.base import (
        DecisionContext,
        DecisionMode,
        DecisionProvider,
        DecisionSignal,
        DecisionVerdict,
        ToolCallRequest,
    )
    from evolving_agents.decisions.bighub import BighubDecisionProvider
    from evolving_agents.decisions.composite import CompositeDecisionProvider
    from evolving_agents.decisions.local_rules import LocalRulePolicy
    from evolving_agents.errors import (
        ApprovalConflict,
        ApprovalError,
        ApprovalNotFound,
        ApprovalStoreError,
        ConfigurationError,
        DeliveryFailed,
        EvolvingAgentsError,
        IncompatibleStateVersion,
        InvalidDecision,
        LeaseLost,
        NewerRecordSchema,
        NotAuthorized,
        PortInUse,
        RecordTooLarge,
        RunOptionMissing,
        StateIntegrityError,
        StateTooLarge,
        UnexpectedPause,
        UnreadableRecord,
        UnstorableRecord,
        UnstorableToolCall,
    )
    from evolving_agents.notify.escalation import EscalationScheduler
    from evolving_agents.notify.events import WebhookEvent, WebhookEventType
    from evolving_agents.notify.feed import ApprovalFeed
    from evolving_agents.notify.outbox import WebhookOutbox, verify_signature
    from evolving_agents.notify.routing import NotifyRoutes
    from evolving_agents.notify.service import WebhookService, start_webhooks_from_env
    from evolving_agents.notify.sinks import (
        EventSink,
        ReviewerContacts,
        WebhookSink,
        configured_sinks,
    )
    from evolving_agents.notify.sinks.email import EmailSink
    from evolving_agents.notify.sinks.slack import SlackSink
    from evolving_agents.plans.intent_plans import (
        Intent,
        IntentPlan,
        IntentPlanStore,
        IntentStatus,
        PlanNotFound,
        PlanStatus,
    )
    from evolving_agents.providers.agent_registry import (
        AgentNotRegistered,
        AgentRegistry,
        load_app,
    )
    from evolving_agents.providers.base import FrameworkProvider
    from evolving_agents.providers.context_codec import (
        ContextCodec,
        ContextNotSerializable,
        TypeContextCodec,
    )
    from evolving_agents.providers.openai_agents_provider import OpenAIAgentsProvider
    from evolving_agents.providers.registry import ProviderRegistry
    from evolving_agents.providers.run_options import RunSupplies, SessionFactory
    from evolving_agents.reviewers.ai import (
        IntentReviewAgent,
        IntentReviewDecision,
        ReviewReport,
        ReviewVerdict,
    )
    from evolving_agents.reviewers.base import IntentVerdict, PlanDecider, PlanVerdicts
    from evolving_agents.reviewers.directory import ReviewerDirectory, token_digest
    from evolving_agents.storage.embedded import EmbeddedServer
    from evolving_agents.storage.mongodb_client import MongoDBClient
    from evolving_agents.telemetry import enable_prometheus
    from evolving_agents.tools.intent_review.approve_plan_tool import (
        ApprovePlanTool,
        PlanReview,
        agent_decider,
        callback_decider,
        policy_decider,
    )
    from evolving_agents.tools.intent_review.openai_tool_approval_tool import (
        OpenAIToolApprovalTool,
    )
