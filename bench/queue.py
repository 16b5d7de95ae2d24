"""The reviewer's queue at scale: N records in mixed states, then the store's hot queries.

Times (medians) listing the oldest 50 pending, a ``find_one`` by ``_id`` (the yardstick),
deciding, and claiming; and ``explain()`` of every store query, to show which use an index.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from evolving_agents.approvals.codec import StateCodec
from evolving_agents.approvals.models import (
    ApprovalStatus,
    PendingApproval,
    ToolCallRecord,
    arguments_digest,
    utcnow,
)
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.storage.mongodb_client import MongoDBClient

_STATUSES = [
    ApprovalStatus.PENDING,
    ApprovalStatus.DECIDED,
    ApprovalStatus.COMPLETED,
    ApprovalStatus.COMPLETED,
    ApprovalStatus.CANCELLED,
    ApprovalStatus.FAILED,
]


def _record(
    i: int, codec: StateCodec, blob_state: dict[str, Any], store: PendingApprovalStore
) -> dict[str, Any]:
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
    record = record.model_copy(update={"status": _STATUSES[i % len(_STATUSES)]})
    return store.prepared(record).to_document()


async def fill(store: PendingApprovalStore, count: int, batch: int = 1000) -> float:
    """Insert ``count`` records (one in six pending); returns seconds taken."""
    await store.ensure_indexes()
    codec = StateCodec.from_settings()
    state = {"$schemaVersion": "1.21", "current_turn": 1, "original_input": "Grant access"}
    start = time.perf_counter()
    for first in range(0, count, batch):
        documents = [
            _record(i, codec, state, store) for i in range(first, min(first + batch, count))
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
    # mongomock has no explain(); the plans are the wire server's.
    timings["plans"] = {} if client.backend == "memory" else await explain_store_queries(store)
    await store._collection.drop()
    return timings


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
    now = utcnow()
    collection = store._collection
    shapes: dict[str, Any] = {
        "get": collection.find({"_id": "apr_00000001"}),
        "list pending oldest": collection.find({"status": "pending"}).sort(
            [("created_at", 1), ("_id", 1)]
        ).limit(51),
        "list by agent": collection.find({"agent_name": "ops-agent"}).sort(
            [("created_at", 1), ("_id", 1)]
        ).limit(51),
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
        ).sort([("status", 1), ("created_at", 1), ("_id", 1)]).limit(16),
        "worker expired leases": collection.find(
            {"status": "resuming", "claim.lease_until": {"$lt": now}},
            {"_id": 1},
        ).hint("status_created").sort([("claim.lease_until", 1)]).limit(16),
        "overdue pending (on read)": collection.find(
            {"status": "pending", "expires_at": {"$lte": now}}, {"_id": 1}
        ).limit(100),
        "expire sweep": collection.find(
            {"status": "pending", "expires_at": {"$lte": now}}, {"_id": 1}
        ).sort([("expires_at", 1)]).limit(100),
    }
    plans = {}
    for name, cursor in shapes.items():
        explained = await cursor.explain()
        plans[name] = _stages(explained["queryPlanner"]["winningPlan"])
    return plans
