"""Deadlines: overdue undecided calls become timeout rejections, before anyone reads them.

::

    expiry = Expiry(records)
    record = await expiry.load(approval_id)        # expired first if it is overdue
    record, count = await expiry.expire(approval_id, now, NO_STATE)
    ids = await expiry.expire_overdue(limit=100)   # the worker's sweep, oldest deadline first

Each expiry is one conditional update on the record's version with every overdue call
undecided, so an expiry racing a vote either lands first or re-reads; a call is never both
approved and timed out. ``PendingApprovalStore`` delegates ``expire`` and ``expire_overdue``
here; its reads call ``load`` and ``current``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pymongo import ASCENDING

from evolving_agents.approvals import observe
from evolving_agents.approvals.models import (
    ApprovalStatus,
    PendingApproval,
    ReviewerKind,
    ToolDecision,
    Verdict,
    format_duration,
)
from evolving_agents.approvals.records import (
    NO_STATE,
    WRITE_ATTEMPTS,
    ApprovalRecords,
    as_bson,
    audit,
    earliest,
    ids,
    unchanged_since,
)
from evolving_agents.errors import ApprovalConflict, ApprovalNotFound, UnreadableRecord
from evolving_agents.telemetry import traces

logger = logging.getLogger(__name__)

TIMEOUT_REVIEWER = "eat-timeout"
# Overdue records a list() expires before answering; the worker's sweep handles the rest.
EXPIRE_ON_READ = 1000
EXPIRY_CHANGES = (ApprovalStatus.PENDING.value, ApprovalStatus.DECIDED.value)


class Expiry:
    """Expires overdue calls of the records in ``records``; ``records.clock`` is "now"."""

    def __init__(self, records: ApprovalRecords) -> None:
        self._records = records

    async def load(self, approval_id: str, *, include_state: bool = False) -> PendingApproval:
        """One record, a pending one past its deadline expired first; ``ApprovalNotFound``."""
        projection = None if include_state else NO_STATE
        document = await self._records.find(approval_id, projection)
        if document is None:
            raise ApprovalNotFound(approval_id)
        record = self._records.parse(document)
        now = self._records.clock()
        if is_overdue(record, now):
            record, _ = await self.expire(approval_id, now, projection)
        return record

    async def current(self, document: Mapping[str, Any], now: datetime) -> PendingApproval:
        """A listed record, expired first if it became overdue since the list's own sweep."""
        record = self._records.parse(document)
        if is_overdue(record, now):
            record, _ = await self.expire(record.id, now, NO_STATE)
        return record

    async def expire_overdue(self, *, limit: int) -> list[str]:
        """Expire up to ``limit`` pending records past their deadline; their ids, oldest first.

        Records another writer settles meanwhile, and unreadable ones, are skipped.
        """
        now = self._records.clock()
        seen = len(self._records.unreadable.seen)
        overdue = await ids(
            self._records.collection.find(
                {"status": ApprovalStatus.PENDING.value, "expires_at": {"$lte": now}},
                {"_id": 1},
            )
            .sort([("expires_at", ASCENDING)])
            .limit(limit + seen)
        )
        expired: list[str] = []
        for approval_id in overdue:
            if len(expired) == limit:
                break
            try:
                _, count = await self.expire(approval_id, now, NO_STATE)
            except (ApprovalNotFound, ApprovalConflict) as exc:
                logger.info("expiry of %s skipped: %s", approval_id, exc)
                continue
            except UnreadableRecord:
                continue  # logged once by ApprovalRecords.parse
            if count:
                expired.append(approval_id)
        return expired

    async def expire_matching(self, query: Mapping[str, Any], now: datetime) -> None:
        """Expire the overdue pending records among those ``query`` (a list's) matches."""
        # The status first: a planner that serves one clause of several from an index
        # (SecantusDB takes the first it can) then reads pending records, never finished ones.
        overdue_query = {
            "status": ApprovalStatus.PENDING.value,
            "expires_at": {"$lte": now},
            **{field: value for field, value in query.items() if field != "status"},
        }
        found = self._records.collection.find(overdue_query, {"_id": 1}).limit(EXPIRE_ON_READ)
        for approval_id in await ids(found):
            # An unreadable record is reported by the page itself, where it would be listed.
            with contextlib.suppress(ApprovalNotFound, UnreadableRecord):
                await self.expire(approval_id, now, NO_STATE)

    async def expire(
        self, approval_id: str, now: datetime, projection: Mapping[str, Any] | None
    ) -> tuple[PendingApproval, int]:
        """The record after expiring what is overdue at ``now``, and how many calls expired."""
        records = self._records
        started = traces.now_ns()
        for _ in range(WRITE_ATTEMPTS):
            document = await records.find(approval_id, projection)
            if document is None:
                raise ApprovalNotFound(approval_id)
            record = records.parse(document)
            if record.status is not ApprovalStatus.PENDING:
                return record, 0
            overdue = record.overdue_calls(now)
            update = self._update(record, overdue, now)
            if update is None:
                return record, 0
            document = await records.update_then_read(
                unchanged_since(record, overdue),
                records.sealed(record, update),
                projection=projection,
                before=record,
            )
            if document is not None:
                written = records.written(document)
                if overdue:
                    logger.info("approval %s: %d call(s) expired", approval_id, len(overdue))
                    observe.expiry_landed(record, _timeouts(written, overdue), started)
                return written, len(overdue)
        raise ApprovalConflict(approval_id, "too many concurrent changes while expiring")

    def _update(
        self, record: PendingApproval, overdue: list[int], now: datetime
    ) -> dict[str, Any] | None:
        """Sealed timeout rejections for ``overdue`` and the next deadline; None: a no-op."""
        sets: dict[str, Any] = {}
        entries = []
        for index in overdue:
            decision, entry = _timeout(record, index, now)
            call = record.tool_calls[index]
            seal = self._records.signer.seal_decision(record.id, call, decision)
            sets[f"tool_calls.{index}.decision"] = {**as_bson(decision), "seal": seal}
            entries.append(entry)
        sets.update(_next_deadline(record, overdue))
        if not sets:
            return None
        sets["updated_at"] = now
        update: dict[str, Any] = {"$set": sets, "$inc": {"version": 1}}
        if entries:
            update["$push"] = {"audit": {"$each": entries}}
        return update


def _timeout(
    record: PendingApproval, index: int, now: datetime
) -> tuple[ToolDecision, dict[str, Any]]:
    """The timeout rejection of one overdue call, and its audit entry."""
    call = record.tool_calls[index]
    deadline = record.call_deadline(call)
    assert deadline is not None  # overdue_calls only returns calls with a deadline
    window = format_duration(deadline - record.created_at)
    decision = ToolDecision(
        verdict=Verdict.REJECTED,
        reviewer=TIMEOUT_REVIEWER,
        reviewer_kind=ReviewerKind.TIMEOUT,
        message=f"Not approved within {window}; do not retry without a new request.",
        at=now,
        surface="expiry",
        votes=call.votes,
    )
    entry = audit(
        now,
        "decision.rejected",
        TIMEOUT_REVIEWER,
        call_id=call.call_id,
        reviewer_kind=ReviewerKind.TIMEOUT.value,
        surface="expiry",
        message=decision.message,
        arguments_sha256=call.arguments_sha256,
        deadline=deadline,
        votes=len(call.votes),
    )
    return decision, entry


def _timeouts(written: PendingApproval, overdue: list[int]) -> list[tuple[int, ToolDecision]]:
    """The timeout rejections ``written`` now holds for the ``overdue`` calls."""
    decided = []
    for index in overdue:
        decision = written.tool_calls[index].decision
        if decision is not None:
            decided.append((index, decision))
    return decided


def _next_deadline(record: PendingApproval, overdue: list[int]) -> dict[str, Any]:
    """``decided`` when nothing is left waiting, else the sweep's key moved to the next deadline."""
    waiting = [
        call
        for index, call in enumerate(record.tool_calls)
        if call.decision is None and index not in overdue
    ]
    if not waiting:
        return {"status": ApprovalStatus.DECIDED.value}
    # The record's expires_at is the sweep's key: the next deadline still ahead.
    next_deadline = earliest(*(record.call_deadline(call) for call in waiting))
    if next_deadline != record.expires_at:
        return {"expires_at": next_deadline}
    return {}


def is_overdue(record: PendingApproval, now: datetime) -> bool:
    if record.status is not ApprovalStatus.PENDING:
        return False
    if record.expires_at is not None and record.expires_at <= now:
        return True
    return bool(record.overdue_calls(now))
