"""What a refusal of the rules is (its kind, the reviewer's reason, the store's error), and
the refusals a record's state gives before anyone's identity is looked at.

::

    refusal = decide_refusal(record, call, alice, "approved")      # see rules.py
    refusal.kind              # RefusalKind.ROLE
    refusal.reason            # "needs one of the roles: security": what a surface shows
    raise refusal.error()     # NotAuthorized, as the store raises it
    decision_targets(record, call_id, arguments_sha256)   # the calls a vote applies to

A ``forbidden`` refusal is about who the reviewer is (``NotAuthorized``; the CLI exits 7, the
inbox answers 403); any other is about the record's state (``ApprovalConflict``: exit 4, 409)
or its malformed rules (``InvalidDecision``: exit 2, 400).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from evolving_agents.approvals.models import (
    ApprovalStatus,
    PendingApproval,
    ToolCallRecord,
    ToolDecision,
)
from evolving_agents.approvals.tool_metadata import ApprovalRules
from evolving_agents.errors import ApprovalConflict, ApprovalError, InvalidDecision, NotAuthorized


class RefusalKind(StrEnum):
    """Why a reviewer may not act: who they are (``forbidden``), or the record's state."""

    STATUS = "status"
    DECIDED = "decided"
    MALFORMED_RULES = "malformed_rules"
    NAMELESS = "nameless"
    ROLE = "role"
    AI_ROLE = "ai_role"
    OWN_RUN = "own_run"
    VOTED = "voted"
    AI_CAP = "ai_cap"

    @property
    def forbidden(self) -> bool:
        """True for who the reviewer is (``NotAuthorized``); a state is a conflict."""
        return self in _FORBIDDEN


_FORBIDDEN = frozenset(
    {
        RefusalKind.NAMELESS,
        RefusalKind.ROLE,
        RefusalKind.AI_ROLE,
        RefusalKind.OWN_RUN,
        RefusalKind.AI_CAP,
    }
)


class Refusal(BaseModel):
    """One answer "no": its kind, a short ``reason`` for the reviewer (what a surface shows)
    and the ``detail`` the store's error carries (naming the reviewer and the call)."""

    model_config = ConfigDict(frozen=True)

    kind: RefusalKind
    reason: str
    detail: str
    approval_id: str
    reviewer: str | None = None
    call_id: str | None = None
    status: str | None = None
    """The record's status a conflict was seen in (``ApprovalConflict.status``)."""

    @property
    def forbidden(self) -> bool:
        return self.kind.forbidden

    def error(self) -> ApprovalError:
        """The exception the store raises for this refusal."""
        if self.kind is RefusalKind.MALFORMED_RULES:
            return InvalidDecision(self.approval_id, self.detail)
        if self.forbidden:
            return NotAuthorized(
                self.approval_id, self.detail, reviewer=self.reviewer or "", call_id=self.call_id
            )
        return ApprovalConflict(self.approval_id, self.detail, status=self.status)


# -- the record's state ----------------------------------------------------------------------


def decided_refusal(
    record: PendingApproval, call: ToolCallRecord, decision: ToolDecision
) -> Refusal:
    done = f"{decision.verdict.value} by {decision.reviewer}"
    return Refusal(
        kind=RefusalKind.DECIDED,
        reason=f"already {done}",
        detail=f"call {call.call_id} was already {done}",
        approval_id=record.id,
        call_id=call.call_id,
        status=ApprovalStatus.PENDING.value,
    )


def not_pending_refusal(record: PendingApproval, call: ToolCallRecord | None) -> Refusal:
    status = record.status.value
    return Refusal(
        kind=RefusalKind.STATUS,
        reason=f"the record is {status}",
        detail=f"cannot decide: the record is {status}",
        approval_id=record.id,
        call_id=None if call is None else call.call_id,
        status=status,
    )


# -- what a decision applies to -------------------------------------------------------------


def rules_of(approval_id: str, call: ToolCallRecord) -> ApprovalRules:
    """The call's rules, or ``InvalidDecision`` naming what in its metadata is malformed."""
    try:
        return ApprovalRules.from_metadata(call.tool_name, call.metadata)
    except ValueError as exc:
        # Fail closed: rules nobody can read allow nobody to decide.
        raise InvalidDecision(approval_id, str(exc)) from None


def decision_targets(
    record: PendingApproval, call_id: str | None, arguments_sha256: str | None
) -> list[int]:
    """Indexes of the calls a decision applies to, after checking it may apply at all."""
    if record.status is not ApprovalStatus.PENDING:
        call = None if call_id is None else record.call(call_id)
        if call is not None and call.decision is not None:
            raise decided_refusal(record, call, call.decision).error()
        raise not_pending_refusal(record, call).error()
    if call_id is None:
        if arguments_sha256 is not None:
            raise InvalidDecision(record.id, "arguments_sha256 needs a call_id")
        return [i for i, call in enumerate(record.tool_calls) if call.decision is None]
    for index, call in enumerate(record.tool_calls):
        if call.call_id != call_id:
            continue
        if call.decision is not None:
            raise decided_refusal(record, call, call.decision).error()
        if arguments_sha256 is not None and arguments_sha256 != call.arguments_sha256:
            raise InvalidDecision(
                record.id, f"call {call_id}: the arguments shown differ from the stored ones"
            )
        return [index]
    known = ", ".join(call.call_id for call in record.tool_calls)
    raise InvalidDecision(record.id, f"no call {call_id!r} in this record (calls: {known})")


def already_decided(approval_id: str, call_id: str, decision: ToolDecision) -> ApprovalConflict:
    return ApprovalConflict(
        approval_id,
        f"call {call_id} was already {decision.verdict.value} by {decision.reviewer}",
        status=ApprovalStatus.PENDING.value,
    )
