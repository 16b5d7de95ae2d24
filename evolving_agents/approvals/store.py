"""MongoDB store of paused runs waiting for decisions.

::

    store = PendingApprovalStore(MongoDBClient())
    page = await store.list(status="pending", limit=50)
    await store.decide(approval_id, call_id=call_id, verdict="approved", reviewer="alice")
    record = await store.claim_for_resume(approval_id, worker_id="w1", lease_seconds=300)
    await store.complete(approval_id, worker_id="w1", final_output="done")
"""

from __future__ import annotations

import asyncio
import base64
import builtins
import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from evolving_agents.approvals.errors import (
    ApprovalConflict,
    ApprovalNotFound,
    InvalidDecision,
)
from evolving_agents.approvals.models import (
    ApprovalStatus,
    AuditEntry,
    PendingApproval,
    ReviewerKind,
    ToolDecision,
    Verdict,
    bson_ready,
    utcnow,
)

if TYPE_CHECKING:
    from evolving_agents.core.mongodb_client import MongoDBClient

logger = logging.getLogger(__name__)

COLLECTION_NAME = "eat_openai_pending_approvals"
_NO_STATE = {"state": 0}
# Optimistic retries for decide(): each retry means another reviewer's vote landed first.
_DECIDE_ATTEMPTS = 16


class ApprovalPage(BaseModel):
    """One page of ``list``; pass ``next_cursor`` back to get the next one."""

    items: list[PendingApproval]
    next_cursor: str | None = None


class PendingApprovalStore:
    """The ``eat_openai_pending_approvals`` collection: one document per paused run.

    Layout: see ``PendingApproval``; dates are BSON dates, ``state`` is the signed blob from
    ``codec.py`` and is only written by ``create``.

    Concurrency: every status transition is one conditional update on the current status (and,
    for decisions, the record's ``version``), so two reviewers deciding the same call, or two
    workers claiming the same run, can never both win; the loser gets ``ApprovalConflict``.
    Safe across tasks, processes and machines sharing the database.
    """

    def __init__(
        self,
        client: MongoDBClient,
        *,
        collection_name: str = COLLECTION_NAME,
        purge_after: timedelta = timedelta(days=30),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._client = client
        self._collection_name = collection_name
        self._purge_after = purge_after
        self._clock = clock
        self._indexes_ready = False
        self._index_lock = asyncio.Lock()

    @property
    def collection(self) -> Any:
        return self._client.collection(self._collection_name)

    async def ensure_indexes(self) -> None:
        """Create the indexes once per store; ``create_index`` is idempotent server-side too."""
        if self._indexes_ready:
            return
        async with self._index_lock:
            if self._indexes_ready:
                return
            collection = self.collection
            await collection.create_index(
                [("status", ASCENDING), ("created_at", ASCENDING), ("_id", ASCENDING)],
                name="status_created",
            )
            await collection.create_index(
                [("run_id", ASCENDING), ("sequence", ASCENDING)], name="run_sequence", unique=True
            )
            await collection.create_index(
                [("tool_calls.tool_name", ASCENDING), ("status", ASCENDING)], name="tool_status"
            )
            await collection.create_index(
                [("agent_name", ASCENDING), ("status", ASCENDING)], name="agent_status"
            )
            await collection.create_index(
                [("expires_at", ASCENDING)],
                name="pending_expiry",
                partialFilterExpression={"status": ApprovalStatus.PENDING.value},
            )
            await collection.create_index([("claim.lease_until", ASCENDING)], name="claim_lease")
            # TTL only on purge_at, which is set when a record is finished: live state never
            # expires behind a reviewer's back.
            await collection.create_index(
                [("purge_at", ASCENDING)], name="purge_ttl", expireAfterSeconds=0
            )
            self._indexes_ready = True

    # -- reads ---------------------------------------------------------------------------

    async def get(self, approval_id: str, *, include_state: bool = False) -> PendingApproval:
        projection = None if include_state else _NO_STATE
        document = await self.collection.find_one({"_id": approval_id}, projection)
        if document is None:
            raise ApprovalNotFound(approval_id)
        return PendingApproval.model_validate(document)

    async def list(
        self,
        *,
        status: ApprovalStatus | str | None = None,
        agent_name: str | None = None,
        tool_name: str | None = None,
        run_id: str | None = None,
        newest_first: bool = False,
        limit: int = 50,
        cursor: str | None = None,
    ) -> ApprovalPage:
        """Records in creation order (oldest first unless ``newest_first``), ``limit`` a page."""
        if limit < 1 or limit > 1000:
            raise ValueError(f"limit must be between 1 and 1000, got {limit}")
        query: dict[str, Any] = {}
        if status is not None:
            query["status"] = ApprovalStatus(status).value
        if agent_name is not None:
            query["agent_name"] = agent_name
        if tool_name is not None:
            query["tool_calls.tool_name"] = tool_name
        if run_id is not None:
            query["run_id"] = run_id
        if cursor is not None:
            after_created, after_id = _decode_cursor(cursor)
            op = "$lt" if newest_first else "$gt"
            query["$or"] = [
                {"created_at": {op: after_created}},
                {"created_at": after_created, "_id": {op: after_id}},
            ]
        direction = DESCENDING if newest_first else ASCENDING
        documents = (
            await self.collection.find(query, _NO_STATE)
            .sort([("created_at", direction), ("_id", direction)])
            .limit(limit + 1)
            .to_list(None)
        )
        items = [PendingApproval.model_validate(doc) for doc in documents[:limit]]
        next_cursor = None
        if len(documents) > limit:
            last = items[-1]
            next_cursor = _encode_cursor(last.created_at, last.id)
        return ApprovalPage(items=items, next_cursor=next_cursor)

    async def run_history(self, run_id: str) -> builtins.list[PendingApproval]:
        """Every record of one run, in sequence order."""
        documents = (
            await self.collection.find({"run_id": run_id}, _NO_STATE)
            .sort([("run_id", ASCENDING), ("sequence", ASCENDING)])
            .to_list(None)
        )
        return [PendingApproval.model_validate(doc) for doc in documents]

    # -- transitions ---------------------------------------------------------------------

    async def create(self, record: PendingApproval) -> PendingApproval:
        """Insert a new paused run; its ``(run_id, sequence)`` must be new."""
        await self.ensure_indexes()
        if record.status is not ApprovalStatus.PENDING:
            raise ApprovalConflict(record.id, "a new record must be pending", status=record.status)
        if not record.tool_calls:
            raise InvalidDecision(record.id, "a pending approval needs at least one tool call")
        audit = AuditEntry(
            at=record.created_at,
            action="created",
            actor=record.actor,
            detail={"calls": [call.call_id for call in record.tool_calls]},
        )
        record = record.model_copy(update={"audit": [*record.audit, audit]})
        try:
            await self.collection.insert_one(record.to_document())
        except DuplicateKeyError as exc:
            raise ApprovalConflict(
                record.id,
                f"run {record.run_id} already has a record with sequence {record.sequence}",
            ) from exc
        return record

    async def decide(
        self,
        approval_id: str,
        *,
        call_id: str | None = None,
        verdict: Verdict | str,
        reviewer: str,
        reviewer_kind: ReviewerKind | str = ReviewerKind.HUMAN,
        message: str | None = None,
        always: bool = False,
        arguments_sha256: str | None = None,
    ) -> PendingApproval:
        """Record a decision on one call, or on every undecided call when ``call_id`` is None.

        When the last call gets its decision the record becomes ``decided`` in the same update.
        ``arguments_sha256``, when given, must match the call's: the reviewer approves exactly
        the arguments they were shown. Raises ``ApprovalConflict`` if the call (or the record)
        was decided first by someone else.
        """
        decision = _make_decision(
            approval_id, verdict, reviewer, reviewer_kind, message, always, at=self._clock()
        )
        for _ in range(_DECIDE_ATTEMPTS):
            record = await self.get(approval_id)
            indexes = _decision_targets(record, call_id, arguments_sha256)
            update = self._decision_update(record, indexes, decision)
            query: dict[str, Any] = {
                "_id": approval_id,
                "status": ApprovalStatus.PENDING.value,
                "version": record.version,
            }
            query.update({f"tool_calls.{index}.decision": None for index in indexes})
            document = await self.collection.find_one_and_update(
                query, update, projection=_NO_STATE, return_document=ReturnDocument.AFTER
            )
            if document is not None:
                return PendingApproval.model_validate(document)
            # Someone else's update landed between our read and write; read again and re-check.
        raise ApprovalConflict(approval_id, "too many concurrent decisions; try again")

    def _decision_update(
        self, record: PendingApproval, indexes: builtins.list[int], decision: ToolDecision
    ) -> dict[str, Any]:
        stored = bson_ready(decision.model_dump(mode="python"))
        now = decision.at
        sets: dict[str, Any] = {f"tool_calls.{index}.decision": stored for index in indexes}
        sets["updated_at"] = now
        if len(record.undecided_calls()) == len(indexes):
            sets["status"] = ApprovalStatus.DECIDED.value
        audit = [
            bson_ready(
                AuditEntry(
                    at=now,
                    action=f"decision.{decision.verdict.value}",
                    actor=decision.reviewer,
                    call_id=record.tool_calls[index].call_id,
                    detail={
                        "reviewer_kind": decision.reviewer_kind.value,
                        "message": decision.message,
                        "arguments_sha256": record.tool_calls[index].arguments_sha256,
                    },
                ).model_dump(mode="python")
            )
            for index in indexes
        ]
        return {"$set": sets, "$inc": {"version": 1}, "$push": {"audit": {"$each": audit}}}

    async def claim_for_resume(
        self, approval_id: str, worker_id: str, lease_seconds: float
    ) -> PendingApproval:
        """Take a decided record for resuming: ``decided`` -> ``resuming`` with a lease.

        A ``resuming`` record whose lease ran out (its worker died) can be claimed again; the
        attempt count only grows. Returns the record with its state.
        """
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        now = self._clock()
        query = {
            "_id": approval_id,
            "$or": [
                {"status": ApprovalStatus.DECIDED.value},
                {"status": ApprovalStatus.RESUMING.value, "claim.lease_until": {"$lt": now}},
            ],
        }
        update = {
            "$set": {
                "status": ApprovalStatus.RESUMING.value,
                "claim.worker_id": worker_id,
                "claim.lease_until": now + timedelta(seconds=lease_seconds),
                "updated_at": now,
            },
            "$inc": {"claim.attempts": 1, "version": 1},
            "$push": {"audit": _audit(now, "claimed", worker_id)},
        }
        document = await self.collection.find_one_and_update(
            query, update, return_document=ReturnDocument.AFTER
        )
        if document is None:
            raise await self._claim_conflict(approval_id)
        return PendingApproval.model_validate(document)

    async def _claim_conflict(self, approval_id: str) -> ApprovalConflict:
        record = await self.get(approval_id)
        status = record.status
        if status is ApprovalStatus.PENDING:
            waiting = len(record.undecided_calls())
            reason = f"not decided yet: {waiting} call(s) still await a decision"
        elif status is ApprovalStatus.RESUMING:
            reason = (
                f"already claimed by worker {record.claim.worker_id} "
                f"until {record.claim.lease_until:%Y-%m-%d %H:%M:%S}Z"
            )
        else:
            reason = f"cannot resume: the record is {status.value}"
        return ApprovalConflict(approval_id, reason, status=status.value)

    async def renew_lease(self, approval_id: str, worker_id: str, lease_seconds: float) -> None:
        """Extend the lease of a run this worker is resuming."""
        now = self._clock()
        result = await self.collection.update_one(
            self._held_by(approval_id, worker_id),
            {"$set": {"claim.lease_until": now + timedelta(seconds=lease_seconds)}},
        )
        if result.matched_count == 0:
            raise ApprovalConflict(approval_id, f"worker {worker_id} no longer holds the lease")

    async def release(self, approval_id: str, worker_id: str, reason: str) -> PendingApproval:
        """Give a claimed record back (``resuming`` -> ``decided``) without running it."""
        now = self._clock()
        return await self._finish_transition(
            approval_id,
            worker_id,
            {
                "status": ApprovalStatus.DECIDED.value,
                "claim.worker_id": None,
                "claim.lease_until": None,
                "updated_at": now,
            },
            _audit(now, "released", worker_id, reason=reason),
        )

    async def complete(
        self,
        approval_id: str,
        worker_id: str,
        *,
        final_output: Any = None,
        next_approval_id: str | None = None,
    ) -> PendingApproval:
        """The resumed run ended (or paused again into ``next_approval_id``): ``completed``."""
        now = self._clock()
        return await self._finish_transition(
            approval_id,
            worker_id,
            {
                "status": ApprovalStatus.COMPLETED.value,
                "result.final_output": final_output,
                "next_approval_id": next_approval_id,
                "updated_at": now,
                "purge_at": now + self._purge_after,
            },
            _audit(now, "completed", worker_id, next_approval_id=next_approval_id),
        )

    async def fail(self, approval_id: str, worker_id: str, error: str) -> PendingApproval:
        """The resumed run raised: ``failed`` with the error kept for the reviewer."""
        now = self._clock()
        return await self._finish_transition(
            approval_id,
            worker_id,
            {
                "status": ApprovalStatus.FAILED.value,
                "result.error": error,
                "updated_at": now,
                "purge_at": now + self._purge_after,
            },
            _audit(now, "failed", worker_id, error=error),
        )

    async def cancel(
        self, approval_id: str, *, by: str | None = None, reason: str | None = None
    ) -> PendingApproval:
        """Withdraw a run that has not started resuming: pending or decided -> cancelled."""
        now = self._clock()
        document = await self.collection.find_one_and_update(
            {
                "_id": approval_id,
                "status": {"$in": [ApprovalStatus.PENDING.value, ApprovalStatus.DECIDED.value]},
            },
            {
                "$set": {
                    "status": ApprovalStatus.CANCELLED.value,
                    "result.error": reason,
                    "updated_at": now,
                    "purge_at": now + self._purge_after,
                },
                "$inc": {"version": 1},
                "$push": {"audit": _audit(now, "cancelled", by, reason=reason)},
            },
            projection=_NO_STATE,
            return_document=ReturnDocument.AFTER,
        )
        if document is None:
            record = await self.get(approval_id)
            raise ApprovalConflict(
                approval_id,
                f"cannot cancel: the record is {record.status.value}",
                status=record.status.value,
            )
        return PendingApproval.model_validate(document)

    async def _finish_transition(
        self,
        approval_id: str,
        worker_id: str,
        sets: Mapping[str, Any],
        audit: dict[str, Any],
    ) -> PendingApproval:
        document = await self.collection.find_one_and_update(
            self._held_by(approval_id, worker_id),
            {"$set": dict(sets), "$inc": {"version": 1}, "$push": {"audit": audit}},
            projection=_NO_STATE,
            return_document=ReturnDocument.AFTER,
        )
        if document is None:
            record = await self.get(approval_id)
            raise ApprovalConflict(
                approval_id,
                f"worker {worker_id} does not hold this record "
                f"(status {record.status.value}, held by {record.claim.worker_id})",
                status=record.status.value,
            )
        return PendingApproval.model_validate(document)

    @staticmethod
    def _held_by(approval_id: str, worker_id: str) -> dict[str, Any]:
        return {
            "_id": approval_id,
            "status": ApprovalStatus.RESUMING.value,
            "claim.worker_id": worker_id,
        }


def _make_decision(
    approval_id: str,
    verdict: Verdict | str,
    reviewer: str,
    reviewer_kind: ReviewerKind | str,
    message: str | None,
    always: bool,
    *,
    at: datetime,
) -> ToolDecision:
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
    if not reviewer or not reviewer.strip():
        raise InvalidDecision(approval_id, "a decision needs the reviewer's name")
    return ToolDecision(
        verdict=verdict,
        reviewer=reviewer,
        reviewer_kind=reviewer_kind,
        message=message,
        always=always,
        at=at,
    )


def _decision_targets(
    record: PendingApproval, call_id: str | None, arguments_sha256: str | None
) -> list[int]:
    """Indexes of the calls a decision applies to, after checking it may apply at all."""
    if record.status is not ApprovalStatus.PENDING:
        if call_id is not None and (call := record.call(call_id)) is not None and call.decision:
            raise _already_decided(record.id, call_id, call.decision)
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
            raise _already_decided(record.id, call_id, call.decision)
        if arguments_sha256 is not None and arguments_sha256 != call.arguments_sha256:
            raise InvalidDecision(
                record.id, f"call {call_id}: the arguments shown differ from the stored ones"
            )
        return [index]
    known = ", ".join(call.call_id for call in record.tool_calls)
    raise InvalidDecision(record.id, f"no call {call_id!r} in this record (calls: {known})")


def _already_decided(approval_id: str, call_id: str, decision: ToolDecision) -> ApprovalConflict:
    return ApprovalConflict(
        approval_id,
        f"call {call_id} was already {decision.verdict.value} by {decision.reviewer}",
        status=ApprovalStatus.PENDING.value,
    )


def _audit(at: datetime, action: str, actor: str | None, **detail: Any) -> dict[str, Any]:
    entry = AuditEntry(at=at, action=action, actor=actor, detail=detail)
    document: dict[str, Any] = bson_ready(entry.model_dump(mode="python"))
    return document


def _encode_cursor(created_at: datetime, approval_id: str) -> str:
    payload = json.dumps([created_at.isoformat(), approval_id]).encode("utf-8")
    return base64.urlsafe_b64encode(payload).decode("ascii")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created, approval_id = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
        return datetime.fromisoformat(created), str(approval_id)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"invalid list cursor {cursor!r}") from exc
