"""A new record as ``PendingApprovalStore.create`` writes it: deadlines, first audit entry,
seals, checked against what MongoDB would refuse.

::

    record = prepared_record(record, signer, approval_timeout=timedelta(hours=24))
    await collection.insert_one(record.to_document())      # what create does next
"""

from __future__ import annotations

from datetime import datetime, timedelta

from evolving_agents.approvals.documents import check_writable
from evolving_agents.approvals.models import AuditEntry, PendingApproval
from evolving_agents.approvals.records import as_bson, bson_ms, earliest
from evolving_agents.approvals.rules import rules_of
from evolving_agents.approvals.seals import RecordSigner


def prepared_record(
    record: PendingApproval, signer: RecordSigner, approval_timeout: timedelta | None
) -> PendingApproval:
    """``record`` with its deadlines, its first audit entry and its seals; checked first."""
    record = with_deadlines(record, approval_timeout)
    # Checked as it will be written (seals and the first audit entry add a few hundred
    # bytes): the driver would refuse it only after the run paused, and it would be lost.
    check_writable(record, record.to_document())
    created = AuditEntry(
        at=record.created_at,
        action="created",
        actor=record.actor,
        detail={"calls": [call.call_id for call in record.tool_calls]},
    )
    entries, sealed = signer.chain(
        record.id,
        None,
        record.status.value,
        [*(as_bson(entry) for entry in record.audit), as_bson(created)],
    )
    record = record.model_copy(
        update={"audit": [AuditEntry.model_validate(entry) for entry in entries], **sealed}
    )
    # Votes carried from the run's previous record (a partial resume, verified there) are
    # sealed for this one; the record seal then covers every call as created.
    calls = [
        call.model_copy(
            update={
                "votes": [
                    vote.model_copy(update={"seal": signer.seal_vote(record.id, call, vote)})
                    for vote in call.votes
                ]
            }
        )
        for call in record.tool_calls
    ]
    record = record.model_copy(update={"tool_calls": calls})
    return record.model_copy(update={"seal": signer.seal_record(record)})


def with_deadlines(record: PendingApproval, approval_timeout: timedelta | None) -> PendingApproval:
    """Each call's deadline (its tool's ``expires_in``, else the record's cap, else
    ``approval_timeout``) and the record's: the earliest of its calls'."""
    cap = record.expires_at
    calls = []
    for call in record.tool_calls:
        rules = rules_of(record.id, call)
        if call.expires_at is not None:
            own: datetime | None = call.expires_at
        elif rules.expires_in == "never":
            own = None
        elif rules.expires_in is not None:
            own = record.created_at + rules.expires_in
        elif cap is not None:
            own = cap
        elif approval_timeout is not None:
            own = record.created_at + approval_timeout
        else:
            own = None
        deadline = earliest(own, cap)
        calls.append(call.model_copy(update={"expires_at": bson_ms(deadline)}))
    return record.model_copy(
        update={"tool_calls": calls, "expires_at": earliest(*(c.expires_at for c in calls))}
    )
