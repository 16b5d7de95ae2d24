"""Approving the decision layer's suggested arguments from ``eat approvals`` and the inbox.

A small release agent (the SDK with a ScriptedModel) asks to grant admin roles; the decision
layer here is a test ``DecisionProvider`` that sends every grant to review and, for one over
24 hours, suggests a narrower, shorter grant in full (``better_arguments``). A reviewer
approves the suggestion in one step; the run resumes and the tool body runs once, with it.
"""

from __future__ import annotations

import json
import re
import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from agents import Agent
from agents.items import TResponseOutputItem
from agents.testing import ModelCall, ModelStep, ScriptedModel, assistant_message, function_call
from anyio.from_thread import BlockingPortal
from pymongo import MongoClient
from starlette.testclient import TestClient

from evolving_agents import AgentRegistry, MongoDBClient, OpenAIAgentsProvider, OpenAIToolAdapter
from evolving_agents.approvals.models import AgentRunResult, PendingApproval, arguments_digest
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.approvals.suggestions import SUGGESTION_APPLIED
from evolving_agents.cli import common
from evolving_agents.cli.common import ExitCode
from evolving_agents.decisions.base import DecisionContext, DecisionSignal, ToolCallRequest
from evolving_agents.web import create_app
from tests.test_cli_approvals import Eat
from tests.test_web_inbox import ALICE, BOB, REVIEWERS, SECRET, Inbox

AGENT = "suggesting-agent"
APP = "tests.test_suggestions_surfaces:suggesting_registry"
BETTER_ACTION = "Grant Helpdesk Administrator for 2h instead"
RAN: list[dict[str, Any]] = []
"""Every time the tool body ran, with its arguments (the CLI and the inbox run in-process)."""


def grant_access(user: str, role: str, hours: int) -> str:
    """Grant a user an admin role for some hours."""
    RAN.append({"user": user, "role": role, "hours": hours})
    return f"granted {user} {role} for {hours}h"


def proposed(user: str, hours: int = 48) -> dict[str, Any]:
    return {"user": f"{user}@example.com", "role": "Super Administrator", "hours": hours}


def suggested(user: str) -> dict[str, Any]:
    return {"user": f"{user}@example.com", "role": "Helpdesk Administrator", "hours": 2}


class SuggestingPolicy:
    """Every grant is reviewed; one over 24h comes with a narrower, shorter one in full."""

    name = "test-suggester"

    async def decide(self, tool_call: ToolCallRequest, context: DecisionContext) -> DecisionSignal:
        arguments = tool_call.arguments
        if int(arguments.get("hours", 0)) > 24:
            return DecisionSignal.of(
                "needs_approval",
                provider="test",
                risk=0.9,
                reason="Admin access for more than 24h",
                better_action=BETTER_ACTION,
                better_arguments={**arguments, "role": "Helpdesk Administrator", "hours": 2},
            )
        return DecisionSignal.of(
            "needs_approval", provider="test", risk=0.6, reason="Every admin grant is reviewed"
        )


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def _respond(call: ModelCall) -> list[TResponseOutputItem]:
    """One grant per user named in the request (carol's for 8h, the others' for 48h), then
    the outputs it read."""
    items = call.input if isinstance(call.input, list) else []
    outputs = [_field(i, "output") for i in items if _field(i, "type") == "function_call_output"]
    if outputs:
        return [assistant_message("final: " + "; ".join(str(output) for output in outputs))]
    request = next((str(_field(i, "content")) for i in items if _field(i, "role") == "user"), "")
    return [
        function_call(
            "grant_access",
            proposed(user, 8 if user == "carol" else 48),
            call_id=f"call_{user}_{secrets.token_hex(3)}",
        )
        for user in ("alice", "dave", "carol")
        if user in request
    ]


def suggesting_registry() -> AgentRegistry:
    """``--app`` for these tests: grants reviewed by ``SuggestingPolicy``, role security."""

    def build() -> Agent[Any]:
        adapter = OpenAIToolAdapter(decision_provider=SuggestingPolicy())
        tool = adapter.adapt(
            grant_access, metadata={"system": "okta", "approver_roles": ["security"]}
        )
        model = ScriptedModel([ModelStep.respond(_respond) for _ in range(4)])
        return Agent(name=AGENT, instructions="grant access", tools=[tool], model=model)

    registry = AgentRegistry()
    registry.register_factory(AGENT, build)
    return registry


@pytest.fixture(autouse=True)
def tool_runs() -> Iterator[list[dict[str, Any]]]:
    RAN.clear()
    yield RAN
    RAN.clear()


# -- the CLI -----------------------------------------------------------------------------------


class SuggestingEat(Eat):
    def grant(self, request: str) -> AgentRunResult:
        return self.pause(request, agent=AGENT, registry=suggesting_registry)

    def record(self, approval_id: str) -> dict[str, Any]:
        shown: dict[str, Any] = self.json("approvals", "show", approval_id)
        return shown


@pytest.fixture(params=["memory", "wire"])
def eat(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[SuggestingEat]:
    monkeypatch.setattr(common.console, "width", 160)
    if request.param == "memory":
        yield SuggestingEat(MongoDBClient("memory://", f"eat_sugg_{uuid.uuid4().hex[:8]}"))
    else:
        request.getfixturevalue("wire_env")
        yield SuggestingEat(None)


def _one_line_error(result: Any) -> str:
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return str(lines[0])


def _untouched(record: dict[str, Any]) -> None:
    assert record["status"] == "pending"
    for call in record["tool_calls"]:
        assert call.get("decision") is None and not call.get("votes"), call


def test_cli_approves_the_one_suggestion_and_the_tool_runs_once_with_it(
    eat: SuggestingEat, tool_runs: list[dict[str, Any]]
) -> None:
    run = eat.grant("grant alice")
    approval_id = str(run.approval_id)

    shown = eat("approvals", "show", approval_id)
    assert shown.exit_code == 0, shown.output
    assert f"better action: {BETTER_ACTION}" in shown.stdout
    assert 'role: "Super Administrator" -> "Helpdesk Administrator"' in shown.stdout
    assert "hours: 48 -> 2" in shown.stdout
    assert f"eat approvals approve {approval_id} --suggested" in shown.stdout

    done = eat(
        "approvals",
        "approve",
        approval_id,
        "--suggested",
        "--as",
        "sam",
        "--role",
        "security",
        "--app",
        APP,
    )
    assert done.exit_code == 0, done.output
    out = done.stdout
    assert BETTER_ACTION in out
    assert 'role: "Super Administrator" -> "Helpdesk Administrator"' in out
    assert "hours: 48 -> 2" in out
    assert out.index("hours: 48 -> 2") < out.index(
        "approved grant_access with the suggested arguments as sam"
    )
    assert "every call is decided: resume with" in out

    record = eat.record(approval_id)
    assert record["status"] == "decided"
    decision = record["tool_calls"][0]["decision"]
    assert decision["edited_arguments"] == suggested("alice")
    assert decision["edited_arguments_sha256"] == arguments_digest(suggested("alice"))
    assert decision["message"] == SUGGESTION_APPLIED
    assert [vote["surface"] for vote in decision["votes"]] == ["cli"]
    assert (
        "runs with the decision layer's suggested arguments"
        in eat("approvals", "show", approval_id).stdout
    )

    resumed = eat.json("approvals", "resume", approval_id, "--app", APP)
    assert resumed["status"] == "success", resumed
    assert tool_runs == [suggested("alice")], "the body ran once, with the suggestion"
    assert "granted alice@example.com Helpdesk Administrator for 2h" in resumed["final_output"]
    again = eat("approvals", "resume", approval_id, "--app", APP)
    assert again.exit_code == ExitCode.CONFLICT
    assert tool_runs == [suggested("alice")]


def test_cli_with_several_calls_needs_call_and_names_the_ones_with_suggestions(
    eat: SuggestingEat,
) -> None:
    run = eat.grant("grant alice and dave, and carol for 8h")
    approval_id = str(run.approval_id)
    calls = {call.call_id.split("_")[1]: call.call_id for call in run.pending_tool_calls}
    approve = ("approvals", "approve", approval_id, "--suggested", "--as", "sam")
    roles = ("--role", "security", "--app", APP)

    ambiguous = eat(*approve, *roles)
    assert ambiguous.exit_code == ExitCode.USAGE
    line = _one_line_error(ambiguous)
    assert "waits on 3 calls; pick one with --call" in line
    assert calls["alice"] in line and calls["dave"] in line
    assert calls["carol"] not in line, "carol's short grant has no suggestion"
    _untouched(eat.record(approval_id))

    picked = eat(*approve, "--call", calls["dave"], *roles)
    assert picked.exit_code == 0, picked.output
    assert "hours: 48 -> 2" in picked.stdout
    record = eat.record(approval_id)
    by_id = {call["call_id"]: call for call in record["tool_calls"]}
    assert by_id[calls["dave"]]["decision"]["edited_arguments"] == suggested("dave")
    assert by_id[calls["alice"]].get("decision") is None
    assert by_id[calls["carol"]].get("decision") is None
    assert record["status"] == "pending"
    assert "2 call(s) still wait for a decision" in picked.stdout

    only_alice_left = eat(*approve, *roles)
    assert only_alice_left.exit_code == ExitCode.USAGE, "two undecided calls: still ambiguous"
    assert calls["alice"] in _one_line_error(only_alice_left)


def test_cli_refuses_a_call_without_a_suggestion_in_one_line(eat: SuggestingEat) -> None:
    run = eat.grant("grant carol for 8h")
    approval_id = str(run.approval_id)
    call_id = run.pending_tool_calls[0].call_id

    for extra in ((), ("--call", call_id)):
        result = eat(
            "approvals",
            "approve",
            approval_id,
            "--suggested",
            *extra,
            "--as",
            "sam",
            "--role",
            "security",
            "--app",
            APP,
        )
        assert result.exit_code == ExitCode.USAGE
        line = _one_line_error(result)
        assert f"call {call_id} (grant_access) has no suggested arguments" in line
    unknown = eat(
        "approvals",
        "approve",
        approval_id,
        "--suggested",
        "--call",
        "call_nobody",
        "--as",
        "sam",
        "--role",
        "security",
        "--app",
        APP,
    )
    assert unknown.exit_code == ExitCode.USAGE
    assert "has no call call_nobody" in _one_line_error(unknown)
    shown = eat("approvals", "show", approval_id).stdout
    assert "suggested arguments" not in shown and "--suggested" not in shown
    _untouched(eat.record(approval_id))


def test_cli_refuses_suggested_with_edited_arguments_or_without_the_rules(
    eat: SuggestingEat,
) -> None:
    run = eat.grant("grant alice")
    approval_id = str(run.approval_id)
    call_id = run.pending_tool_calls[0].call_id
    base = ("approvals", "approve", approval_id, "--suggested", "--call", call_id)
    me = ("--as", "sam", "--role", "security")

    both = eat(*base, *me, "--app", APP, "--edited-arguments", json.dumps(proposed("alice", 1)))
    assert both.exit_code == ExitCode.USAGE
    assert "not both" in _one_line_error(both)
    no_app = eat(*base, *me)
    assert no_app.exit_code == ExitCode.USAGE
    assert "--suggested needs --app" in _one_line_error(no_app)
    sticky = eat(*base, *me, "--app", APP, "--always")
    assert sticky.exit_code == ExitCode.USAGE
    assert "--always" in _one_line_error(sticky)
    # The same rules as every approval: the security role, never the run's own actor.
    no_role = eat(*base, "--as", "sam", "--app", APP)
    assert no_role.exit_code == ExitCode.FORBIDDEN
    assert "needs one of the roles: security" in _one_line_error(no_role)
    own = eat(*base, "--as", "release-bot", "--role", "security", "--app", APP)
    assert own.exit_code == ExitCode.FORBIDDEN
    _untouched(eat.record(approval_id))


def test_cli_json_says_what_was_approved(eat: SuggestingEat) -> None:
    run = eat.grant("grant alice")
    approval_id = str(run.approval_id)

    out = eat.json(
        "approvals",
        "approve",
        approval_id,
        "--suggested",
        "--as",
        "sam",
        "--role",
        "security",
        "--app",
        APP,
        "--comment",
        "2h is plenty",
    )
    applied = out["suggestion_applied"]
    assert applied["call_id"] == run.pending_tool_calls[0].call_id
    assert applied["tool_name"] == "grant_access"
    assert applied["better_action"] == BETTER_ACTION
    assert applied["arguments"] == suggested("alice")
    assert applied["arguments_sha256"] == arguments_digest(suggested("alice"))
    assert applied["changes"] == [
        {"path": "role", "before": "Super Administrator", "after": "Helpdesk Administrator"},
        {"path": "hours", "before": 48, "after": 2},
    ]
    assert out["id"] == approval_id and out["status"] == "decided" and "state" not in out
    decision = out["tool_calls"][0]["decision"]
    assert decision["edited_arguments"] == suggested("alice")
    assert decision["message"] == "2h is plenty"


# -- the inbox ---------------------------------------------------------------------------------


class SuggestingInbox(Inbox):
    def grant(self, request: str) -> AgentRunResult:
        run: AgentRunResult = self.portal.call(
            lambda: self.provider.execute_agent(AGENT, request, actor="release-bot")
        )
        assert run.approval_id is not None
        return run

    @property
    def portal(self) -> BlockingPortal:
        assert self.http.portal is not None, "inside the TestClient's context"
        return self.http.portal

    def raw(self) -> Any:
        """The records' collection, to change a stored document behind the app's back."""
        store: PendingApprovalStore = self.provider.store
        return store._collection


@pytest.fixture(params=["memory", "wire"])
def inbox(request: pytest.FixtureRequest) -> Iterator[SuggestingInbox]:
    db_name = f"eat_sugg_{uuid.uuid4().hex[:8]}"
    uri = "memory://" if request.param == "memory" else request.getfixturevalue("wire_uri")
    client = MongoDBClient(uri, db_name)
    provider = OpenAIAgentsProvider(mongodb_client=client, registry=suggesting_registry())
    app = create_app(provider, REVIEWERS, session_secret=SECRET, poll_interval=0.1)
    with TestClient(app, base_url="http://127.0.0.1:8765") as http:
        yield SuggestingInbox(http, provider)
        SuggestingInbox(http, provider).portal.call(client.close)
    if request.param == "wire":
        sync: MongoClient[dict[str, Any]]
        with MongoClient(uri) as sync:
            sync.drop_database(db_name)


_DIGEST = re.compile(r'name="suggested_sha256" value="([0-9a-f]{64})"')
_BUTTON = "Approve the suggestion</button>"


def _shown_digest(html: str) -> str:
    match = _DIGEST.search(html)
    assert match is not None, "the form carries the digest of the suggestion it shows"
    return match.group(1)


def _diff_rows(html: str) -> list[tuple[str, str, str]]:
    table = html.split('class="arg-diff"', 1)[1].split("</table>", 1)[0]
    cells = re.findall(r'<td class="mono (?:path|before|after)">(.*?)</td>', table)
    return [(cells[i], cells[i + 1], cells[i + 2]) for i in range(0, len(cells), 3)]


def _nothing_written(before: PendingApproval, after: PendingApproval) -> None:
    assert after.status.value == "pending"
    assert len(after.audit) == len(before.audit)
    assert all(call.decision is None and not call.votes for call in after.tool_calls)


def test_inbox_offers_the_suggestion_only_where_there_is_one_and_the_reviewer_may_approve(
    inbox: SuggestingInbox,
) -> None:
    long = inbox.grant("grant alice")
    short = inbox.grant("grant carol for 8h")
    long_page = f"/approvals/{long.approval_id}"

    inbox.sign_in(BOB)  # security: may approve
    page = inbox.http.get(long_page).text
    assert BETTER_ACTION in page and "Suggested arguments" in page
    assert _diff_rows(page) == [
        ("role", "&#34;Super Administrator&#34;", "&#34;Helpdesk Administrator&#34;"),
        ("hours", "48", "2"),
    ]
    assert page.count(_BUTTON) == 1
    assert _shown_digest(page) == arguments_digest(suggested("alice"))
    short_page = inbox.http.get(f"/approvals/{short.approval_id}").text
    assert 'data-key="approve"' in short_page, "bob may approve carol's grant as proposed"
    assert _BUTTON not in short_page and "Suggested arguments" not in short_page
    no_suggestion = inbox.form(
        f"/approvals/{short.approval_id}/approve-suggestion",
        call_id=short.pending_tool_calls[0].call_id,
        suggested_sha256=arguments_digest(suggested("carol")),
    )
    assert no_suggestion.status_code == 409 and "no suggested arguments" in no_suggestion.text

    inbox.sign_in(ALICE)  # sre: sees the suggestion, may not approve it
    page = inbox.http.get(long_page).text
    assert "Suggested arguments" in page and "Read-only." in page
    assert _BUTTON not in page
    before = inbox.record(long.approval_id)
    forged = inbox.form(
        f"{long_page}/approve-suggestion",
        call_id=long.pending_tool_calls[0].call_id,
        suggested_sha256=arguments_digest(suggested("alice")),
    )
    assert forged.status_code == 403 and "needs one of the roles: security" in forged.text
    _nothing_written(before, inbox.record(long.approval_id))
    assert inbox.record(short.approval_id).tool_calls[0].decision is None


def test_inbox_refuses_a_suggestion_other_than_the_one_it_showed(inbox: SuggestingInbox) -> None:
    run = inbox.grant("grant alice")
    approval_id = str(run.approval_id)
    call_id = run.pending_tool_calls[0].call_id
    path = f"/approvals/{approval_id}/approve-suggestion"
    inbox.sign_in(BOB)
    shown = _shown_digest(inbox.http.get(f"/approvals/{approval_id}").text)
    before = inbox.record(approval_id)

    no_csrf = inbox.http.post(path, data={"call_id": call_id, "suggested_sha256": shown})
    assert no_csrf.status_code == 403
    forged = inbox.form(path, call_id=call_id, suggested_sha256="0" * 64)
    assert forged.status_code == 409
    assert "not the ones the page showed you" in forged.text
    missing = inbox.form(path, call_id=call_id)
    assert missing.status_code == 409
    _nothing_written(before, inbox.record(approval_id))

    # The suggestion changes after the page was shown: the digest the page posts is stale.
    wider = {**suggested("alice"), "hours": 24}
    inbox.portal.call(
        lambda: inbox.raw().update_one(
            {"_id": approval_id}, {"$set": {"tool_calls.0.signal.better_arguments": wider}}
        )
    )
    stale = inbox.form(path, call_id=call_id, suggested_sha256=shown)
    assert stale.status_code == 409 and "not the ones the page showed you" in stale.text
    after = inbox.record(approval_id)
    assert after.tool_calls[0].signal is not None
    assert after.tool_calls[0].signal["better_arguments"] == wider
    _nothing_written(before, after)


def test_inbox_refuses_a_forged_suggestion_whose_digest_the_form_matches(
    inbox: SuggestingInbox,
) -> None:
    """Someone rewrites the stored suggestion and posts its digest: the page offers no button
    on a tampered record, and the store's seal check refuses the vote as a 409, not a 500."""
    run = inbox.grant("grant alice")
    approval_id = str(run.approval_id)
    inbox.sign_in(BOB)
    before = inbox.record(approval_id)
    forged = {**suggested("alice"), "role": "Super Administrator", "hours": 720}
    inbox.portal.call(
        lambda: inbox.raw().update_one(
            {"_id": approval_id}, {"$set": {"tool_calls.0.signal.better_arguments": forged}}
        )
    )
    page = inbox.http.get(f"/approvals/{approval_id}").text
    assert "Tampered: this record was altered outside the app." in page
    assert _BUTTON not in page

    refused = inbox.form(
        f"/approvals/{approval_id}/approve-suggestion",
        call_id=run.pending_tool_calls[0].call_id,
        suggested_sha256=arguments_digest(forged),
    )
    assert refused.status_code == 409
    assert "altered outside the app" in refused.text and "nothing was recorded" in refused.text
    _nothing_written(before, inbox.record(approval_id))


def test_inbox_approves_the_suggestion_and_the_resumed_run_uses_it_once(
    inbox: SuggestingInbox, tool_runs: list[dict[str, Any]]
) -> None:
    run = inbox.grant("grant alice")
    approval_id = str(run.approval_id)
    inbox.sign_in(BOB)
    shown = _shown_digest(inbox.http.get(f"/approvals/{approval_id}").text)

    done = inbox.form(
        f"/approvals/{approval_id}/approve-suggestion",
        call_id=run.pending_tool_calls[0].call_id,
        suggested_sha256=shown,
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"/approvals/{approval_id}?done=suggested"
    record = inbox.record(approval_id)
    decision = record.tool_calls[0].decision
    assert record.status.value == "decided" and decision is not None
    assert decision.reviewer == "bob" and decision.message == SUGGESTION_APPLIED
    assert decision.edited_arguments == suggested("alice")
    assert decision.edited_arguments_sha256 == shown
    assert [vote.surface for vote in decision.votes] == ["web"]

    page = inbox.http.get(done.headers["location"]).text
    assert "Approved with the decision layer&#39;s suggested arguments." in page
    assert "suggestion applied" in page and _BUTTON not in page
    assert page.count('class="arg-diff"') == 1, "the applied diff, not the offer again"
    assert _diff_rows(page.split("Runs with the decision layer's suggested", 1)[1]) == [
        ("role", "&#34;Super Administrator&#34;", "&#34;Helpdesk Administrator&#34;"),
        ("hours", "48", "2"),
    ]
    again = inbox.form(
        f"/approvals/{approval_id}/approve-suggestion",
        call_id=run.pending_tool_calls[0].call_id,
        suggested_sha256=shown,
    )
    assert again.status_code == 409

    assert inbox.form(f"/approvals/{approval_id}/resume").status_code == 303
    assert tool_runs == [suggested("alice")], "the body ran once, with the suggestion"
    final = str(inbox.record(approval_id).result.final_output)
    assert "granted alice@example.com Helpdesk Administrator for 2h" in final
    assert inbox.form(f"/approvals/{approval_id}/resume").status_code == 409
    assert tool_runs == [suggested("alice")]


def test_an_inbox_without_the_agents_shows_the_suggestion_but_cannot_apply_it() -> None:
    """A store-only inbox cannot check edits, so it offers no button (the store would refuse)."""
    client = MongoDBClient("memory://", f"eat_sugg_{uuid.uuid4().hex[:8]}")
    agents = OpenAIAgentsProvider(mongodb_client=client, registry=suggesting_registry())
    app = create_app(PendingApprovalStore(client), REVIEWERS, session_secret=SECRET)
    with TestClient(app, base_url="http://127.0.0.1:8765") as http:
        inbox = SuggestingInbox(http, agents)
        run = inbox.grant("grant alice")
        inbox.sign_in(BOB)
        page = http.get(f"/approvals/{run.approval_id}").text
        assert "Suggested arguments" in page and _BUTTON not in page
        assert "only when the inbox runs with your agents" in page
        refused = inbox.form(
            f"/approvals/{run.approval_id}/approve-suggestion",
            call_id=run.pending_tool_calls[0].call_id,
            suggested_sha256=arguments_digest(suggested("alice")),
        )
        assert refused.status_code == 400
        assert inbox.record(run.approval_id).tool_calls[0].decision is None
        inbox.portal.call(client.close)
