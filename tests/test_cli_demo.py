"""``eat demo`` end to end on the embedded default database, as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from typer.testing import CliRunner

from evolving_agents.approvals.models import PendingApproval, arguments_digest
from evolving_agents.approvals.suggestions import SUGGESTION_APPLIED
from evolving_agents.cli.main import app
from evolving_agents.demo import GRANT_BETTER_ACTION, api_failure
from evolving_agents.storage.embedded import EmbeddedServer
from evolving_agents.storage.mongodb_client import MongoDBClient
from evolving_agents.storage.names import APPROVALS, TOOL_EXECUTIONS

ROOT = Path(__file__).parent.parent


@pytest.fixture
def embedded_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private data dir for the embedded server, stopped after the test."""
    data_dir = tmp_path / "data"
    monkeypatch.setenv("EAT_DATA_DIR", str(data_dir))
    yield data_dir
    EmbeddedServer(data_dir).stop()


def _eat(*args: str, answers: str | None = None) -> subprocess.CompletedProcess[str]:
    """``eat`` as a user runs it; with ``answers``, typed at a terminal (a pseudo-terminal)."""
    if answers is None:
        return subprocess.run(
            [sys.executable, "-m", "evolving_agents", *args],
            cwd=ROOT,
            env=dict(os.environ),
            capture_output=True,
            text=True,
            timeout=180,
            stdin=subprocess.DEVNULL,
        )
    terminal, keyboard = os.openpty()
    try:
        os.write(terminal, answers.encode())  # a line at a time, as the prompts read them
        return subprocess.run(
            [sys.executable, "-m", "evolving_agents", *args],
            cwd=ROOT,
            env=dict(os.environ),
            capture_output=True,
            text=True,
            timeout=180,
            stdin=keyboard,
        )
    finally:
        os.close(keyboard)
        os.close(terminal)


def test_demo_approve_runs_every_tool_and_prints_the_final_answer(embedded_home: Path) -> None:
    done = _eat("demo", "--approve", "--as", "alice")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "ScriptedModel" in out, "offline mode says so on screen"
    assert "embedded SecantusDB" in out
    assert "grant_okta_admin" in out and "duration_hours" in out
    assert "granted alice@example.com the Okta role 'Super Administrator'" in out
    assert "deployed payments-api 2.4.1 to production" in out
    assert "rotated prod/payments/db-password" in out
    assert "What ran:" in out and "What did not run" not in out
    next_steps = out[out.index("Next, try:") :]
    assert "eat approvals list --status all" in next_steps and "eat inbox" in next_steps
    assert EmbeddedServer(embedded_home).status().running, "the server outlives the command"


def test_demo_reject_never_runs_a_tool_and_the_agent_reads_the_message(
    embedded_home: Path,
) -> None:
    done = _eat("demo", "--reject", "--message", "Needs CHG ticket first", "--as", "bob")
    assert done.returncode == 0, done.stderr
    assert "granted alice" not in done.stdout and "deployed payments-api" not in done.stdout
    assert "What ran:" not in done.stdout, "a rejected call is not printed as if it ran"
    refused = done.stdout[done.stdout.index("What did not run") :]
    for tool in ("grant_okta_admin", "deploy_service", "rotate_credential"):
        assert f"{tool}: rejected by bob: Needs CHG ticket first" in refused


def test_demo_without_a_terminal_or_flags_rejects_and_says_why(embedded_home: Path) -> None:
    done = _eat("demo")
    assert done.returncode == 0, done.stderr
    assert "no terminal to ask at" in done.stdout
    assert "granted alice" not in done.stdout


def test_demo_refuses_both_flags() -> None:
    result = CliRunner().invoke(app, ["demo", "--approve", "--reject"])
    assert result.exit_code == 2
    assert "choose only one of" in result.output
    result = CliRunner().invoke(app, ["demo", "--suggested", "--leave-pending"])
    assert result.exit_code == 2


def test_leave_pending_refuses_a_database_that_keeps_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MONGODB_URI", "memory://")
    result = CliRunner().invoke(app, ["demo", "--leave-pending"])
    assert result.exit_code == 2
    assert "--leave-pending needs a database that outlives the demo" in result.output


def test_an_api_that_refuses_the_key_is_one_line_naming_what_to_check() -> None:
    request = httpx.Request("POST", "https://api.openai.com/v1/responses")
    refused = openai.AuthenticationError(
        "Incorrect API key provided", response=httpx.Response(401, request=request), body=None
    )
    line = api_failure(refused, model="gpt-4.1-mini")
    assert line == (
        "the OpenAI API answered 401 (AuthenticationError) for model gpt-4.1-mini: check "
        "OPENAI_API_KEY and EAT_OPENAI_MODEL, or run `eat demo --offline` for the scripted model"
    )


SUGGESTED_GRANT = {"user": "alice@example.com", "role": "Super Administrator", "duration_hours": 2}


async def _grant_as_stored() -> tuple[Any, list[dict[str, Any]]]:
    """The demo's grant call as the database holds it, and every execution of that tool."""
    client = MongoDBClient()  # the embedded default the demo used (EAT_DATA_DIR)
    try:
        (document,) = await client.collection(APPROVALS).find({"sequence": 0}).to_list(None)
        runs = (
            await client.collection(TOOL_EXECUTIONS)
            .find({"tool_name": "grant_okta_admin"})
            .to_list(None)
        )
    finally:
        await client.close()
    record = PendingApproval.model_validate(document)
    (call,) = [call for call in record.tool_calls if call.tool_name == "grant_okta_admin"]
    return call, runs


def _assert_grant_ran_once_as_suggested(out: str, call: Any, runs: list[dict[str, Any]]) -> None:
    assert "high 0.90" in out, "the reviewer sees the decision layer's risk"
    assert "Okta admin access for more than 2h" in out, "and its reason"
    assert GRANT_BETTER_ACTION in out
    assert "duration_hours: 48 -> 2" in out, "and the change the suggestion makes"
    assert "for 2h, until" in out and "for 48h" not in out
    assert "ran as suggested: duration_hours=2, not 48" in out
    assert call.arguments["duration_hours"] == 48, "the record keeps what the model asked"
    assert call.decision.edited_arguments == SUGGESTED_GRANT
    assert call.decision.message == SUGGESTION_APPLIED
    assert call.outcome.status == "executed"
    assert [(run["status"], run["arguments_sha256"]) for run in runs] == [
        ("finished", arguments_digest(SUGGESTED_GRANT))
    ], "the tool ran exactly once, with the suggested arguments"
    assert "for 2h" in runs[0]["output"]


async def test_demo_suggested_runs_the_grant_once_with_the_suggested_2h(
    embedded_home: Path,
) -> None:
    done = _eat("demo", "--suggested", "--as", "alice")
    assert done.returncode == 0, done.stderr
    assert "ScriptedModel" in done.stdout and "LocalRulePolicy" in done.stdout
    assert "deployed payments-api 2.4.1 to production" in done.stdout, "the others as proposed"
    call, runs = await _grant_as_stored()
    _assert_grant_ran_once_as_suggested(done.stdout, call, runs)


async def test_demo_at_a_terminal_offers_the_suggestion_as_a_choice(embedded_home: Path) -> None:
    # s: the grant as suggested; y, n: approve the deploy, reject the rotation with a message.
    done = _eat("demo", "--as", "alice", answers="s\ny\nn\nNot during the freeze\n")
    assert done.returncode == 0, done.stderr
    assert "[y]es / [n]o / [s]uggested" in done.stdout
    assert "approved grant_okta_admin with the suggested arguments by alice" in done.stdout
    assert "rotated prod/payments/db-password" not in done.stdout
    ran = done.stdout[done.stdout.index("What ran:") : done.stdout.index("What did not run")]
    assert "grant_okta_admin: granted" in ran and "ran as suggested" in ran
    assert "deploy_service: deployed payments-api" in ran
    refused = done.stdout[done.stdout.index("What did not run") :]
    assert "rotate_credential: rejected by alice: Not during the freeze" in refused
    call, runs = await _grant_as_stored()
    _assert_grant_ran_once_as_suggested(done.stdout, call, runs)
