"""ResumeWorker scenarios: draining a queue, racing workers, dead workers, change streams, and
the ``eat worker`` command stopped by SIGTERM, on the real SDK with ScriptedModel."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from evolving_agents import ApprovalStatus, MongoDBClient, OpenAIAgentsProvider
from evolving_agents.approvals import PendingApprovalStore, ReviewerKind
from evolving_agents.approvals.worker import ResumeWorker
from evolving_agents.cli.common import ExitCode
from evolving_agents.cli.main import app
from tests.apps.worker_app import (
    AGENT_NAME,
    build_registry,
    pause_decided_runs,
    tool_executions,
)

ROOT = Path(__file__).parent.parent


@pytest.fixture
def tool_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "tools.jsonl"
    monkeypatch.setenv("EAT_TEST_TOOL_LOG", str(log))
    return log


def provider_on(mongo: MongoDBClient) -> OpenAIAgentsProvider:
    return OpenAIAgentsProvider(mongodb_client=mongo, registry=build_registry())


async def statuses(provider: OpenAIAgentsProvider, approval_ids: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for approval_id in approval_ids:
        record = await provider.store.get(approval_id)
        counts[record.status.value] = counts.get(record.status.value, 0) + 1
    return counts


async def test_a_worker_drains_every_decided_run_and_each_tool_runs_once(
    mongo: MongoDBClient, tool_log: Path
) -> None:
    provider = provider_on(mongo)
    approval_ids = await pause_decided_runs(provider, 12)

    stats = await ResumeWorker(provider, concurrency=4, poll_interval=0.05).run(drain=True)

    assert stats.completed == stats.claimed == 12
    assert (stats.failed, stats.refused, stats.errors) == (0, 0, 0)
    assert await statuses(provider, approval_ids) == {"completed": 12}
    executions = tool_executions(tool_log)
    assert len(executions) == 12 and set(executions.values()) == {1}
    expected = "polling" if mongo.backend == "memory" else "change_stream"
    assert stats.wakeup == expected


async def test_two_workers_on_one_queue_never_resume_a_run_twice(
    mongo: MongoDBClient, tool_log: Path
) -> None:
    provider = provider_on(mongo)
    approval_ids = await pause_decided_runs(provider, 16)
    # Two providers, as two processes would have, each with its own worker.
    first = ResumeWorker(provider_on(mongo), concurrency=3, poll_interval=0.05, worker_id="w1")
    second = ResumeWorker(provider_on(mongo), concurrency=3, poll_interval=0.05, worker_id="w2")

    one, two = await asyncio.gather(first.run(drain=True), second.run(drain=True))

    assert one.completed + two.completed == 16
    assert one.claimed + two.claimed == 16
    executions = tool_executions(tool_log)
    assert sum(executions.values()) == 16 and max(executions.values()) == 1
    assert await statuses(provider, approval_ids) == {"completed": 16}
    workers = {(await provider.store.get(i)).claim.worker_id for i in approval_ids}
    assert workers <= {"w1", "w2"}


async def test_a_run_whose_worker_died_is_taken_over_after_its_lease(
    mongo: MongoDBClient, tool_log: Path
) -> None:
    provider = provider_on(mongo)
    [approval_id] = await pause_decided_runs(provider, 1)
    # A worker claims it and dies: nobody renews its one-second lease.
    await provider.store.claim_for_resume(approval_id, "dead-worker", lease_seconds=1)
    stats = await ResumeWorker(provider, poll_interval=0.05).run(drain=True)
    assert stats.completed == 0, "a live lease is someone else's work"

    await asyncio.sleep(1)
    stats = await ResumeWorker(provider, poll_interval=0.05, worker_id="rescuer").run(drain=True)

    assert stats.completed == 1
    record = await provider.store.get(approval_id)
    assert record.status is ApprovalStatus.COMPLETED
    assert (record.claim.worker_id, record.claim.attempts) == ("rescuer", 2)
    assert sum(tool_executions(tool_log).values()) == 1


async def test_a_forgotten_approval_expires_and_the_worker_ends_the_run_cleanly(
    mongo: MongoDBClient, tool_log: Path
) -> None:
    store = PendingApprovalStore(mongo, approval_timeout="1s")
    provider = OpenAIAgentsProvider(mongodb_client=mongo, registry=build_registry(), store=store)
    run = await provider.execute_agent(AGENT_NAME, "apply the change", actor="ops-bot")
    assert run.approval_id is not None  # nobody will ever decide it

    worker = ResumeWorker(provider, poll_interval=0.05, max_poll_interval=0.2)
    running = asyncio.create_task(worker.run())
    try:
        await _until(lambda: worker.stats.completed == 1, seconds=10)
    finally:
        worker.request_stop()
        stats = await asyncio.wait_for(running, timeout=10)

    assert (stats.expired, stats.completed) == (1, 1)
    record = await store.get(run.approval_id)
    assert record.status is ApprovalStatus.COMPLETED
    [call] = record.tool_calls
    assert call.decision is not None and call.decision.reviewer_kind is ReviewerKind.TIMEOUT
    assert "not approved within" in str(record.result.final_output).lower()
    assert not tool_log.exists(), "an expired call must never run"


async def test_a_record_that_cannot_be_resumed_is_refused_once_and_left_as_it_was(
    mongo: MongoDBClient, tool_log: Path
) -> None:
    provider = provider_on(mongo)
    good, bad = await pause_decided_runs(provider, 2)
    await provider.store._collection.update_one({"_id": bad}, {"$set": {"state.hmac": "0" * 64}})

    stats = await ResumeWorker(provider, poll_interval=0.05).run(drain=True)

    assert (stats.completed, stats.refused) == (1, 1)
    assert (await provider.store.get(good)).status is ApprovalStatus.COMPLETED
    assert (await provider.store.get(bad)).status is ApprovalStatus.DECIDED
    assert sum(tool_executions(tool_log).values()) == 1


async def test_a_graceful_stop_finishes_the_run_a_forced_one_releases_it(
    mongo: MongoDBClient, tool_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EAT_TEST_TOOL_DELAY", "0.5")
    provider = provider_on(mongo)
    [finished] = await pause_decided_runs(provider, 1)

    graceful = ResumeWorker(provider, poll_interval=0.05)
    running = asyncio.create_task(graceful.run())
    await _until(lambda: tool_log.exists(), seconds=10)
    graceful.request_stop()
    stats = await asyncio.wait_for(running, timeout=10)
    assert (stats.completed, stats.released) == (1, 0)
    assert (await provider.store.get(finished)).status is ApprovalStatus.COMPLETED

    [held] = await pause_decided_runs(provider, 1)
    monkeypatch.setenv("EAT_TEST_TOOL_DELAY", "30")
    forced = ResumeWorker(provider, poll_interval=0.05, worker_id="w-forced")
    running = asyncio.create_task(forced.run())
    await _until(lambda: len(tool_executions(tool_log)) == 2, seconds=10)
    forced.request_stop(force=True)
    stats = await asyncio.wait_for(running, timeout=10)

    assert (stats.completed, stats.released, stats.claimed) == (0, 1, 1)
    record = await provider.store.get(held)
    # Back in the queue at once, for any worker: no need to wait for the lease.
    assert record.status is ApprovalStatus.DECIDED and record.claim.worker_id is None
    assert record.audit[-1].action == "released" and record.audit[-1].actor == "w-forced"


@pytest.mark.wire
async def test_a_change_stream_wakes_an_idle_worker_without_polling(
    wire_uri: str, tool_log: Path
) -> None:
    async with MongoDBClient(wire_uri, f"eat_test_cs_{os.getpid()}_{time.time_ns()}") as mongo:
        provider = provider_on(mongo)
        await provider.store.ensure_indexes()
        worker = ResumeWorker(provider, poll_interval=30, max_poll_interval=30)
        running = asyncio.create_task(worker.run())
        try:
            await _until(lambda: worker.stats.wakeup == "change_stream", seconds=10)
            await asyncio.sleep(0.3)  # the first query has run: the worker now sleeps for 30 s
            started = time.monotonic()
            [approval_id] = await pause_decided_runs(provider, 1)
            await _until(lambda: worker.stats.completed == 1, seconds=5)
            woke_after = time.monotonic() - started
            record = await provider.store.get(approval_id)
        finally:
            worker.request_stop()
            stats = await asyncio.wait_for(running, timeout=10)
            await mongo.client.drop_database(mongo.db_name)

    assert woke_after < 3, f"took {woke_after:.1f}s: the worker waited for its poll"
    assert stats.completed == 1 and stats.wakeup == "change_stream"
    assert record.status is ApprovalStatus.COMPLETED
    assert list(tool_executions(tool_log).values()) == [1]


async def _until(condition: Any, *, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {seconds}s")
        await asyncio.sleep(0.02)


# -- the `eat worker` command, as a real process ------------------------------------------


@pytest.fixture
def worker_env(wire_env: dict[str, str], tool_log: Path) -> dict[str, str]:
    return wire_env | {"EAT_TEST_TOOL_LOG": str(tool_log)}


def eat_worker(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "evolving_agents", "worker", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.wire
async def test_eat_worker_drain_json_prints_parseable_stats(
    worker_env: dict[str, str], processes: list[subprocess.Popen[str]]
) -> None:
    async with MongoDBClient() as mongo:
        approval_ids = await pause_decided_runs(provider_on(mongo), 3)
    process = eat_worker(
        worker_env, "--app", "tests.apps.worker_app:build_provider", "--drain", "--json"
    )
    processes.append(process)
    out, err = await asyncio.to_thread(process.communicate, timeout=60)

    assert process.returncode == 0, err
    stats = json.loads(out)
    assert stats["completed"] == stats["claimed"] == 3 and stats["errors"] == 0
    assert stats["wakeup"] == "change_stream"
    async with MongoDBClient() as mongo:
        assert await statuses(provider_on(mongo), approval_ids) == {"completed": 3}
    # --log-level info (the default): one line per resumed run, on stderr, never on stdout.
    resumed = [line for line in err.splitlines() if " resumed apr_" in line]
    assert sorted(line.split(" resumed ")[1].split(":")[0] for line in resumed) == sorted(
        approval_ids
    )
    assert all(line.endswith("; completed") and "executed" in line for line in resumed), resumed


@pytest.mark.wire
async def test_eat_worker_log_level_warning_keeps_only_what_went_wrong(
    worker_env: dict[str, str], processes: list[subprocess.Popen[str]]
) -> None:
    async with MongoDBClient() as mongo:
        await pause_decided_runs(provider_on(mongo), 1)
    process = eat_worker(
        worker_env,
        "--app",
        "tests.apps.worker_app:build_provider",
        "--drain",
        "--json",
        "--log-level",
        "warning",
    )
    processes.append(process)
    out, err = await asyncio.to_thread(process.communicate, timeout=60)

    assert process.returncode == 0, err
    assert json.loads(out)["completed"] == 1
    assert " resumed apr_" not in err


def test_eat_worker_refuses_a_log_level_it_does_not_know(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONGODB_URI", "memory://")
    wrong = CliRunner().invoke(
        app, ["worker", "--app", "tests.apps.worker_app:registry", "--log-level", "loud"]
    )
    assert wrong.exit_code == 2
    assert "--log-level must be one of debug, info, warning, error" in wrong.output


@pytest.mark.wire
async def test_sigterm_lets_the_running_tool_finish_then_eat_worker_exits_zero(
    worker_env: dict[str, str], tool_log: Path, processes: list[subprocess.Popen[str]]
) -> None:
    async with MongoDBClient() as mongo:
        [approval_id] = await pause_decided_runs(provider_on(mongo), 1)
    env = worker_env | {"EAT_TEST_TOOL_DELAY": "2"}
    process = eat_worker(env, "--app", "tests.apps.worker_app:registry", "--json")
    processes.append(process)
    await _until(lambda: tool_log.exists() and tool_log.read_text().strip() != "", seconds=30)

    process.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    out, err = await asyncio.to_thread(process.communicate, timeout=30)

    assert process.returncode == 0, err
    assert time.monotonic() - sent > 1, "it exited before the 2 s tool call could finish"
    stats = json.loads(out)
    assert (stats["completed"], stats["released"]) == (1, 0)
    async with MongoDBClient() as mongo:
        record = await provider_on(mongo).store.get(approval_id)
    assert record.status is ApprovalStatus.COMPLETED
    assert record.result.final_output.startswith("done: applied CHG-")
    assert sum(tool_executions(tool_log).values()) == 1


def test_eat_worker_shows_its_counts_and_refuses_an_app_that_is_not_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MONGODB_URI", "memory://")
    runner = CliRunner()

    done = runner.invoke(app, ["worker", "--app", "tests.apps.worker_app:registry", "--drain"])
    assert done.exit_code == 0, done.output
    assert "stopped after" in done.output and "completed" in done.output

    wrong = runner.invoke(app, ["worker", "--app", "tests.apps.worker_app:AGENT_NAME"])
    assert wrong.exit_code == ExitCode.CONFIG
    assert "must name an AgentRegistry" in wrong.output
