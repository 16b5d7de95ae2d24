"""A vote as asked for, and what it does to a call's tally.

::

    ballot = Ballot.make(approval_id, "approved", alice, "human", None, False, "cli")
    votes, decision = tally(approval_id, call, rules, vote, always=False, edited_arguments=None)

Who may cast the vote is decided in ``rules.py`` before any of this runs; these are the shapes
and the arithmetic: any rejection settles a call at once, an approval settles it when
``min_approvals`` distinct reviewers approved the same arguments.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple, TypeAlias

from pydantic import BaseModel

from evolving_agents.approvals.models import (
    PendingApproval,
    ReviewerKind,
    ToolCallRecord,
    ToolDecision,
    Verdict,
    Vote,
    canonical_json,
)
from evolving_agents.approvals.reviewer_identity import Reviewer
from evolving_agents.approvals.tool_metadata import ApprovalRules
from evolving_agents.errors import ApprovalConflict, InvalidDecision

EditChecker: TypeAlias = Callable[
    [PendingApproval, ToolCallRecord, dict[str, Any]], Awaitable[dict[str, Any] | None]
]
"""Checks edited arguments before a store accepts them; raises ``InvalidDecision`` to refuse.

Returns the decision layer's fresh signal on the edited arguments (a ``DecisionSignal`` as
JSON), kept with the vote as ``edit_signal``; None when nothing scored them (an AI approval of
the edit is then refused by the AI cap)."""


def tally(
    approval_id: str,
    call: ToolCallRecord,
    rules: ApprovalRules,
    vote: Vote,
    *,
    always: bool,
    edited_arguments: dict[str, Any] | None,
) -> tuple[list[Vote], ToolDecision | None]:
    """The call's votes with ``vote`` added, and its decision if this vote settles it."""
    votes = [*call.votes, vote]
    if vote.verdict is Verdict.APPROVED:
        approving = [v for v in votes if v.verdict is Verdict.APPROVED]
        if len({v.edited_arguments_sha256 for v in approving}) > 1:
            # One set of arguments runs; approvals of different edits are not a quorum for any.
            raise ApprovalConflict(
                approval_id,
                f"call {call.call_id}: {vote.reviewer} approved different arguments than the "
                "earlier approvals; approve the same edits (or none), or reject",
                status="pending",
            )
        if len({v.reviewer for v in approving}) < rules.min_approvals:
            return votes, None
    decision = ToolDecision(
        verdict=vote.verdict,
        reviewer=vote.reviewer,
        reviewer_kind=vote.reviewer_kind,
        message=vote.message,
        always=always,
        at=vote.at,
        surface=vote.surface,
        votes=votes,
        edited_arguments=edited_arguments if vote.verdict is Verdict.APPROVED else None,
        edited_arguments_sha256=vote.edited_arguments_sha256,
        edit_signal=vote.edit_signal if vote.verdict is Verdict.APPROVED else None,
    )
    return votes, decision


class Ballot(BaseModel):
    """A vote as asked for, checked for shape before any record is read."""

    reviewer: Reviewer
    verdict: Verdict
    reviewer_kind: ReviewerKind
    message: str | None
    always: bool
    surface: str

    @classmethod
    def make(
        cls,
        approval_id: str,
        verdict: Verdict | str,
        reviewer: str | Reviewer,
        reviewer_kind: ReviewerKind | str,
        message: str | None,
        always: bool,
        surface: str,
    ) -> Ballot:
        try:
            verdict = Verdict(verdict)
        except ValueError:
            raise InvalidDecision(
                approval_id, f"unknown verdict {verdict!r}; use 'approved' or 'rejected'"
            ) from None
        try:
            reviewer_kind = ReviewerKind(reviewer_kind)
        except ValueError:
            kinds = ", ".join(kind.value for kind in ReviewerKind)
            raise InvalidDecision(
                approval_id, f"unknown reviewer_kind {reviewer_kind!r}; use one of {kinds}"
            ) from None
        identity = Reviewer.of(reviewer)
        if not identity.name or not identity.name.strip():
            raise InvalidDecision(approval_id, "a decision needs the reviewer's name")
        if not surface or not surface.strip():
            raise InvalidDecision(approval_id, "a decision needs the surface it came from")
        return cls(
            reviewer=identity,
            verdict=verdict,
            reviewer_kind=reviewer_kind,
            message=message,
            always=always,
            surface=surface,
        )


def normalise_edit(
    approval_id: str,
    ballot: Ballot,
    call_id: str | None,
    edited_arguments: Any,
    checker: EditChecker | None,
) -> dict[str, Any]:
    """The edit, normalised to what gets hashed and stored, if it may be asked for at all."""
    if ballot.verdict is not Verdict.APPROVED:
        raise InvalidDecision(approval_id, "edited arguments come only with an approval")
    if call_id is None:
        raise InvalidDecision(approval_id, "edited arguments need the call_id they replace")
    if not isinstance(edited_arguments, dict):
        raise InvalidDecision(approval_id, "edited arguments must be a JSON object")
    if checker is None:
        raise InvalidDecision(
            approval_id,
            "approving with edited arguments needs a store created by OpenAIAgentsProvider,"
            " which checks edits against the tool's schema and its rules",
        )
    try:
        # The canonical JSON round trip is what gets hashed and stored, so both agree.
        normalised: dict[str, Any] = json.loads(canonical_json(edited_arguments))
    except (TypeError, ValueError) as exc:
        raise InvalidDecision(approval_id, f"edited arguments are not JSON: {exc}") from None
    return normalised


class CallVote(NamedTuple):
    """What one vote does to one call: its votes after it, and its decision if settled."""

    position: int
    votes: list[Vote]
    decision: ToolDecision | None
    min_approvals: int
