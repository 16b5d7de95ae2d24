"""kill -9 of a worker mid-tool and mid-resume: another worker recovers, no tool runs twice."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evolving_agents import ApprovalStatus, MongoDBClient, OpenAIAgentsProvider, PendingApproval
from tests.apps.crash_app import AGENT_NAME, build_registry

ROOT = Path(__file__).parent.parent
LEASE = 1.0

pytestmark = pytest.mark.wire


def _worker(env: dict[str, str], *args: str, **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "evolving_agents",
            "worker",
            "--app",
            "tests.apps.crash_app:build_registry",
            "--poll-interval",
            "0.05",
            "--max-poll-interval",
            "0.2",
            *args,
        ],
        cwd=ROOT,
        env=env | {"EAT_LEASE_SECONDS": str(LEASE)} | extra,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


async def _approved_run(env: dict[str, str]) -> str:
    client = MongoDBClient()
    provider = OpenAIAgentsProvider(mongodb_client=client, registry=build_registry())
    try:
        run = await provider.execute_agent(AGENT_NAME, "pay ACME 900")
        assert run.approval_id is not None
        await provider.store.decide(run.approval_id, verdict="approved", reviewer="cfo")
        return run.approval_id
    finally:
        await client.close()


async def _record(approval_id: str) -> PendingApproval:
    client = MongoDBClient()
    try:
        return await OpenAIAgentsProvider(mongodb_client=client).store.get(approval_id)
    finally:
        await client.close()


def _wait_for(log: Path, text: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never appeared in {log}")


def _kill_hard(process: subprocess.Popen[str]) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL


def _drain(env: dict[str, str]) -> dict[str, int]:
    rescuer = _worker(env, "--drain", "--json")
    out, err = rescuer.communicate(timeout=120)
    assert rescuer.returncode == 0, err
    stats: dict[str, int] = json.loads(out.strip().splitlines()[-1])
    return stats


async def test_killed_inside_the_tool_the_run_fails_as_outcome_unknown_and_never_reruns(
    wire_env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "tool.log"
    env = wire_env | {"EAT_TEST_TOOL_LOG": str(log)}
    approval_id = await _approved_run(env)

    doomed = _worker(env, EAT_TEST_HANG_IN_TOOL="1")
    _wait_for(log, "start call_")
    _kill_hard(doomed)
    await asyncio.sleep(LEASE + 0.5)  # the dead worker's lease runs out

    stats = _drain(env)
    assert stats["claimed"] == 1
    record = await _record(approval_id)
    assert record.status is ApprovalStatus.FAILED
    assert "outcome unknown" in (record.result.error or "")
    assert record.claim.attempts == 2
    lines = log.read_text().splitlines()
    assert [line.split()[0] for line in lines] == ["start"], "the body started once, never again"


async def test_killed_after_the_tool_another_worker_finishes_with_the_stored_output(
    wire_env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "tool.log"
    env = wire_env | {"EAT_TEST_TOOL_LOG": str(log)}
    approval_id = await _approved_run(env)

    doomed = _worker(env, EAT_TEST_HANG_AFTER_TOOL="1")
    _wait_for(log, "end call_")
    _kill_hard(doomed)
    await asyncio.sleep(LEASE + 0.5)

    stats = _drain(env)
    assert stats["completed"] == 1
    record = await _record(approval_id)
    assert record.status is ApprovalStatus.COMPLETED
    assert record.result.final_output == "done: paid 900 to ACME"
    assert record.claim.attempts == 2
    assert [line.split()[0] for line in log.read_text().splitlines()] == ["start", "end"]
