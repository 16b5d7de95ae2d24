"""Who may approve a tool call, how many must, and how votes settle it.

::

    alice = Reviewer(name="alice", roles=frozenset({"sre"}))
    await store.decide(approval_id, call_id=call_id, verdict="approved", reviewer=alice)

A tool asks for particular roles, several approvers, or its own expiry in its metadata::

    {"approver_roles": ["sre", "security"], "min_approvals": 2, "expires_in": "30m"}

The rules, as the store applies them inside one conditional update per vote: a human reviewer
must hold one of ``approver_roles`` (when the tool lists any), an AI reviewer needs ``"ai"``
listed there and approves only within the AI cap (``ai_approval_refusal``: the tool opts into
AI review, its known risk is low, no sticky or edited approval), policy and timeout decisions
are exempt; the run's ``actor`` may not approve its own call; one vote per reviewer per call
(names compared in their canonical form, see ``identity.py``, so another spelling is the same
person); any rejection settles the call at once; an approval settles it when
``min_approvals`` distinct reviewers approved the same arguments.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple, TypeAlias

from pydantic import BaseModel, ConfigDict

from evolving_agents.approvals.identity import canonical_identity, same_identity
from evolving_agents.approvals.models import (
    ApprovalStatus,
    PendingApproval,
    ReviewerKind,
    ToolCallRecord,
    ToolDecision,
    Verdict,
    Vote,
    arguments_digest,
    canonical_json,
    parse_duration,
)
from evolving_agents.errors import ApprovalConflict, InvalidDecision, NotAuthorized

AI_ROLE = "ai"
_ROLE_EXEMPT = frozenset({ReviewerKind.POLICY, ReviewerKind.TIMEOUT})

EditChecker: TypeAlias = Callable[
    [PendingApproval, ToolCallRecord, dict[str, Any]], Awaitable[None]
]
"""Checks edited arguments before a store accepts them; raises ``InvalidDecision`` to refuse."""


class Reviewer(BaseModel):
    """A reviewer's identity: the name votes are recorded under, and the roles they act in."""

    model_config = ConfigDict(frozen=True)

    name: str
    roles: frozenset[str] = frozenset()

    @classmethod
    def of(cls, reviewer: str | Reviewer) -> Reviewer:
        """A plain name is a reviewer without roles."""
        return reviewer if isinstance(reviewer, Reviewer) else cls(name=reviewer)


class ApprovalRules(BaseModel):
    """A call's approval rules, read from its tool's metadata.

    ``expires_in``: None when the tool sets nothing (the store's default applies), ``"never"``
    when it opts out of expiry.
    """

    model_config = ConfigDict(frozen=True)

    approver_roles: frozenset[str] = frozenset()
    min_approvals: int = 1
    expires_in: timedelta | Literal["never"] | None = None

    @classmethod
    def from_metadata(cls, tool_name: str, metadata: Mapping[str, Any]) -> ApprovalRules:
        """Parse the rules; ``ValueError`` names the tool and the key when one is malformed.

        Malformed rules are refused rather than guessed: a typo in ``min_approvals`` must not
        silently let one person approve a call meant for two.
        """
        roles = metadata.get("approver_roles")
        if roles is None:
            approver_roles: frozenset[str] = frozenset()
        elif isinstance(roles, str):
            approver_roles = frozenset({roles})
        elif isinstance(roles, list | tuple | set | frozenset) and all(
            isinstance(role, str) for role in roles
        ):
            approver_roles = frozenset(roles)
        else:
            raise ValueError(
                f"tool {tool_name}: approver_roles must be a list of role names, got {roles!r}"
            )
        quorum = metadata.get("min_approvals", 1)
        if isinstance(quorum, bool) or not isinstance(quorum, int) or quorum < 1:
            raise ValueError(
                f"tool {tool_name}: min_approvals must be an integer >= 1, got {quorum!r}"
            )
        expires_in: timedelta | Literal["never"] | None = None
        raw_expiry = metadata.get("expires_in")
        if raw_expiry is not None:
            if not isinstance(raw_expiry, str | int | float | timedelta):
                raise ValueError(f"tool {tool_name}: expires_in {raw_expiry!r} is not a duration")
            try:
                parsed = parse_duration(raw_expiry)
            except ValueError as exc:
                raise ValueError(f"tool {tool_name}: expires_in: {exc}") from None
            expires_in = "never" if parsed is None else parsed
        return cls(approver_roles=approver_roles, min_approvals=quorum, expires_in=expires_in)


def check_voter(
    record: PendingApproval,
    call: ToolCallRecord,
    rules: ApprovalRules,
    reviewer: Reviewer,
    reviewer_kind: ReviewerKind,
    verdict: Verdict,
) -> None:
    """Raise ``NotAuthorized`` or ``ApprovalConflict`` unless this reviewer may vote here now."""

    def refuse(reason: str) -> NotAuthorized:
        return NotAuthorized(record.id, reason, reviewer=reviewer.name, call_id=call.call_id)

    if not canonical_identity(reviewer.name):
        # Only invisible characters: a vote nobody can be held to, and equal to any other such.
        raise refuse(f"the reviewer name {reviewer.name!r} has no visible characters")
    needed = rules.approver_roles
    if needed and reviewer_kind not in _ROLE_EXEMPT:
        if reviewer_kind is ReviewerKind.AI and AI_ROLE not in needed:
            raise refuse(
                f"{reviewer.name} is an AI reviewer and tool {call.tool_name} does not list the "
                f"role '{AI_ROLE}' in approver_roles ({', '.join(sorted(needed))})"
            )
        if reviewer_kind is ReviewerKind.HUMAN and not needed & reviewer.roles:
            raise refuse(
                f"{reviewer.name} holds none of the roles tool {call.tool_name} needs to "
                f"decide call {call.call_id}: {', '.join(sorted(needed))}"
            )
    if (
        verdict is Verdict.APPROVED
        and reviewer_kind is not ReviewerKind.TIMEOUT
        # Canonical names: "Alice", " alice" or a Cyrillic look-alike are still the run's actor.
        and same_identity(reviewer.name, record.actor)
    ):
        raise refuse(
            f"{reviewer.name} started this run and may not approve its own call "
            f"{call.call_id}; another reviewer must"
        )
    if any(same_identity(vote.reviewer, reviewer.name) for vote in call.votes):
        raise ApprovalConflict(
            record.id, f"{reviewer.name} already voted on call {call.call_id}", status="pending"
        )


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


def plan_votes(
    record: PendingApproval,
    indexes: list[int],
    ballot: Ballot,
    edit: dict[str, Any] | None,
    now: datetime,
) -> list[CallVote]:
    """What the vote does to each target call.

    Every call is checked before anything is returned, so a refusal on one call refuses all.
    """
    edit_sha = None if edit is None else arguments_digest(edit)
    plan: list[CallVote] = []
    for index in indexes:
        call = record.tool_calls[index]
        rules = rules_of(record.id, call)
        check_voter(record, call, rules, ballot.reviewer, ballot.reviewer_kind, ballot.verdict)
        check_ai_cap(record, call, ballot, edit)
        vote = Vote(
            reviewer=ballot.reviewer.name,
            roles=sorted(ballot.reviewer.roles),
            reviewer_kind=ballot.reviewer_kind,
            verdict=ballot.verdict,
            message=ballot.message,
            at=now,
            surface=ballot.surface,
            edited_arguments_sha256=edit_sha,
        )
        votes, decision = tally(
            record.id, call, rules, vote, always=ballot.always, edited_arguments=edit
        )
        plan.append(CallVote(index, votes, decision, rules.min_approvals))
    return plan


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
        if call_id is not None and (call := record.call(call_id)) is not None and call.decision:
            raise already_decided(record.id, call_id, call.decision)
        raise ApprovalConflict(
            record.id,
            f"cannot decide: the record is {record.status.value}",
            status=record.status.value,
        )
    if call_id is None:
        if arguments_sha256 is not None:
            raise InvalidDecision(record.id, "arguments_sha256 needs a call_id")
        return [i for i, call in enumerate(record.tool_calls) if call.decision is None]
    for index, call in enumerate(record.tool_calls):
        if call.call_id != call_id:
            continue
        if call.decision is not None:
            raise already_decided(record.id, call_id, call.decision)
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


# -- the AI cap: what an AI reviewer may approve, wherever its decision comes from ----------

AI_RISK_CEILING = 0.5
"""No AI approval stands on a call whose known risk is at or above this, whatever threshold the
reviewer was given: the same boundary at which the metadata rule calls a tool high risk."""

_HIGH_RISK_LABELS = frozenset({"high", "critical"})
_HIGH_RISK_FLOOR = 0.7
# Anything unreadable about a risk counts as the highest: nothing is known about the call.
_UNKNOWN_RISK = 1.0


def ai_review_allowed(metadata: Mapping[str, Any]) -> bool:
    """True when a tool's metadata lets an AI reviewer approve its calls: ``ai_review`` is
    ``True`` or ``"allowed"``, or ``reviewer`` is ``"ai"``. Anything else (absent, ``1``,
    ``"yes"``) does not."""
    ai_review = metadata.get("ai_review")
    return ai_review is True or ai_review == "allowed" or metadata.get("reviewer") == "ai"


def as_risk(value: object) -> float:
    """A stored risk as a number in 0..1; anything unreadable or out of range is the maximum."""
    if isinstance(value, bool):
        return _UNKNOWN_RISK
    if isinstance(value, int | float | str):
        try:
            number = float(value)
        except ValueError:
            return _UNKNOWN_RISK
        return number if math.isfinite(number) and 0.0 <= number <= 1.0 else _UNKNOWN_RISK
    return _UNKNOWN_RISK


def metadata_risk(metadata: Mapping[str, Any]) -> float:
    """A floor from the tool's own ``risk``: 0.7 for "high"/"critical", the number if numeric.

    Other labels ("low", "medium") add nothing: the signal's (and a model's) risk still count.
    """
    risk = metadata.get("risk")
    if risk is None:
        return 0.0
    if isinstance(risk, str):
        label = risk.strip().lower()
        if label in _HIGH_RISK_LABELS:
            return _HIGH_RISK_FLOOR
        try:
            float(label)
        except ValueError:
            return 0.0
    return as_risk(risk)


def signal_risk(signal: Mapping[str, Any] | None) -> float:
    """The decision layer's risk for a call, 0 when it gave none."""
    if signal is None or "risk" not in signal:
        return 0.0
    return as_risk(signal["risk"])


def known_risk(call: ToolCallRecord) -> float:
    """What is known about a call's risk before anyone reviews it: the highest of the decision
    layer's signal and the floor its tool's metadata sets."""
    return max(signal_risk(call.signal), metadata_risk(call.metadata))


def ai_approval_refusal(
    call: ToolCallRecord,
    *,
    risk: float | None = None,
    threshold: float = AI_RISK_CEILING,
    always: bool = False,
    edited: bool = False,
) -> str | None:
    """Why an AI reviewer may not approve ``call``, or None when it may.

    The one definition of the AI cap. The store applies it to every ``ai`` approval, whichever
    surface sent it; ``IntentReviewAgent`` applies it first, with its own ``threshold`` and the
    model's ``risk``, so it escalates instead of being refused. An AI may approve only a tool
    whose metadata opts into AI review, below both thresholds, once (not ``always``), and only
    the arguments the model proposed (no edits: the decision layer never scored them).
    """
    if not ai_review_allowed(call.metadata):
        return (
            f"tool {call.tool_name!r} does not allow AI approval "
            "(metadata ai_review=True or reviewer='ai')"
        )
    combined = known_risk(call) if risk is None else max(as_risk(risk), known_risk(call))
    limit = min(threshold, AI_RISK_CEILING)
    if not combined < limit:
        return f"the risk {combined:.2f} is not below the AI approval threshold {limit:.2f}"
    if always:
        return "an AI reviewer may not approve every later call of the tool (always)"
    if edited:
        return "an AI reviewer may not approve edited arguments"
    return None


def check_ai_cap(
    record: PendingApproval, call: ToolCallRecord, ballot: Ballot, edit: dict[str, Any] | None
) -> None:
    """Raise ``NotAuthorized`` when an ``ai`` approval goes beyond the AI cap."""
    if ballot.reviewer_kind is not ReviewerKind.AI or ballot.verdict is not Verdict.APPROVED:
        return
    reason = ai_approval_refusal(call, always=ballot.always, edited=edit is not None)
    if reason is not None:
        raise NotAuthorized(
            record.id,
            f"{ballot.reviewer.name} is an AI reviewer and may not approve call "
            f"{call.call_id}: {reason}; a person must decide",
            reviewer=ballot.reviewer.name,
            call_id=call.call_id,
        )
