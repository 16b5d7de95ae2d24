"""Changes to a record that are neither votes nor the resume queue: withdrawing a run, and
linking it to its ``IntentPlan``. Each is one conditional update on the version read, audited.

::

    lifecycle = Lifecycle(records, expiry)
    await lifecycle.cancel(approval_id, by="alice", reason="not needed")   # pending/decided
    await lifecycle.link_plan(approval_id, plan_id)                          # once, audited
"""

from __future__ import annotations

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
from evolving_agents.errors import ApprovalConflict


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
