"""Votes landing on a record: the I/O of ``PendingApprovalStore.decide``.

::

    votes = Votes(records, expiry, edit_checker)
    record = await votes.cast(approval_id, ballot, call_id=None, arguments_sha256=None, edit=None)

Who may vote and how votes settle a call is decided in ``rules.py`` (``plan_votes``); this
module reads the record, checks its seals, and writes the plan with one conditional update on
the record's version and the targeted calls still undecided. A lost race re-reads and
re-checks everything, so two reviewers voting at once can never both settle a call.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from evolving_agents.approvals import observe
from evolving_agents.approvals.expiry import Expiry, is_overdue
from evolving_agents.approvals.models import (
    ApprovalStatus,
    PendingApproval,
    ToolCallRecord,
    Verdict,
    arguments_digest,
)
from evolving_agents.approvals.records import (
    NO_STATE,
    WRITE_ATTEMPTS,
    ApprovalRecords,
    as_bson,
    audit,
    handed_on,
    holds_state,
    unchanged_since,
)
from evolving_agents.approvals.rules import (
    Ballot,
    CallVote,
    EditChecker,
    check_voter,
    decision_targets,
    plan_votes,
    rules_of,
)
from evolving_agents.errors import ApprovalConflict, StateIntegrityError
from evolving_agents.telemetry import traces

# Set on a pending record paused under a partial-resume policy once one of its calls is
# decided: the worker then resumes what is decided, and the rest pause again.
PARTIAL_READY = "partial_ready"


class Votes:
    """Casts ballots on the records of ``records``."""

    def __init__(
        self, records: ApprovalRecords, expiry: Expiry, edit_checker: EditChecker | None
    ) -> None:
        self._records = records
        self._expiry = expiry
        self._edit_checker = edit_checker

    async def cast(
        self,
        approval_id: str,
        ballot: Ballot,
        *,
        call_id: str | None,
        arguments_sha256: str | None,
        edit: dict[str, Any] | None,
        known: PendingApproval | None = None,
    ) -> PendingApproval:
        """The record with ``ballot`` landed on its call (or every undecided call); the first
        attempt on ``known`` when it can stand for the stored record (``current_known``)."""
        records = self._records
        checker = self._edit_checker
        edit_accepted = False
        edit_signal: dict[str, Any] | None = None
        started = traces.now_ns()
        record = current_known(known, approval_id, records.clock())
        for _ in range(WRITE_ATTEMPTS):
            if record is None:
                record = await self._expiry.load(approval_id)
            # A vote on an altered record would lend a reviewer's name to what they never saw.
            check_intact(records, record)
            indexes = decision_targets(record, call_id, arguments_sha256)
            if edit is not None and arguments_digest(edit) == (
                record.tool_calls[indexes[0]].arguments_sha256
            ):
                # "Edited" to exactly what the model asked for: a plain approval.
                edit = None
            now = records.clock()
            if edit is not None and checker is not None and not edit_accepted:
                # Checked after the voter rules, so a refused reviewer learns nothing about
                # the checker; before the AI cap, which judges an AI's edit by the checker's
                # fresh score; once, since neither the call nor the edit changes.
                check_voters(record, indexes, ballot)
                edit_signal = await checker(record, record.tool_calls[indexes[0]], dict(edit))
                edit_accepted = True
            plan = plan_votes(record, indexes, ballot, edit, now, edit_signal)
            update = vote_update(record, records.seal_plan(record, plan), ballot, edit, now)
            document = await records.update_then_read(
                unchanged_since(record, indexes),
                records.sealed(record, update),
                projection=None if holds_state(record) else NO_STATE,
                before=record,
            )
            if document is not None:
                written = records.written(document)
                observe.votes_landed(record, plan, ballot, started)
                return written
            # Someone else's update landed between our read and write; read again and
            # re-check everything (the call may be decided, the reviewer may have voted).
            record = None
        raise ApprovalConflict(approval_id, "too many concurrent decisions; try again")


def current_known(
    known: PendingApproval | None, approval_id: str, now: datetime
) -> PendingApproval | None:
    """``known``, if a vote may be tried on it without reading: the same record, pending, and
    with no call past its deadline (a read expires those first, and so must this vote)."""
    known = handed_on(known, approval_id)
    if known is None or known.status is not ApprovalStatus.PENDING or is_overdue(known, now):
        return None
    return known


def check_voters(record: PendingApproval, indexes: Sequence[int], ballot: Ballot) -> None:
    """Raise unless ``ballot``'s reviewer may vote on every target call (the AI cap aside)."""
    for index in indexes:
        call = record.tool_calls[index]
        rules = rules_of(record.id, call)
        check_voter(record, call, rules, ballot.reviewer, ballot.reviewer_kind, ballot.verdict)


def check_intact(records: ApprovalRecords, record: PendingApproval) -> None:
    """Raise ``StateIntegrityError`` naming what was altered, unless ``record`` is intact."""
    problems = records.signer.verify(record)
    if problems:
        raise StateIntegrityError(
            record.id, "the record was altered outside the app: " + "; ".join(problems)
        )


def vote_update(
    record: PendingApproval,
    plan: Sequence[CallVote],
    ballot: Ballot,
    edit: dict[str, Any] | None,
    now: datetime,
) -> dict[str, Any]:
    """The update that writes ``plan``'s votes and decisions, with one audit entry per call."""
    sets: dict[str, Any] = {"updated_at": now}
    entries = []
    settled = 0
    for index, votes, decision, quorum in plan:
        sets[f"tool_calls.{index}.votes"] = [as_bson(vote) for vote in votes]
        if decision is not None:
            sets[f"tool_calls.{index}.decision"] = as_bson(decision)
            settled += 1
        approvals = len({v.reviewer for v in votes if v.verdict is Verdict.APPROVED})
        call = record.tool_calls[index]
        entries.append(
            _vote_entry(
                call,
                ballot,
                edit,
                now,
                decided=decision is not None,
                approvals=approvals,
                quorum=quorum,
            )
        )
    if len(record.undecided_calls()) == settled:
        sets["status"] = ApprovalStatus.DECIDED.value
    elif settled and record.run_options.partial_resume:
        # Paused under a partial-resume policy: a worker may resume it now (see claim_partial).
        sets[PARTIAL_READY] = True
    return {"$set": sets, "$inc": {"version": 1}, "$push": {"audit": {"$each": entries}}}


def _vote_entry(
    call: ToolCallRecord,
    ballot: Ballot,
    edit: dict[str, Any] | None,
    now: datetime,
    *,
    decided: bool,
    approvals: int,
    quorum: int,
) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "reviewer_kind": ballot.reviewer_kind.value,
        "roles": sorted(ballot.reviewer.roles),
        "surface": ballot.surface,
        "message": ballot.message,
        "arguments_sha256": call.arguments_sha256,
        "approvals": approvals,
        "min_approvals": quorum,
    }
    if ballot.always:
        # Sticky: the run applies this verdict to every later call of the tool unasked.
        detail["sticky"] = True
    if edit is not None:
        detail.update(
            arguments=call.arguments,
            edited_arguments=edit,
            edited_arguments_sha256=arguments_digest(edit),
        )
    # "decision.*" when this vote settled the call, "vote.*" when it awaits more approvals.
    action = "decision" if decided else "vote"
    return audit(
        now,
        f"{action}.{ballot.verdict.value}",
        ballot.reviewer.name,
        call_id=call.call_id,
        **detail,
    )
