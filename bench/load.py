"""W worker processes drain R decided runs: ``python -m bench.load --workers 8 --runs 2000``.

Creates R runs of ``tests.apps.worker_app`` (each paused on one gated call, then approved),
starts W ``python -m tests.apps.worker_app --drain`` processes against the same database, lets
them all start claiming at once, waits for them, then counts: records by status, tool bodies
that ran (from the tool's log), duplicates (a call id whose body ran more than once), lost
records (an approved run with no record) and stuck ones (still pending, decided or resuming).
Prints one JSON object.

Uses MONGODB_URI when set; otherwise starts a SecantusDB server on a free loopback port, in
memory, and stops it at the end. ``tests/test_load.py`` runs it small in CI and full on demand.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from evolving_agents import MongoDBClient, OpenAIAgentsProvider
from evolving_agents.approvals.models import ApprovalStatus
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.config import Settings
from tests.apps.worker_app import build_registry, pause_decided_runs, tool_executions

ROOT = Path(__file__).resolve().parent.parent
_STUCK = ("pending", "decided", "resuming")
_SLICES = 10


class LoadReport(BaseModel):
    runs: int
    workers: int
    concurrency: int
    completed: int
    failed: int
    stuck: int
    lost: int
    executions: int
    duplicates: int
    conflicts: int
    setup_seconds: float
    seconds: float
    runs_per_second: float
    statuses: dict[str, int]
    per_worker_completed: list[int]
    prefilled: int = 0
    """Finished records in the collection before the run (``--prefill``)."""
    slice_runs_per_second: list[float] = []
    """Runs/s of each tenth of the runs, in completion order."""
    start_runs_per_second: float = 0.0
    end_runs_per_second: float = 0.0
    end_vs_start: float = 0.0
    """The first slice's rate over the last one's: how many times slower the end is."""


async def run_load(
    uri: str,
    *,
    workers: int,
    runs: int,
    concurrency: int = 4,
    db_name: str | None = None,
    timeout: float = 1800,
    change_stream: bool = True,
    prefill: int = 0,
) -> LoadReport:
    """Create ``runs`` decided runs, drain them with ``workers`` processes, count what happened.

    ``prefill``: finished records inserted first, as if earlier runs had completed.
    """
    db_name = db_name or f"eat_load_{secrets.token_hex(4)}"
    env = dict(os.environ)
    env.setdefault("EAT_STATE_SECRET", secrets.token_hex(32))
    with tempfile.TemporaryDirectory(prefix="eat-load-") as scratch:
        log = Path(scratch) / "tools.jsonl"
        env |= {
            "MONGODB_URI": uri,
            "MONGODB_DATABASE_NAME": db_name,
            "EAT_TEST_TOOL_LOG": str(log),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        }
        # The runs are signed here with the secret the workers verify them with.
        settings = Settings(state_secret=env["EAT_STATE_SECRET"])
        async with MongoDBClient(uri, db_name, settings=settings) as client:
            provider = OpenAIAgentsProvider(
                mongodb_client=client, registry=build_registry(), settings=settings
            )
            started = time.monotonic()
            if prefill:
                await prefill_finished(provider.store, prefill)
            approval_ids = await pause_decided_runs(provider, runs)
            setup_seconds = time.monotonic() - started

            go = Path(scratch) / "go"
            drains = [
                asyncio.create_task(_drain_worker(env, concurrency, timeout, change_stream, go))
                for _ in range(workers)
            ]
            # Start the clock when every worker is up, so all of them race from the first claim.
            while len(list(go.parent.glob("go.ready.*"))) < workers:
                if any(drain.done() for drain in drains):
                    break  # one failed to start; gather below reports why
                await asyncio.sleep(0.05)
            go.touch()
            started, went = time.monotonic(), datetime.now(UTC)
            outputs = await asyncio.gather(*drains)
            seconds = time.monotonic() - started

            statuses = await _statuses(provider, approval_ids)
            slices = slice_rates(await _completion_moments(provider, approval_ids), went)
            found = await provider.store._collection.count_documents({"_id": {"$in": approval_ids}})
            await client.client.drop_database(db_name)
        executions = tool_executions(log)
    stats = [json.loads(out) for out in outputs]
    return LoadReport(
        runs=runs,
        workers=workers,
        concurrency=concurrency,
        completed=statuses.get("completed", 0),
        failed=statuses.get("failed", 0) + statuses.get("cancelled", 0),
        stuck=sum(statuses.get(status, 0) for status in _STUCK),
        lost=runs - found,
        executions=sum(executions.values()),
        duplicates=sum(count - 1 for count in executions.values() if count > 1),
        conflicts=sum(int(s["conflicts"]) for s in stats),
        setup_seconds=round(setup_seconds, 2),
        seconds=round(seconds, 2),
        runs_per_second=round(runs / seconds, 1),
        statuses=statuses,
        per_worker_completed=[int(s["completed"]) for s in stats],
        prefilled=prefill,
        slice_runs_per_second=slices,
        start_runs_per_second=slices[0] if slices else 0.0,
        end_runs_per_second=slices[-1] if slices else 0.0,
        end_vs_start=round(slices[0] / slices[-1], 2) if slices and slices[-1] else 0.0,
    )


def slice_rates(moments: list[datetime], went: datetime, slices: int = _SLICES) -> list[float]:
    """Runs/s of each of ``slices`` equal shares of the runs, from the moment the workers went.

    A slice is timed from the previous slice's last completion (the first from ``went``) to
    its own last one, so the workers' start-up and their exit once drained count in no slice.
    """
    moments = sorted(moments)
    if len(moments) < slices:
        return []
    rates = []
    previous, done = went, 0
    for index in range(1, slices + 1):
        upto = round(len(moments) * index / slices)
        last = moments[upto - 1]
        span = max((last - previous).total_seconds(), 1e-3)
        rates.append(round((upto - done) / span, 1))
        previous, done = last, upto
    return rates


async def prefill_finished(store: PendingApprovalStore, count: int) -> None:
    """``count`` completed records, as earlier runs would have left them (``bench.queue``)."""
    from bench.queue import fill

    await fill(store, count, status=ApprovalStatus.COMPLETED)


async def _drain_worker(
    env: dict[str, str], concurrency: int, timeout: float, change_stream: bool, go: Path
) -> str:
    command = [
        sys.executable,
        "-m",
        "tests.apps.worker_app",
        "--drain",
        "--concurrency",
        str(concurrency),
        "--go",
        str(go),
    ]
    if not change_stream:
        command.append("--no-change-stream")
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    if process.returncode != 0:
        raise RuntimeError(f"worker exited {process.returncode}: {err.decode()[-2000:]}")
    return out.decode().strip().splitlines()[-1]


async def _completion_moments(
    provider: OpenAIAgentsProvider, approval_ids: list[str]
) -> list[datetime]:
    query = {"_id": {"$in": approval_ids}, "status": "completed"}
    cursor = provider.store._collection.find(query, {"updated_at": 1})
    moments = [document["updated_at"] async for document in cursor]
    # BSON dates come back naive from some clients: they are UTC.
    return [m if m.tzinfo is not None else m.replace(tzinfo=UTC) for m in moments]


async def _statuses(provider: OpenAIAgentsProvider, approval_ids: list[str]) -> dict[str, int]:
    """Records by status, of this run's records only (not the prefilled ones)."""
    pipeline = [
        {"$match": {"_id": {"$in": approval_ids}}},
        {"$group": {"_id": "$status", "n": {"$sum": 1}}},
    ]
    cursor = await provider.store._collection.aggregate(pipeline)
    counts: Counter[str] = Counter()
    async for row in cursor:
        counts[str(row["_id"])] += int(row["n"])
    return dict(counts)


@contextlib.contextmanager
def local_server() -> Iterator[str]:
    """A throwaway SecantusDB server in memory on a free loopback port; yields its URI."""
    executable = shutil.which("secantusd-py") or str(Path(sys.executable).parent / "secantusd-py")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    process = subprocess.Popen(
        [executable, "--host", "127.0.0.1", "--port", str(port), "--storage-path", ":memory:"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    uri = f"mongodb://127.0.0.1:{port}/?directConnection=true"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with MongoClient(uri, serverSelectionTimeoutMS=500) as probe:
                    probe.admin.command("ping")
                break
            except PyMongoError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("SecantusDB did not start") from None
                time.sleep(0.1)
        yield uri
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=4, help="runs at once per worker")
    parser.add_argument("--no-change-stream", action="store_true", help="workers poll instead")
    parser.add_argument(
        "--prefill", type=int, default=0, help="finished records inserted before the run"
    )
    args = parser.parse_args(argv)
    uri = os.environ.get("MONGODB_URI")
    with contextlib.ExitStack() as stack:
        if not uri or not uri.startswith("mongodb"):
            uri = stack.enter_context(local_server())
        report = asyncio.run(
            run_load(
                uri,
                workers=args.workers,
                runs=args.runs,
                concurrency=args.concurrency,
                change_stream=not args.no_change_stream,
                prefill=args.prefill,
            )
        )
    return report.model_dump()


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
