"""``eat doctor`` on a setup that is ready and on ones that are not, as an operator runs it.

The healthy scenario pauses a real run (``tests.apps.review_app``, the SDK with a
ScriptedModel) on the session's wire server, approves it and claims it as a worker would;
the doctor runs as a subprocess and reads the same database.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from evolving_agents import MongoDBClient, OpenAIAgentsProvider
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.cli.common import ExitCode
from evolving_agents.cli.main import app
from evolving_agents.reviewers.directory import token_digest
from tests.apps.review_app import AGENT_NAME, build_registry

ROOT = Path(__file__).resolve().parent.parent
CHECKS = ["database", "change streams", "state secret", "reviewers", "workers", "notifications"]


def doctor(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any], str]:
    """``eat doctor --json`` in a subprocess: its exit code, its report, its stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "evolving_agents", "doctor", "--json", *args],
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": str(ROOT)},
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    return done.returncode, json.loads(done.stdout), done.stderr


def by_name(report: dict[str, Any]) -> dict[str, dict[str, str]]:
    assert [check["name"] for check in report["checks"]] == CHECKS
    return {check["name"]: check for check in report["checks"]}


def reviewers_file(tmp_path: Path) -> Path:
    path = tmp_path / "reviewers.toml"
    path.write_text(
        "[[reviewers]]\n"
        'name = "alice"\n'
        'roles = ["sre"]\n'
        f'token_sha256 = "{token_digest(secrets.token_urlsafe(24))}"\n'
        "[[reviewers]]\n"
        'name = "bob"\n'
        f'token_sha256 = "{token_digest(secrets.token_urlsafe(24))}"\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def healthy(wire_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The wire server, a strong state secret, two reviewers and a signed webhook."""
    return {
        **wire_env,
        "EAT_STATE_SECRET": secrets.token_hex(32),
        "EAT_REVIEWERS_FILE": str(reviewers_file(tmp_path)),
        "EAT_WEBHOOK_URL": "https://hooks.example.com/services/T0/B0/do-not-show-me",
        "EAT_WEBHOOK_SECRET": secrets.token_hex(32),
    }


def pause_and_approve(env: dict[str, str]) -> str:
    """A paused run, approved: a decided record waiting for a worker."""

    async def go() -> str:
        client = MongoDBClient(env["MONGODB_URI"], env["MONGODB_DATABASE_NAME"])
        try:
            provider = OpenAIAgentsProvider(mongodb_client=client, registry=build_registry())
            run = await provider.execute_agent(AGENT_NAME, "deploy payments-api", actor="bot")
            assert run.approval_id is not None
            store = PendingApprovalStore(client)
            await store.decide(run.approval_id, verdict="approved", reviewer="alice")
            return run.approval_id
        finally:
            await client.close()

    return asyncio.run(go())


def claim(env: dict[str, str], approval_id: str, worker_id: str) -> None:
    async def go() -> None:
        client = MongoDBClient(env["MONGODB_URI"], env["MONGODB_DATABASE_NAME"])
        try:
            await PendingApprovalStore(client).claim_for_resume(approval_id, worker_id, 120)
        finally:
            await client.close()

    asyncio.run(go())


def test_a_healthy_setup_passes_every_check(
    healthy: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in healthy.items():
        monkeypatch.setenv(name, value)  # the test process writes with the same secret
    approval_id = pause_and_approve(healthy)

    code, report, _ = doctor(healthy)
    checks = by_name(report)
    assert code == 0, "a warning is not a failure"
    assert checks["workers"]["status"] == "warn"
    waiting = checks["workers"]["summary"]
    assert "no worker has claimed anything in the last 15 minutes" in waiting
    assert "1 decided run(s) wait" in waiting and "eat worker --app" in waiting

    claim(healthy, approval_id, "doctor-test-worker")
    code, report, stderr = doctor(healthy)

    assert code == 0, report
    assert report["ok"] is True
    checks = by_name(report)
    assert {name: check["status"] for name, check in checks.items()} == dict.fromkeys(
        CHECKS, "ok"
    ), report
    database = checks["database"]["summary"]
    assert f"{healthy['MONGODB_DATABASE_NAME']} on {healthy['MONGODB_URI']}" in database
    assert "SecantusDB" in database and "no approvals yet" not in database
    assert "available on eat_openai_pending_approvals" in checks["change streams"]["summary"]
    assert "EAT_STATE_SECRET: 64 bytes" in checks["state secret"]["summary"]
    assert healthy["EAT_STATE_SECRET"] not in json.dumps(report)
    assert "2 reviewer token(s) for alice, bob" in checks["reviewers"]["summary"]
    assert "holding leases now: doctor-test-worker" in checks["workers"]["summary"]
    notifications = checks["notifications"]["summary"]
    assert notifications.startswith("webhook to https://hooks.example.com/…")
    assert "do-not-show-me" not in notifications
    assert stderr == ""


def test_the_human_report_is_one_line_per_check(healthy: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "evolving_agents", "doctor"],
        capture_output=True,
        text=True,
        env={**healthy, "PYTHONPATH": str(ROOT), "COLUMNS": "400"},
        timeout=60,
        check=False,
        cwd=ROOT,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [line.split("  ")[0] for line in lines] == ["ok"] * len(CHECKS), done.stdout
    assert [line[6:20].strip() for line in lines] == CHECKS


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_broken_setup_fails_the_right_checks(wire_env: dict[str, str], tmp_path: Path) -> None:
    broken = tmp_path / "reviewers.toml"
    broken.write_text('[[reviewers]\nname = "alice"\n', encoding="utf-8")
    env = {
        **wire_env,
        "MONGODB_URI": f"mongodb://ops:hunter2@127.0.0.1:{_closed_port()}/",
        "EAT_SERVER_SELECTION_TIMEOUT": "1s",
        "EAT_ENV": "production",
        "EAT_STATE_SECRET": "changeme-changeme-changeme-changeme",
        "EAT_REVIEWERS_FILE": str(broken),
    }

    code, report, stderr = doctor(env)

    assert code == ExitCode.CONFIG
    assert report["ok"] is False
    checks = by_name(report)
    statuses = {name: check["status"] for name, check in checks.items()}
    assert statuses == {
        "database": "fail",
        "change streams": "skip",
        "state secret": "fail",
        "reviewers": "fail",
        "workers": "skip",
        "notifications": "ok",
    }
    database = checks["database"]["summary"]
    assert "cannot reach the database" in database and "mongodb://ops:****@127.0.0.1:" in database
    assert "hunter2" not in json.dumps(report) + stderr
    assert "too weak for EAT_ENV=production" in checks["state secret"]["summary"]
    assert f"reviewers file {broken}" in checks["reviewers"]["summary"]
    assert "changeme" not in json.dumps(report)


def test_a_missing_secret_file_fails_and_a_weak_secret_outside_production_warns(
    wire_env: dict[str, str], tmp_path: Path
) -> None:
    missing = {**wire_env, "EAT_STATE_SECRET_FILE": str(tmp_path / "nowhere")}
    missing.pop("EAT_STATE_SECRET", None)
    weak = {**wire_env, "EAT_STATE_SECRET": "dev"}

    code, report, _ = doctor(missing)
    assert code == ExitCode.CONFIG
    secret = by_name(report)["state secret"]
    assert secret["status"] == "fail" and "cannot read" in secret["summary"]

    code, report, _ = doctor(weak)
    assert code == 0, "a warning is not a failure"
    secret = by_name(report)["state secret"]
    assert secret["status"] == "warn" and "3 bytes" in secret["summary"]
    reviewers = by_name(report)["reviewers"]
    assert reviewers["status"] == "warn" and "EAT_REVIEWERS_FILE" in reviewers["summary"]


def test_memory_has_no_change_streams_and_says_nothing_persists() -> None:
    client = MongoDBClient("memory://", "eat_doctor_memory")

    result = CliRunner().invoke(app, ["doctor", "--json"], obj=client)

    assert result.exit_code == 0, result.output
    checks = by_name(json.loads(result.stdout))
    assert checks["database"]["status"] == "warn"
    assert "nothing persists" in checks["database"]["summary"]
    assert checks["change streams"]["status"] == "warn"
    assert "poll instead" in checks["change streams"]["summary"]
