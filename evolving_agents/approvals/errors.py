"""Typed errors of the approval store and the state codec.

Each names the approval it concerns, so a reviewer or an operator can act on one line.
"""

from __future__ import annotations

from evolving_agents.errors import EvolvingAgentsError


class ApprovalError(EvolvingAgentsError):
    """Base class for errors about one pending approval."""

    def __init__(self, approval_id: str, reason: str) -> None:
        super().__init__(f"approval {approval_id}: {reason}")
        self.approval_id = approval_id
        self.reason = reason


class ApprovalNotFound(ApprovalError):
    """No approval with this id exists."""

    def __init__(self, approval_id: str) -> None:
        super().__init__(approval_id, "not found")


class ApprovalConflict(ApprovalError):
    """The approval is not in a state that allows this: already decided, claimed or finished.

    ``status`` is the record's status when the conflict was seen.
    """

    def __init__(self, approval_id: str, reason: str, *, status: str | None = None) -> None:
        super().__init__(approval_id, reason)
        self.status = status


class InvalidDecision(ApprovalError):
    """The decision itself is malformed: unknown call id, unknown verdict, stale arguments."""


class StateIntegrityError(ApprovalError):
    """The stored run state failed its hash or signature check, or cannot be decoded."""


class IncompatibleStateVersion(ApprovalError):
    """The stored run state was written in a schema the installed SDK cannot read."""

    def __init__(self, approval_id: str, reason: str, *, schema_version: str | None) -> None:
        super().__init__(approval_id, reason)
        self.schema_version = schema_version


class StateTooLarge(ApprovalError):
    """The encoded run state does not fit in one MongoDB document."""
