"""``eat approvals`` and ``eat inbox`` as a reviewer uses them, on memory:// and a wire server.

Each test pauses real runs of ``tests.apps.review_app`` (the SDK with a ScriptedModel), then
drives the CLI through Typer's runner and reads its ``--json`` output back.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from agents import Agent
from agents.items import TResponseOutputItem
from agents.testing import ModelCall, ModelStep, ScriptedModel, assistant_message, function_call
from click.testing import Result
from typer.testing import CliRunner

from evolving_agents import AgentRegistry, MongoDBClient, OpenAIAgentsProvider, OpenAIToolAdapter
from evolving_agents.approvals.models import (
    AgentRunResult,
    CallOutcome,
    CallOutcomeStatus,
    PendingApproval,
)
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.cli import common
from evolving_agents.cli.common import ExitCode
from evolving_agents.cli.main import app
from evolving_agents.notify.events import WebhookEventType, events_for
from tests.apps.review_app import AGENT_NAME, build_registry

APP = "tests.apps.review_app:build_registry"
FAILING_APP = "tests.test_cli_approvals:failing_deploy_registry"
FAILING_AGENT = "failing-deployer"
STICKY_APP = "tests.test_cli_approvals:two_grants_registry"
STICKY_AGENT = "two-grants-agent"


def grant_access(user: str, hours: int) -> str:
    """Grant a user admin access for some hours."""
    return f"granted {user} for {hours}h"


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def _two_grants(call: ModelCall) -> list[TResponseOutputItem]:
    """One gated grant per turn, alice then bob, then the outputs it read."""
    items = call.input if isinstance(call.input, list) else []
    outputs = [_field(i, "output") for i in items if _field(i, "type") == "function_call_output"]
    if len(outputs) < 2:
        user = ("alice", "bob")[len(outputs)]
        arguments = {"user": user, "hours": 2}
        return [
            function_call("grant_access", arguments, call_id=f"call_{user}_{secrets.token_hex(3)}")
        ]
    return [assistant_message("final: " + "; ".join(str(output) for output in outputs))]


def two_grants_registry() -> AgentRegistry:
    """``--app`` for the sticky scenario: the same gated tool called in two successive turns."""

    def build() -> Agent[Any]:
        tool = OpenAIToolAdapter().adapt(grant_access, metadata={"system": "okta"})
        model = ScriptedModel([ModelStep.respond(_two_grants) for _ in range(4)])
        return Agent(name=STICKY_AGENT, instructions="grant access", tools=[tool], model=model)

    registry = AgentRegistry()
    registry.register_factory(STICKY_AGENT, build)
    return registry


async def finish_with_outcomes(
    store: PendingApprovalStore, approval_id: str, outcomes: dict[str, CallOutcome]
) -> PendingApproval:
    """A resume's bookkeeping without running anything: claim, complete, then each call's
    outcome written as ``tool_calls.N.outcome``, as the provider records what the call did."""
    record = await store.claim_for_resume(approval_id, "test-worker", lease_seconds=60)
    await store.complete(approval_id, "test-worker", final_output="final: see each call")
    sets = {
        f"tool_calls.{index}.outcome": outcomes[call.call_id].model_dump(mode="json")
        for index, call in enumerate(record.tool_calls)
        if call.call_id in outcomes
    }
    await store._collection.update_one({"_id": approval_id}, {"$set": sets})
    return await store.get(approval_id)


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

    def pause(
        self,
        request: str,
        *,
        agent: str = AGENT_NAME,
        registry: Callable[[], AgentRegistry] = build_registry,
    ) -> AgentRunResult:
        async def go() -> AgentRunResult:
            client = self.shared or MongoDBClient()
            provider = OpenAIAgentsProvider(mongodb_client=client, registry=registry())
            try:
                return await provider.execute_agent(agent, request, actor="release-bot")
            finally:
                if self.shared is None:
                    await client.close()

        run = asyncio.run(go())
        assert run.approval_id is not None
        return run

    def finish(self, approval_id: str, outcomes: dict[str, CallOutcome]) -> None:
        async def go() -> None:
            client = self.shared or MongoDBClient()
            try:
                await finish_with_outcomes(PendingApprovalStore(client), approval_id, outcomes)
            finally:
                if self.shared is None:
                    await client.close()

        asyncio.run(go())


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
    assert by_id[deploy.approval_id]["tools"] == ["deploy_service"]
    assert by_id[deploy.approval_id]["risk"] == {"level": "high", "score": 0.8}
    assert by_id[grant.approval_id]["status"] == "pending"
    assert by_id[grant.approval_id]["agent_name"] == AGENT_NAME

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
    assert record["id"] == run.approval_id and "_id" not in record and "state" not in record
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


def test_inbox_refuses_to_listen_beyond_loopback_without_a_shared_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EAT_REVIEWERS", '[{"name": "alice", "token": "alice-token-0123456789"}]')
    monkeypatch.delenv("EAT_WEB_SECRET", raising=False)
    result = CliRunner().invoke(app, ["inbox", "--host", "0.0.0.0", "--port", "9"])
    assert result.exit_code == ExitCode.CONFIG
    assert "set EAT_WEB_SECRET" in _one_line_error(result)


def test_always_makes_a_cli_decision_sticky_and_the_audit_trail_says_so(eat: Eat) -> None:
    approved, rejected, plain, printed = (eat.pause("deploy payments-api") for _ in range(4))

    sticky_yes = eat.json(
        "approvals", "approve", str(approved.approval_id), "--as", "alice", "--always"
    )
    sticky_no = eat.json(
        "approvals", "reject", str(rejected.approval_id), "--as", "alice",
        "--message", "Not this week", "--always",
    )  # fmt: skip
    once = eat.json("approvals", "approve", str(plain.approval_id), "--as", "alice")

    for record, verdict in ((sticky_yes, "approved"), (sticky_no, "rejected")):
        assert record["tool_calls"][0]["decision"]["always"] is True
        [entry] = [e for e in record["audit"] if e["action"] == f"decision.{verdict}"]
        assert entry["detail"]["sticky"] is True and entry["detail"]["surface"] == "cli"
    assert once["tool_calls"][0]["decision"]["always"] is False
    assert not any("sticky" in entry["detail"] for entry in once["audit"])

    said = eat("approvals", "approve", str(printed.approval_id), "--as", "alice", "--always")
    assert said.exit_code == 0, said.output
    assert "and every later call of deploy_service in this run" in said.stdout
    shown = eat("approvals", "show", str(approved.approval_id))
    assert "and every later call of this tool in this run" in shown.stdout
    assert "and every later call" not in eat("approvals", "show", str(plain.approval_id)).stdout


def test_a_sticky_cli_approval_lets_the_tools_next_call_run_without_a_new_pause(eat: Eat) -> None:
    asked = eat.pause("grant alice, then bob", agent=STICKY_AGENT, registry=two_grants_registry)
    sticky = eat.pause("grant alice, then bob", agent=STICKY_AGENT, registry=two_grants_registry)
    assert eat("approvals", "approve", str(asked.approval_id), "--as", "carol").exit_code == 0
    approve = eat("approvals", "approve", str(sticky.approval_id), "--as", "carol", "--always")
    assert approve.exit_code == 0, approve.output

    again = eat.json("approvals", "resume", str(asked.approval_id), "--app", STICKY_APP)
    assert again["status"] == "awaiting_openai_tool_approval", "without --always bob's call asks"
    assert [call["arguments"]["user"] for call in again["pending_tool_calls"]] == ["bob"]

    done = eat.json("approvals", "resume", str(sticky.approval_id), "--app", STICKY_APP)
    assert done["status"] == "success" and done["pending_tool_calls"] == []
    assert done["final_output"] == "final: granted alice for 2h; granted bob for 2h"
    assert any(output["call_id"].startswith("call_bob_") for output in done["tool_outputs"])
    runs = [
        row
        for row in eat.json("approvals", "list", "--status", "all")
        if row["run_id"] == sticky.run_id
    ]
    assert [row["status"] for row in runs] == ["completed"], (
        "one record: the run never paused again"
    )
    record = eat.json("approvals", "show", str(sticky.approval_id))
    assert record["next_approval_id"] is None


def test_show_and_list_put_a_tool_error_next_to_the_approval_that_let_it_run(eat: Eat) -> None:
    run = eat.pause("deploy payments-api and grant alice admin")
    clean = eat.pause("deploy payments-api")
    approval_id = str(run.approval_id)
    deploy, grant = _call(run, "deploy_service"), _call(run, "grant_access")
    assert (
        eat("approvals", "approve", approval_id, "--call", deploy, "--as", "alice").exit_code == 0
    )
    granted = eat(
        "approvals", "approve", approval_id, "--call", grant, "--as", "bob", "--role", "security"
    )
    assert granted.exit_code == 0, granted.output
    assert eat("approvals", "approve", str(clean.approval_id), "--as", "alice").exit_code == 0
    error = "ConnectionError: cluster [prod-1] unreachable"
    eat.finish(
        approval_id,
        {
            deploy: CallOutcome(status=CallOutcomeStatus.TOOL_ERROR, error=error),
            grant: CallOutcome(status=CallOutcomeStatus.EXECUTED, output="granted alice for 48h"),
        },
    )
    eat.finish(
        str(clean.approval_id),
        {
            _call(clean, "deploy_service"): CallOutcome(
                status=CallOutcomeStatus.EXECUTED, output="ok"
            )
        },
    )

    out = eat("approvals", "show", approval_id).stdout
    assert "outcome: tool error: the approved action did not happen" in out
    assert f"error: {error}" in out, "the error text, brackets and all"
    assert "outcome: ran" in out and "output: granted alice for 48h" in out
    assert "1 approved call(s) raised when the run resumed" in out
    record = eat.json("approvals", "show", approval_id)
    outcomes = {call["call_id"]: call["outcome"] for call in record["tool_calls"]}
    assert outcomes[deploy] == {"status": "tool_error", "output": None, "error": error}
    assert outcomes[grant]["status"] == "executed"

    rows = eat.json("approvals", "list", "--status", "completed")
    assert {row["id"]: row["tool_errors"] for row in rows} == {approval_id: 1, clean.approval_id: 0}
    table = eat("approvals", "list", "--status", "completed").stdout
    assert table.count("completed (1 tool error)") == 1 and "tool errors" not in table
    assert "tool error" not in eat("approvals", "show", str(clean.approval_id)).stdout


def failing_deploy_registry() -> AgentRegistry:
    """``--app`` whose approved deploy raises: the approved action does not happen."""

    def deploy_service(service: str) -> str:
        """Deploy a service to production."""
        raise RuntimeError(f"no quorum in the {service} cluster")

    def build() -> Agent[Any]:
        tool = OpenAIToolAdapter().adapt(deploy_service, metadata={"environment": "production"})
        model = ScriptedModel(
            [
                ModelStep.respond(
                    lambda call: [
                        function_call("deploy_service", {"service": "payments"}, call_id="d1")
                    ]
                    if not any(
                        _field(i, "type") == "function_call_output"
                        for i in (call.input if isinstance(call.input, list) else [])
                    )
                    else [assistant_message("final: the deploy failed")]
                )
                for _ in range(3)
            ]
        )
        return Agent(name=FAILING_AGENT, instructions="deploy", tools=[tool], model=model)

    registry = AgentRegistry()
    registry.register_factory(FAILING_AGENT, build)
    return registry


def test_a_resume_whose_approved_call_raised_is_no_success_and_exits_non_zero(eat: Eat) -> None:
    run = eat.pause("deploy payments", agent=FAILING_AGENT, registry=failing_deploy_registry)
    approval_id = str(run.approval_id)
    assert eat("approvals", "approve", approval_id, "--as", "alice").exit_code == 0

    resumed = eat("approvals", "resume", approval_id, "--app", FAILING_APP)

    assert resumed.exit_code == ExitCode.ERROR, resumed.output
    assert "completed: the agent's answer" not in resumed.stdout
    assert "the approved action did not happen" in resumed.stderr
    assert "deploy_service (d1): RuntimeError: no quorum in the payments cluster" in resumed.stderr
    stored = eat.json("approvals", "show", approval_id)["tool_calls"][0]["outcome"]
    assert stored == {
        "status": "tool_error",
        "output": "An error occurred while running the tool. Please try again.",
        "error": "RuntimeError: no quorum in the payments cluster",
    }
    shown = eat("approvals", "show", approval_id).stdout
    assert "outcome: tool error: the approved action did not happen" in shown
    assert "no quorum in the payments cluster" in shown
    [row] = [r for r in eat.json("approvals", "list", "--status", "completed")]
    assert row["tool_errors"] == 1
    record = PendingApproval.model_validate(eat.json("approvals", "show", approval_id))
    assert [event.type for event in events_for(record)][-2:] == [
        WebhookEventType.COMPLETED,
        WebhookEventType.TOOL_ERROR,
    ]
