"""Who may decide a tool call, who may cancel a run: the one rules module.

::

    alice = Reviewer(name="alice", roles=frozenset({"sre"}))
    refusal = decide_refusal(record, call, alice, Verdict.APPROVED)   # None: alice may
    refusal.kind, refusal.reason                                      # RefusalKind.ROLE, ...
    refusal = cancel_refusal(record, alice)

The store enforces these answers inside one conditional update per vote (``plan_votes`` calls
``check_voter`` and ``check_ai_cap``, which raise ``refusal.error()``); the CLI and the inbox ask
the same functions before they offer a button or send a vote, so all three give one answer.

The rules, in the order they are checked (the first that applies is the answer):

1. the call must be undecided and the record ``pending`` (``STATUS``, ``DECIDED``: conflicts);
2. its tool's approval rules must parse (``MALFORMED_RULES``: nobody may decide, fail closed);
3. the reviewer's name must have a visible character (``NAMELESS``);
4. a human reviewer must hold one of ``approver_roles`` when the tool lists any (``ROLE``), an
   AI reviewer needs ``"ai"`` listed there (``AI_ROLE``); policy and timeout are exempt;
5. the run's ``actor`` may **reject** its own call, and cancel its own run, but never
   **approve** its own call (``OWN_RUN``): rejecting is the fail-safe direction;
6. one vote per reviewer per call, names compared in their canonical form (``identity.py``),
   so another spelling is the same person (``VOTED``);
7. an AI approval stays within the AI cap (``AI_CAP``, see ``ai_cap.py``).

Any rejection settles the call at once; an approval settles it when ``min_approvals``
distinct reviewers approved the same arguments (``ballot.tally``). A run may be cancelled while
``pending`` or ``decided`` by a reviewer who holds, for every call, one of the roles its tool
asks for: the same people who may reject each of its calls (the actor included).

The parts live beside it, each re-exported here: ``refusal.py`` (the refusal type, the
record's state), ``ballot.py`` (a vote's shape and tally), ``tool_metadata.py``
(``ToolMetadata``, ``ApprovalRules``), ``risk.py`` (the risk bands), ``ai_cap.py``.

Size: a little over the ~400 mark because of those re-exports (one import list and
``__all__``): every caller asks this one module, whatever part an answer comes from.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from evolving_agents.approvals.ai_cap import AI_RISK_CEILING, ai_approval_refusal
from evolving_agents.approvals.ballot import (
    Ballot,
    CallVote,
    EditChecker,
    normalise_edit,
    tally,
)
from evolving_agents.approvals.identity import canonical_identity, same_identity
from evolving_agents.approvals.models import (
    ApprovalStatus,
    PendingApproval,
    ReviewerKind,
    ToolCallRecord,
    Verdict,
    Vote,
    arguments_digest,
)
from evolving_agents.approvals.refusal import (
    Refusal,
    RefusalKind,
    already_decided,
    decided_refusal,
    decision_targets,
    not_pending_refusal,
    rules_of,
)
from evolving_agents.approvals.reviewer_identity import Reviewer
from evolving_agents.approvals.risk import (
    HIGH_RISK,
    MEDIUM_RISK,
    RiskBand,
    as_risk,
    known_risk,
    metadata_risk,
    risk_band,
    signal_risk,
)
from evolving_agents.approvals.tool_metadata import ApprovalRules, ToolMetadata, ai_review_allowed

__all__ = [
    "AI_RISK_CEILING",
    "AI_ROLE",
    "HIGH_RISK",
    "MEDIUM_RISK",
    "ApprovalRules",
    "Ballot",
    "CallVote",
    "EditChecker",
    "Refusal",
    "RefusalKind",
    "Reviewer",
    "RiskBand",
    "ToolMetadata",
    "ai_approval_refusal",
    "ai_review_allowed",
    "already_decided",
    "as_risk",
    "cancel_refusal",
    "cast_votes",
    "check_ai_cap",
    "check_canceller",
    "check_voter",
    "decide_refusal",
    "decision_targets",
    "known_risk",
    "metadata_risk",
    "normalise_edit",
    "plan_votes",
    "record_refusal",
    "risk_band",
    "rules_of",
    "signal_risk",
    "tally",
]

AI_ROLE = "ai"
_ROLE_EXEMPT = frozenset({ReviewerKind.POLICY, ReviewerKind.TIMEOUT})


# -- deciding ---------------------------------------------------------------------------------


def decide_refusal(
    record: PendingApproval,
    call: ToolCallRecord,
    reviewer: str | Reviewer,
    verdict: Verdict | str,
    *,
    reviewer_kind: ReviewerKind = ReviewerKind.HUMAN,
    always: bool = False,
    edited: bool = False,
) -> Refusal | None:
    """Why ``reviewer`` may not cast ``verdict`` on ``call`` now, or None when they may.

    A refusal of a rejection refuses an approval too (rejecting is never harder), so the
    ``REJECTED`` answer says whether the reviewer may decide the call at all.
    """
    who = Reviewer.of(reviewer)
    refusal = _state_refusal(record, call)
    if refusal is not None:
        return refusal
    meta = ToolMetadata.of(call.metadata, tool_name=call.tool_name)
    if meta.problems:
        problem = meta.problems[0]
        return Refusal(
            kind=RefusalKind.MALFORMED_RULES,
            reason=f"its approval rules are malformed ({problem})",
            detail=problem,
            approval_id=record.id,
            reviewer=who.name,
            call_id=call.call_id,
        )
    rules = ApprovalRules(approver_roles=meta.approver_roles, min_approvals=meta.min_approvals)
    return _voter_refusal(record, call, rules, who, reviewer_kind, Verdict(verdict)) or (
        _ai_cap_refusal(record, call, who, reviewer_kind, Verdict(verdict), always, edited)
    )


def record_refusal(
    record: PendingApproval,
    call_id: str | None,
    reviewer: str | Reviewer,
    verdict: Verdict | str,
) -> Refusal | None:
    """The store's answer to a human vote on ``call_id`` (None: every undecided call), when it
    is a refusal of these rules; None when the vote may go on (or the call id is unknown, which
    the store refuses as an invalid decision)."""
    if call_id is not None:
        call = record.call(call_id)
        return None if call is None else decide_refusal(record, call, reviewer, verdict)
    if record.status is not ApprovalStatus.PENDING:
        return not_pending_refusal(record, None)
    for call in record.undecided_calls():
        refusal = decide_refusal(record, call, reviewer, verdict)
        if refusal is not None:
            return refusal
    return None


def _state_refusal(record: PendingApproval, call: ToolCallRecord | None) -> Refusal | None:
    if call is not None and call.decision is not None:
        return decided_refusal(record, call, call.decision)
    if record.status is not ApprovalStatus.PENDING:
        return not_pending_refusal(record, call)
    return None


_Why = tuple[RefusalKind, str, str]
"""A refusal's kind, the reviewer's reason, the store's detail."""


def _voter_refusal(
    record: PendingApproval,
    call: ToolCallRecord,
    rules: ApprovalRules,
    reviewer: Reviewer,
    reviewer_kind: ReviewerKind,
    verdict: Verdict,
) -> Refusal | None:
    name, call_id = reviewer.name, call.call_id
    why = _identity_refusal(call, rules, reviewer, reviewer_kind) or _vote_refusal(
        record, call, name, reviewer_kind, verdict
    )
    if why is None:
        return None
    kind, reason, detail = why
    return Refusal(
        kind=kind,
        reason=reason,
        detail=detail,
        approval_id=record.id,
        reviewer=name,
        call_id=call_id,
        status=ApprovalStatus.PENDING.value if kind is RefusalKind.VOTED else None,
    )


def _vote_refusal(
    record: PendingApproval,
    call: ToolCallRecord,
    name: str,
    reviewer_kind: ReviewerKind,
    verdict: Verdict,
) -> _Why | None:
    """Refused for this vote: the actor approving their own call, or a second vote."""
    if (
        verdict is Verdict.APPROVED
        and reviewer_kind is not ReviewerKind.TIMEOUT
        # Canonical names: "Alice", " alice" or a Cyrillic look-alike are still the run's actor.
        and same_identity(name, record.actor)
    ):
        return (
            RefusalKind.OWN_RUN,
            "you started this run; someone else must approve it",
            f"{name} started this run and may not approve its own call {call.call_id}; "
            "another reviewer must",
        )
    if any(same_identity(vote.reviewer, name) for vote in call.votes):
        return (
            RefusalKind.VOTED,
            "you already voted on this call",
            f"{name} already voted on call {call.call_id}",
        )
    return None


def _identity_refusal(
    call: ToolCallRecord, rules: ApprovalRules, reviewer: Reviewer, reviewer_kind: ReviewerKind
) -> _Why | None:
    """Refused for who the reviewer is, whatever the verdict: no name, or a missing role."""
    name = reviewer.name
    if not canonical_identity(name):
        # Only invisible characters: a vote nobody can be held to, and equal to any other such.
        return (
            RefusalKind.NAMELESS,
            "your name has no visible characters",
            f"the reviewer name {name!r} has no visible characters",
        )
    needed = rules.approver_roles
    listed = ", ".join(sorted(needed))
    if needed and reviewer_kind is ReviewerKind.AI and AI_ROLE not in needed:
        return (
            RefusalKind.AI_ROLE,
            f"an AI reviewer needs the role '{AI_ROLE}' in approver_roles ({listed})",
            f"{name} is an AI reviewer and tool {call.tool_name} does not list the role "
            f"'{AI_ROLE}' in approver_roles ({listed})",
        )
    if needed and reviewer_kind is ReviewerKind.HUMAN and not needed & reviewer.roles:
        return (
            RefusalKind.ROLE,
            f"needs one of the roles: {listed}",
            f"{name} holds none of the roles tool {call.tool_name} needs to decide call "
            f"{call.call_id}: {listed}",
        )
    return None


def _ai_cap_refusal(
    record: PendingApproval,
    call: ToolCallRecord,
    reviewer: Reviewer,
    reviewer_kind: ReviewerKind,
    verdict: Verdict,
    always: bool,
    edited: bool,
    edit_signal: dict[str, Any] | None = None,
) -> Refusal | None:
    if reviewer_kind is not ReviewerKind.AI or verdict is not Verdict.APPROVED:
        return None
    reason = ai_approval_refusal(call, always=always, edited=edited, edit_signal=edit_signal)
    if reason is None:
        return None
    return Refusal(
        kind=RefusalKind.AI_CAP,
        reason=reason,
        detail=f"{reviewer.name} is an AI reviewer and may not approve call {call.call_id}: "
        f"{reason}; a person must decide",
        approval_id=record.id,
        reviewer=reviewer.name,
        call_id=call.call_id,
    )


def check_voter(
    record: PendingApproval,
    call: ToolCallRecord,
    rules: ApprovalRules,
    reviewer: Reviewer,
    reviewer_kind: ReviewerKind,
    verdict: Verdict,
) -> None:
    """Raise ``NotAuthorized`` or ``ApprovalConflict`` unless this reviewer may vote here now."""
    refusal = _voter_refusal(record, call, rules, reviewer, reviewer_kind, verdict)
    if refusal is not None:
        raise refusal.error()


def check_ai_cap(
    record: PendingApproval,
    call: ToolCallRecord,
    ballot: Ballot,
    edit: dict[str, Any] | None,
    edit_signal: dict[str, Any] | None = None,
) -> None:
    """Raise ``NotAuthorized`` when an ``ai`` approval goes beyond the AI cap (an edit judged
    by ``edit_signal``, the edit checker's fresh score of it)."""
    refusal = _ai_cap_refusal(
        record,
        call,
        ballot.reviewer,
        ballot.reviewer_kind,
        ballot.verdict,
        ballot.always,
        edit is not None,
        edit_signal,
    )
    if refusal is not None:
        raise refusal.error()


# -- cancelling -------------------------------------------------------------------------------


def cancel_refusal(record: PendingApproval, reviewer: str | Reviewer) -> Refusal | None:
    """Why ``reviewer`` may not cancel ``record``, or None when they may.

    Cancelling is the fail-safe direction, like rejecting: whoever may reject every call of the
    run may cancel it, the run's actor included. Calls whose rules are malformed ask for no
    role here: nobody can decide them, and cancelling is the way out.
    """
    who = Reviewer.of(reviewer)
    if record.status not in (ApprovalStatus.PENDING, ApprovalStatus.DECIDED):
        status = record.status.value
        return Refusal(
            kind=RefusalKind.STATUS,
            reason=f"the record is {status}",
            detail=f"cannot cancel: the record is {status}",
            approval_id=record.id,
            reviewer=who.name,
            status=status,
        )
    if not canonical_identity(who.name):
        return Refusal(
            kind=RefusalKind.NAMELESS,
            reason="your name has no visible characters",
            detail=f"the reviewer name {who.name!r} has no visible characters",
            approval_id=record.id,
            reviewer=who.name,
        )
    for call in record.tool_calls:
        needed = ToolMetadata.of(call.metadata, tool_name=call.tool_name).approver_roles
        if needed and not needed & who.roles:
            listed = ", ".join(sorted(needed))
            return Refusal(
                kind=RefusalKind.ROLE,
                reason=f"{call.tool_name} needs one of the roles: {listed}",
                detail=f"{who.name} holds none of the roles tool {call.tool_name} needs "
                f"(call {call.call_id}: {listed}) and may not cancel its run",
                approval_id=record.id,
                reviewer=who.name,
                call_id=call.call_id,
            )
    return None


def check_canceller(record: PendingApproval, reviewer: str | Reviewer) -> None:
    """Raise ``NotAuthorized`` or ``ApprovalConflict`` unless ``reviewer`` may cancel now."""
    refusal = cancel_refusal(record, reviewer)
    if refusal is not None:
        raise refusal.error()


# -- what the store does with a vote ----------------------------------------------------------


def cast_votes(call: ToolCallRecord) -> list[Vote]:
    """The call's votes: cast so far on the call, kept by its decision once it is settled."""
    return call.votes or (call.decision.votes if call.decision is not None else [])


def plan_votes(
    record: PendingApproval,
    indexes: list[int],
    ballot: Ballot,
    edit: dict[str, Any] | None,
    now: datetime,
    edit_signal: dict[str, Any] | None = None,
) -> list[CallVote]:
    """What the vote does to each target call; ``edit_signal`` is the edit checker's fresh
    score of ``edit``, kept on the vote.

    Every call is checked before anything is returned, so a refusal on one call refuses all.
    """
    edit_sha = None if edit is None else arguments_digest(edit)
    plan: list[CallVote] = []
    for index in indexes:
        call = record.tool_calls[index]
        rules = rules_of(record.id, call)
        check_voter(record, call, rules, ballot.reviewer, ballot.reviewer_kind, ballot.verdict)
        check_ai_cap(record, call, ballot, edit, edit_signal)
        vote = Vote(
            reviewer=ballot.reviewer.name,
            roles=sorted(ballot.reviewer.roles),
            reviewer_kind=ballot.reviewer_kind,
            verdict=ballot.verdict,
            message=ballot.message,
            at=now,
            surface=ballot.surface,
            edited_arguments_sha256=edit_sha,
            edit_signal=None if edit is None else edit_signal,
        )
        votes, decision = tally(
            record.id, call, rules, vote, always=ballot.always, edited_arguments=edit
        )
        plan.append(CallVote(index, votes, decision, rules.min_approvals))
    return plan
