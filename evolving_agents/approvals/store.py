"""MongoDB store of paused runs waiting for decisions.

::

    store = PendingApprovalStore(MongoDBClient())
    page = await store.list(status="pending", limit=50)
    alice = Reviewer(name="alice", roles=frozenset({"sre"}))
    await store.decide(approval_id, call_id=call_id, verdict="approved", reviewer=alice)
    record = await store.claim_for_resume(approval_id, worker_id="w1", lease_seconds=300)
    await store.complete(approval_id, worker_id="w1", final_output="done")
    await store.expire_overdue()              # the worker's sweep: timed-out calls -> rejected

This module reads, creates and cancels records; the rest is split by responsibility and
delegated to: ``store_votes.py`` (votes), ``expiry.py`` (deadlines), ``queue.py`` (claims,
leases, finishing, the worker's queries), all on the one handle of ``records.py``. Who may
vote and how votes settle a call is in ``rules.py``. Nothing outside ``approvals/`` writes
this collection; ``protocols.py`` says what a second backend would implement.

Size: about 490 lines, over the ~400 mark on purpose: this class is the store's whole public
surface, and each method is a thin delegation that keeps the documentation its callers read.

Record schema (``record_schema``; ``version`` is the optimistic-lock counter, not this):

- Every record is written with ``record_schema = RECORD_SCHEMA`` (1 in this release). A
  document without the field is schema 1, this release's format, and reads as it is.
- A record of a newer schema than this release knows was written by a newer release: it is
  refused with ``NewerRecordSchema`` (an ``UnreadableRecord`` naming both versions), so lists,
  histories and the worker skip it, log it once and show it as unreadable, and nothing ever
  writes to it. Upgrade the package to read it.
- A record of an older schema is upgraded on read, in memory (``documents.UPGRADES``); the
  stored document keeps its old form until its next transition, which writes it in the new
  one. There is no migration job: a record nobody touches again is read as before.
- A change that old releases could not read raises ``RECORD_SCHEMA``; adding an optional
  field they ignore does not.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from evolving_agents.approvals.changes import ApprovalChanges
from evolving_agents.approvals.codec import StateCodec
from evolving_agents.approvals.creation import prepared_record
from evolving_agents.approvals.expiry import TIMEOUT_REVIEWER, Expiry
from evolving_agents.approvals.lifecycle import Lifecycle, Notice, NoticeDetail
from evolving_agents.approvals.models import (
    ApprovalStatus,
    CallOutcome,
    PendingApproval,
    ReviewerKind,
    Verdict,
    parse_duration,
    utcnow,
)
from evolving_agents.approvals.queue import MongoResumeQueue
from evolving_agents.approvals.reads import ApprovalPage, Reads
from evolving_agents.approvals.records import (
    NO_STATE,
    ApprovalRecords,
    Document,
    driver_errors,
)
from evolving_agents.approvals.rules import Ballot, EditChecker, Reviewer, normalise_edit
from evolving_agents.approvals.seals import RecordSigner
from evolving_agents.approvals.store_votes import PARTIAL_READY, Votes, check_intact
from evolving_agents.errors import ApprovalConflict, InvalidDecision
from evolving_agents.storage.names import APPROVALS
from evolving_agents.telemetry import metrics

if TYPE_CHECKING:
    from evolving_agents.approvals.protocols import ApprovalStore, ResumeQueue
    from evolving_agents.storage.mongodb_client import MongoDBClient

    # mypy --strict checks here that the MongoDB classes are the protocols' shapes.
    def _is_an_approval_store(store: PendingApprovalStore) -> ApprovalStore:
        return store

    def _is_a_resume_queue(queue: MongoResumeQueue) -> ResumeQueue:
        return queue


COLLECTION_NAME = APPROVALS
__all__ = [
    "COLLECTION_NAME",
    "PARTIAL_READY",
    "TIMEOUT_REVIEWER",
    "ApprovalPage",
    "Notice",
    "PendingApprovalStore",
]


class PendingApprovalStore:
    """The ``eat_openai_pending_approvals`` collection: one document per paused run.

    Layout: see ``PendingApproval``; dates are BSON dates, ``state`` is the signed blob from
    ``codec.py`` and is only written by ``create``.

    Concurrency: every transition is one conditional update on the current status (and, for
    votes and expiry, the record's ``version``), so two reviewers voting on the same call, or
    two workers claiming the same run, can never both win; the loser gets ``ApprovalConflict``.
    Safe across tasks, processes and machines sharing the database. Driver failures surface
    as ``ApprovalStoreError`` after PyMongo's own single retry of retryable writes and reads.

    Expiry: each call gets a deadline at ``create`` (its tool's ``expires_in``, else
    ``approval_timeout``, else the client's settings' ``approval_timeout``); ``expire`` turns
    overdue undecided calls into timeout rejections, and every read does so first, so no
    reader sees a pending call past its deadline. ``clock`` is the one source of "now".

    ``edit_checker`` validates approvals with edited arguments (``OpenAIAgentsProvider`` passes
    one that checks the tool's schema and policy); without it such approvals are refused.

    Integrity: ``create`` seals the record, every vote and decision is sealed as it lands, and
    every transition extends the audit trail's keyed hash chain and seals the new status
    (``seals.py``, with ``signer``, by default the one of the client's settings'
    ``EAT_STATE_SECRET``). A vote on a record whose seals do not verify is refused with
    ``StateIntegrityError``; ``integrity_problems`` says what was altered.
    """

    def __init__(
        self,
        client: MongoDBClient,
        *,
        collection_name: str = COLLECTION_NAME,
        purge_after: timedelta = timedelta(days=30),
        clock: Callable[[], datetime] = utcnow,
        approval_timeout: timedelta | str | None = None,
        edit_checker: EditChecker | None = None,
        signer: RecordSigner | None = None,
    ) -> None:
        self._client = client
        settings = client.settings
        if signer is None:
            # Seals bind what reviewers read and what decides a resume to the app's key.
            signer = StateCodec.from_settings(settings).signer
        if approval_timeout is None:
            self._approval_timeout = settings.approval_timeout
        else:
            self._approval_timeout = parse_duration(approval_timeout)
        self._records = ApprovalRecords(
            client, collection_name, signer=signer, clock=clock, purge_after=purge_after
        )
        self._clock = clock
        self._edit_checker = edit_checker
        self._expiry = Expiry(self._records)
        self._votes = Votes(self._records, self._expiry, edit_checker)
        self._queue = MongoResumeQueue(self._records, self._expiry)
        self._reads = Reads(self._records, self._expiry)
        self._lifecycle = Lifecycle(self._records, self._expiry)
        self._indexes_ready = False
        self._index_lock = asyncio.Lock()

    @property
    def _collection(self) -> AsyncCollection[Document]:
        """The raw collection. For tests (which write documents behind the store's back) and
        this package's ``approvals/`` modules only: nothing else writes approval records."""
        return self._records.collection

    @property
    def client(self) -> MongoDBClient:
        """The database client this store is on (its settings are the store's)."""
        return self._client

    @property
    def queue(self) -> MongoResumeQueue:
        """Claims, leases, finishing, and the queries a worker asks (``ResumeQueue``)."""
        return self._queue

    @property
    def changes(self) -> ApprovalChanges:
        """Read-only: what changed since a moment, and wake-ups (what ``ApprovalFeed`` uses)."""
        return ApprovalChanges(lambda: self._records.collection)

    @property
    def unreadable_seen(self) -> dict[str, str]:
        """Approval id -> what does not parse, for each unreadable record this store met.

        Lists, histories and the expiry sweep skip such records (logging each once); ``get``
        raises ``UnreadableRecord`` for them.
        """
        return self._records.unreadable.seen

    def integrity_problems(self, record: PendingApproval) -> builtins.list[str]:
        """What in ``record`` was changed behind the store's back (empty when intact)."""
        return self._records.signer.verify(record)

    def check_integrity(self, record: PendingApproval) -> None:
        """Raise ``StateIntegrityError`` naming what was altered, unless ``record`` is intact."""
        check_intact(self._records, record)

    @property
    def approval_timeout(self) -> timedelta | None:
        """How long a call may wait for a decision when its tool says nothing; None: forever."""
        return self._approval_timeout

    async def ensure_indexes(self) -> None:
        """Create the indexes once per store; ``create_index`` is idempotent server-side too."""
        with driver_errors("ensure_indexes", None):
            await self._ensure_indexes()

    async def _ensure_indexes(self) -> None:
        if self._indexes_ready:
            return
        async with self._index_lock:
            if not self._indexes_ready:
                await self._records.create_indexes()
                self._indexes_ready = True

    # -- reads ---------------------------------------------------------------------------------

    async def get(self, approval_id: str, *, include_state: bool = False) -> PendingApproval:
        """One record; a pending one past its deadline is expired first.

        Raises ``ApprovalNotFound``, or ``UnreadableRecord`` naming the fields of a stored
        document that do not parse (``NewerRecordSchema`` for a newer release's record).
        """
        with driver_errors("get", approval_id):
            return await self._expiry.load(approval_id, include_state=include_state)

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
        """Records in creation order (oldest first unless ``newest_first``), ``limit`` a page.

        Overdue pending records among those asked for are expired before the page is read.
        Documents that do not parse are left out of ``items`` and listed in ``unreadable``
        (each logged once); a ``cursor`` that is not one this method made is a ``ValueError``.
        """
        return await self._reads.list(
            status=status,
            agent_name=agent_name,
            tool_name=tool_name,
            run_id=run_id,
            newest_first=newest_first,
            limit=limit,
            cursor=cursor,
        )

    async def ids_starting_with(self, prefix: str, *, limit: int = 100) -> builtins.list[str]:
        """Up to ``limit`` approval ids beginning with ``prefix``, sorted: one query on the
        ``_id`` index, reading ids only (what ``eat approvals show apr_9f3`` resolves with)."""
        return await self._reads.ids_starting_with(prefix, limit=limit)

    async def run_history(self, run_id: str) -> builtins.list[PendingApproval]:
        """Every record of one run, in sequence order (unreadable ones left out)."""
        return await self._reads.run_history(run_id)

    async def pending_call_counts(self) -> dict[tuple[str, str], int]:
        """Calls still waiting for a decision, by (agent, tool): what the pending gauge shows."""
        return await self._reads.pending_call_counts()

    # -- creating ------------------------------------------------------------------------------

    async def create(self, record: PendingApproval) -> PendingApproval:
        """Insert a new paused run; its ``(run_id, sequence)`` must be new.

        Each call gets its deadline here (see the class docstring); a caller-set
        ``record.expires_at`` caps every call's, and the record's ``expires_at`` becomes the
        earliest deadline of its calls. Malformed approval rules in a tool's metadata
        (``approver_roles``, ``min_approvals``, ``expires_in``) are refused. So is, before
        anything is written, a record MongoDB would refuse: ``RecordTooLarge`` over
        ``MAX_RECORD_BYTES`` as BSON, ``UnstorableToolCall`` for arguments BSON cannot hold
        (a key with a NUL byte, an integer beyond 64 bits, ...), naming the call.
        """
        if record.status is not ApprovalStatus.PENDING:
            raise ApprovalConflict(record.id, "a new record must be pending", status=record.status)
        if not record.tool_calls:
            raise InvalidDecision(record.id, "a pending approval needs at least one tool call")
        record = self.prepared(record)
        with driver_errors("create", record.id):
            await self._ensure_indexes()
            document = record.to_document()
            try:
                await self._records.collection.insert_one(document)
            except DuplicateKeyError as exc:
                raise ApprovalConflict(
                    record.id,
                    f"run {record.run_id} already has a record with sequence {record.sequence}",
                ) from exc
        metrics.record_pause(agent=record.agent_name)
        return self._records.inserted(record, document)

    def prepared(self, record: PendingApproval) -> PendingApproval:
        """``record`` as ``create`` writes it: deadlines, first audit entry, seals; checked.

        For bulk loads (benchmarks, migrations by the app) that insert documents themselves.
        """
        return prepared_record(record, self._records.signer, self._approval_timeout)

    # -- votes, expiry ---------------------------------------------------------------------------

    async def decide(
        self,
        approval_id: str,
        *,
        call_id: str | None = None,
        verdict: Verdict | str,
        reviewer: str | Reviewer,
        reviewer_kind: ReviewerKind | str = ReviewerKind.HUMAN,
        message: str | None = None,
        always: bool = False,
        arguments_sha256: str | None = None,
        edited_arguments: dict[str, Any] | None = None,
        surface: str = "api",
        known: PendingApproval | None = None,
    ) -> PendingApproval:
        """Cast a vote on one call, or on every undecided call when ``call_id`` is None.

        A rejection decides the call at once; an approval decides it when the tool's
        ``min_approvals`` distinct reviewers approved. When the last call gets its decision the
        record becomes ``decided`` in the same update. ``arguments_sha256``, when given, must
        match the call's: the reviewer approves exactly the arguments they were shown.
        ``edited_arguments`` (an approval of one call only) replace the call's arguments for
        the run once the store's ``edit_checker`` accepts them. With ``call_id=None`` every
        call must accept the vote, or none is recorded.

        ``known``: the record as the caller holds it (what ``create``, ``get`` or an earlier
        ``decide`` returned, e.g. ``AgentRunResult.record``): the vote is checked against it
        and lands only if the stored record is still that one, which saves a read; if it is
        not, the record is read again and everything re-checked. A ``known`` record with its
        state is returned with it, ready for ``resume_agent(known=...)``.

        Raises ``NotAuthorized`` (a missing role, the run's actor approving its own call),
        ``ApprovalConflict`` (decided first by someone else, or this reviewer already voted),
        ``InvalidDecision`` (a malformed decision or a refused edit); nothing is written then.
        """
        with driver_errors("decide", approval_id):
            ballot = Ballot.make(
                approval_id, verdict, reviewer, reviewer_kind, message, always, surface
            )
            edit = None
            if edited_arguments is not None:
                edit = normalise_edit(
                    approval_id, ballot, call_id, edited_arguments, self._edit_checker
                )
            return await self._votes.cast(
                approval_id,
                ballot,
                call_id=call_id,
                arguments_sha256=arguments_sha256,
                edit=edit,
                known=known,
            )

    async def expire(self, approval_id: str, *, now: datetime | None = None) -> PendingApproval:
        """Reject every undecided call past its deadline, as ``eat-timeout``, in one update.

        The record becomes ``decided`` when no call is left undecided. A record that is not
        pending, or has nothing overdue, is returned as it is.
        """
        with driver_errors("expire", approval_id):
            record, _ = await self._expiry.expire(approval_id, now or self._clock(), NO_STATE)
            return record

    async def expire_overdue(self, *, limit: int = 100) -> builtins.list[str]:
        """Expire up to ``limit`` pending records past their deadline; their ids, oldest first.

        The query runs on the ``pending_expiry`` partial index. Records another writer settles
        during the sweep are skipped, and so are records that do not parse (``unreadable_seen``):
        they never stop the sweep, nor take the places of readable ones in it.
        """
        return await self._queue.expire_overdue(limit=limit)

    # -- the resume queue: each method is MongoResumeQueue's, documented there ------------------

    async def claim_for_resume(
        self,
        approval_id: str,
        worker_id: str,
        lease_seconds: float,
        *,
        known: PendingApproval | None = None,
    ) -> PendingApproval:
        """``decided`` (or ``resuming`` with a lapsed lease) -> ``resuming``, with a lease."""
        return await self._queue.claim_for_resume(
            approval_id, worker_id, lease_seconds, known=known
        )

    async def claim_partial(
        self, approval_id: str, worker_id: str, lease_seconds: float
    ) -> PendingApproval:
        """``pending`` with a call decided (or ``decided``) -> ``resuming``, with a lease."""
        return await self._queue.claim_partial(approval_id, worker_id, lease_seconds)

    async def renew_lease(self, approval_id: str, worker_id: str, lease_seconds: float) -> datetime:
        """Extend the lease of a run this worker holds; returns the new ``lease_until``."""
        return await self._queue.renew_lease(approval_id, worker_id, lease_seconds)

    async def release(
        self,
        approval_id: str,
        worker_id: str,
        reason: str,
        *,
        known: PendingApproval | None = None,
    ) -> PendingApproval:
        """Give a claimed record back (``resuming`` -> ``decided``) without running it."""
        return await self._queue.release(approval_id, worker_id, reason, known=known)

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
        """The resumed run ended (or paused again into ``next_approval_id``): ``completed``."""
        return await self._queue.complete(
            approval_id,
            worker_id,
            final_output=final_output,
            next_approval_id=next_approval_id,
            outcomes=outcomes,
            known=known,
        )

    async def fail(
        self,
        approval_id: str,
        worker_id: str,
        error: str,
        *,
        known: PendingApproval | None = None,
        outcomes: Mapping[int, CallOutcome] | None = None,
    ) -> PendingApproval:
        """The resumed run raised: ``failed``, with the error and what each call did."""
        return await self._queue.fail(approval_id, worker_id, error, known=known, outcomes=outcomes)

    # -- withdrawing, linking (lifecycle.py) -----------------------------------------------------

    async def cancel(
        self, approval_id: str, *, by: str | Reviewer | None = None, reason: str | None = None
    ) -> PendingApproval:
        """Withdraw a run that has not started resuming: pending or decided -> cancelled.

        ``by`` a ``Reviewer``: cancelled only if the rules let them (``rules.cancel_refusal``:
        ``NotAuthorized`` otherwise); a plain name is the trusted program or operator calling,
        recorded as given.
        """
        return await self._lifecycle.cancel(approval_id, by=by, reason=reason)

    async def link_plan(
        self, approval_id: str, plan_id: str, *, by: str | None = None
    ) -> PendingApproval:
        """Link the record to its ``IntentPlan``, once: one conditional update (no plan linked
        yet), audited. ``ApprovalConflict`` when another plan was linked first (the record
        then names the winner in ``plan_id``)."""
        return await self._lifecycle.link_plan(approval_id, plan_id, by=by)

    # -- notices: escalations and deadline warnings (lifecycle.py) -------------------------------

    def awaiting_notice(
        self,
        notice: Notice,
        *,
        created_before: datetime | None = None,
        deadline_before: datetime | None = None,
    ) -> AsyncIterator[PendingApproval]:
        """Pending records without a ``notice`` audit entry yet, created at or before
        ``created_before`` (oldest first) or with their next deadline at or before
        ``deadline_before`` (soonest first); exactly one of the two. Each query is one index
        range (``status_created``, ``pending_expiry``); overdue records are expired first."""
        return self._lifecycle.awaiting_notice(
            notice, created_before=created_before, deadline_before=deadline_before
        )

    async def add_notice(
        self,
        approval_id: str,
        notice: Notice,
        detail_for: NoticeDetail,
        *,
        by: str | None = None,
        now: datetime | None = None,
    ) -> PendingApproval | None:
        """Audit ``notice`` on a pending record, once (one conditional update: pending, no such
        entry, the version read); ``detail_for(record)`` gives its detail from the record as
        read, or None when it no longer applies. The record as written, or None when nothing
        was: any number of schedulers racing write it once."""
        return await self._lifecycle.add_notice(approval_id, notice, detail_for, by=by, now=now)
