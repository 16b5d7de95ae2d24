"""The reviewer's queue at scale: N records in mixed states, then the store's hot queries.

Times (medians) listing the oldest 50 pending, a ``find_one`` by ``_id`` (the yardstick),
deciding, and claiming; one inbox page (first, next, all statuses) and one ``eat approvals
list``, as the store calls they make; the worker's polls; the bytes a listed record costs;
and ``explain()`` of every store query (wire), with SecantusDB's own time for each.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import bson

from evolving_agents.approvals.codec import StateCodec
from evolving_agents.approvals.models import (
    ApprovalStatus,
    Claim,
    PendingApproval,
    ToolCallRecord,
    arguments_digest,
    utcnow,
)
from evolving_agents.approvals.records import NO_STATE
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.approvals.store_votes import PARTIAL_READY
from evolving_agents.present.views import page_rows
from evolving_agents.storage.mongodb_client import MongoDBClient

_STATUSES = [
    ApprovalStatus.PENDING,
    ApprovalStatus.DECIDED,
    ApprovalStatus.COMPLETED,
    ApprovalStatus.COMPLETED,
    ApprovalStatus.CANCELLED,
    ApprovalStatus.FAILED,
]
_PURGE = timedelta(days=30)


def _record(
    i: int,
    codec: StateCodec,
    blob_state: dict[str, Any],
    store: PendingApprovalStore,
    status: ApprovalStatus | None = None,
) -> dict[str, Any]:
    """Record ``i`` in ``status`` (default: one in six pending, see ``_STATUSES``)."""
    approval_id = f"apr_{i:08d}"
    created = utcnow() - timedelta(seconds=10_000_000 - i)
    arguments = {"user": f"user{i}@example.com", "duration_hours": 1 + i % 72}
    record = PendingApproval(
        id=approval_id,
        run_id=f"run_{i:08d}",
        agent_name=("ops-agent", "billing-agent", "iam-agent")[i % 3],
        input_preview="Grant access",
        tool_calls=[
            ToolCallRecord(
                call_id=f"call_{i}",
                tool_name=("grant_okta_admin", "deploy_service", "rotate_credential")[i % 3],
                agent_name="ops-agent",
                arguments=arguments,
                arguments_sha256=arguments_digest(arguments),
                metadata={"system": "okta"},
            )
        ],
        state=codec.encode(approval_id, blob_state),
        created_at=created,
        updated_at=created,
    )
    # Sealed as the store would have sealed it in that status (the bench skips the votes).
    status = _STATUSES[i % len(_STATUSES)] if status is None else status
    record = store.prepared(record.model_copy(update={"status": status}))
    if status.is_final:
        # As a worker leaves a finished run: its lease long past, its purge due in a month.
        finished = created + timedelta(seconds=30)
        claim = Claim(worker_id="bench-worker", lease_until=finished, attempts=1)
        record = record.model_copy(
            update={"claim": claim, "updated_at": finished, "purge_at": utcnow() + _PURGE}
        )
    return record.to_document()


async def fill(
    store: PendingApprovalStore,
    count: int,
    batch: int = 1000,
    *,
    status: ApprovalStatus | None = None,
) -> float:
    """Insert ``count`` records (one in six pending, or all in ``status``); returns seconds."""
    await store.ensure_indexes()
    codec = StateCodec.from_settings()
    state = {"$schemaVersion": "1.21", "current_turn": 1, "original_input": "Grant access"}
    start = time.perf_counter()
    for first in range(0, count, batch):
        documents = [
            _record(i, codec, state, store, status)
            for i in range(first, min(first + batch, count))
        ]
        await store._collection.insert_many(documents, ordered=False)
    return time.perf_counter() - start


async def _median_ms(run: Callable[[int], Awaitable[Any]], repeat: int) -> float:
    samples = []
    for i in range(repeat):
        start = time.perf_counter()
        await run(i)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


async def queue_timings(client: MongoDBClient, count: int, repeat: int = 20) -> dict[str, Any]:
    """The store's hot calls at ``count`` records; what the inbox and ``eat approvals list``
    ask for a page; the worker's polls; bytes a listed record costs; ``explain()`` (wire)."""
    # Records as old as 115 days: without "never" every pending one would have expired.
    store = PendingApprovalStore(
        client, collection_name=f"bench_queue_{uuid.uuid4().hex[:6]}", approval_timeout="never"
    )
    seconds = await fill(store, count)
    pending = [i for i in range(count) if _STATUSES[i % len(_STATUSES)] is ApprovalStatus.PENDING]
    decided = [i for i in range(count) if _STATUSES[i % len(_STATUSES)] is ApprovalStatus.DECIDED]
    timings = {
        "records": count,
        "fill_seconds": seconds,
        "find_one_by_id_ms": await _median_ms(
            lambda i: store._collection.find_one({"_id": f"apr_{pending[-1 - i]:08d}"}), repeat
        ),
        "list_oldest_50_pending_ms": await _median_ms(
            lambda i: store.list(status="pending", limit=50), repeat
        ),
        "decide_ms": await _median_ms(
            lambda i: store.decide(
                f"apr_{pending[i]:08d}", verdict="approved", reviewer="bench"
            ),
            repeat,
        ),
        "claim_ms": await _median_ms(
            lambda i: store.claim_for_resume(f"apr_{decided[i]:08d}", "bench-worker", 60),
            repeat,
        ),
    }
    timings["list_vs_find_one"] = (
        timings["list_oldest_50_pending_ms"] / timings["find_one_by_id_ms"]
    )
    timings |= await surface_timings(client, store, min(repeat, _PAGE_REPEAT))
    timings["listed_bytes"] = await listed_bytes(store)
    # mongomock has no explain(); the plans are the wire server's.
    explained = {} if client.backend == "memory" else await _explain_all(store)
    timings["plans"] = {
        name: _stages(found["queryPlanner"]["winningPlan"]) for name, found in explained.items()
    }
    # SecantusDB's own time for each (its executionStats run the query, without the limit:
    # it never pushes one down); its documents-examined counts are not measured, so not kept.
    timings["plan_server_ms"] = {
        name: found.get("executionStats", {}).get("executionTimeMillis")
        for name, found in explained.items()
    }
    await store._collection.drop()
    return timings


# The inbox's page (web/routes.py) and the CLI's default (cli/approvals.py).
_INBOX_PAGE = 100
_CLI_PAGE = 50
# Each page costs seconds at 100,000 records on SecantusDB: medians of fewer samples.
_PAGE_REPEAT = 5


async def surface_timings(
    client: MongoDBClient, store: PendingApprovalStore, repeat: int
) -> dict[str, float]:
    """What one inbox page, one ``eat approvals list`` and one worker poll cost: the same
    store calls, in process (no HTTP, no CLI start-up), rows built as they build them."""
    first = await store.list(status="pending", limit=_INBOX_PAGE)
    queue = store.queue

    async def inbox(status: str, cursor: str | None) -> None:
        page = await store.list(
            status=None if status == "all" else status,
            newest_first=status != "pending",
            limit=_INBOX_PAGE,
            cursor=cursor,
        )
        page_rows(page, now=utcnow())

    async def eat_approvals_list() -> None:
        # A fresh store, as each CLI invocation makes one (its connection is not counted).
        cli = PendingApprovalStore(
            client, collection_name=store._collection.name, approval_timeout="never"
        )
        page_rows(await cli.list(status="pending", limit=_CLI_PAGE), now=utcnow())

    return {
        "inbox_page_ms": await _median_ms(lambda i: inbox("pending", None), repeat),
        "inbox_next_page_ms": await _median_ms(
            lambda i: inbox("pending", first.next_cursor), repeat
        ),
        "inbox_all_page_ms": await _median_ms(lambda i: inbox("all", None), repeat),
        "eat_approvals_list_ms": await _median_ms(lambda i: eat_approvals_list(), repeat),
        "worker_ready_ms": await _median_ms(lambda i: queue.ready(32), repeat),
        "worker_abandoned_ms": await _median_ms(lambda i: queue.abandoned(8), repeat),
        "expire_sweep_ms": await _median_ms(lambda i: queue.expire_overdue(limit=100), repeat),
    }


# The fields ``ApprovalRow.of`` (present/views.py) reads: what a queue row shows.
_ROW_FIELDS = {"created_at": 1, "agent_name": 1, "tool_calls": 1, "status": 1, "actor": 1,
               "expires_at": 1}


async def listed_bytes(store: PendingApprovalStore, sample: int = 200) -> dict[str, float]:
    """Mean BSON bytes of a pending record: whole, as ``store.list`` projects it (no state
    blob), and only the fields a row shows."""
    collection = store._collection
    query = {"status": ApprovalStatus.PENDING.value}
    sizes = {}
    for label, projection in (("document", None), ("listed", NO_STATE), ("row", _ROW_FIELDS)):
        documents = await collection.find(query, projection).limit(sample).to_list(None)
        sizes[label] = statistics.mean(len(bson.encode(d)) for d in documents)
    return sizes


def _stages(plan: dict[str, Any]) -> list[str]:
    stages = []
    node: dict[str, Any] | None = plan
    while node:
        stage = str(node.get("stage"))
        if node.get("indexName"):
            stage += f"({node['indexName']})"
        stages.append(stage)
        inputs = node.get("inputStages") or []
        node = node.get("inputStage") or (inputs[0] if inputs else None)
    return stages


async def explain_store_queries(store: PendingApprovalStore) -> dict[str, list[str]]:
    """The winning plan's stages for each query shape the store issues."""
    explained = await _explain_all(store)
    return {name: _stages(e["queryPlanner"]["winningPlan"]) for name, e in explained.items()}


async def _explain_all(store: PendingApprovalStore) -> dict[str, dict[str, Any]]:
    """``explain()`` of each query shape the store, the worker and the lists issue."""
    now = utcnow()
    collection = store._collection
    oldest = [("created_at", 1), ("_id", 1)]
    newest = [("created_at", -1), ("_id", -1)]
    moment = now - timedelta(days=60)
    shapes: dict[str, Any] = {
        "get": collection.find({"_id": "apr_00000001"}),
        "list pending oldest": collection.find({"status": "pending"}).sort(oldest).limit(51),
        # Past a cursor: the rest of its moment, then what follows (reads.py, no $or).
        "list pending past cursor (same moment)": collection.find(
            {"status": "pending", "created_at": moment, "_id": {"$gt": "apr_00000001"}}
        ).sort(oldest).limit(51),
        "list pending past cursor (later)": collection.find(
            {"status": "pending", "created_at": {"$gt": moment}}
        ).sort(oldest).limit(51),
        "list all newest": collection.find({}).sort(newest).limit(101),
        "list by agent": collection.find({"agent_name": "ops-agent"}).sort(oldest).limit(51),
        "list by tool": collection.find({"tool_calls.tool_name": "deploy_service"}).limit(51),
        "run history": collection.find({"run_id": "run_00000001"}).sort(
            [("run_id", 1), ("sequence", 1)]
        ),
        "decide filter": collection.find(
            {"_id": "apr_00000001", "status": "pending", "version": 1}
        ),
        "claim decided": collection.find({"_id": "apr_00000001", "status": "decided"}),
        "cancel filter": collection.find(
            {"_id": "apr_00000001", "status": {"$in": ["pending", "decided"]}}
        ),
        "claim expired lease": collection.find(
            {"_id": "apr_00000001", "status": "resuming", "claim.lease_until": {"$lt": now}}
        ),
        "held by worker": collection.find(
            {"_id": "apr_00000001", "status": "resuming", "claim.worker_id": "w1"}
        ),
        "worker oldest decided": collection.find(
            {"status": "decided"}, {"_id": 1}
        ).sort([("status", 1), ("created_at", 1), ("_id", 1)]).limit(32),
        "worker partial ready": collection.find(
            {"status": "pending", PARTIAL_READY: True}, {"_id": 1}
        ).sort(oldest).limit(32),
        "worker expired leases": collection.find(
            {"status": "resuming", "claim.lease_until": {"$lt": now}},
            {"_id": 1},
        ).sort([("claim.lease_until", 1)]).limit(8),
        "overdue pending (on read)": collection.find(
            {"status": "pending", "expires_at": {"$lte": now}}, {"_id": 1}
        ).limit(1000),
        "expire sweep": collection.find(
            {"status": "pending", "expires_at": {"$lte": now}}, {"_id": 1}
        ).sort([("expires_at", 1)]).limit(100),
    }
    return {name: await cursor.explain() for name, cursor in shapes.items()}
