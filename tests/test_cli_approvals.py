"""``eat approvals`` and ``eat inbox`` as a reviewer uses them, on memory:// and a wire server.

Each test pauses real runs of ``tests.apps.review_app`` (the SDK with a ScriptedModel), then
drives the CLI through Typer's runner and reads its ``--json`` output back.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from evolving_agents import MongoDBClient, OpenAIAgentsProvider
from evolving_agents.approvals.models import AgentRunResult
from evolving_agents.cli import common
from evolving_agents.cli.common import ExitCode
from evolving_agents.cli.main import app
from tests.apps.review_app import AGENT_NAME, build_registry

APP = "tests.apps.review_app:build_registry"


@dataclass
class Eat:
    """The ``eat`` command on one test database, and a way to pause runs in it."""

    shared: MongoDBClient | None
    """memory:// lives in one process object, so the CLI gets it injected; wire: None."""

    def __call__(self, *args: str) -> Result:
        return CliRunner().invoke(app, list(args), obj=self.shared)

    def json(self, *args: str) -> Any:
        result = self(*args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    def pause(self, request: str) -> AgentRunResult:
        async def go() -> AgentRunResult:
            client = self.shared or MongoDBClient()
            provider = OpenAIAgentsProvider(mongodb_client=client, registry=build_registry())
            try:
                return await provider.execute_agent(AGENT_NAME, request, actor="release-bot")
            finally:
                if self.shared is None:
                    await client.close()

        run = asyncio.run(go())
        assert run.approval_id is not None
        return run


@pytest.fixture(params=["memory", "wire"])
def eat(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Eat]:
    # A terminal as wide as a reviewer's, so table cells are not folded mid-word.
    monkeypatch.setattr(common.console, "width", 160)
    if request.param == "memory":
        yield Eat(MongoDBClient("memory://", f"eat_cli_{uuid.uuid4().hex[:8]}"))
    else:
        request.getfixturevalue("wire_env")  # MONGODB_URI + a fresh database for every process
        yield Eat(None)


def _call(run: AgentRunResult, tool: str) -> str:
    return next(call.call_id for call in run.pending_tool_calls if call.tool_name == tool)


def _one_line_error(result: Result) -> str:
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_reviewer_lists_the_queue_filters_it_and_reads_it_back_as_json(eat: Eat) -> None:
    deploy = eat.pause("deploy payments-api")
    grant = eat.pause("grant alice admin")

    rows = eat.json("approvals", "list")
    assert [row["id"] for row in rows] == [deploy.approval_id, grant.approval_id], "oldest first"
    by_id = {row["id"]: row for row in rows}
    assert by_id[deploy.approval_id]["tools"] == "deploy_service"
    assert by_id[deploy.approval_id]["risk"] == {"level": "high", "score": 0.8}
    assert by_id[grant.approval_id]["status"] == "pending"
    assert by_id[grant.approval_id]["agent"] == AGENT_NAME

    only_grants = eat.json("approvals", "list", "--tool", "grant_access")
    assert [row["id"] for row in only_grants] == [grant.approval_id]
    assert eat.json("approvals", "list", "--agent", "someone-else") == []
    assert eat.json("approvals", "list", "--status", "completed") == []

    table = eat("approvals", "list")
    assert table.exit_code == 0
    assert "deploy_service" in table.stdout and "grant_access" in table.stdout
    assert table.stdout.count("high") == 2 and str(deploy.approval_id) in table.stdout


def test_show_gives_arguments_signal_better_action_and_audit_trail(eat: Eat) -> None:
    run = eat.pause("deploy payments-api")

    shown = eat("approvals", "show", str(run.approval_id))
    assert shown.exit_code == 0, shown.output
    out = shown.stdout
    assert '"environment": "production"' in out
    assert "Production deploy outside the release window" in out
    assert "better action: Deploy to staging first, then promote" in out
    assert "audit trail" in out and "created" in out and "release-bot" in out

    record = eat.json("approvals", "show", str(run.approval_id))
    assert record["_id"] == run.approval_id and "state" not in record
    assert record["tool_calls"][0]["signal"]["better_action"].startswith("Deploy to staging")


def test_rejected_call_resumes_and_the_model_reads_the_reviewers_message(eat: Eat) -> None:
    run = eat.pause("deploy payments-api")
    call = _call(run, "deploy_service")

    decided = eat.json(
        "approvals", "reject", str(run.approval_id), "--call", call, "--as", "alice",
        "--message", "Needs change ticket CHG-1234 first",
    )  # fmt: skip
    assert decided["status"] == "decided"
    assert decided["tool_calls"][0]["decision"]["reviewer"] == "alice"

    outcome = eat.json("approvals", "resume", str(run.approval_id), "--app", APP)
    assert outcome["status"] == "success"
    assert "Needs change ticket CHG-1234 first" in outcome["final_output"]
    assert "deployed payments-api" not in outcome["final_output"], "the tool never ran"
    assert eat.json("approvals", "show", str(run.approval_id))["status"] == "completed"


def test_a_call_that_needs_a_role_is_refused_without_it_and_taken_with_it(eat: Eat) -> None:
    run = eat.pause("grant alice admin")

    refused = eat("approvals", "approve", str(run.approval_id), "--as", "carol", "--role", "sre")
    assert refused.exit_code == ExitCode.FORBIDDEN
    assert "needs one of the roles: security" in _one_line_error(refused)
    assert eat.json("approvals", "show", str(run.approval_id))["status"] == "pending"

    approved = eat.json(
        "approvals", "approve", str(run.approval_id), "--as", "bob", "--role", "security",
        "--comment", "ticket SEC-9",
    )  # fmt: skip
    assert approved["status"] == "decided"
    assert approved["tool_calls"][0]["decision"]["message"] == "ticket SEC-9"


def test_conflicts_unknown_ids_and_bad_input_have_their_own_exit_codes(eat: Eat) -> None:
    run = eat.pause("deploy payments-api")
    approval_id = str(run.approval_id)

    call = _call(run, "deploy_service")
    assert eat("approvals", "approve", approval_id, "--as", "alice").exit_code == 0
    again = eat("approvals", "reject", approval_id, "--call", call, "--as", "bob", "-m", "no")
    assert again.exit_code == ExitCode.CONFLICT
    assert f"call {call} was already approved by alice" in _one_line_error(again)
    whole = eat("approvals", "approve", approval_id, "--as", "bob")
    assert whole.exit_code == ExitCode.CONFLICT
    assert "the record is decided" in _one_line_error(whole)

    missing = eat("approvals", "show", "apr_missing")
    assert missing.exit_code == ExitCode.NOT_FOUND
    assert "apr_missing: not found" in _one_line_error(missing)

    other = eat.pause("deploy payments-api")
    unknown_call = eat(
        "approvals", "approve", str(other.approval_id), "--call", "nope", "--as", "a"
    )
    assert unknown_call.exit_code == ExitCode.USAGE
    assert "no call 'nope'" in _one_line_error(unknown_call)

    bad_app = eat("approvals", "resume", approval_id, "--app", "no_such_module:registry")
    assert bad_app.exit_code == ExitCode.CONFIG
    assert eat("approvals", "resume", "--app", APP).exit_code == ExitCode.USAGE
    assert eat("approvals", "list", "--status", "maybe").exit_code == ExitCode.USAGE


def test_bulk_resume_takes_every_decided_run_once(eat: Eat) -> None:
    runs = [eat.pause("deploy payments-api") for _ in range(3)]
    waiting = eat.pause("deploy payments-api")
    for run in runs:
        assert eat("approvals", "approve", str(run.approval_id), "--as", "alice").exit_code == 0

    results = eat.json("approvals", "resume", "--all-decided", "--app", APP)
    assert sorted(result["approval_id"] for result in results) == sorted(
        str(run.approval_id) for run in runs
    )
    assert {result["outcome"] for result in results} == {"success"}
    assert all("deployed payments-api 2.4.1 to production" in r["detail"] for r in results)

    assert eat.json("approvals", "resume", "--all-decided", "--app", APP) == [], "nothing left"
    assert eat.json("approvals", "show", str(waiting.approval_id))["status"] == "pending"


def test_a_cancelled_run_never_resumes(eat: Eat) -> None:
    run = eat.pause("deploy payments-api")
    approval_id = str(run.approval_id)

    cancelled = eat.json("approvals", "cancel", approval_id, "--as", "alice", "--reason", "dup")
    assert cancelled["status"] == "cancelled"

    resumed = eat("approvals", "resume", approval_id, "--app", APP)
    assert resumed.exit_code == ExitCode.CONFLICT
    assert "cannot resume: the record is cancelled" in _one_line_error(resumed)
    assert eat("approvals", "cancel", approval_id).exit_code == ExitCode.CONFLICT


def test_inbox_refuses_to_start_without_reviewers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EAT_REVIEWERS", raising=False)
    monkeypatch.delenv("EAT_REVIEWERS_FILE", raising=False)
    result = CliRunner().invoke(app, ["inbox", "--port", "9"])
    assert result.exit_code == ExitCode.CONFIG
    assert "no reviewers configured" in _one_line_error(result)
