"""Throughput: N runs pause at once, a reviewer approves them, 1, 2, then 4 workers resume them.

For each worker count, in a fresh database: ``runs`` runs of ``tests.apps.worker_app``'s agent
start concurrently and each pauses on one gated call; a reviewer script approves every one;
then that many in-process ``ResumeWorker``s (one provider each, ``concurrency`` runs at once
per worker) drain the queue. Reports completed runs per second for the resume phase, plus the
pause and review phases, and checks every run completed exactly once.

In-process workers share one Python interpreter, so they share one core: they show the
claim/lease protocol's overhead as workers are added, not CPU scaling. ``worker_processes``
runs the same drain with worker *processes* (``bench.load``; wire server only).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

from bench.load import run_load
from evolving_agents import MongoDBClient, OpenAIAgentsProvider, RunStatus
from evolving_agents.approvals.worker import ResumeWorker
from tests.apps.worker_app import AGENT_NAME, build_registry


async def _pause(provider: OpenAIAgentsProvider, runs: int, batch: int) -> list[str]:
    async def one() -> str:
        run = await provider.execute_agent(AGENT_NAME, "apply the change", actor="bench")
        assert run.status is RunStatus.AWAITING_APPROVAL and run.approval_id is not None
        return run.approval_id

    ids: list[str] = []
    for start in range(0, runs, batch):
        ids.extend(await asyncio.gather(*(one() for _ in range(min(batch, runs - start)))))
    return ids


async def _review(provider: OpenAIAgentsProvider, approval_ids: list[str]) -> None:
    # A reviewer works through the queue oldest first, one decision at a time.
    for approval_id in approval_ids:
        await provider.store.decide(approval_id, verdict="approved", reviewer="reviewer")


async def one_worker_count(
    uri: str, workers: int, runs: int, *, concurrency: int = 4, batch: int = 25
) -> dict[str, Any]:
    """Pause ``runs`` runs, approve them, drain them with ``workers`` in-process workers."""
    db_name = f"bench_tp_{workers}_{secrets.token_hex(3)}"
    async with MongoDBClient(uri, db_name) as client:
        provider = OpenAIAgentsProvider(mongodb_client=client, registry=build_registry())
        await provider.store.ensure_indexes()
        started = time.perf_counter()
        approval_ids = await _pause(provider, runs, batch)
        pause_seconds = time.perf_counter() - started

        started = time.perf_counter()
        await _review(provider, approval_ids)
        review_seconds = time.perf_counter() - started

        resume_workers = [
            ResumeWorker(
                OpenAIAgentsProvider(
                    mongodb_client=client, registry=build_registry(), worker_id=f"w{i}"
                ),
                concurrency=concurrency,
                worker_id=f"w{i}",
                poll_interval=0.05,
                max_poll_interval=0.5,
            )
            for i in range(workers)
        ]
        started = time.perf_counter()
        stats = await asyncio.gather(*(w.run(drain=True) for w in resume_workers))
        resume_seconds = time.perf_counter() - started

        completed = await provider.store._collection.count_documents(
            {"_id": {"$in": approval_ids}, "status": "completed"}
        )
        if not uri.startswith("memory://"):
            await client.client.drop_database(db_name)
    return {
        "workers": workers,
        "concurrency_per_worker": concurrency,
        "runs": runs,
        "completed": completed,
        "per_worker_completed": [s.completed for s in stats],
        "pause_seconds": pause_seconds,
        "paused_per_second": runs / pause_seconds,
        "review_seconds": review_seconds,
        "decided_per_second": runs / review_seconds,
        "resume_seconds": resume_seconds,
        "completed_per_second": completed / resume_seconds,
    }


async def throughput(
    uri: str, runs: int, worker_counts: tuple[int, ...] = (1, 2, 4)
) -> list[dict[str, Any]]:
    rows = [await one_worker_count(uri, workers, runs) for workers in worker_counts]
    for row in rows:
        assert row["completed"] == runs, f"{row['workers']} workers completed {row['completed']}"
    return rows


async def worker_processes(
    uri: str, runs: int, worker_counts: tuple[int, ...] = (1, 2, 4)
) -> list[dict[str, Any]]:
    """The same drain with worker processes (``bench.load``): wire server only."""
    rows = []
    for workers in worker_counts:
        report = await run_load(uri, workers=workers, runs=runs, timeout=600)
        assert report.completed == runs and report.duplicates == 0, report
        rows.append(
            {
                "workers": workers,
                "runs": runs,
                "completed": report.completed,
                "per_worker_completed": report.per_worker_completed,
                "resume_seconds": report.seconds,
                "completed_per_second": report.completed / report.seconds,
            }
        )
    return rows
