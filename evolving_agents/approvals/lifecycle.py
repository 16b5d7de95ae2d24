"""Changes to a record that are neither votes nor the resume queue: withdrawing a run,
linking it to its ``IntentPlan``, and the notices the escalation scheduler records. Each is
one conditional update on the version read, audited.

::

    lifecycle = Lifecycle(records, expiry)
    await lifecycle.cancel(approval_id, by="alice", reason="not needed")   # pending/decided
    await lifecycle.link_plan(approval_id, plan_id)                          # once, audited
    async for record in lifecycle.awaiting_notice(Notice.ESCALATED, created_before=cutoff):
        await lifecycle.add_notice(record.id, Notice.ESCALATED, detail_for)  # once, audited
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from pymongo import ASCENDING

from evolving_agents.approvals.expiry import Expiry
from evolving_agents.approvals.models import ApprovalStatus, PendingApproval
from evolving_agents.approvals.records import (
    NO_STATE,
    WRITE_ATTEMPTS,
    ApprovalRecords,
    audit,
    driver_errors,
)
from evolving_agents.approvals.rules import Reviewer, check_canceller
from evolving_agents.errors import ApprovalConflict, ApprovalNotFound, UnreadableRecord


class Notice(StrEnum):
    """Audit actions that tell people about a pending record, each written once per record."""

    ESCALATED = "escalated"
    """No decision landed within the route's delay: a second channel or role is told."""
    DEADLINE_WARNING = "deadline_warning"
    """The first undecided call's deadline is near."""


NoticeDetail = Callable[[PendingApproval], Mapping[str, Any] | None]
"""The detail of a notice, computed from the record as it is read just before the write;
None: the record no longer calls for it (a vote landed, the deadline moved)."""


class Lifecycle:
    """Cancels and plan links on the records of ``records``."""

    def __init__(self, records: ApprovalRecords, expiry: Expiry) -> None:
        self._records = records
        self._expiry = expiry

    async def cancel(
        self, approval_id: str, *, by: str | Reviewer | None = None, reason: str | None = None
    ) -> PendingApproval:
        """Withdraw a run that has not started resuming: pending or decided -> cancelled."""
        records = self._records
        with driver_errors("cancel", approval_id):
            now = records.clock()
            record = await self._expiry.load(approval_id)
            if isinstance(by, Reviewer):
                # A reviewer cancels under the same rules every surface shows; the roles a
                # tool asks for never change on a record, and the update below is conditional
                # on the status and version read here.
                check_canceller(record, by)
                by = by.name
            document = None
            if record.status in (ApprovalStatus.PENDING, ApprovalStatus.DECIDED):
                update = {
                    "$set": {
                        "status": ApprovalStatus.CANCELLED.value,
                        "result.error": reason,
                        **records.finished_at(now),
                    },
                    "$inc": {"version": 1},
                    "$push": {"audit": audit(now, "cancelled", by, reason=reason)},
                }
                document = await records.update_then_read(
                    {"_id": approval_id, "status": record.status.value, "version": record.version},
                    records.sealed(record, update),
                    projection=NO_STATE,
                    before=record,
                )
            if document is None:
                record = await self._expiry.load(approval_id)
                raise ApprovalConflict(
                    approval_id,
                    f"cannot cancel: the record is {record.status.value}",
                    status=record.status.value,
                )
            return records.written(document)

    async def link_plan(
        self, approval_id: str, plan_id: str, *, by: str | None = None
    ) -> PendingApproval:
        """Link the record to its ``IntentPlan``, once: one conditional update (no plan linked
        yet), audited. ``ApprovalConflict`` when another plan was linked first (the record
        then names the winner in ``plan_id``)."""
        records = self._records
        with driver_errors("link_plan", approval_id):
            for _ in range(WRITE_ATTEMPTS):
                record = await self._expiry.load(approval_id)
                if record.plan_id is not None:
                    break
                now = records.clock()
                update = {
                    "$set": {"plan_id": plan_id, "updated_at": now},
                    "$inc": {"version": 1},
                    "$push": {"audit": audit(now, "plan_linked", by, plan_id=plan_id)},
                }
                document = await records.update_then_read(
                    {"_id": approval_id, "plan_id": None, "version": record.version},
                    records.sealed(record, update),
                    projection=NO_STATE,
                    before=record,
                )
                if document is not None:
                    return records.written(document)
            record = await self._expiry.load(approval_id)
            raise ApprovalConflict(
                approval_id,
                f"already linked to plan {record.plan_id}"
                if record.plan_id is not None
                else "changed while a plan was being linked; try again",
                status=record.status.value,
            )

    # -- notices (the escalation scheduler's) ---------------------------------------------

    async def awaiting_notice(
        self,
        notice: Notice,
        *,
        created_before: datetime | None = None,
        deadline_before: datetime | None = None,
    ) -> AsyncIterator[PendingApproval]:
        """Pending records without a ``notice`` entry yet: created at or before
        ``created_before`` (oldest first, on ``status_created``), or whose next deadline is at
        or before ``deadline_before`` (soonest first, on ``pending_expiry``); exactly one of
        the two. Overdue ones are expired first and left out; unreadable ones are skipped
        (logged once). Every match is yielded, not a page: a record that is not due yet for
        its own route must not hide one behind it that is."""
        if (created_before is None) == (deadline_before is None):
            raise ValueError("give exactly one of created_before, deadline_before")
        query: dict[str, Any] = {
            "status": ApprovalStatus.PENDING.value,
            "audit.action": {"$ne": notice.value},
        }
        if created_before is not None:
            query["created_at"] = {"$lte": created_before}
            order = [("created_at", ASCENDING), ("_id", ASCENDING)]
        else:
            query["expires_at"] = {"$lte": deadline_before}
            order = [("expires_at", ASCENDING), ("_id", ASCENDING)]
        records = self._records
        with driver_errors("awaiting_notice", None):
            now = records.clock()
            async for document in records.collection.find(query, NO_STATE).sort(order):
                try:
                    record = await self._expiry.current(document, now)
                except (UnreadableRecord, ApprovalNotFound):
                    continue  # unreadable: logged once by ApprovalRecords.parse
                if record.status is ApprovalStatus.PENDING:
                    yield record

    async def add_notice(
        self,
        approval_id: str,
        notice: Notice,
        detail_for: NoticeDetail,
        *,
        by: str | None = None,
        now: datetime | None = None,
    ) -> PendingApproval | None:
        """Record ``notice`` on a pending record once: one conditional update (still pending,
        no such entry yet, the version read), audited. Returns the record as written, or None
        when it was not written: the record already has one (another scheduler won), is no
        longer pending, or ``detail_for`` says it no longer calls for it."""
        records = self._records
        with driver_errors("add_notice", approval_id):
            for _ in range(WRITE_ATTEMPTS):
                record = await self._expiry.load(approval_id)
                if record.status is not ApprovalStatus.PENDING or any(
                    entry.action == notice.value for entry in record.audit
                ):
                    return None
                detail = detail_for(record)
                if detail is None:
                    return None
                at = now or records.clock()
                update = {
                    "$set": {"updated_at": at},
                    "$inc": {"version": 1},
                    "$push": {"audit": audit(at, notice.value, by, **dict(detail))},
                }
                document = await records.update_then_read(
                    {
                        "_id": approval_id,
                        "status": ApprovalStatus.PENDING.value,
                        "version": record.version,
                        # Once per record even against a writer that read an older version.
                        "audit.action": {"$ne": notice.value},
                    },
                    records.sealed(record, update),
                    projection=NO_STATE,
                    before=record,
                )
                if document is not None:
                    return records.written(document)
            raise ApprovalConflict(
                approval_id,
                f"too many concurrent changes while recording {notice.value}",
                status=record.status.value,
            )
