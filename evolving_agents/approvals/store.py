"""MongoDB store of paused runs waiting for decisions.

::

    store = PendingApprovalStore(MongoDBClient())
    page = await store.list(status="pending", limit=50)
    alice = Reviewer(name="alice", roles=frozenset({"sre"}))
    await store.decide(approval_id, call_id=call_id, verdict="approved", reviewer=alice)
    record = await store.claim_for_resume(approval_id, worker_id="w1", lease_seconds=300)
    await store.complete(approval_id, worker_id="w1", final_output="done")
    await store.expire_overdue()              # the worker's sweep: timed-out calls -> rejected

Who may vote and how votes settle a call is in ``reviewers.py``; this module does the I/O.
"""

from __future__ import annotations

import asyncio
import base64
import builtins
import contextlib
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import (
    ConnectionFailure,
    DuplicateKeyError,
    PyMongoError,
    ServerSelectionTimeoutError,
    WriteConcernError,
)

from evolving_agents.approvals.codec import StateCodec
from evolving_agents.approvals.documents import (
    UnreadableEntry,
    UnreadableRecords,
    check_writable,
    parse_record,
    shown,
)
from evolving_agents.approvals.models import (
    ApprovalStatus,
    AuditEntry,
    CallOutcome,
    PendingApproval,
    ReviewerKind,
    ToolDecision,
    Verdict,
    arguments_digest,
    bson_ready,
    format_duration,
    parse_duration,
    utcnow,
)
from evolving_agents.approvals.rules import (
    Ballot,
    CallVote,
    EditChecker,
    Reviewer,
    decision_targets,
    normalise_edit,
    plan_votes,
    rules_of,
)
from evolving_agents.approvals.seals import RecordSigner
from evolving_agents.config import Settings
from evolving_agents.errors import (
    ApprovalConflict,
    ApprovalNotFound,
    ApprovalStoreError,
    InvalidDecision,
    StateIntegrityError,
    UnreadableRecord,
)

if TYPE_CHECKING:
    from evolving_agents.storage.mongodb_client import MongoDBClient

logger = logging.getLogger(__name__)

COLLECTION_NAME = "eat_openai_pending_approvals"
# Set on a pending record paused under a partial-resume policy once one of its calls is
# decided: the worker then resumes what is decided, and the rest pause again.
PARTIAL_READY = "partial_ready"
TIMEOUT_REVIEWER = "eat-timeout"
# Everything but the blob's bytes: the digest and signature stay, since the record's seal
# covers them.
_NO_STATE = {"state.data": 0}
# Optimistic retries of a read-then-conditional-write: each retry means another writer's
# update landed between our read and our write.
_WRITE_ATTEMPTS = 16
# Overdue records a list() expires before answering; the worker's sweep handles the rest.
_EXPIRE_ON_READ = 1000
_EXPIRY_CHANGES = (ApprovalStatus.PENDING.value, ApprovalStatus.DECIDED.value)


class ApprovalPage(BaseModel):
    """One page of ``list``; pass ``next_cursor`` back to get the next one."""

    items: list[PendingApproval]
    next_cursor: str | None = None
    unreadable: list[UnreadableEntry] = []
    """Documents of this page that do not parse, each where it sits on the page."""


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
    ``approval_timeout``, else ``EAT_APPROVAL_TIMEOUT``); ``expire`` turns overdue undecided
    calls into timeout rejections, and every read does so first, so no reader sees a pending
    call past its deadline. ``clock`` is the one source of "now".

    ``edit_checker`` validates approvals with edited arguments (``OpenAIAgentsProvider`` passes
    one that checks the tool's schema and policy); without it such approvals are refused.

    Integrity: ``create`` seals the record, every vote and decision is sealed as it lands, and
    every transition extends the audit trail's keyed hash chain and seals the new status
    (``seals.py``, with ``signer``, by default the one of ``EAT_STATE_SECRET``). A vote on a
    record whose seals do not verify is refused with ``StateIntegrityError``;
    ``integrity_problems`` says what was altered.
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
        # Seals bind what reviewers read and what decides a resume to the app's key.
        self._signer = StateCodec.from_settings().signer if signer is None else signer
        self._collection_name = collection_name
        self._purge_after = purge_after
        self._clock = clock
        self._edit_checker = edit_checker
        if approval_timeout is None:
            self._approval_timeout = Settings().approval_timeout
        else:
            self._approval_timeout = parse_duration(approval_timeout)
        self._indexes_ready = False
        self._index_lock = asyncio.Lock()
        self._unreadable = UnreadableRecords("approval store")

    @property
    def collection(self) -> Any:
        return self._client.collection(self._collection_name)

    @property
    def unreadable_seen(self) -> dict[str, str]:
        """Approval id -> what does not parse, for each unreadable record this store met.

        Lists, histories and the expiry sweep skip such records (logging each once); ``get``
        raises ``UnreadableRecord`` for them.
        """
        return self._unreadable.seen

    def integrity_problems(self, record: PendingApproval) -> builtins.list[str]:
        """What in ``record`` was changed behind the store's back (empty when intact)."""
        return self._signer.verify(record)

    def check_integrity(self, record: PendingApproval) -> None:
        """Raise ``StateIntegrityError`` naming what was altered, unless ``record`` is intact."""
        problems = self._signer.verify(record)
        if problems:
            raise StateIntegrityError(
                record.id, "the record was altered outside the app: " + "; ".join(problems)
            )

    @property
    def approval_timeout(self) -> timedelta | None:
        """How long a call may wait for a decision when its tool says nothing; None: forever."""
        return self._approval_timeout

    async def ensure_indexes(self) -> None:
        """Create the indexes once per store; ``create_index`` is idempotent server-side too."""
        with _driver_errors("ensure_indexes", None):
            await self._ensure_indexes()

    async def _ensure_indexes(self) -> None:
        if self._indexes_ready:
            return
        async with self._index_lock:
            if not self._indexes_ready:
                await self._create_indexes()
                self._indexes_ready = True

    async def _create_indexes(self) -> None:
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

    # -- reads ---------------------------------------------------------------------------------

    async def get(self, approval_id: str, *, include_state: bool = False) -> PendingApproval:
        """One record; a pending one past its deadline is expired first.

        Raises ``ApprovalNotFound``, or ``UnreadableRecord`` naming the fields of a stored
        document that do not parse.
        """
        with _driver_errors("get", approval_id):
            return await self._load(approval_id, include_state=include_state)

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
        with _driver_errors("list", None):
            now = self._clock()
            # Expiry moves records from pending to decided: both kinds of page must reflect it.
            if query.get("status") in (None, *_EXPIRY_CHANGES):
                await self._expire_matching(query, now)
            documents = (
                await self.collection.find(query, _NO_STATE)
                .sort([("created_at", direction), ("_id", direction)])
                .limit(limit + 1)
                .to_list(None)
            )
            items, unreadable = await self._readable(documents[:limit], now)
        next_cursor = None
        if len(documents) > limit:
            next_cursor = _cursor_after(documents[:limit], newest_first)
        return ApprovalPage(items=items, next_cursor=next_cursor, unreadable=unreadable)

    async def run_history(self, run_id: str) -> builtins.list[PendingApproval]:
        """Every record of one run, in sequence order."""
        with _driver_errors("run_history", None):
            now = self._clock()
            documents = (
                await self.collection.find({"run_id": run_id}, _NO_STATE)
                .sort([("run_id", ASCENDING), ("sequence", ASCENDING)])
                .to_list(None)
            )
            items, _ = await self._readable(documents, now)
            return items

    async def _readable(
        self, documents: builtins.list[Mapping[str, Any]], now: datetime
    ) -> tuple[builtins.list[PendingApproval], builtins.list[UnreadableEntry]]:
        """The documents that parse, as current records, and those that do not."""
        items: builtins.list[PendingApproval] = []
        unreadable: builtins.list[UnreadableEntry] = []
        for position, document in enumerate(documents):
            try:
                items.append(await self._current(document, now))
            except UnreadableRecord as exc:
                unreadable.append(
                    UnreadableEntry(id=exc.approval_id, problem=exc.reason, position=position)
                )
        return items, unreadable

    async def _load(self, approval_id: str, *, include_state: bool = False) -> PendingApproval:
        projection = None if include_state else _NO_STATE
        document = await self.collection.find_one({"_id": approval_id}, projection)
        if document is None:
            raise ApprovalNotFound(approval_id)
        record = self._parse(document)
        now = self._clock()
        if _is_overdue(record, now):
            record, _ = await self._expire(approval_id, now, projection)
        return record

    async def _current(self, document: Mapping[str, Any], now: datetime) -> PendingApproval:
        """A listed record, expired first if it became overdue since the list's own sweep."""
        record = self._parse(document)
        if _is_overdue(record, now):
            record, _ = await self._expire(record.id, now, _NO_STATE)
        return record

    def _parse(self, document: Mapping[str, Any]) -> PendingApproval:
        """The document as a record, else ``UnreadableRecord`` (logged once per record)."""
        try:
            return parse_record(document)
        except UnreadableRecord as exc:
            self._unreadable.note(exc)
            raise

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
        with _driver_errors("create", record.id):
            await self._ensure_indexes()
            try:
                await self.collection.insert_one(record.to_document())
            except DuplicateKeyError as exc:
                raise ApprovalConflict(
                    record.id,
                    f"run {record.run_id} already has a record with sequence {record.sequence}",
                ) from exc
        return record

    def prepared(self, record: PendingApproval) -> PendingApproval:
        """``record`` as ``create`` writes it: deadlines, first audit entry, seals; checked.

        For bulk loads (benchmarks, migrations by the app) that insert documents themselves.
        """
        record = self._with_deadlines(record)
        # Checked as it will be written (seals and the first audit entry add a few hundred
        # bytes): the driver would refuse it only after the run paused, and it would be lost.
        check_writable(record, record.to_document())
        audit = AuditEntry(
            at=record.created_at,
            action="created",
            actor=record.actor,
            detail={"calls": [call.call_id for call in record.tool_calls]},
        )
        entries, sealed = self._signer.chain(
            record.id,
            None,
            record.status.value,
            [*(_bson(entry) for entry in record.audit), _bson(audit)],
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
                        vote.model_copy(
                            update={"seal": self._signer.seal_vote(record.id, call, vote)}
                        )
                        for vote in call.votes
                    ]
                }
            )
            for call in record.tool_calls
        ]
        record = record.model_copy(update={"tool_calls": calls})
        record = record.model_copy(update={"seal": self._signer.seal_record(record)})
        return record

    def _with_deadlines(self, record: PendingApproval) -> PendingApproval:
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
            elif self._approval_timeout is not None:
                own = record.created_at + self._approval_timeout
            else:
                own = None
            deadline = _earliest(own, cap)
            calls.append(call.model_copy(update={"expires_at": _bson_ms(deadline)}))
        return record.model_copy(
            update={"tool_calls": calls, "expires_at": _earliest(*(c.expires_at for c in calls))}
        )

    # -- votes ---------------------------------------------------------------------------------

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
    ) -> PendingApproval:
        """Cast a vote on one call, or on every undecided call when ``call_id`` is None.

        A rejection decides the call at once; an approval decides it when the tool's
        ``min_approvals`` distinct reviewers approved. When the last call gets its decision the
        record becomes ``decided`` in the same update. ``arguments_sha256``, when given, must
        match the call's: the reviewer approves exactly the arguments they were shown.
        ``edited_arguments`` (an approval of one call only) replace the call's arguments for
        the run once the store's ``edit_checker`` accepts them. With ``call_id=None`` every
        call must accept the vote, or none is recorded.

        Raises ``NotAuthorized`` (a missing role, the run's actor approving its own call),
        ``ApprovalConflict`` (decided first by someone else, or this reviewer already voted),
        ``InvalidDecision`` (a malformed decision or a refused edit); nothing is written then.
        """
        with _driver_errors("decide", approval_id):
            ballot = Ballot.make(
                approval_id, verdict, reviewer, reviewer_kind, message, always, surface
            )
            checker = self._edit_checker
            edit = None
            if edited_arguments is not None:
                edit = normalise_edit(approval_id, ballot, call_id, edited_arguments, checker)
            edit_accepted = False
            for _ in range(_WRITE_ATTEMPTS):
                record = await self._load(approval_id)
                # A vote on an altered record would lend a reviewer's name to what they never saw.
                self.check_integrity(record)
                indexes = decision_targets(record, call_id, arguments_sha256)
                if edit is not None and arguments_digest(edit) == (
                    record.tool_calls[indexes[0]].arguments_sha256
                ):
                    # "Edited" to exactly what the model asked for: a plain approval.
                    edit = None
                now = self._clock()
                plan = plan_votes(record, indexes, ballot, edit, now)
                if edit is not None and checker is not None and not edit_accepted:
                    # Checked after the vote rules, so a refused reviewer learns nothing
                    # about the checker; once, since neither the call nor the edit changes.
                    await checker(record, record.tool_calls[indexes[0]], dict(edit))
                    edit_accepted = True
                document = await self._update_then_read(
                    _unchanged_since(record, indexes),
                    self._sealed(
                        record,
                        _vote_update(record, self._seal_plan(record, plan), ballot, edit, now),
                    ),
                    projection=_NO_STATE,
                )
                if document is not None:
                    return PendingApproval.model_validate(document)
                # Someone else's update landed between our read and write; read again and
                # re-check everything (the call may be decided, the reviewer may have voted).
            raise ApprovalConflict(approval_id, "too many concurrent decisions; try again")

    # -- expiry --------------------------------------------------------------------------------

    async def expire(self, approval_id: str, *, now: datetime | None = None) -> PendingApproval:
        """Reject every undecided call past its deadline, as ``eat-timeout``, in one update.

        The record becomes ``decided`` when no call is left undecided. A record that is not
        pending, or has nothing overdue, is returned as it is.
        """
        with _driver_errors("expire", approval_id):
            record, _ = await self._expire(approval_id, now or self._clock(), _NO_STATE)
            return record

    async def expire_overdue(self, *, limit: int = 100) -> builtins.list[str]:
        """Expire up to ``limit`` pending records past their deadline; their ids, oldest first.

        The query runs on the ``pending_expiry`` partial index. Records another writer settles
        during the sweep are skipped, and so are records that do not parse (``unreadable_seen``):
        they never stop the sweep, nor take the places of readable ones in it.
        """
        with _driver_errors("expire_overdue", None):
            now = self._clock()
            overdue = await _ids(
                self.collection.find(
                    {"status": ApprovalStatus.PENDING.value, "expires_at": {"$lte": now}},
                    {"_id": 1},
                )
                .sort([("expires_at", ASCENDING)])
                .limit(limit + len(self._unreadable.seen))
            )
            expired: builtins.list[str] = []
            for approval_id in overdue:
                if len(expired) == limit:
                    break
                try:
                    _, count = await self._expire(approval_id, now, _NO_STATE)
                except (ApprovalNotFound, ApprovalConflict) as exc:
                    logger.info("expiry of %s skipped: %s", approval_id, exc)
                    continue
                except UnreadableRecord:
                    continue  # logged once by _parse
                if count:
                    expired.append(approval_id)
            return expired

    async def _expire_matching(self, query: Mapping[str, Any], now: datetime) -> None:
        overdue_query = {
            **{field: value for field, value in query.items() if field != "status"},
            "status": ApprovalStatus.PENDING.value,
            "expires_at": {"$lte": now},
        }
        overdue = await _ids(self.collection.find(overdue_query, {"_id": 1}).limit(_EXPIRE_ON_READ))
        for approval_id in overdue:
            # An unreadable record is reported by the page itself, where it would be listed.
            with contextlib.suppress(ApprovalNotFound, UnreadableRecord):
                await self._expire(approval_id, now, _NO_STATE)

    async def _expire(
        self, approval_id: str, now: datetime, projection: Mapping[str, Any] | None
    ) -> tuple[PendingApproval, int]:
        """The record after expiring what is overdue at ``now``, and how many calls expired."""
        for _ in range(_WRITE_ATTEMPTS):
            document = await self.collection.find_one({"_id": approval_id}, projection)
            if document is None:
                raise ApprovalNotFound(approval_id)
            record = self._parse(document)
            if record.status is not ApprovalStatus.PENDING:
                return record, 0
            overdue = record.overdue_calls(now)
            update = _expiry_update(record, overdue, now)
            if update is None:
                return record, 0
            if overdue:
                for index in overdue:
                    field = f"tool_calls.{index}.decision"
                    decision = ToolDecision.model_validate(update["$set"][field])
                    seal = self._signer.seal_decision(record.id, record.tool_calls[index], decision)
                    update["$set"][field]["seal"] = seal
            document = await self._update_then_read(
                _unchanged_since(record, overdue),
                self._sealed(record, update),
                projection=projection,
            )
            if document is not None:
                if overdue:
                    logger.info("approval %s: %d call(s) expired", approval_id, len(overdue))
                return PendingApproval.model_validate(document), len(overdue)
        raise ApprovalConflict(approval_id, "too many concurrent changes while expiring")

    # -- resuming ------------------------------------------------------------------------------

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
        with _driver_errors("claim_for_resume", approval_id):
            now = self._clock()
            record = await self._load(approval_id) if known is None else known
            lapsed = (
                record.status is ApprovalStatus.RESUMING
                and record.claim.lease_until is not None
                and record.claim.lease_until < now
            )
            if record.status is not ApprovalStatus.DECIDED and not lapsed:
                raise await self._claim_conflict(approval_id)
            document = await self._update_then_read(
                # The version pins the record as read: its status, its lease, its chain head.
                {"_id": approval_id, "status": record.status.value, "version": record.version},
                self._sealed(record, _claim_update(now, worker_id, lease_seconds)),
            )
            if document is None:
                raise await self._claim_conflict(approval_id)
            return PendingApproval.model_validate(document)

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
        with _driver_errors("claim_partial", approval_id):
            record = await self._load(approval_id)
            if record.status is not ApprovalStatus.PENDING:
                return await self.claim_for_resume(approval_id, worker_id, lease_seconds)
            decided = len(record.tool_calls) - len(record.undecided_calls())
            if decided == 0:
                raise ApprovalConflict(
                    approval_id,
                    "not decided yet: no call has a decision to resume with",
                    status=record.status.value,
                )
            now = self._clock()
            self.check_integrity(record)
            document = await self._update_then_read(
                {
                    "_id": approval_id,
                    "status": ApprovalStatus.PENDING.value,
                    "version": record.version,
                },
                self._sealed(
                    record,
                    _claim_update(
                        now,
                        worker_id,
                        lease_seconds,
                        partial=True,
                        undecided=[call.call_id for call in record.undecided_calls()],
                    ),
                ),
            )
            if document is None:
                raise ApprovalConflict(
                    approval_id, "changed while being claimed (a vote landed); try again"
                )
            return PendingApproval.model_validate(document)

    async def _update_then_read(
        self,
        query: dict[str, Any],
        update: dict[str, Any],
        *,
        projection: Mapping[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """One conditional ``update_one``, then the record as it now is (None if no match).

        Not ``find_one_and_update``: SecantusDB (the embedded default) plans ``findAndModify``
        as a collection scan even for an ``_id`` filter (240 ms at 20,000 records, against
        2 ms for ``update``). The write alone decides who won; the read after it only reports.
        """
        result = await self.collection.update_one(query, update)
        if result.matched_count == 0:
            return None
        document: dict[str, Any] | None = await self.collection.find_one(
            {"_id": query["_id"]}, projection
        )
        return document

    async def _claim_conflict(self, approval_id: str) -> ApprovalConflict:
        record = await self._load(approval_id)
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
        with _driver_errors("renew_lease", approval_id):
            lease_until = self._clock() + timedelta(seconds=lease_seconds)
            result = await self.collection.update_one(
                self._held_by(approval_id, worker_id),
                {"$set": {"claim.lease_until": lease_until}},
            )
        if result.matched_count == 0:
            raise ApprovalConflict(approval_id, f"worker {worker_id} no longer holds the lease")
        return lease_until

    async def release(
        self,
        approval_id: str,
        worker_id: str,
        reason: str,
        *,
        known: PendingApproval | None = None,
    ) -> PendingApproval:
        """Give a claimed record back (``resuming`` -> ``decided``) without running it."""
        now = self._clock()
        return await self._finish_transition(
            "release",
            approval_id,
            worker_id,
            {
                "status": ApprovalStatus.DECIDED.value,
                "claim.worker_id": None,
                "claim.lease_until": None,
                "updated_at": now,
            },
            _audit(now, "released", worker_id, reason=reason),
            known,
        )

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
        now = self._clock()
        outcomes = outcomes or {}
        return await self._finish_transition(
            "complete",
            approval_id,
            worker_id,
            {
                "status": ApprovalStatus.COMPLETED.value,
                "result.final_output": final_output,
                "next_approval_id": next_approval_id,
                **_outcome_sets(outcomes),
                **self._finished_at(now),
            },
            _audit(
                now,
                "completed",
                worker_id,
                next_approval_id=next_approval_id,
                outcomes=_outcome_statuses(outcomes),
            ),
            known,
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
        """The resumed run raised: ``failed`` with the error kept for the reviewer, and what
        each call did before it stopped (``outcomes``, call index -> outcome), if known."""
        now = self._clock()
        outcomes = outcomes or {}
        return await self._finish_transition(
            "fail",
            approval_id,
            worker_id,
            {
                "status": ApprovalStatus.FAILED.value,
                "result.error": error,
                **_outcome_sets(outcomes),
                **self._finished_at(now),
            },
            _audit(
                now,
                "failed",
                worker_id,
                error=error,
                outcomes=_outcome_statuses(outcomes),
            ),
            known,
        )

    async def cancel(
        self, approval_id: str, *, by: str | None = None, reason: str | None = None
    ) -> PendingApproval:
        """Withdraw a run that has not started resuming: pending or decided -> cancelled."""
        with _driver_errors("cancel", approval_id):
            now = self._clock()
            record = await self._load(approval_id)
            document = None
            if record.status in (ApprovalStatus.PENDING, ApprovalStatus.DECIDED):
                document = await self._update_then_read(
                    {"_id": approval_id, "status": record.status.value, "version": record.version},
                    self._sealed(
                        record,
                        {
                            "$set": {
                                "status": ApprovalStatus.CANCELLED.value,
                                "result.error": reason,
                                **self._finished_at(now),
                            },
                            "$inc": {"version": 1},
                            "$push": {"audit": _audit(now, "cancelled", by, reason=reason)},
                        },
                    ),
                    projection=_NO_STATE,
                )
            if document is None:
                record = await self._load(approval_id)
                raise ApprovalConflict(
                    approval_id,
                    f"cannot cancel: the record is {record.status.value}",
                    status=record.status.value,
                )
            return PendingApproval.model_validate(document)

    async def _finish_transition(
        self,
        operation: str,
        approval_id: str,
        worker_id: str,
        sets: Mapping[str, Any],
        audit: dict[str, Any],
        known: PendingApproval | None = None,
    ) -> PendingApproval:
        with _driver_errors(operation, approval_id):
            for attempt in range(2):
                record = await self._load(approval_id) if known is None or attempt else known
                document = None
                if record.status is ApprovalStatus.RESUMING and record.claim.worker_id == worker_id:
                    document = await self._update_then_read(
                        {**self._held_by(approval_id, worker_id), "version": record.version},
                        self._sealed(
                            record,
                            {"$set": dict(sets), "$inc": {"version": 1}, "$push": {"audit": audit}},
                        ),
                        projection=_NO_STATE,
                    )
                if document is not None:
                    return PendingApproval.model_validate(document)
                if known is None:
                    break  # read just now: the refusal below is about this very record
            record = await self._load(approval_id)
            raise ApprovalConflict(
                approval_id,
                f"worker {worker_id} does not hold this record "
                f"(status {record.status.value}, held by {record.claim.worker_id})",
                status=record.status.value,
            )

    def _sealed(self, record: PendingApproval, update: dict[str, Any]) -> dict[str, Any]:
        """``update`` with its audit entries linked into ``record``'s chain and the status
        it leaves sealed with the new head. Every audit-writing update goes through here."""
        push = update.get("$push", {}).get("audit")
        if push is None:
            return update
        entries = push.get("$each", [push])
        status = update.get("$set", {}).get("status", record.status.value)
        linked, sealed = self._signer.chain(record.id, record.audit_head, str(status), entries)
        return {
            **update,
            "$set": {**update.get("$set", {}), **sealed},
            "$push": {"audit": {"$each": linked}},
        }

    def _seal_plan(
        self, record: PendingApproval, plan: builtins.list[CallVote]
    ) -> builtins.list[CallVote]:
        """The plan with the new vote and any decision it makes sealed."""
        sealed = []
        for vote_plan in plan:
            call = record.tool_calls[vote_plan.position]
            votes = [
                vote
                if vote.seal is not None
                else vote.model_copy(update={"seal": self._signer.seal_vote(record.id, call, vote)})
                for vote in vote_plan.votes
            ]
            decision = vote_plan.decision
            if decision is not None:
                decision = decision.model_copy(update={"votes": votes})
                decision = decision.model_copy(
                    update={"seal": self._signer.seal_decision(record.id, call, decision)}
                )
            sealed.append(vote_plan._replace(votes=votes, decision=decision))
        return sealed

    def _finished_at(self, now: datetime) -> dict[str, datetime]:
        # A finished record is purged by the TTL index ``purge_after`` from now.
        return {"updated_at": now, "purge_at": now + self._purge_after}

    @staticmethod
    def _held_by(approval_id: str, worker_id: str) -> dict[str, Any]:
        return {
            "_id": approval_id,
            "status": ApprovalStatus.RESUMING.value,
            "claim.worker_id": worker_id,
        }


# -- driver errors -----------------------------------------------------------------------------


@contextlib.contextmanager
def _driver_errors(operation: str, approval_id: str | None) -> Iterator[None]:
    """Driver failures, after PyMongo's own retry, as ``ApprovalStoreError``.

    Nothing here retries again: a retry policy that hides faults would also hide a database
    that is gone. ``DuplicateKeyError`` is handled where it has a meaning (``create``).
    """
    try:
        yield
    except PyMongoError as exc:
        # A dropped connection or a write-concern error may follow a write that was applied;
        # no server to send to (even on the retry, where PyMongo re-raises the first error)
        # means nothing was sent.
        unknown = isinstance(exc, ConnectionFailure | WriteConcernError) and not isinstance(
            exc, ServerSelectionTimeoutError
        )
        logger.warning("approval store: %s of %s failed: %r", operation, approval_id or "-", exc)
        raise ApprovalStoreError(
            approval_id, operation, f"{type(exc).__name__}: {exc}", outcome_unknown=unknown
        ) from exc


# -- votes -------------------------------------------------------------------------------------


def _vote_update(
    record: PendingApproval,
    plan: builtins.list[CallVote],
    ballot: Ballot,
    edit: dict[str, Any] | None,
    now: datetime,
) -> dict[str, Any]:
    sets: dict[str, Any] = {"updated_at": now}
    audit = []
    settled = 0
    for index, votes, decision, quorum in plan:
        call = record.tool_calls[index]
        sets[f"tool_calls.{index}.votes"] = [_bson(vote) for vote in votes]
        if decision is not None:
            sets[f"tool_calls.{index}.decision"] = _bson(decision)
            settled += 1
        approvals = len({v.reviewer for v in votes if v.verdict is Verdict.APPROVED})
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
        action = "decision" if decision is not None else "vote"
        audit.append(
            _audit(
                now,
                f"{action}.{ballot.verdict.value}",
                ballot.reviewer.name,
                call_id=call.call_id,
                **detail,
            )
        )
    if len(record.undecided_calls()) == settled:
        sets["status"] = ApprovalStatus.DECIDED.value
    elif settled and record.run_options.partial_resume:
        # Paused under a partial-resume policy: a worker may resume it now (see claim_partial).
        sets[PARTIAL_READY] = True
    return {"$set": sets, "$inc": {"version": 1}, "$push": {"audit": {"$each": audit}}}


def _outcome_sets(outcomes: Mapping[int, CallOutcome]) -> dict[str, Any]:
    return {f"tool_calls.{index}.outcome": _bson(outcome) for index, outcome in outcomes.items()}


def _outcome_statuses(outcomes: Mapping[int, CallOutcome]) -> dict[str, str]:
    return {str(index): outcome.status.value for index, outcome in outcomes.items()}


def _claim_update(
    now: datetime, worker_id: str, lease_seconds: float, **audit: Any
) -> dict[str, Any]:
    return {
        "$set": {
            "status": ApprovalStatus.RESUMING.value,
            "claim.worker_id": worker_id,
            "claim.lease_until": now + timedelta(seconds=lease_seconds),
            "updated_at": now,
        },
        "$inc": {"claim.attempts": 1, "version": 1},
        "$push": {"audit": _audit(now, "claimed", worker_id, **audit)},
    }


def _expiry_update(
    record: PendingApproval, overdue: builtins.list[int], now: datetime
) -> dict[str, Any] | None:
    """Timeout rejections for ``overdue`` calls and the record's next deadline; None: no-op."""
    sets: dict[str, Any] = {}
    audit = []
    for index in overdue:
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
        sets[f"tool_calls.{index}.decision"] = _bson(decision)
        audit.append(
            _audit(
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
        )
    waiting = [
        call
        for index, call in enumerate(record.tool_calls)
        if call.decision is None and index not in overdue
    ]
    if not waiting:
        sets["status"] = ApprovalStatus.DECIDED.value
    else:
        # The record's expires_at is the sweep's key: the next deadline still ahead.
        next_deadline = _earliest(*(record.call_deadline(call) for call in waiting))
        if next_deadline != record.expires_at:
            sets["expires_at"] = next_deadline
    if not sets:
        return None
    sets["updated_at"] = now
    update: dict[str, Any] = {"$set": sets, "$inc": {"version": 1}}
    if audit:
        update["$push"] = {"audit": {"$each": audit}}
    return update


def _unchanged_since(record: PendingApproval, indexes: builtins.list[int]) -> dict[str, Any]:
    """Match the record only as it was read: still pending, same version, targets undecided."""
    query: dict[str, Any] = {
        "_id": record.id,
        "status": ApprovalStatus.PENDING.value,
        "version": record.version,
    }
    query.update({f"tool_calls.{index}.decision": None for index in indexes})
    return query


# -- small helpers -----------------------------------------------------------------------------


def _is_overdue(record: PendingApproval, now: datetime) -> bool:
    if record.status is not ApprovalStatus.PENDING:
        return False
    if record.expires_at is not None and record.expires_at <= now:
        return True
    return bool(record.overdue_calls(now))


def _earliest(*moments: datetime | None) -> datetime | None:
    known = [moment for moment in moments if moment is not None]
    return min(known) if known else None


def _bson_ms(moment: datetime | None) -> datetime | None:
    # BSON keeps milliseconds; truncating here makes the returned record equal the stored one.
    if moment is None:
        return None
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _bson(model: BaseModel) -> dict[str, Any]:
    document: dict[str, Any] = bson_ready(model.model_dump(mode="python"))
    return document


async def _ids(cursor: Any) -> builtins.list[str]:
    return [str(document["_id"]) for document in await cursor.to_list(None)]


def _audit(at: datetime, action: str, actor: str | None, **detail: Any) -> dict[str, Any]:
    call_id = detail.pop("call_id", None)
    entry = AuditEntry(at=at, action=action, actor=actor, call_id=call_id, detail=detail)
    return _bson(entry)


def _encode_cursor(created_at: datetime, approval_id: str) -> str:
    payload = json.dumps([created_at.isoformat(), approval_id]).encode("utf-8")
    return base64.urlsafe_b64encode(payload).decode("ascii")


def _cursor_after(documents: builtins.list[Mapping[str, Any]], newest_first: bool) -> str | None:
    """The cursor after the page's last document that has a BSON date and a string id.

    Read from the raw documents, so a page ending in an unreadable record still pages on. A
    page with no such document holds only documents without a date, which sort before every
    dated one: oldest first, the next page starts at the first dated record; newest first,
    only more of them would follow.
    """
    for document in reversed(documents):
        created, approval_id = document.get("created_at"), document.get("_id")
        if isinstance(created, datetime):
            if isinstance(approval_id, str):
                return _encode_cursor(_as_utc(created), approval_id)
            # An id that is not a string (inserted by hand) sorts after every string id of the
            # same moment: past them all, in either direction, and past itself.
            return _encode_cursor(_as_utc(created), _LAST_ID)
    logger.warning("approval store: a page of records without a creation date to page on from")
    return None if newest_first else _encode_cursor(datetime(1, 1, 1, tzinfo=UTC), "")


_LAST_ID = "\U0010ffff"


# Cursors this store makes are about 100 characters; anything much longer is not one of them.
_MAX_CURSOR = 1024


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position a cursor from ``_encode_cursor`` names, else ``ValueError`` (never more)."""
    invalid = f"invalid list cursor {shown(cursor)}: pass back a next_cursor from a list"
    if not isinstance(cursor, str) or len(cursor) > _MAX_CURSOR or not cursor.isascii():
        raise ValueError(invalid)
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
        if not (
            isinstance(decoded, builtins.list)
            and len(decoded) == 2
            and all(isinstance(part, str) for part in decoded)
        ):
            raise ValueError(invalid)
        created = _as_utc(datetime.fromisoformat(decoded[0]))
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise ValueError(invalid) from exc
    return created, decoded[1]


def _as_utc(moment: datetime) -> datetime:
    # BSON dates are UTC; a naive one (mongomock, or a cursor without a zone) is UTC too.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
