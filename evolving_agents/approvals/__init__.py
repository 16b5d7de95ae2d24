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
from evolving_agents.approvals.ledger import (
    ToolExecutionLedger,
    ToolOutcomeUnknown,
    idempotency_key,
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
from evolving_agents.approvals.worker import ResumeWorker, WorkerStats, install_signal_handlers

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
    "ResumeWorker",
    "Reviewer",
    "ReviewerKind",
    "RunStatus",
    "StateCodec",
    "StateIntegrityError",
    "StateTooLarge",
    "ToolCallRecord",
    "ToolDecision",
    "ToolExecutionLedger",
    "ToolOutcomeUnknown",
    "Verdict",
    "Vote",
    "WorkerStats",
    "idempotency_key",
    "install_signal_handlers",
    "parse_duration",
]
