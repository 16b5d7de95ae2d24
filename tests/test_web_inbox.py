"""The web inbox over HTTP: sign-in, CSRF, roles, deciding, resuming, live events.

The app runs in Starlette's TestClient (its own event loop, so the database client is made
there); the same scenarios run on memory:// and on the wire server.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from starlette.testclient import TestClient

from evolving_agents import MongoDBClient, OpenAIAgentsProvider
from evolving_agents.approvals.models import (
    AgentRunResult,
    CallOutcome,
    CallOutcomeStatus,
    PendingApproval,
)
from evolving_agents.approvals.rules import Reviewer
from evolving_agents.errors import ConfigurationError
from evolving_agents.notify.feed import ApprovalFeed
from evolving_agents.reviewers.directory import ReviewerDirectory, token_digest
from evolving_agents.web import create_app
from evolving_agents.web.live import InboxEvents
from evolving_agents.web.session import COOKIE_NAME
from tests.apps.review_app import AGENT_NAME, build_registry
from tests.test_cli_approvals import finish_with_outcomes

ALICE = "alice-token-0123456789"  # sre
BOB = "bob-token-0123456789ab"  # security
SECRET = "inbox-test-secret-0123456789"
REVIEWERS = ReviewerDirectory.of([(ALICE, "alice", ["sre"]), (BOB, "bob", ["security"])])
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Inbox:
    http: TestClient
    provider: OpenAIAgentsProvider

    def pause(self, request: str) -> AgentRunResult:
        run: AgentRunResult = self.http.portal.call(
            lambda: self.provider.execute_agent(AGENT_NAME, request, actor="release-bot")
        )
        assert run.approval_id is not None
        return run

    def record(self, approval_id: str | None) -> PendingApproval:
        record: PendingApproval = self.http.portal.call(self.provider.store.get, approval_id)
        return record

    def sign_in(self, token: str) -> None:
        self.http.cookies.clear()
        page = self.http.get("/login")
        response = self.http.post(
            "/login",
            data={"token": token, "csrf_token": csrf(page.text), "next": "/"},
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text

    def form(self, path: str, **fields: str) -> Any:
        """POST a form as the signed-in reviewer's page would, with their session's CSRF token."""
        token = csrf(self.http.get("/").text)
        return self.http.post(path, data={"csrf_token": token, **fields}, follow_redirects=False)


def csrf(html: str) -> str:
    match = _CSRF.search(html)
    assert match is not None, "every form carries a CSRF token"
    return match.group(1)


@pytest.fixture(params=["memory", "wire"])
def inbox(request: pytest.FixtureRequest) -> Iterator[Inbox]:
    db_name = f"eat_web_{uuid.uuid4().hex[:8]}"
    uri = "memory://" if request.param == "memory" else request.getfixturevalue("wire_uri")
    client = MongoDBClient(uri, db_name)  # connects lazily, inside the app's event loop
    provider = OpenAIAgentsProvider(mongodb_client=client, registry=build_registry())
    app = create_app(provider, REVIEWERS, session_secret=SECRET, poll_interval=0.1)
    with TestClient(app, base_url="http://127.0.0.1:8765") as http:
        yield Inbox(http, provider)
        http.portal.call(client.close)
    if request.param == "wire":
        with MongoClient(uri) as sync:
            sync.drop_database(db_name)


def test_signing_in_with_a_known_token_opens_the_queue_and_an_unknown_one_does_not(
    inbox: Inbox,
) -> None:
    run = inbox.pause("deploy payments-api")
    first = inbox.http.get("/", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/login?next=%2F"

    page = inbox.http.get("/login")
    wrong = inbox.http.post(
        "/login", data={"token": "guess-0123456789", "csrf_token": csrf(page.text)}
    )
    assert wrong.status_code == 401 and "not known here" in wrong.text

    response = inbox.http.post(
        "/login", data={"token": ALICE, "csrf_token": csrf(page.text)}, follow_redirects=False
    )
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    queue = inbox.http.get("/")
    assert queue.status_code == 200
    assert f'data-approval-id="{run.approval_id}"' in queue.text
    assert "Signed in as <strong>alice</strong>" in queue.text
    assert "script-src 'self'" in queue.headers["content-security-policy"]


def test_a_form_without_the_sessions_csrf_token_is_refused(inbox: Inbox) -> None:
    run = inbox.pause("deploy payments-api")
    call = run.pending_tool_calls[0].call_id
    inbox.sign_in(ALICE)
    decide = f"/approvals/{run.approval_id}/decide"
    fields = {"call_id": call, "verdict": "approved"}

    assert inbox.http.post(decide, data=fields).status_code == 403
    assert inbox.http.post(decide, data={**fields, "csrf_token": "forged"}).status_code == 403
    other = TestClient(inbox.http.app, base_url="http://127.0.0.1:8765")
    stolen = csrf(other.get("/login").text)  # a token from someone else's session
    assert inbox.http.post(decide, data={**fields, "csrf_token": stolen}).status_code == 403
    cross_site = inbox.http.post(
        decide,
        data={**fields, "csrf_token": csrf(inbox.http.get(f"/approvals/{run.approval_id}").text)},
        headers={"Origin": "https://evil.example"},
    )
    assert cross_site.status_code == 403
    assert inbox.record(run.approval_id).status.value == "pending"


def test_a_reviewer_without_the_role_sees_the_call_read_only_and_cannot_force_it(
    inbox: Inbox,
) -> None:
    run = inbox.pause("grant alice admin")
    approval_id = str(run.approval_id)
    call = run.pending_tool_calls[0].call_id

    inbox.sign_in(ALICE)
    page = inbox.http.get(f"/approvals/{approval_id}")
    assert "Read-only." in page.text and "needs one of the roles: security" in page.text
    assert 'data-key="approve"' not in page.text
    forged = inbox.form(f"/approvals/{approval_id}/decide", call_id=call, verdict="approved")
    assert forged.status_code == 403
    assert inbox.record(approval_id).status.value == "pending"

    inbox.sign_in(BOB)
    page = inbox.http.get(f"/approvals/{approval_id}")
    assert 'data-key="approve"' in page.text
    done = inbox.form(f"/approvals/{approval_id}/decide", call_id=call, verdict="approved")
    assert done.status_code == 303
    decision = inbox.record(approval_id).tool_calls[0].decision
    assert decision is not None and decision.reviewer == "bob"


def test_a_rejection_from_the_web_reaches_the_model_when_the_run_resumes(inbox: Inbox) -> None:
    run = inbox.pause("deploy payments-api")
    approval_id = str(run.approval_id)
    call = run.pending_tool_calls[0].call_id
    inbox.sign_in(ALICE)

    page = inbox.http.get(f"/approvals/{approval_id}")
    assert "Production deploy outside the release window" in page.text
    assert "Deploy to staging first, then promote" in page.text
    assert "deploy payments-api" in page.text, "the run's input is shown"
    empty = inbox.form(f"/approvals/{approval_id}/decide", call_id=call, verdict="rejected")
    assert empty.status_code == 400 and "the agent reads your message" in empty.text

    rejected = inbox.form(
        f"/approvals/{approval_id}/decide",
        call_id=call,
        verdict="rejected",
        message="No CHG ticket",
    )
    assert rejected.headers["location"] == f"/approvals/{approval_id}?done=rejected"
    again = inbox.form(f"/approvals/{approval_id}/decide", call_id=call, verdict="approved")
    assert again.status_code == 409

    resumed = inbox.form(f"/approvals/{approval_id}/resume")
    assert resumed.status_code == 303
    record = inbox.record(approval_id)
    assert record.status.value == "completed"
    assert "No CHG ticket" in str(record.result.final_output)
    assert "No CHG ticket" in inbox.http.get(f"/approvals/{approval_id}").text
    assert any(entry.detail.get("surface") == "web" for entry in record.audit)


def test_a_reviewer_approves_with_edited_arguments_and_the_tool_runs_with_them(
    inbox: Inbox,
) -> None:
    run = inbox.pause("deploy payments-api")
    approval_id = str(run.approval_id)
    inbox.sign_in(ALICE)
    page = inbox.http.get(f"/approvals/{approval_id}")
    staging = {"service": "payments-api", "version": "2.4.1", "environment": "staging"}
    response = inbox.form(
        f"/approvals/{approval_id}/decide",
        call_id=run.pending_tool_calls[0].call_id,
        verdict="approved",
        edited_arguments=json.dumps(staging),
    )
    assert "Approve with edited arguments" in page.text
    assert response.status_code == 303, response.text
    record = inbox.record(approval_id)
    decision = record.tool_calls[0].decision
    assert record.status.value == "decided" and decision is not None
    assert getattr(decision, "edited_arguments", None) == staging
    assert "Runs with these edited arguments" in inbox.http.get(f"/approvals/{approval_id}").text

    assert inbox.form(f"/approvals/{approval_id}/resume").status_code == 303
    final = str(inbox.record(approval_id).result.final_output)
    assert "deployed payments-api 2.4.1 to staging" in final


def test_a_sticky_decision_from_the_inbox_is_stored_and_audited(inbox: Inbox) -> None:
    approved, rejected, plain = (inbox.pause("deploy payments-api") for _ in range(3))
    inbox.sign_in(ALICE)
    page = inbox.http.get(f"/approvals/{approved.approval_id}")
    assert page.text.count('name="always"') == 2, "on the approve and on the reject form"
    assert page.text.count("and every later call of this tool in this run") == 2

    def decide(run: AgentRunResult, **fields: str) -> Any:
        path = f"/approvals/{run.approval_id}/decide"
        return inbox.form(path, call_id=run.pending_tool_calls[0].call_id, **fields)

    yes = decide(approved, verdict="approved", always="true")
    assert yes.headers["location"] == f"/approvals/{approved.approval_id}?done=approved-always"
    no = decide(rejected, verdict="rejected", message="Not this week", always="true")
    assert no.headers["location"].endswith("?done=rejected-always")
    assert decide(plain, verdict="approved").headers["location"].endswith("?done=approved")

    for run, verdict in ((approved, "approved"), (rejected, "rejected")):
        record = inbox.record(run.approval_id)
        decision = record.tool_calls[0].decision
        assert decision is not None and decision.always is True
        [entry] = [e for e in record.audit if e.action == f"decision.{verdict}"]
        assert entry.detail["sticky"] is True and entry.detail["surface"] == "web"
    once = inbox.record(plain.approval_id)
    assert once.tool_calls[0].decision is not None and once.tool_calls[0].decision.always is False
    assert not any("sticky" in entry.detail for entry in once.audit)

    shown = inbox.http.get(f"/approvals/{approved.approval_id}?done=approved-always").text
    assert "every later call of this tool in this run will be too" in shown
    assert '<span class="tag sticky">' in shown
    assert '<span class="tag sticky">' not in inbox.http.get(f"/approvals/{plain.approval_id}").text


def test_the_inbox_shows_what_each_decided_call_did_and_a_tool_error_first(inbox: Inbox) -> None:
    run = inbox.pause("deploy payments-api and grant alice admin")
    clean = inbox.pause("deploy payments-api")
    approval_id = str(run.approval_id)
    calls = {call.tool_name: call.call_id for call in run.pending_tool_calls}
    store = inbox.provider.store
    bob = Reviewer(name="bob", roles=frozenset({"security"}))
    for target in (approval_id, str(clean.approval_id)):
        inbox.http.portal.call(partial(store.decide, target, verdict="approved", reviewer=bob))
    error = "ConnectionError: <cluster prod-1> unreachable"
    outcomes = {
        calls["deploy_service"]: CallOutcome(status=CallOutcomeStatus.TOOL_ERROR, error=error),
        calls["grant_access"]: CallOutcome(
            status=CallOutcomeStatus.EXECUTED, output="granted alice for 48h"
        ),
    }
    inbox.http.portal.call(finish_with_outcomes, store, approval_id, outcomes)
    executed = CallOutcome(status=CallOutcomeStatus.EXECUTED, output="deployed")
    clean_call = clean.pending_tool_calls[0].call_id
    inbox.http.portal.call(
        finish_with_outcomes, store, str(clean.approval_id), {clean_call: executed}
    )
    inbox.sign_in(ALICE)

    page = inbox.http.get(f"/approvals/{approval_id}").text
    assert '<span class="badge big risk-high" id="record-tool-errors">1 tool error</span>' in page
    assert "1 approved call raised when the run resumed" in page
    deploy_card = page.split(f'id="call-{calls["deploy_service"]}"')[1].split("</section>")[0]
    assert 'class="flash error outcome outcome-tool_error" role="alert"' in deploy_card
    assert "the approved action did not happen" in deploy_card
    assert "ConnectionError: &lt;cluster prod-1&gt; unreachable" in deploy_card, "escaped"
    grant_card = page.split(f'id="call-{calls["grant_access"]}"')[1].split("</section>")[0]
    assert (
        '<strong>Outcome:</strong> ran: <span class="mono">granted alice for 48h</span>'
        in grant_card
    )
    assert "tool error" not in grant_card.lower()
    assert "record-tool-errors" not in inbox.http.get(f"/approvals/{clean.approval_id}").text

    rows = inbox.http.get("/approvals/rows", params={"status": "completed"}).text
    mine = rows.split(f'data-approval-id="{approval_id}"')[1].split("</tr>")[0]
    assert "1 tool error</span>" in mine
    theirs = rows.split(f'data-approval-id="{clean.approval_id}"')[1].split("</tr>")[0]
    assert "tool error" not in theirs


def test_filters_and_the_live_rows_fragment(inbox: Inbox) -> None:
    deploy = inbox.pause("deploy payments-api")
    grant = inbox.pause("grant alice admin")
    inbox.sign_in(ALICE)

    only_grants = inbox.http.get("/", params={"tool": "grant_access"})
    assert str(grant.approval_id) in only_grants.text
    assert str(deploy.approval_id) not in only_grants.text
    rows = inbox.http.get("/approvals/rows", params={"agent": AGENT_NAME})
    assert rows.text.count("data-approval-id=") == 2 and "<html" not in rows.text
    assert inbox.http.get("/", params={"status": "bogus"}).status_code == 400
    assert "Nothing here" in inbox.http.get("/", params={"status": "completed"}).text


def test_sessions_end_when_tampered_with_or_when_the_token_is_removed(inbox: Inbox) -> None:
    inbox.sign_in(ALICE)
    assert inbox.http.get("/", follow_redirects=False).status_code == 200
    cookie = inbox.http.cookies[COOKIE_NAME]

    payload, mac = cookie.split(".")
    inbox.http.cookies.clear()
    inbox.http.cookies.set(
        COOKIE_NAME, payload + "." + mac[:-2] + ("AA" if mac[-2:] != "AA" else "BB")
    )
    assert inbox.http.get("/", follow_redirects=False).status_code == 303

    # The second app runs its own event loop: on the wire server it needs a client of its own.
    mongo = inbox.provider.mongodb_client
    same_db = mongo if mongo.backend == "memory" else MongoDBClient(mongo.uri, mongo.db_name)
    without_alice = create_app(
        inbox.provider.store,
        ReviewerDirectory.of([(BOB, "bob", ["security"])]),
        session_secret=SECRET,
        mongodb_client=same_db,
    )
    with TestClient(without_alice, base_url="http://127.0.0.1:8765") as other:
        other.cookies.set(COOKIE_NAME, cookie)
        assert other.get("/", follow_redirects=False).status_code == 303
        if same_db is not mongo:
            other.portal.call(same_db.close)


def test_sign_in_never_redirects_off_site(inbox: Inbox) -> None:
    page = inbox.http.get("/login", params={"next": "//evil.example/x"})
    response = inbox.http.post(
        "/login",
        data={"token": ALICE, "csrf_token": csrf(page.text), "next": "//evil.example/x"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"


async def test_open_pages_are_told_about_a_new_approval(mongo: MongoDBClient) -> None:
    provider = OpenAIAgentsProvider(mongodb_client=mongo, registry=build_registry())
    events = InboxEvents(ApprovalFeed(provider.store, poll_interval=0.05))
    task = asyncio.create_task(events.run())
    try:
        with events.subscription() as queue:
            await asyncio.sleep(0.1)
            run = await provider.execute_agent(AGENT_NAME, "deploy it", actor="release-bot")
            message = await asyncio.wait_for(queue.get(), 5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert message.startswith("event: approvals\n")
    data = json.loads(message.split("data: ", 1)[1])
    assert {"id": run.approval_id, "status": "pending", "version": 1} in data["changed"]


def test_reviewers_come_from_a_toml_file_or_json_in_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "reviewers.toml"
    path.write_text(
        f"""
[[reviewers]]
name = "alice"
roles = ["sre"]
token_sha256 = "{token_digest(ALICE)}"

[[reviewers]]
name = "bob"
roles = ["security", "sre"]
token = "{BOB}"
""",
        encoding="utf-8",
    )
    reviewers = ReviewerDirectory.from_env({"EAT_REVIEWERS_FILE": str(path)})
    alice = reviewers.authenticate(ALICE)
    assert alice is not None and alice.name == "alice" and alice.roles == {"sre"}
    assert reviewers.authenticate("nobody-0123456789") is None

    from_json = ReviewerDirectory.from_env(
        {"EAT_REVIEWERS": json.dumps({BOB: {"name": "bob", "roles": ["security"]}})}
    )
    bob = from_json.authenticate(BOB)
    assert bob is not None and bob.roles == {"security"}

    with pytest.raises(ConfigurationError, match="exactly one of token, token_sha256"):
        ReviewerDirectory.from_data([{"name": "x"}], source="test")
    with pytest.raises(ConfigurationError, match="EAT_REVIEWERS is not valid JSON"):
        ReviewerDirectory.from_env({"EAT_REVIEWERS": "{"})
    with pytest.raises(ConfigurationError, match="token: String should have at least 16"):
        ReviewerDirectory.from_data([{"name": "x", "token": "short"}], source="test")
