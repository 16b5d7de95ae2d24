"""The approval domain: records of paused runs, their store, and the state codec."""

from evolving_agents.approvals.codec import StateCodec
from evolving_agents.approvals.errors import (
    ApprovalConflict,
    ApprovalError,
    ApprovalNotFound,
    IncompatibleStateVersion,
    InvalidDecision,
    StateIntegrityError,
    StateTooLarge,
)
from evolving_agents.approvals.models import (
    AgentRunResult,
    ApprovalStatus,
    PendingApproval,
    PendingToolCall,
    ReviewerKind,
    RunStatus,
    ToolCallRecord,
    ToolDecision,
    Verdict,
)
from evolving_agents.approvals.store import ApprovalPage, PendingApprovalStore

__all__ = [
    "AgentRunResult",
    "ApprovalConflict",
    "ApprovalError",
    "ApprovalNotFound",
    "ApprovalPage",
    "ApprovalStatus",
    "IncompatibleStateVersion",
    "InvalidDecision",
    "PendingApproval",
    "PendingApprovalStore",
    "PendingToolCall",
    "ReviewerKind",
    "RunStatus",
    "StateCodec",
    "StateIntegrityError",
    "StateTooLarge",
    "ToolCallRecord",
    "ToolDecision",
    "Verdict",
]
