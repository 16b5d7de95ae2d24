"""The approval domain: records of paused runs, their store, and the state codec."""

from evolving_agents.approvals.codec import StateCodec
from evolving_agents.approvals.errors import (
    ApprovalConflict,
    ApprovalError,
    ApprovalNotFound,
    ApprovalStoreError,
    IncompatibleStateVersion,
    InvalidDecision,
    NotAuthorized,
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
    Vote,
    parse_duration,
)
from evolving_agents.approvals.reviewers import ApprovalRules, EditChecker, Reviewer
from evolving_agents.approvals.store import ApprovalPage, PendingApprovalStore

__all__ = [
    "AgentRunResult",
    "ApprovalConflict",
    "ApprovalError",
    "ApprovalNotFound",
    "ApprovalPage",
    "ApprovalRules",
    "ApprovalStatus",
    "ApprovalStoreError",
    "EditChecker",
    "IncompatibleStateVersion",
    "InvalidDecision",
    "NotAuthorized",
    "PendingApproval",
    "PendingApprovalStore",
    "PendingToolCall",
    "Reviewer",
    "ReviewerKind",
    "RunStatus",
    "StateCodec",
    "StateIntegrityError",
    "StateTooLarge",
    "ToolCallRecord",
    "ToolDecision",
    "Verdict",
    "Vote",
    "parse_duration",
]
