"""Someone with write access to the database but not the app's secret.

Each scenario pauses a real run, then changes the record behind the app's back (on the wire
server with a plain ``pymongo`` client of its own), and checks that what a reviewer reads and
what decides a resume cannot be changed without it showing: the record is refused with
``StateIntegrityError``, left as the writer left it, the tool never runs, and the CLI and the
inbox show it as tampered.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from agents import Agent
from agents.testing import ScriptedModel, assistant_message, function_call
from fastapi.testclient import TestClient
from pymongo import MongoClient
from typer.testing import CliRunner

from evolving_agents import (
    AgentRegistry,
    ApprovalStatus,
    MongoDBClient,
    OpenAIAgentsProvider,
    OpenAIToolAdapter,
    RunStatus,
    StateIntegrityError,
)
from evolving_agents.approvals.ledger import ToolExecutionLedger
from evolving_agents.approvals.store import COLLECTION_NAME
from evolving_agents.cli.main import app as cli
from evolving_agents.reviewers.directory import ReviewerDirectory
from evolving_agents.web.app import create_app

SECRET = "s" * 40


class Ops:
    """Two tools a reviewer must not confuse: a lookup and an admin grant."""

    def __init__(self) -> None:
        self.ran: list[tuple[str, dict[str, Any]]] = []

    def agent(self, steps: list[Any]) -> Agent[Any]:
        def lookup_user(user: str) -> str:
            """Look a user up."""
            self.ran.append(("lookup_user", {"user": user}))
            return f"{user} exists"

        def grant_admin(user: str) -> str:
            """Make a user an admin."""
            self.ran.append(("grant_admin", {"user": user}))
            return f"{user} is admin"

        adapter = OpenAIToolAdapter()
        tools = [
            adapter.adapt(lookup_user, metadata={"risk": "high"}),
            adapter.adapt(grant_admin, metadata={"risk": "critical", "approver_roles": ["sec"]}),
        ]
        return Agent(name="iam", instructions="iam", tools=tools, model=ScriptedModel(steps))


def provider_for(mongo: MongoDBClient, agent: Agent[Any]) -> OpenAIAgentsProvider:
    registry = AgentRegistry()
    registry.register(agent)
    return OpenAIAgentsProvider(mongodb_client=mongo, registry=registry)


@pytest.fixture
def raw(mongo: MongoDBClient, backend: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    """The approvals collection as an attacker holding only database access writes to it."""
    if backend == "memory":
        yield mongo.collection(COLLECTION_NAME)  # mongomock: same data, no store in between
        return
    with MongoClient(request.getfixturevalue("wire_uri")) as plain:
        yield plain[mongo.db_name][COLLECTION_NAME]


async def write(raw: Any, query: dict[str, Any], update: dict[str, Any]) -> None:
    result = raw.update_one(query, update)
    if hasattr(result, "__await__"):
        result = await result
    assert result.matched_count == 1


async def read(raw: Any, approval_id: str) -> Any:
    found = raw.find_one({"_id": approval_id})
    return await found if hasattr(found, "__await__") else found


GRANT = [function_call("grant_admin", {"user": "mallory"}, call_id="c1")]
SEC = {"name": "sara", "roles": frozenset({"sec"})}


async def paused(mongo: MongoDBClient, ops: Ops) -> tuple[OpenAIAgentsProvider, str]:
    provider = provider_for(mongo, ops.agent([GRANT, [assistant_message("done")]]))
    run = await provider.execute_agent("iam", "make mallory admin", actor="iam-bot")
    assert run.status is RunStatus.AWAITING_APPROVAL and run.approval_id is not None
    return provider, run.approval_id


async def refused_untouched(provider: OpenAIAgentsProvider, raw: Any, approval_id: str) -> str:
    before = await read(raw, approval_id)
    with pytest.raises(StateIntegrityError) as refused:
        await provider.resume_agent(approval_id)
    assert await read(raw, approval_id) == before, "a refused record is left as it was"
    return str(refused.value)


async def approve(provider: OpenAIAgentsProvider, approval_id: str) -> None:
    from evolving_agents import Reviewer

    await provider.store.decide(
        approval_id, verdict="approved", reviewer=Reviewer(name="sara", roles=frozenset({"sec"}))
    )


async def test_harmless_arguments_shown_over_the_signed_ones_are_refused(
    mongo: MongoDBClient, raw: Any
) -> None:
    ops = Ops()
    provider, approval_id = await paused(mongo, ops)
    # The digest is kept: only what the reviewer reads changes.
    await write(raw, {"_id": approval_id}, {"$set": {"tool_calls.0.arguments": {"user": "al"}}})
    with pytest.raises(StateIntegrityError, match="do not match its seal"):
        await approve(provider, approval_id)
    assert (await provider.store.get(approval_id)).status is ApprovalStatus.PENDING
    assert "do not match its seal" in await refused_untouched(provider, raw, approval_id)
    assert ops.ran == []


async def test_a_renamed_tool_is_refused_after_its_approval(mongo: MongoDBClient, raw: Any) -> None:
    ops = Ops()
    provider, approval_id = await paused(mongo, ops)
    await approve(provider, approval_id)
    await write(raw, {"_id": approval_id}, {"$set": {"tool_calls.0.tool_name": "lookup_user"}})
    assert "do not match its seal" in await refused_untouched(provider, raw, approval_id)
    assert ops.ran == []


async def test_a_decision_written_by_hand_never_resumes(mongo: MongoDBClient, raw: Any) -> None:
    ops = Ops()
    provider, approval_id = await paused(mongo, ops)
    record = await provider.store.get(approval_id)
    forged = {
        "verdict": "approved",
        "reviewer": "alice",
        "reviewer_kind": "human",
        "at": record.created_at,
        "surface": "web",
        "always": False,
        "votes": [],
    }
    await write(
        raw,
        {"_id": approval_id},
        {"$set": {"tool_calls.0.decision": forged, "status": "decided"}},
    )
    problems = provider.store.integrity_problems(await provider.store.get(approval_id))
    assert any("was not made through the store" in problem for problem in problems)
    assert any("status 'decided' was not set by a transition" in p for p in problems)
    await refused_untouched(provider, raw, approval_id)
    assert ops.ran == []


async def test_edits_changed_after_the_approval_are_refused(mongo: MongoDBClient, raw: Any) -> None:
    ops = Ops()
    provider, approval_id = await paused(mongo, ops)
    await approve(provider, approval_id)
    await write(
        raw,
        {"_id": approval_id},
        {"$set": {"tool_calls.0.decision.edited_arguments": {"user": "mallory-admin"}}},
    )
    assert "was not made through the store" in await refused_untouched(provider, raw, approval_id)
    assert ops.ran == []


async def test_a_finished_run_given_a_new_run_id_never_runs_its_tool_again(
    mongo: MongoDBClient, raw: Any
) -> None:
    ops = Ops()
    provider, approval_id = await paused(mongo, ops)
    await approve(provider, approval_id)
    done = await provider.resume_agent(approval_id)
    assert done.status is RunStatus.SUCCESS and len(ops.ran) == 1
    await write(
        raw,
        {"_id": approval_id},
        {"$set": {"run_id": "fresh-run", "status": "decided", "claim.worker_id": None}},
    )
    message = await refused_untouched(provider, raw, approval_id)
    assert "do not match its seal" in message and "not set by a transition" in message
    assert len(ops.ran) == 1
    assert await ToolExecutionLedger(mongo).get("fresh-run", "c1") is None


@pytest.mark.parametrize("cut", ["remove", "edit", "truncate"])
async def test_an_audit_entry_removed_or_edited_shows(
    mongo: MongoDBClient, raw: Any, cut: str
) -> None:
    ops = Ops()
    provider, approval_id = await paused(mongo, ops)
    await approve(provider, approval_id)
    record = await provider.store.get(approval_id)
    assert provider.store.integrity_problems(record) == []
    assert [entry.action for entry in record.audit] == ["created", "decision.approved"]
    if cut == "remove":
        update: dict[str, Any] = {"$pop": {"audit": -1}}  # the first entry
    elif cut == "edit":
        update = {"$set": {"audit.1.actor": "alice"}}
    else:
        update = {"$pop": {"audit": 1}}
    await write(raw, {"_id": approval_id}, update)
    problems = provider.store.integrity_problems(await provider.store.get(approval_id))
    assert any("audit" in problem for problem in problems), problems
    await refused_untouched(provider, raw, approval_id)


async def test_a_status_set_back_by_hand_is_refused(mongo: MongoDBClient, raw: Any) -> None:
    ops = Ops()
    provider, approval_id = await paused(mongo, ops)
    await approve(provider, approval_id)
    await provider.resume_agent(approval_id)
    await write(raw, {"_id": approval_id}, {"$set": {"status": "decided"}})
    assert "not set by a transition" in await refused_untouched(provider, raw, approval_id)
    assert len(ops.ran) == 1


async def test_the_cli_and_the_inbox_show_a_tampered_record_as_tampered(
    mongo: MongoDBClient, raw: Any, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ops = Ops()
    provider, approval_id = await paused(mongo, ops)
    await write(raw, {"_id": approval_id}, {"$set": {"tool_calls.0.arguments": {"user": "al"}}})
    if backend == "memory":
        obj: MongoDBClient | None = mongo
    else:
        obj = None
        monkeypatch.setenv("MONGODB_URI", provider.mongodb_client.uri)
        monkeypatch.setenv("MONGODB_DATABASE_NAME", mongo.db_name)
    # The CLI runs its own event loop: in a thread, as in its own process.
    shown = await asyncio.to_thread(
        CliRunner().invoke, cli, ["approvals", "show", approval_id], obj=obj
    )
    assert shown.exit_code == 0, shown.output
    assert "TAMPERED: this record was altered outside the app" in shown.stdout
    as_json = await asyncio.to_thread(
        CliRunner().invoke, cli, ["approvals", "show", approval_id, "--json"], obj=obj
    )
    integrity = json.loads(as_json.stdout)["integrity"]
    assert integrity["intact"] is False and integrity["problems"]

    reviewers = ReviewerDirectory.of([("sara-token-0123456789", "sara", ["sec"])])
    # The inbox runs in its own event loop; a wire client is bound to the loop it starts in.
    if backend == "memory":
        inbox_client = mongo
    else:
        inbox_client = MongoDBClient(provider.mongodb_client.uri, mongo.db_name)
    inbox_provider = provider_for(inbox_client, ops.agent([]))
    web = create_app(inbox_provider, reviewers, session_secret=SECRET, poll_interval=0.1)
    with TestClient(web, base_url="http://127.0.0.1:8765") as http:
        page = http.get("/login")
        token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        signed = http.post(
            "/login",
            data={"token": "sara-token-0123456789", "csrf_token": token, "next": "/"},
            follow_redirects=False,
        )
        assert signed.status_code == 303
        detail = http.get(f"/approvals/{approval_id}")
    assert detail.status_code == 200
    assert 'id="tampered"' in detail.text
    assert "Tampered: this record was altered outside the app." in detail.text


async def test_a_resumed_run_whose_next_pause_cannot_be_stored_ends_failed(
    mongo: MongoDBClient,
) -> None:
    ops = Ops()
    hostile = function_call("grant_admin", {"us\x00er": "mallory"}, call_id="c2")
    provider = provider_for(mongo, ops.agent([GRANT, [hostile], [assistant_message("done")]]))
    run = await provider.execute_agent("iam", "make mallory admin", actor="iam-bot")
    assert run.approval_id is not None
    await approve(provider, run.approval_id)

    done = await provider.resume_agent(run.approval_id)

    assert done.status is RunStatus.ERROR
    assert done.error is not None and "next pause cannot be stored" in done.error
    assert ops.ran == [("grant_admin", {"user": "mallory"})]
    assert done.outcomes["c1"].status.value == "executed"
    assert [output.call_id for output in done.tool_outputs] == ["c1"]
    record = await provider.store.get(run.approval_id)
    assert record.status is ApprovalStatus.FAILED, "never left resuming for a takeover"
    assert record.result.error == done.error
    kept = record.tool_calls[0].outcome
    assert kept is not None and kept.output == "mallory is admin"
    assert provider.store.integrity_problems(record) == []
