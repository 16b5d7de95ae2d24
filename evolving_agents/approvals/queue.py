"""The resume queue: claiming decided runs, keeping their leases, and finishing them.

::

    queue = store.queue
    ids = await queue.ready(limit=32, excluded=running)        # decided (or partial_ready)
    lapsed = await queue.abandoned(limit=8, excluded=running)  # resuming, lease ran out
    record = await queue.claim_for_resume(approval_id, "w1", lease_seconds=300)
    await queue.renew_lease(approval_id, "w1", 300)
    await queue.complete(approval_id, "w1", final_output="done")   # or fail / release

Concurrency: a claim is one conditional update on the status and ``version`` read, so of two
workers claiming a record one wins, the other gets ``ApprovalConflict``. Renewals and finishes
are conditional on the record still ``resuming`` and held by the same worker: a worker whose
lease was taken over can never finish the run. The worker loop asks only these queries.

Size: about 450 lines, over the ~400 mark: ``MongoResumeQueue`` is every conditional update
and query a claim, a lease and a finish make, kept in one class so each guarantee's filter
can be read beside the others it must agree with (the lease arithmetic is in ``lease.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING

from evolving_agents.approvals import observe
from evolving_agents.approvals.expiry import Expiry
from evolving_agents.approvals.models import (
    ApprovalStatus,
    CallOutcome,
    PendingApproval,
    StoredState,
    utcnow,
)
from evolving_agents.approvals.protocols import Ready
from evolving_agents.approvals.records import (
    NO_STATE,
    ApprovalRecords,
    as_bson,
    audit,
    driver_errors,
    ids,
)
from evolving_agents.approvals.store_votes import PARTIAL_READY, check_intact
from evolving_agents.errors import ApprovalConflict, StateIntegrityError, UnreadableRecord
from evolving_agents.storage.changes import ChangeFeed

# The change-stream filter of new work: a record became decided (a last decision, an expiry,
# a release), or partial_ready, or was inserted. Claims, renewals and completions are noise.
WAKE_PIPELINE: list[dict[str, Any]] = [
    {
        "$match": {
            "$or": [
                {"operationType": {"$in": ["insert", "replace"]}},
                {
                    "operationType": "update",
                    "updateDescription.updatedFields.status": ApprovalStatus.DECIDED.value,
                },
                {
                    "operationType": "update",
                    f"updateDescription.updatedFields.{PARTIAL_READY}": True,
                },
            ]
        }
    }
]


_STATUS_CREATED_ORDER = [("status", ASCENDING), ("created_at", ASCENDING), ("_id", ASCENDING)]
_CREATED_ORDER = [("created_at", ASCENDING), ("_id", ASCENDING)]


class MongoResumeQueue:
    """The ``ResumeQueue`` (``protocols.py``) of the MongoDB approvals collection."""

    def __init__(self, records: ApprovalRecords, expiry: Expiry) -> None:
        self._records = records
        self._expiry = expiry

    @property
    def unreadable_seen(self) -> dict[str, str]:
        return self._records.unreadable.seen  # as PendingApprovalStore.unreadable_seen

    # -- what the worker asks ------------------------------------------------------------

    async def ready(self, limit: int, *, excluded: Sequence[str] = ()) -> list[str]:
        """Ids of decided records, then pending ones a partial-resume policy lets run now,
        oldest first within each, at most ``limit`` of each beside ``excluded``."""
        # Each query, and its sort, as an index orders it: status_created behind the status
        # equality for decided ones, the partial_ready index (only those records) for the rest.
        # Neither reaches a finished record. Both at once: a wake-up waits for one round trip.
        collection, most = self._records.collection, limit + len(excluded)
        decided, partial = await asyncio.gather(
            ids(
                collection.find({"status": ApprovalStatus.DECIDED.value}, {"_id": 1})
                .sort(_STATUS_CREATED_ORDER)
                .limit(most)
            ),
            ids(
                collection.find(
                    {"status": ApprovalStatus.PENDING.value, PARTIAL_READY: True}, {"_id": 1}
                )
                .sort(_CREATED_ORDER)
                .limit(most)
            ),
        )
        return _without([*decided, *partial], excluded)

    async def abandoned(self, limit: int, *, excluded: Sequence[str] = ()) -> list[str]:
        """Ids of ``resuming`` records whose lease ran out: their worker died or lost the
        database. The ids in ``excluded`` are filtered here, not in the query: a planner may
        turn an ``_id`` condition beside ``status`` into a collection scan.

        The claim_lease index holds only ``resuming`` records, so the range on the lease never
        reaches a finished record (those older releases finished keep their last lease). No
        hint: SecantusDB answers a hinted find by reading every entry of the index named,
        which made this query read the whole collection (1.4 s at 20,000 records, polled by
        every worker).
        """
        cursor = (
            self._records.collection.find(
                {"status": ApprovalStatus.RESUMING.value, "claim.lease_until": {"$lt": utcnow()}},
                {"_id": 1},
            )
            .sort([("claim.lease_until", ASCENDING)])
            .limit(limit + len(excluded))
        )
        return _without(await ids(cursor), excluded)

    async def still_ready(self, approval_id: str) -> Ready | None:
        """The record, if it is still decided (or partial_ready), else None: a point read by
        ``_id`` alone (some servers plan ``_id`` plus another field as a scan), far cheaper
        than a claim that loses. A decided record is read whole, with its state, and handed
        to the resume (``Ready.known``), which then need not read it again."""
        found = await self._records.find(approval_id, None)
        if found is None:
            return None
        status = found.get("status")
        if status == ApprovalStatus.DECIDED.value:
            try:
                return Ready(approval_id, self._records.parse(found))
            except UnreadableRecord:
                return Ready(approval_id, None)  # the resume reads it, and refuses it typed
        if status == ApprovalStatus.PENDING.value and found.get(PARTIAL_READY) is True:
            return Ready(approval_id, None)
        return None

    async def expire_overdue(self, *, limit: int = 100) -> list[str]:
        """The expiry sweep (``PendingApprovalStore.expire_overdue``)."""
        with driver_errors("expire_overdue", None):
            return await self._expiry.expire_overdue(limit=limit)

    def wakeups(
        self,
        *,
        label: str,
        enabled: bool,
        retry_seconds: float,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> ChangeFeed:
        """Wake-ups when new work may be there (``WAKE_PIPELINE``); polling where none."""
        return ChangeFeed(
            self._records.collection,
            label=label,
            pipeline=WAKE_PIPELINE,
            enabled=enabled,
            retry_seconds=retry_seconds,
            give_up_when_refused=True,
            max_await_time_ms=1000,
            on_error=on_error,
        )

    # -- claiming ------------------------------------------------------------------------

    async def claim_for_resume(
        self,
        approval_id: str,
        worker_id: str,
        lease_seconds: float,
        *,
        known: PendingApproval | None = None,
    ) -> PendingApproval:
        """Take a decided record for resuming: ``decided`` -> ``resuming`` with a lease.

        A ``resuming`` record whose lease ran out (its worker died) can be claimed again; the
        attempt count only grows. Returns the record with its state. ``known``: the record as
        the caller just read it (saves a read); the claim then only lands if it is unchanged.
        """
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        records = self._records
        with driver_errors("claim_for_resume", approval_id):
            now = records.clock()
            record = await self._expiry.load(approval_id) if known is None else known
            lapsed = (
                record.status is ApprovalStatus.RESUMING
                and record.claim.lease_until is not None
                and record.claim.lease_until < now
            )
            if record.status is not ApprovalStatus.DECIDED and not lapsed:
                raise await self._claim_conflict(approval_id)
            # The version pins the record as read: its status, its lease, its chain head.
            pinned: dict[str, Any] = {
                "_id": approval_id,
                "status": record.status.value,
                "version": record.version,
            }
            if known is not None and known.state is not None:
                # And the blob the caller verified, by its name: only create writes state, so
                # a different one is a raw write that bypassed the version (never claimed).
                pinned["state.sha256"] = known.state.sha256
                pinned["state.hmac"] = known.state.hmac
            document = await records.update_then_read(
                pinned,
                records.sealed(record, _claim_update(now, worker_id, lease_seconds)),
                before=record,
            )
            if document is None:
                raise await self._claim_conflict(approval_id, known=known)
            claimed = records.written(document)
            observe.claim_landed(record, kind="takeover" if lapsed else "decided", now=now)
            return claimed

    async def claim_partial(
        self, approval_id: str, worker_id: str, lease_seconds: float
    ) -> PendingApproval:
        """Take a record for a partial resume: ``pending`` with at least one call decided (or
        ``decided``) -> ``resuming``. The calls still undecided pause again in the run's next
        record. A vote racing the claim either lands first (and is in the claimed record) or
        gets ``ApprovalConflict``; it is never lost silently.
        """
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        records = self._records
        with driver_errors("claim_partial", approval_id):
            record = await self._expiry.load(approval_id)
            if record.status is not ApprovalStatus.PENDING:
                return await self.claim_for_resume(approval_id, worker_id, lease_seconds)
            undecided = [call.call_id for call in record.undecided_calls()]
            if len(undecided) == len(record.tool_calls):
                raise ApprovalConflict(
                    approval_id,
                    "not decided yet: no call has a decision to resume with",
                    status=record.status.value,
                )
            now = records.clock()
            check_intact(records, record)
            claim = _claim_update(now, worker_id, lease_seconds, partial=True, undecided=undecided)
            document = await records.update_then_read(
                {"_id": approval_id, "status": record.status.value, "version": record.version},
                records.sealed(record, claim),
                before=record,
            )
            if document is None:
                raise ApprovalConflict(
                    approval_id, "changed while being claimed (a vote landed); try again"
                )
            claimed = records.written(document)
            observe.claim_landed(record, kind="partial", now=now)
            return claimed

    async def _claim_conflict(
        self, approval_id: str, *, known: PendingApproval | None = None
    ) -> ApprovalConflict | StateIntegrityError:
        record = await self._expiry.load(approval_id)
        status = record.status
        if (
            known is not None
            and known.state is not None
            and record.version == known.version
            and status is known.status
            and not _names_same_blob(record.state, known.state)
        ):
            # Nothing else changed, yet the claim missed: the blob itself was swapped.
            return StateIntegrityError(
                approval_id, "the run state changed between its check and the claim"
            )
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

    async def renew_lease(self, approval_id: str, worker_id: str, lease_seconds: float) -> datetime:
        """Extend the lease of a run this worker is resuming; returns the new ``lease_until``.

        ``ApprovalConflict`` when the record is no longer this worker's (another worker took
        it over after the lease lapsed, or it ended); ``ApprovalStoreError`` when the database
        failed, after PyMongo's one retry. A lease that lapsed but was not taken over is
        renewed: nobody else holds it, and the claim and this update are both conditional on
        the one document, so they cannot both win. Retrying within the lease is the caller's
        (``approvals/lease.py``), which knows how long the lease still holds.
        """
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        with driver_errors("renew_lease", approval_id):
            lease_until = self._records.clock() + timedelta(seconds=lease_seconds)
            result = await self._records.collection.update_one(
                _held_by(approval_id, worker_id),
                {"$set": {"claim.lease_until": lease_until}},
            )
        if result.matched_count == 0:
            raise ApprovalConflict(approval_id, f"worker {worker_id} no longer holds the lease")
        return lease_until

    # -- finishing -----------------------------------------------------------------------

    async def release(
        self,
        approval_id: str,
        worker_id: str,
        reason: str,
        *,
        known: PendingApproval | None = None,
    ) -> PendingApproval:
        """Give a claimed record back (``resuming`` -> ``decided``) without running it."""
        now = self._records.clock()
        sets = {
            "status": ApprovalStatus.DECIDED.value,
            "claim.worker_id": None,
            "claim.lease_until": None,
            "updated_at": now,
        }
        entry = audit(now, "released", worker_id, reason=reason)
        return await self._finish("release", approval_id, worker_id, sets, entry, known)

    async def complete(
        self,
        approval_id: str,
        worker_id: str,
        *,
        final_output: Any = None,
        next_approval_id: str | None = None,
        outcomes: Mapping[int, CallOutcome] | None = None,
        known: PendingApproval | None = None,
    ) -> PendingApproval:
        """The resumed run ended (or paused again into ``next_approval_id``): ``completed``.

        ``outcomes``: call index -> what that call did, kept on the call
        (``tool_calls.N.outcome``) in the same update. ``known``: the record as claimed
        (saves a read).
        """
        now = self._records.clock()
        outcomes = outcomes or {}
        sets = {
            "status": ApprovalStatus.COMPLETED.value,
            # Nobody holds a finished run (renewals move the lease without a new version, so
            # a finished record never keeps a stale one either).
            "claim.lease_until": None,
            "result.final_output": final_output,
            "next_approval_id": next_approval_id,
            **_outcome_sets(outcomes),
            **self._records.finished_at(now),
        }
        entry = audit(
            now,
            "completed",
            worker_id,
            next_approval_id=next_approval_id,
            outcomes=_outcome_statuses(outcomes),
        )
        return await self._finish("complete", approval_id, worker_id, sets, entry, known)

    async def fail(
        self,
        approval_id: str,
        worker_id: str,
        error: str,
        *,
        known: PendingApproval | None = None,
        outcomes: Mapping[int, CallOutcome] | None = None,
    ) -> PendingApproval:
        """The resumed run raised: ``failed`` with the error kept for the reviewer, and what
        each call did before it stopped (``outcomes``, call index -> outcome), if known."""
        now = self._records.clock()
        outcomes = outcomes or {}
        sets = {
            "status": ApprovalStatus.FAILED.value,
            "claim.lease_until": None,
            "result.error": error,
            **_outcome_sets(outcomes),
            **self._records.finished_at(now),
        }
        entry = audit(now, "failed", worker_id, error=error, outcomes=_outcome_statuses(outcomes))
        return await self._finish("fail", approval_id, worker_id, sets, entry, known)

    async def _finish(
        self,
        operation: str,
        approval_id: str,
        worker_id: str,
        sets: Mapping[str, Any],
        entry: dict[str, Any],
        known: PendingApproval | None,
    ) -> PendingApproval:
        records = self._records
        with driver_errors(operation, approval_id):
            for attempt in range(2):
                record = known if known is not None and not attempt else None
                if record is None:
                    record = await self._expiry.load(approval_id)
                document = None
                if record.status is ApprovalStatus.RESUMING and record.claim.worker_id == worker_id:
                    update = {"$set": dict(sets), "$inc": {"version": 1}, "$push": {"audit": entry}}
                    document = await records.update_then_read(
                        {**_held_by(approval_id, worker_id), "version": record.version},
                        records.sealed(record, update),
                        projection=NO_STATE,
                        before=record,
                    )
                if document is not None:
                    return records.written(document)
                if known is None:
                    break  # read just now: the refusal below is about this very record
            record = await self._expiry.load(approval_id)
            raise ApprovalConflict(
                approval_id,
                f"worker {worker_id} does not hold this record "
                f"(status {record.status.value}, held by {record.claim.worker_id})",
                status=record.status.value,
            )


def _claim_update(
    now: datetime, worker_id: str, lease_seconds: float, **detail: Any
) -> dict[str, Any]:
    return {
        "$set": {
            "status": ApprovalStatus.RESUMING.value,
            "claim.worker_id": worker_id,
            "claim.lease_until": now + timedelta(seconds=lease_seconds),
            "updated_at": now,
        },
        "$inc": {"claim.attempts": 1, "version": 1},
        "$push": {"audit": audit(now, "claimed", worker_id, **detail)},
    }


def _held_by(approval_id: str, worker_id: str) -> dict[str, Any]:
    resuming = ApprovalStatus.RESUMING.value
    return {"_id": approval_id, "status": resuming, "claim.worker_id": worker_id}


def _outcome_sets(outcomes: Mapping[int, CallOutcome]) -> dict[str, Any]:
    return {f"tool_calls.{index}.outcome": as_bson(outcome) for index, outcome in outcomes.items()}


def _outcome_statuses(outcomes: Mapping[int, CallOutcome]) -> dict[str, str]:
    return {str(index): outcome.status.value for index, outcome in outcomes.items()}


def _without(found: list[str], excluded: Sequence[str]) -> list[str]:
    skip = set(excluded)
    return [approval_id for approval_id in found if approval_id not in skip]


def _names_same_blob(stored: StoredState | None, verified: StoredState) -> bool:
    """Whether a stored state is the verified blob: its digest and signature are its name."""
    return stored is not None and (stored.sha256, stored.hmac) == (verified.sha256, verified.hmac)
