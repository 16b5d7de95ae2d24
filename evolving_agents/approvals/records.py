"""The approvals collection as its writers share it: one handle, one clock, one signer.

::

    records = ApprovalRecords(client, APPROVALS, signer=signer, clock=utcnow)
    record = records.parse(await records.find(approval_id))  # UnreadableRecord, logged once
    document = await records.update_then_read(query, records.sealed(record, update), before=record)
    record = records.written(document)       # the record as it now is

``PendingApprovalStore`` builds one and hands it to the modules that change records by
responsibility (``expiry.py``, ``store_votes.py``, ``queue.py``); nothing outside
``approvals/`` holds the collection. Every conditional update goes through
``update_then_read`` (which also writes the record's ``record_schema``), every audit-writing
update through ``sealed``, and every driver failure through ``driver_errors``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.cursor import AsyncCursor
from pymongo.errors import (
    ConnectionFailure,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
    WriteConcernError,
)

from evolving_agents.approvals.documents import UnreadableRecords, parse_record
from evolving_agents.approvals.models import (
    RECORD_SCHEMA,
    ApprovalStatus,
    AuditEntry,
    PendingApproval,
    bson_ready,
)
from evolving_agents.approvals.rules import CallVote
from evolving_agents.approvals.seals import RecordSigner
from evolving_agents.approvals.written import (
    UnknownUpdate,
    applied,
    as_stored,
    remember,
    source_of,
)
from evolving_agents.errors import ApprovalStoreError, UnreadableRecord
from evolving_agents.storage.mongodb_client import MongoDBClient
from evolving_agents.storage.names import ApprovalIndex

logger = logging.getLogger(__name__)

Document = dict[str, Any]
# Everything but the blob's bytes: the digest and signature stay, since the record's seal
# covers them.
NO_STATE = {"state.data": 0}
# Optimistic retries of a read-then-conditional-write: each retry means another writer's
# update landed between our read and our write.
WRITE_ATTEMPTS = 16
# Creating an index another release defined otherwise: fail, drop it, create it again.
_INDEX_ATTEMPTS = 3


class ApprovalRecords:
    """The shared core of the approval store's modules. Safe across tasks (it holds no
    per-operation state); the concurrency guarantee is each update's condition."""

    def __init__(
        self,
        client: MongoDBClient,
        collection_name: str,
        *,
        signer: RecordSigner,
        clock: Callable[[], datetime],
        purge_after: timedelta,
    ) -> None:
        self._client = client
        self._collection_name = collection_name
        self.signer = signer
        self.clock = clock
        self.purge_after = purge_after
        self.unreadable = UnreadableRecords("approval store")

    @property
    def client(self) -> MongoDBClient:
        return self._client

    @property
    def collection(self) -> AsyncCollection[Document]:
        # Taken on each use: the embedded server's client may have moved (mongodb_client.py).
        return self._client.collection(self._collection_name)

    def parse(self, document: Mapping[str, Any]) -> PendingApproval:
        """The document as a record, else ``UnreadableRecord`` (logged once per record)."""
        try:
            record = parse_record(document)
        except UnreadableRecord as exc:
            self.unreadable.note(exc)
            raise
        remember(record, dict(document))
        return record

    def inserted(self, record: PendingApproval, document: Document) -> PendingApproval:
        """``record``, noted as ``document`` (just inserted) as a read would return it, so
        its first transition needs no read back."""
        remember(record, as_stored(document))
        return record

    def written(self, document: Document) -> PendingApproval:
        """The record a transition of this release just wrote (its own schema, so no upgrade)."""
        record = PendingApproval.model_validate(document)
        remember(record, document)
        return record

    async def find(
        self, approval_id: str, projection: Mapping[str, Any] | None = NO_STATE
    ) -> Document | None:
        return await self.collection.find_one({"_id": approval_id}, projection)

    async def update_then_read(
        self,
        query: dict[str, Any],
        update: dict[str, Any],
        *,
        projection: Mapping[str, Any] | None = None,
        before: PendingApproval | None = None,
    ) -> Document | None:
        """One conditional ``update_one``, and the record as it now is (None if no match).

        With ``before`` (the record as this process read it) and a query pinned to its
        ``version``, a match means the stored document was ``before``'s, so the result is
        computed (``written.py``) rather than read back: one round trip per transition. Else
        a ``find`` by ``_id`` reports it. Not ``find_one_and_update``: SecantusDB (the embedded
        default) executes ``findAndModify`` as a collection scan even for an ``_id`` filter
        (156 ms at 20,000 records, against 1.3 ms for ``update``; its ``explain`` reports an
        index scan all the same, so it cannot be detected that way). The write alone decides
        who won. Each transition writes the record in this release's schema (see ``store.py``).
        """
        update = {**update, "$set": {**update.get("$set", {}), "record_schema": RECORD_SCHEMA}}
        result = await self.collection.update_one(query, update)
        if result.matched_count == 0:
            return None
        source = _pinned_source(query, update, before, projection)
        if source is not None:
            try:
                after = applied(source, update)
            except UnknownUpdate as exc:
                logger.debug("reading %s back: %s", query["_id"], exc)
            else:
                if projection is NO_STATE:
                    _drop_state_data(after)
                return after
        return await self.collection.find_one({"_id": query["_id"]}, projection)

    def sealed(self, record: PendingApproval, update: dict[str, Any]) -> dict[str, Any]:
        """``update`` with its audit entries linked into ``record``'s chain and the status
        it leaves sealed with the new head. Every audit-writing update goes through here."""
        push = update.get("$push", {}).get("audit")
        if push is None:
            return update
        entries = push.get("$each", [push])
        status = update.get("$set", {}).get("status", record.status.value)
        linked, sealed = self.signer.chain(record.id, record.audit_head, str(status), entries)
        return {
            **update,
            "$set": {**update.get("$set", {}), **sealed},
            "$push": {"audit": {"$each": linked}},
        }

    def seal_plan(self, record: PendingApproval, plan: Sequence[CallVote]) -> list[CallVote]:
        """The plan with the new vote and any decision it makes sealed."""
        sealed = []
        for vote_plan in plan:
            call = record.tool_calls[vote_plan.position]
            votes = [
                vote
                if vote.seal is not None
                else vote.model_copy(update={"seal": self.signer.seal_vote(record.id, call, vote)})
                for vote in vote_plan.votes
            ]
            decision = vote_plan.decision
            if decision is not None:
                decision = decision.model_copy(update={"votes": votes})
                decision = decision.model_copy(
                    update={"seal": self.signer.seal_decision(record.id, call, decision)}
                )
            sealed.append(vote_plan._replace(votes=votes, decision=decision))
        return sealed

    def finished_at(self, now: datetime) -> dict[str, datetime]:
        # A finished record is purged by the TTL index ``purge_after`` from now.
        return {"updated_at": now, "purge_at": now + self.purge_after}

    async def create_indexes(self) -> None:
        """Every index of the collection, each replaced if an older release defined it
        differently. The worker's queries touch only live records: finished ones are in no
        index they scan, or sit behind a ``status`` equality (docs/PERFORMANCE.md)."""
        # Imported here: store_votes imports this module.
        from evolving_agents.approvals.store_votes import PARTIAL_READY

        collection = self.collection
        await collection.create_index(
            [("status", ASCENDING), ("created_at", ASCENDING), ("_id", ASCENDING)],
            name=ApprovalIndex.STATUS_CREATED,
        )
        await collection.create_index(
            [("created_at", ASCENDING), ("_id", ASCENDING)], name=ApprovalIndex.CREATED
        )
        await collection.create_index(
            [("run_id", ASCENDING), ("sequence", ASCENDING)],
            name=ApprovalIndex.RUN_SEQUENCE,
            unique=True,
        )
        await collection.create_index(
            [("tool_calls.tool_name", ASCENDING), ("status", ASCENDING)],
            name=ApprovalIndex.TOOL_STATUS,
        )
        await collection.create_index(
            [("agent_name", ASCENDING), ("status", ASCENDING)], name=ApprovalIndex.AGENT_STATUS
        )
        await collection.create_index(
            [("expires_at", ASCENDING)],
            name=ApprovalIndex.PENDING_EXPIRY,
            partialFilterExpression={"status": ApprovalStatus.PENDING.value},
        )
        # Only what a partial-resume policy lets run now: the worker polls for it, and a
        # large pending queue must not cost each poll (partial_ready stays set once a record
        # leaves pending, hence the status in the filter).
        await collection.create_index(
            [("created_at", ASCENDING), ("_id", ASCENDING)],
            name=ApprovalIndex.PARTIAL_READY,
            partialFilterExpression={"status": ApprovalStatus.PENDING.value, PARTIAL_READY: True},
        )
        # Only resuming records: "lease before now" must never reach a finished one (those an
        # older release finished keep their last lease, long past). Replaces the
        # whole-collection index of that name earlier releases created.
        await _index_as_defined(
            collection,
            [("claim.lease_until", ASCENDING)],
            name=ApprovalIndex.CLAIM_LEASE,
            partial={"status": ApprovalStatus.RESUMING.value},
        )
        # TTL only on purge_at, which is set when a record is finished: live state never
        # expires behind a reviewer's back.
        await collection.create_index(
            [("purge_at", ASCENDING)], name=ApprovalIndex.PURGE_TTL, expireAfterSeconds=0
        )


# -- shared helpers ----------------------------------------------------------------------------


async def _index_as_defined(
    collection: AsyncCollection[Document],
    keys: list[tuple[str, int]],
    *,
    name: str,
    partial: dict[str, Any],
) -> None:
    """Create the index; one of that name defined otherwise (an older release's) is replaced.

    Several processes may start at once: one that finds the index already as defined stops
    there, and a drop that finds nothing to drop was another process's replacement.
    """
    for attempt in range(_INDEX_ATTEMPTS):
        try:
            await collection.create_index(keys, name=name, partialFilterExpression=partial)
            return
        except OperationFailure:
            existing = (await collection.index_information()).get(name)
            if existing is not None and _defined_as(existing, keys, partial):
                return  # another process replaced it meanwhile
            if attempt == _INDEX_ATTEMPTS - 1:
                raise
            if existing is not None:
                logger.info("approval store: replacing index %s with its new definition", name)
                with contextlib.suppress(OperationFailure):
                    await collection.drop_index(name)


def _defined_as(
    existing: Mapping[str, Any], keys: list[tuple[str, int]], partial: Mapping[str, Any]
) -> bool:
    found = [(str(field), int(direction)) for field, direction in existing.get("key", [])]
    return found == keys and dict(existing.get("partialFilterExpression") or {}) == partial


def _pinned_source(
    query: Mapping[str, Any],
    update: Mapping[str, Any],
    before: PendingApproval | None,
    projection: Mapping[str, Any] | None,
) -> Document | None:
    """``before``'s document, if the update's match proves it was the stored one and it
    holds every field the caller asked for; else None (the caller reads back)."""
    if before is None:
        return None
    source = source_of(before)
    if source is None or source.get("_id") != query.get("_id"):
        return None
    pinned = "version" in query and query["version"] == source.get("version")
    if not pinned or update.get("$inc", {}).get("version") != 1:
        return None
    if projection is None:
        state = source.get("state")
        if isinstance(state, Mapping) and "data" not in state:
            return None  # read without its blob; the caller asked for the whole record
    elif projection is not NO_STATE:
        return None
    return source


def _drop_state_data(document: Document) -> None:
    state = document.get("state")
    if isinstance(state, dict) and "data" in state:
        document["state"] = {key: value for key, value in state.items() if key != "data"}


@contextlib.contextmanager
def driver_errors(operation: str, approval_id: str | None) -> Iterator[None]:
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


def unchanged_since(record: PendingApproval, indexes: Sequence[int]) -> dict[str, Any]:
    """Match the record only as it was read: still pending, same version, targets undecided."""
    query: dict[str, Any] = {
        "_id": record.id,
        "status": ApprovalStatus.PENDING.value,
        "version": record.version,
    }
    query.update({f"tool_calls.{index}.decision": None for index in indexes})
    return query


def earliest(*moments: datetime | None) -> datetime | None:
    known = [moment for moment in moments if moment is not None]
    return min(known) if known else None


def handed_on(known: PendingApproval | None, approval_id: str) -> PendingApproval | None:
    """``known`` (a record a caller hands a transition with ``known=``), checked to be the
    record named; ``ValueError`` if it is another."""
    if known is not None and known.id != approval_id:
        raise ValueError(f"known= is record {known.id}, not {approval_id}")
    return known


def holds_state(record: PendingApproval) -> bool:
    """Whether ``record`` carries its state blob (a list or a plain ``get`` leaves it out)."""
    return record.state is not None and bool(record.state.data)


def bson_ms(moment: datetime | None) -> datetime | None:
    # BSON keeps milliseconds; truncating here makes the returned record equal the stored one.
    if moment is None:
        return None
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def as_bson(model: BaseModel) -> dict[str, Any]:
    document: dict[str, Any] = bson_ready(model.model_dump(mode="python"))
    return document


async def ids(cursor: AsyncCursor[Document]) -> list[str]:
    return [str(document["_id"]) for document in await cursor.to_list(None)]


def audit(at: datetime, action: str, actor: str | None, **detail: Any) -> dict[str, Any]:
    call_id = detail.pop("call_id", None)
    entry = AuditEntry(at=at, action=action, actor=actor, call_id=call_id, detail=detail)
    return as_bson(entry)
