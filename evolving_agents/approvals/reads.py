"""Reading records: pages in creation order, a run's history; each expired first if overdue.

::

    reads = Reads(records, expiry)
    page = await reads.list(status="pending", limit=50)     # ApprovalPage, next_cursor
    history = await reads.run_history(run_id)

Documents that do not parse (an operator's typo, a newer release's record) are left out of
pages and histories and reported (``ApprovalPage.unreadable``), each logged once.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from pymongo import ASCENDING, DESCENDING

from evolving_agents.approvals.documents import UnreadableEntry
from evolving_agents.approvals.expiry import EXPIRY_CHANGES, Expiry
from evolving_agents.approvals.models import ApprovalStatus, PendingApproval
from evolving_agents.approvals.paging import cursor_after, decode_cursor
from evolving_agents.approvals.records import NO_STATE, ApprovalRecords, Document, driver_errors
from evolving_agents.errors import UnreadableRecord

_PENDING_CALL_FIELDS = {
    "_id": 0,
    "tool_calls.agent_name": 1,
    "tool_calls.tool_name": 1,
    "tool_calls.decision.verdict": 1,
}


class ApprovalPage(BaseModel):
    """One page of ``list``; pass ``next_cursor`` back to get the next one."""

    items: list[PendingApproval]
    next_cursor: str | None = None
    unreadable: list[UnreadableEntry] = []
    """Documents of this page that do not parse, each where it sits on the page."""


class Reads:
    """The read side of ``PendingApprovalStore`` (``list``, ``run_history``)."""

    def __init__(self, records: ApprovalRecords, expiry: Expiry) -> None:
        self._records = records
        self._expiry = expiry

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
        query = _list_query(status, agent_name, tool_name, run_id)
        after = None if cursor is None else decode_cursor(cursor)
        with driver_errors("list", None):
            now = self._records.clock()
            # Expiry moves records from pending to decided: both kinds of page must reflect it.
            if query.get("status") in (None, *EXPIRY_CHANGES):
                await self._expiry.expire_matching(query, now)
            documents = await self._page(query, after, newest_first, limit + 1)
            items, unreadable = await self._readable(documents[:limit], now)
        next_cursor = None
        if len(documents) > limit:
            next_cursor = cursor_after(documents[:limit], newest_first)
        return ApprovalPage(items=items, next_cursor=next_cursor, unreadable=unreadable)

    async def _page(
        self,
        query: dict[str, Any],
        after: tuple[datetime, str] | None,
        newest_first: bool,
        count: int,
    ) -> builtins.list[Document]:
        """Up to ``count`` documents ``query`` matches in list order, past ``after``.

        Past a cursor it is two queries, the rest of the cursor's own moment and then what
        follows it, not one ``$or`` of both: SecantusDB answers a top-level ``$or`` with a
        collection scan, so every page but the first read every record ever kept. Each of
        the two is one index range (``status_created`` for a status, ``created`` without one).
        """
        direction = DESCENDING if newest_first else ASCENDING
        order = [("created_at", direction), ("_id", direction)]
        parts = [query]
        if after is not None:
            created, approval_id = after
            op = "$lt" if newest_first else "$gt"
            parts = [
                {**query, "created_at": created, "_id": {op: approval_id}},
                {**query, "created_at": {op: created}},
            ]
        documents: builtins.list[Document] = []
        for part in parts:
            # Without the state blob, the one large field; what stays (calls, audit chain,
            # seals) keeps a listed record verifiable (``integrity_problems``).
            found = self._records.collection.find(part, NO_STATE).sort(order)
            documents += await found.limit(count - len(documents)).to_list(None)
            if len(documents) == count:
                break
        return documents

    async def ids_starting_with(self, prefix: str, *, limit: int) -> builtins.list[str]:
        """Up to ``limit`` ids that begin with ``prefix``, sorted: a range on ``_id`` (its
        index answers it, and only ids are read), unreadable documents' ids included."""
        if not prefix:
            raise ValueError("an id prefix must not be empty")
        # Every string beginning with the prefix sorts in [prefix, prefix + U+10FFFF); ids are
        # ASCII, so nothing that begins with it is left out.
        bounds = {"$gte": prefix, "$lt": prefix + "\U0010ffff"}
        with driver_errors("ids_starting_with", None):
            documents = (
                await self._records.collection.find({"_id": bounds}, {"_id": 1})
                .sort("_id", ASCENDING)
                .limit(limit)
                .to_list(None)
            )
        return [str(document["_id"]) for document in documents]

    async def pending_call_counts(self) -> dict[tuple[str, str], int]:
        """Undecided calls of pending records by (call's agent, tool), counted here.

        One find on the status equality the ``status_created`` index serves, projected to
        three small fields of each call (the state blob, arguments and audit trail never leave
        the server); no aggregation, which not every backend serves. A pending record past its
        deadline counts until the expiry sweep (or a read) settles it.
        """
        counts: dict[tuple[str, str], int] = {}
        with driver_errors("pending_call_counts", None):
            found = self._records.collection.find(
                {"status": ApprovalStatus.PENDING.value}, _PENDING_CALL_FIELDS
            )
            async for document in found:
                for call in document.get("tool_calls") or ():
                    if call.get("decision") is None:
                        key = (str(call.get("agent_name")), str(call.get("tool_name")))
                        counts[key] = counts.get(key, 0) + 1
        return counts

    async def run_history(self, run_id: str) -> builtins.list[PendingApproval]:
        """Every record of one run, in sequence order."""
        with driver_errors("run_history", None):
            now = self._records.clock()
            documents = (
                await self._records.collection.find({"run_id": run_id}, NO_STATE)
                .sort([("run_id", ASCENDING), ("sequence", ASCENDING)])
                .to_list(None)
            )
            items, _ = await self._readable(documents, now)
            return items

    async def _readable(
        self, documents: builtins.list[Document], now: datetime
    ) -> tuple[builtins.list[PendingApproval], builtins.list[UnreadableEntry]]:
        """The documents that parse, as current records, and those that do not."""
        items: builtins.list[PendingApproval] = []
        unreadable: builtins.list[UnreadableEntry] = []
        for position, document in enumerate(documents):
            try:
                items.append(await self._expiry.current(document, now))
            except UnreadableRecord as exc:
                unreadable.append(
                    UnreadableEntry(id=exc.approval_id, problem=exc.reason, position=position)
                )
        return items, unreadable


def _list_query(
    status: ApprovalStatus | str | None,
    agent_name: str | None,
    tool_name: str | None,
    run_id: str | None,
) -> dict[str, Any]:
    """What a list asks for, its position aside (``Reads._page``)."""
    query: dict[str, Any] = {}
    if status is not None:
        query["status"] = ApprovalStatus(status).value
    if agent_name is not None:
        query["agent_name"] = agent_name
    if tool_name is not None:
        query["tool_calls.tool_name"] = tool_name
    if run_id is not None:
        query["run_id"] = run_id
    return query
