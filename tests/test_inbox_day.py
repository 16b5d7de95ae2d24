"""A reviewer's day in the inbox (issue 14): what each row says, the count in the tab title,
what happens once every call is decided, edits that keep their text and show their diff, and
calls that expired saying so.

The app runs in Starlette's TestClient on ``memory://``, as ``test_web_inbox.py`` does; the
inbox's clock is a test clock, so "a minute later" needs no sleeping.
"""

from __future__ import annotations

import html
import json
import re
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import pytest
from agents import Agent
from agents.testing import ScriptedModel, assistant_message, function_call
from starlette.testclient import TestClient

from evolving_agents import MongoDBClient, OpenAIAgentsProvider, OpenAIToolAdapter
from evolving_agents.approvals.models import AgentRunResult, utcnow
from evolving_agents.approvals.rules import Reviewer
from evolving_agents.decisions.local_rules import LocalRulePolicy
from evolving_agents.web import create_app
from tests.apps.review_app import AGENT_NAME, build_registry
from tests.test_web_inbox import ALICE, REVIEWERS, SECRET, Inbox, csrf

IAM_AGENT = "iam-agent"
_TEXTAREA = re.compile(
    r'<textarea id="edit-\d+" name="edited_arguments"[^>]*>(.*?)</textarea>', re.S
)
_TITLE = re.compile(r"<title>(.*?)</title>", re.S)


class Clock:
    """The inbox's clock: real time plus whatever the test moved it on by."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.offset


def _iam_agent() -> Agent[Any]:
    """An agent whose grants a rule blocks for role root: an edit to root is refused."""
    policy = LocalRulePolicy.from_dict(
        [
            {
                "name": "long",
                "tools": ["grant_access"],
                "verdict": "needs_approval",
                "when": [{"arg": "hours", "op": ">", "value": 24}],
                "reason": "over 24h",
            },
            {
                "name": "root",
                "tools": ["grant_access"],
                "verdict": "block",
                "when": [{"arg": "role", "op": "==", "value": "root"}],
                "reason": "never root",
            },
        ]
    )

    def grant_access(user: str, role: str, hours: int) -> str:
        """Grant a role for some hours."""
        return f"granted {user} {role} for {hours}h"

    model = ScriptedModel(
        [
            [
                function_call(
                    "grant_access",
                    {"user": "alice", "role": "admin", "hours": 48},
                    call_id=f"call_grant_{secrets.token_hex(4)}",
                )
            ],
            [assistant_message("done")],
        ]
    )
    tool = OpenAIToolAdapter(decision_provider=policy).adapt(grant_access)
    return Agent(name=IAM_AGENT, tools=[tool], model=model)


@dataclass
class Day(Inbox):
    """The inbox rig of ``tests/test_web_inbox.py`` (sign-in, forms, records), on a clock."""

    clock: Clock

    def pause(  # type: ignore[override]  # the approval id: what every test here needs
        self, request: str, *, agent: str = AGENT_NAME, actor: str = "release-bot"
    ) -> str:
        run: AgentRunResult = self.http.portal.call(
            partial(self.provider.execute_agent, agent, request, actor=actor)
        )
        assert run.approval_id is not None
        return run.approval_id

    def call_id(self, approval_id: str) -> str:
        return self.record(approval_id).tool_calls[0].call_id

    def approve_all(self, approval_id: str) -> None:
        bob = Reviewer(name="bob", roles=frozenset({"security", "sre"}))
        store = self.provider.store
        self.http.portal.call(partial(store.decide, approval_id, verdict="approved", reviewer=bob))


@pytest.fixture
def day() -> Iterator[Day]:
    client = MongoDBClient("memory://", f"eat_day_{uuid.uuid4().hex[:8]}")
    registry = build_registry()
    registry.register_factory(IAM_AGENT, _iam_agent)
    provider = OpenAIAgentsProvider(mongodb_client=client, registry=registry)
    clock = Clock()
    app = create_app(provider, REVIEWERS, session_secret=SECRET, poll_interval=0.1, clock=clock)
    with TestClient(app, base_url="http://127.0.0.1:8765") as http:
        yield Day(http, provider, clock)
        http.portal.call(client.close)


def _title(page: str) -> str:
    match = _TITLE.search(page)
    assert match is not None
    return html.unescape(match.group(1))


def _row(page: str, approval_id: str) -> str:
    return page.split(f'data-approval-id="{approval_id}"')[1].split("</tr>")[0]


def _textarea(page: str) -> str:
    match = _TEXTAREA.search(page)
    assert match is not None, "the edit form is on the page"
    return html.unescape(match.group(1))


def _section(page: str, section_id: str) -> str:
    return page.split(f'id="{section_id}"')[1].split("</section>")[0]


# -- the queue -----------------------------------------------------------------------------------


def test_each_row_says_what_was_asked_and_by_whom_escaped(day: Day) -> None:
    deploy = day.pause("  \nDeploy payments-api 2.4.1\nthe second line stays on the record page")
    hostile = day.pause("deploy <img src=x onerror=alert(1)>", actor="<b>mallory</b>")
    day.sign_in(ALICE)

    queue = day.http.get("/").text
    row = _row(queue, deploy)
    assert '<span class="request-line">Deploy payments-api 2.4.1</span>' in row
    assert "second line" not in row
    assert 'asked by <strong class="actor">release-bot</strong>' in row
    theirs = _row(queue, hostile)
    assert "deploy &lt;img src=x onerror=alert(1)&gt;" in theirs
    assert "&lt;b&gt;mallory&lt;/b&gt;" in theirs
    assert "<img" not in queue and "<b>mallory" not in queue
    assert 'data-label="Request"' in _row(day.http.get("/approvals/rows").text, deploy)


def test_the_tab_title_counts_the_waiting_approvals_and_the_live_rows_carry_it(day: Day) -> None:
    day.sign_in(ALICE)
    assert _title(day.http.get("/").text) == "Queue · EAT review inbox"
    assert day.http.get("/approvals/rows").headers["X-Eat-Waiting"] == ""

    first, _second, _third = (day.pause("deploy payments-api") for _ in range(3))
    assert _title(day.http.get("/").text) == "(3) Queue · EAT review inbox"
    # Whatever the filter shows, the title counts what waits for a decision.
    assert _title(day.http.get("/", params={"status": "completed"}).text).startswith("(3) ")
    rows = day.http.get("/approvals/rows", params={"tool": "grant_access"})
    assert rows.headers["X-Eat-Waiting"] == "3" and "data-approval-id" not in rows.text

    day.approve_all(first)
    assert day.http.get("/approvals/rows").headers["X-Eat-Waiting"] == "2"
    page = day.http.get("/").text
    assert 'data-title="Queue · EAT review inbox"' in page, "what the script prefixes"


# -- what happens next ---------------------------------------------------------------------------


def test_a_decided_run_with_no_worker_says_so_and_offers_to_resume_now(day: Day) -> None:
    approval_id = day.pause("deploy payments-api")
    day.sign_in(ALICE)
    assert 'id="next-step"' not in day.http.get(f"/approvals/{approval_id}").text, "still pending"

    day.approve_all(approval_id)
    step = _section(day.http.get(f"/approvals/{approval_id}").text, "next-step")
    assert "Every call is decided, but no worker is running" in step
    assert 'id="resume"' in step and "Resume the run now" in step

    assert day.form(f"/approvals/{approval_id}/resume").status_code == 303
    assert day.record(approval_id).status.value == "completed"
    assert 'id="next-step"' not in day.http.get(f"/approvals/{approval_id}").text


def test_a_live_worker_holding_a_lease_will_resume_the_run(day: Day) -> None:
    busy, waiting = day.pause("deploy payments-api"), day.pause("deploy payments-api")
    day.approve_all(busy)
    day.approve_all(waiting)
    store = day.provider.store
    day.http.portal.call(store.claim_for_resume, busy, "worker-7", 60.0)
    day.sign_in(ALICE)

    step = _section(day.http.get(f"/approvals/{waiting}").text, "next-step")
    assert "a worker will resume this run (worker-7 holding a lease now)" in step
    held = _section(day.http.get(f"/approvals/{busy}").text, "next-step")
    assert "Worker worker-7 is resuming this run now." in held
    assert 'id="resume"' not in held


def test_a_run_no_worker_picks_up_is_not_promised_to_one(day: Day) -> None:
    other, mine = day.pause("deploy payments-api"), day.pause("deploy payments-api")
    day.approve_all(other)
    store = day.provider.store
    day.http.portal.call(store.claim_for_resume, other, "worker-7", 60.0)
    day.http.portal.call(partial(store.release, other, "worker-7", "shutting down"))
    day.approve_all(mine)
    day.sign_in(ALICE)

    fresh = _section(day.http.get(f"/approvals/{mine}").text, "next-step")
    assert "a worker will resume this run (worker-7 claimed a run" in fresh
    day.clock.offset = timedelta(minutes=2)
    stale = _section(day.http.get(f"/approvals/{mine}").text, "next-step")
    assert "no worker has picked this run up in 2m" in stale
    assert "worker-7" in stale and 'id="resume"' in stale


def test_the_inboxs_own_resumes_are_not_a_worker(day: Day) -> None:
    first, second = day.pause("deploy payments-api"), day.pause("deploy payments-api")
    day.approve_all(first)
    day.sign_in(ALICE)
    assert day.form(f"/approvals/{first}/resume").status_code == 303
    day.approve_all(second)
    step = _section(day.http.get(f"/approvals/{second}").text, "next-step")
    assert "no worker is running" in step


def test_an_inbox_without_the_agents_names_the_command_that_resumes(day: Day) -> None:
    approval_id = day.pause("deploy payments-api")
    day.approve_all(approval_id)
    bare = create_app(
        day.provider.store,
        REVIEWERS,
        session_secret=SECRET,
        mongodb_client=day.provider.mongodb_client,
    )
    with TestClient(bare, base_url="http://127.0.0.1:8765") as other:
        page = other.get("/login")
        other.post("/login", data={"token": ALICE, "csrf_token": csrf(page.text), "next": "/"})
        step = _section(other.get(f"/approvals/{approval_id}").text, "next-step")
    assert "no worker is running" in step
    assert f"eat approvals resume {approval_id} --app" in step
    assert 'id="resume"' not in step


# -- edits ---------------------------------------------------------------------------------------


def test_an_edit_that_is_not_json_comes_back_as_typed(day: Day) -> None:
    approval_id = day.pause("deploy payments-api")
    day.sign_in(ALICE)
    typed = '{"service": "payments-api", "environment": "staging" </textarea><script>x</script>'
    response = day.form(
        f"/approvals/{approval_id}/decide",
        call_id=day.call_id(approval_id),
        verdict="approved",
        edited_arguments=typed,
        message="staging only",
    )
    assert response.status_code == 400
    assert "not valid JSON" in response.text
    assert _textarea(response.text) == typed
    assert "<script>x" not in response.text, "the typed text is escaped"
    assert 'value="staging only"' in response.text, "the comment is kept too"
    assert '<details class="edit" id="edit-' in response.text and " open>" in response.text
    assert day.record(approval_id).tool_calls[0].decision is None


def test_an_edit_the_schema_refuses_keeps_the_text_and_shows_what_it_changes(day: Day) -> None:
    approval_id = day.pause("deploy payments-api")
    day.sign_in(ALICE)
    typed = json.dumps({"service": "payments-api", "version": 3, "environment": "staging"})
    response = day.form(
        f"/approvals/{approval_id}/decide",
        call_id=day.call_id(approval_id),
        verdict="approved",
        edited_arguments=typed,
    )
    assert response.status_code == 400
    assert "do not fit deploy_service" in response.text
    assert _textarea(response.text) == typed
    draft = response.text.split('class="draft"')[1].split("</details>")[0]
    assert '<th scope="col">Runs with</th>' in draft
    assert '"production"' in html.unescape(draft) and '"staging"' in html.unescape(draft)
    assert day.record(approval_id).tool_calls[0].decision is None


def test_an_edit_the_decision_layer_blocks_keeps_the_text(day: Day) -> None:
    approval_id = day.pause("give alice admin for 48h", agent=IAM_AGENT)
    day.sign_in(ALICE)
    typed = json.dumps({"user": "alice", "role": "root", "hours": 1})
    for action in ("decide", "preview-edit"):
        response = day.form(
            f"/approvals/{approval_id}/{action}",
            call_id=day.call_id(approval_id),
            verdict="approved",
            edited_arguments=typed,
        )
        assert response.status_code == 400, action
        assert "blocked by policy" in response.text and "never root" in response.text
        assert _textarea(response.text) == typed
    assert day.record(approval_id).tool_calls[0].decision is None


def test_a_preview_shows_the_diff_before_approval_and_the_record_page_after(day: Day) -> None:
    approval_id = day.pause("deploy payments-api")
    call_id = day.call_id(approval_id)
    day.sign_in(ALICE)
    page = day.http.get(f"/approvals/{approval_id}").text
    assert f'formaction="/approvals/{approval_id}/preview-edit"' in page
    staging = {"service": "payments-api", "version": "2.4.1", "environment": "staging"}
    typed = json.dumps(staging, indent=1)

    preview = day.form(
        f"/approvals/{approval_id}/preview-edit",
        call_id=call_id,
        verdict="approved",
        edited_arguments=typed,
    )
    assert preview.status_code == 200
    draft = preview.text.split('class="draft"')[1].split("</details>")[0]
    assert '<td class="mono path">environment</td>' in draft
    assert "&#34;production&#34;" in draft and "&#34;staging&#34;" in draft
    assert "The tool's schema and the decision layer accept these arguments" in draft
    assert _textarea(preview.text) == typed
    assert day.record(approval_id).tool_calls[0].decision is None, "a preview records nothing"

    done = day.form(
        f"/approvals/{approval_id}/decide",
        call_id=call_id,
        verdict="approved",
        edited_arguments=typed,
    )
    assert done.headers["location"] == f"/approvals/{approval_id}?done=edited"
    after = day.http.get(f"/approvals/{approval_id}").text
    card = after.split(f'id="call-{call_id}"')[1].split("</section>")[0]
    assert "Runs with these edited arguments" in card
    assert '<th scope="col">Proposed</th><th scope="col">Runs with</th>' in card
    assert "&#34;staging&#34;" in card


# -- expired calls -------------------------------------------------------------------------------


def _expire(day: Day, approval_id: str) -> datetime:
    deadline = day.record(approval_id).expires_at
    assert deadline is not None, "calls expire by default"
    store = day.provider.store
    day.http.portal.call(partial(store.expire, approval_id, now=deadline + timedelta(seconds=1)))
    return deadline


def test_an_expired_call_says_it_expired_and_when(day: Day) -> None:
    approval_id = day.pause("deploy payments-api")
    deadline = _expire(day, approval_id)
    day.clock.offset = deadline + timedelta(minutes=5) - utcnow()
    day.sign_in(ALICE)
    when = deadline.strftime("%Y-%m-%d %H:%M UTC")

    page = day.http.get(f"/approvals/{approval_id}").text
    banner = page.split('id="expired"')[1].split("</p>")[0]
    assert f"it expired 5m ago, at {when}" in banner
    call = page.split(f'id="expired-{day.call_id(approval_id)}"')[1].split("</p>")[0]
    assert f"nobody decided this call in time; it expired 5m ago, at {when}" in call
    assert "Rejected</strong> by eat-timeout" not in page
    assert "the record is decided" not in page

    rows = day.http.get("/approvals/rows", params={"status": "decided"}).text
    row = _row(rows, approval_id)
    assert 'class="badge risk-high expired-badge">expired</span>' in row
    assert f"expired 5m ago, at {when}" in row


def test_approving_a_call_that_expired_on_an_open_page_says_it_expired(day: Day) -> None:
    approval_id = day.pause("deploy payments-api")
    call_id = day.call_id(approval_id)
    day.sign_in(ALICE)
    assert 'data-key="approve"' in day.http.get(f"/approvals/{approval_id}").text
    deadline = _expire(day, approval_id)

    late = day.form(f"/approvals/{approval_id}/decide", call_id=call_id, verdict="approved")
    assert late.status_code == 409
    # The inbox's clock is still before the deadline the test expired the call past.
    assert f"This call expired at {deadline.strftime('%Y-%m-%d %H:%M UTC')}" in late.text
    assert "nobody decided it in time" in late.text
    assert "already rejected by eat-timeout" not in late.text
    assert "the record is decided" not in late.text
