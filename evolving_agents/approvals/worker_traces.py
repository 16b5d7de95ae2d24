"""Read-only: what workers leave in the approvals collection, for whoever asks if one is alive.

::

    traces = WorkerTraces.on(client)                 # no store, no signing key needed
    claims = await traces.resuming_claims(200)       # each resuming record's claim
    waiting = await traces.decided_count()           # runs waiting for a resume
    audits = await traces.newest_claim_audits(200)   # audit trails of the newest claimed records

Workers leave no heartbeat of their own: a lease on a ``resuming`` record and the ``claimed``
entries of the audit trail are their traces. ``present/workers.py`` turns these into "alive or
not"; this module owns the queries, so nothing outside ``approvals/`` reads the collection.
Driver errors are the caller's (``PyMongoError``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymongo import DESCENDING
from pymongo.asynchronous.collection import AsyncCollection

from evolving_agents.approvals.models import ApprovalStatus
from evolving_agents.storage.mongodb_client import MongoDBClient
from evolving_agents.storage.names import APPROVALS

Document = dict[str, Any]


class WorkerTraces:
    """Three small reads of the approvals collection, projected to what liveness needs."""

    def __init__(self, collection: Callable[[], AsyncCollection[Document]]) -> None:
        self._collection = collection

    @classmethod
    def on(cls, client: MongoDBClient, collection_name: str = APPROVALS) -> WorkerTraces:
        """The traces in the approvals on ``client``; the collection is looked up on each use,
        so it follows a client that moved."""
        return cls(lambda: client.collection(collection_name))

    async def resuming_claims(self, limit: int) -> list[Document]:
        """The ``claim`` of up to ``limit`` resuming records (each ``{"_id", "claim"}``)."""
        cursor = self._collection().find({"status": ApprovalStatus.RESUMING.value}, {"claim": 1})
        return await cursor.to_list(limit)

    async def decided_count(self) -> int:
        """How many records are decided and waiting to be resumed."""
        return await self._collection().count_documents({"status": ApprovalStatus.DECIDED.value})

    async def newest_claim_audits(self, limit: int) -> list[Document]:
        """The audit trails (``{"_id", "audit"}``) of the newest ``limit`` records that were
        ever claimed: claims follow creation within minutes, so the newest claim is in them."""
        cursor = (
            self._collection()
            .find({"audit.action": "claimed"}, {"audit": 1})
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return await cursor.to_list(None)
