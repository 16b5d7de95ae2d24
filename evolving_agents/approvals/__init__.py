"""The approval domain: records of paused runs, their store, and the state codec.

Names load on first use (PEP 562), so importing one module of this package does not import
the others.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Where each name lives.
_EXPORTS: dict[str, str] = {
    "StateCodec": "evolving_agents.approvals.codec",
    "NewerRecordSchema": "evolving_agents.approvals.documents",
    **dict.fromkeys(
        ["ToolExecutionLedger", "ToolOutcomeUnknown", "idempotency_key"],
        "evolving_agents.approvals.ledger",
    ),
    **dict.fromkeys(
        [
            "RECORD_SCHEMA",
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
            "parse_duration",
        ],
        "evolving_agents.approvals.models",
    ),
    **dict.fromkeys(
        ["ApprovalStore", "ResumeQueue"],
        "evolving_agents.approvals.protocols",
    ),
    "MongoResumeQueue": "evolving_agents.approvals.queue",
    **dict.fromkeys(
        ["ApprovalRules", "EditChecker", "Reviewer"],
        "evolving_agents.approvals.rules",
    ),
    **dict.fromkeys(
        ["ApprovalPage", "PendingApprovalStore"],
        "evolving_agents.approvals.store",
    ),
    "ResumeWorker": "evolving_agents.approvals.worker",
    **dict.fromkeys(
        ["WorkerStats", "install_signal_handlers"],
        "evolving_agents.approvals.worker_stats",
    ),
    **dict.fromkeys(
        [
            "ApprovalConflict",
            "ApprovalError",
            "ApprovalNotFound",
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
        ],
        "evolving_agents.errors",
    ),
}

__all__ = [
    "RECORD_SCHEMA",
    "AgentRunResult",
    "ApprovalConflict",
    "ApprovalError",
    "ApprovalNotFound",
    "ApprovalPage",
    "ApprovalRules",
    "ApprovalStatus",
    "ApprovalStore",
    "ApprovalStoreError",
    "CallKind",
    "CallOutcome",
    "CallOutcomeStatus",
    "EditChecker",
    "IncompatibleStateVersion",
    "InvalidDecision",
    "LeaseLost",
    "MongoResumeQueue",
    "NewerRecordSchema",
    "NotAuthorized",
    "PendingApproval",
    "PendingApprovalStore",
    "PendingToolCall",
    "RecordTooLarge",
    "ResumeQueue",
    "ResumeWorker",
    "Reviewer",
    "ReviewerKind",
    "RunOptionMissing",
    "RunStatus",
    "StateCodec",
    "StateIntegrityError",
    "StateTooLarge",
    "StoredRunOptions",
    "ToolCallRecord",
    "ToolDecision",
    "ToolExecutionLedger",
    "ToolOutcomeUnknown",
    "UnreadableRecord",
    "UnstorableRecord",
    "UnstorableToolCall",
    "Verdict",
    "Vote",
    "WorkerStats",
    "idempotency_key",
    "install_signal_handlers",
    "parse_duration",
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
    from evolving_agents.approvals.codec import StateCodec
    from evolving_agents.approvals.documents import NewerRecordSchema
    from evolving_agents.approvals.ledger import (
        ToolExecutionLedger,
        ToolOutcomeUnknown,
        idempotency_key,
    )
    from evolving_agents.approvals.models import (
        RECORD_SCHEMA,
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
        parse_duration,
    )
    from evolving_agents.approvals.protocols import ApprovalStore, ResumeQueue
    from evolving_agents.approvals.queue import MongoResumeQueue
    from evolving_agents.approvals.rules import ApprovalRules, EditChecker, Reviewer
    from evolving_agents.approvals.store import ApprovalPage, PendingApprovalStore
    from evolving_agents.approvals.worker import ResumeWorker
    from evolving_agents.approvals.worker_stats import WorkerStats, install_signal_handlers
    from evolving_agents.errors import (
        ApprovalConflict,
        ApprovalError,
        ApprovalNotFound,
        ApprovalStoreError,
        IncompatibleStateVersion,
        InvalidDecision,
        LeaseLost,
        NotAuthorized,
        RecordTooLarge,
        RunOptionMissing,
        StateIntegrityError,
        StateTooLarge,
        UnreadableRecord,
        UnstorableRecord,
        UnstorableToolCall,
    )
