"""Slack: approval messages posted once and updated in place, buttons that decide.

Against real peers on loopback: a fake Slack Web API (``tests/peers/fake_slack.py``, an HTTP
server slack_sdk is pointed at with ``EAT_SLACK_API_URL``) that records every call, and the
real inbox app (Starlette's TestClient) on memory://, receiving interaction payloads signed
the way Slack signs them. Approvals are real pauses of a scripted-model agent.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import urlencode

import pytest
from agents import Agent
from agents.items import TResponseOutputItem
from agents.testing import ModelCall, ModelStep, ScriptedModel, assistant_message, function_call
from starlette.testclient import TestClient

from evolving_agents import (
    AgentRegistry,
    LocalRulePolicy,
    MongoDBClient,
    OpenAIAgentsProvider,
    OpenAIToolAdapter,
)
from evolving_agents.approvals.lifecycle import Notice
from evolving_agents.approvals.models import (
    ApprovalStatus,
    CallKind,
    PendingApproval,
    ToolCallRecord,
    Verdict,
    arguments_digest,
    utcnow,
)
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.approvals.suggestions import SUGGESTION_APPLIED
from evolving_agents.config import Settings
from evolving_agents.errors import ConfigurationError, DeliveryFailed
from evolving_agents.notify import (
    Delivery,
    DeliveryStatus,
    WebhookService,
    delivery_id,
    events_for,
)
from evolving_agents.notify.escalation import DeadlineNotice, EscalationNotice
from evolving_agents.notify.routing import Target
from evolving_agents.notify.sinks import configured_sinks
from evolving_agents.notify.sinks.slack import SlackSink
from evolving_agents.notify.slack_blocks import approval_message
from evolving_agents.notify.slack_posts import SlackMessages, SlackPost
from evolving_agents.reviewers.directory import ReviewerDirectory
from evolving_agents.web import create_app
from tests.apps.review_app import RULES
from tests.peers.fake_slack import FakeSlack, SlackCall
from tests.test_store import make_record
from tests.test_webhooks import Clock

TOKEN = "xoxb-test-token-0123456789"
SIGNING_SECRET = "slack-signing-secret-0123456789"
WEB_SECRET = "inbox-test-secret-0123456789"
INBOX_URL = "https://inbox.example.com"
AGENT = "slack-release-agent"
ALICE, BOB, CAROL, DAVE = "U0ALICE", "U0BOB", "U0CAROL", "U0DAVE"
REVIEWERS = ReviewerDirectory.from_data(
    [
        {
            "name": "alice",
            "roles": ["sre"],
            "token": "alice-token-0123456789",
            "slack_user_id": ALICE,
        },
        {
            "name": "bob",
            "roles": ["security"],
            "token": "bob-token-0123456789ab",
            "slack_user_id": BOB,
        },
        {
            "name": "carol",
            "roles": ["sre"],
            "token": "carol-token-0123456789",
            "slack_user_id": CAROL,
        },
    ],
    source="test reviewers",
)
T = TypeVar("T")
# The review app's rules, with a better call for the long grant: the same, for 2 hours.
SLACK_RULES = LocalRulePolicy.from_dict(
    {
        "rules": [
            rule.model_dump(exclude_none=True)
            | ({"suggest": {"hours": 2}} if rule.name == "long-admin-grants" else {})
            for rule in RULES.rules
        ]
    }
)


# -- the agent: a scripted model proposing a call per word of the request -----------------


def deploy_service(service: str, version: str, environment: str) -> str:
    """Deploy a version of a service to an environment."""
    return f"deployed {service} {version} to {environment}"


def grant_access(user: str, role: str, hours: int) -> str:
    """Grant a user an admin role for some hours."""
    return f"granted {user} {role} for {hours}h"


def restart_service(service: str) -> str:
    """Restart a service."""
    return f"restarted {service}"


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def respond(call: ModelCall) -> list[TResponseOutputItem]:
    items = call.input if isinstance(call.input, list) else []
    outputs = [_field(i, "output") for i in items if _field(i, "type") == "function_call_output"]
    if outputs:
        return [assistant_message("final: " + "; ".join(str(o) for o in outputs))]
    request = next((str(_field(i, "content")) for i in items if _field(i, "role") == "user"), "")
    token = secrets.token_hex(4)
    if request.startswith("deploy "):
        arguments = {"service": request.removeprefix("deploy "), "version": "2.4.1"}
        arguments["environment"] = "production"
        return [function_call("deploy_service", arguments, call_id=f"call_deploy_{token}")]
    if request.startswith("grant"):
        arguments = {"user": "mallory@example.com", "role": "Super Administrator", "hours": 48}
        return [function_call("grant_access", arguments, call_id=f"call_grant_{token}")]
    if request.startswith("restart"):
        arguments = {"service": "payments-api"}
        return [function_call("restart_service", arguments, call_id=f"call_restart_{token}")]
    return [assistant_message("nothing to do")]


def build_registry() -> AgentRegistry:
    def build() -> Agent[Any]:
        adapter = OpenAIToolAdapter(decision_provider=SLACK_RULES)
        tools = [
            adapter.adapt(deploy_service, metadata={"system": "kubernetes"}),
            adapter.adapt(grant_access, metadata={"approver_roles": ["security"]}),
            adapter.adapt(
                restart_service,
                metadata={"needs_approval": True, "min_approvals": 2, "risk": "high"},
            ),
        ]
        model = ScriptedModel([ModelStep.respond(respond) for _ in range(4)])
        return Agent(name=AGENT, instructions="release things", tools=tools, model=model)

    registry = AgentRegistry()
    registry.register_factory(AGENT, build)
    return registry


# -- the rig: the fake Slack, the inbox app, the sink and the notify service --------------


@dataclass
class Rig:
    http: TestClient
    slack: FakeSlack
    client: MongoDBClient
    provider: OpenAIAgentsProvider
    sink: SlackSink
    service: WebhookService
    clock: Clock

    def run(self, work: Callable[..., Awaitable[T]], *args: Any) -> T:
        result: T = self.http.portal.call(work, *args)
        return result

    def pause(self, request: str) -> str:
        run = self.http.portal.call(
            lambda: self.provider.execute_agent(AGENT, request, actor="release-bot")
        )
        assert run.approval_id is not None
        return str(run.approval_id)

    def record(self, approval_id: str) -> PendingApproval:
        return self.run(self.provider.store.get, approval_id)

    def notify(self, approval_id: str) -> list[DeliveryStatus]:
        """Enqueue the record's events and dispatch what is due; the Slack deliveries' states."""

        async def go() -> list[DeliveryStatus]:
            await self.service.record([await self.provider.store.get(approval_id)])
            while await self.service.dispatch_due():
                pass
            deliveries = await self.service.outbox.deliveries()
            return [d.status for d in deliveries if d.event["approval_id"] == approval_id]

        return self.run(go)

    def message(self, approval_id: str) -> SlackPost:
        post = self.run(SlackMessages(self.client).get, approval_id)
        assert post is not None and post.ts is not None
        return post

    def click(
        self,
        approval_id: str,
        user: str,
        action: str,
        call: int = 0,
        *,
        value: str | None = None,
        as_action: str | None = None,
    ) -> Any:
        """Click ``action`` (approve, reject, approve_suggestion) of ``call`` on the message,
        as ``user``; ``value`` replaces the button's value (a message that changed since)."""
        posted = self.latest(approval_id)
        element = button(posted.body["blocks"], f"eat_{action}:{call}")
        if value is not None:
            element["value"] = value
        if as_action is not None:  # a message that still had this button (stale, altered)
            element["action_id"] = f"eat_{as_action}:{call}"
        post = self.message(approval_id)
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "team_id": "T0TEAM"},
            "api_app_id": "A0APP",
            "team": {"id": "T0TEAM"},
            "container": {"type": "message", "channel_id": post.channel, "message_ts": post.ts},
            "channel": {"id": post.channel, "name": "approvals"},
            "trigger_id": f"trigger-{secrets.token_hex(4)}",
            "response_url": self.slack.response_url(f"click-{user}"),
            "message": {"ts": post.ts, "blocks": posted.body["blocks"]},
            "actions": [
                {
                    "type": "button",
                    "action_id": element["action_id"],
                    "block_id": f"call:{call}",
                    "value": element["value"],
                    "action_ts": str(time.time()),
                }
            ],
        }
        return self.interact(payload)

    def interact(
        self, payload: dict[str, Any], *, timestamp: int | None = None, secret: str = SIGNING_SECRET
    ) -> Any:
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self.http.post(
            "/slack/actions", content=body, headers=signed(body, secret, timestamp)
        )

    def latest(self, approval_id: str) -> SlackCall:
        """The last message body Slack was given for the record (post or update)."""
        post = self.message(approval_id)
        for call in reversed(self.slack.calls):
            if call.method == "chat.postMessage" and text_of(call.body).count(approval_id):
                return call
            if call.method == "chat.update" and call.body.get("ts") == post.ts:
                return call
        raise AssertionError(f"no message for {approval_id}")


def signed(
    body: bytes, secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    moment = str(int(time.time()) if timestamp is None else timestamp)
    mac = hmac.new(secret.encode(), f"v0:{moment}:".encode() + body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": moment,
        "X-Slack-Signature": f"v0={mac}",
    }


def text_of(value: Any) -> str:
    """Every text of a message body, joined (what a reader sees, as mrkdwn)."""
    if isinstance(value, dict):
        return "\n".join(text_of(item) for key, item in value.items() if key != "value")
    if isinstance(value, list):
        return "\n".join(text_of(item) for item in value)
    return value if isinstance(value, str) else ""


def button(blocks: list[dict[str, Any]], action_id: str) -> dict[str, Any]:
    for block in blocks:
        for element in block.get("elements", []):
            if element.get("action_id") == action_id:
                return dict(element)
    raise AssertionError(f"no button {action_id}")


def action_ids(blocks: list[dict[str, Any]]) -> list[str]:
    return [
        element["action_id"]
        for block in blocks
        if block.get("type") == "actions"
        for element in block.get("elements", [])
    ]


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(token=TOKEN) as fake:
        yield fake


@pytest.fixture
def rig(slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    monkeypatch.setenv("EAT_SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("EAT_SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setenv("EAT_SLACK_CHANNEL", "#approvals")
    monkeypatch.setenv("EAT_SLACK_API_URL", slack.api_url)
    monkeypatch.setenv("EAT_INBOX_URL", INBOX_URL)
    clock = Clock()
    client = MongoDBClient("memory://", f"eat_slack_{uuid.uuid4().hex[:8]}")
    provider: OpenAIAgentsProvider | None = None

    async def check_edit(record: PendingApproval, call: ToolCallRecord, edited: Any) -> Any:
        assert provider is not None
        return await provider.check_edit(record, call, edited)  # as the provider's own store

    store = PendingApprovalStore(
        client, clock=clock, approval_timeout="1h", edit_checker=check_edit
    )
    provider = OpenAIAgentsProvider(mongodb_client=client, registry=build_registry(), store=store)
    sink = SlackSink.from_settings(
        client.settings, client=client, records=store, reviewers=REVIEWERS
    )
    assert sink is not None
    service = WebhookService(client, sinks=[sink], clock=clock)
    app = create_app(provider, REVIEWERS, session_secret=WEB_SECRET, poll_interval=0.1)
    with TestClient(app, base_url="http://127.0.0.1:8765") as http:
        yield Rig(http, slack, client, provider, sink, service, clock)
        http.portal.call(client.close)


# -- posting --------------------------------------------------------------------------------


def test_a_new_approval_posts_one_message_with_its_call_arguments_signal_and_buttons(
    rig: Rig,
) -> None:
    approval_id = rig.pause("deploy payments-api")

    assert rig.notify(approval_id) == [DeliveryStatus.DELIVERED]

    [posted] = rig.slack.calls_to("chat.postMessage")
    assert posted.headers["Authorization"] == f"Bearer {TOKEN}"
    assert posted.body["channel"] == "#approvals"
    shown = text_of(posted.body["blocks"])
    record = rig.record(approval_id)
    call = record.tool_calls[0]
    assert "Approval needed: deploy_service" in shown
    assert "*Request:* deploy payments-api" in shown
    assert '"service": "payments-api"' in shown and '"environment": "production"' in shown
    assert "risk *high 0.80*" in shown
    assert "*Reason:* Production deploy outside the release window" in shown
    assert "*Better action:* Deploy to staging first, then promote" in shown
    assert "*Deadline:* <!date^" in shown
    blocks = posted.body["blocks"]
    assert action_ids(blocks) == ["eat_approve:0", "eat_reject:0", "eat_inbox"]
    value = json.loads(button(blocks, "eat_approve:0")["value"])
    assert value == {"a": approval_id, "c": call.call_id, "s": call.arguments_sha256}
    assert button(blocks, "eat_inbox")["url"] == f"{INBOX_URL}/approvals/{approval_id}"
    post = rig.message(approval_id)
    assert post.channel == "CAPPROVALS" and post.version == record.version


def test_hostile_arguments_are_escaped_and_cannot_mention_link_or_close_their_code(
    rig: Rig,
) -> None:
    approval_id = rig.pause("deploy <!channel> & <https://evil.example|click> ```*fake*``` \u202e")
    rig.notify(approval_id)

    [posted] = rig.slack.calls_to("chat.postMessage")
    shown = text_of(posted.body["blocks"])
    assert "<!channel>" not in shown and "<https://evil" not in shown
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;" in shown
    assert "```*fake*```" not in shown, "an argument cannot close its code block"
    assert "\u202e" not in shown and "\\u202e" in shown, "direction overrides are shown escaped"


def test_a_retried_delivery_does_not_post_twice(rig: Rig) -> None:
    approval_id = rig.pause("deploy payments-api")
    rig.notify(approval_id)
    created = delivery_id(f"{approval_id}:approval.created", "slack")
    delivery = rig.run(rig.service.outbox.get, created)
    assert delivery is not None

    # The outbox delivers at least once: a dispatcher that died before marking the delivery
    # done hands it to the sink again, and two may even overlap once a lease ran out.
    rig.run(rig.sink.deliver, delivery)

    async def twice_at_once(delivery: Delivery) -> list[object]:
        return await asyncio.gather(
            rig.sink.deliver(delivery), rig.sink.deliver(delivery), return_exceptions=True
        )

    outcomes = rig.run(twice_at_once, delivery)
    assert len(rig.slack.calls_to("chat.postMessage")) == 1
    assert all(outcome is None for outcome in outcomes)
    assert len(rig.slack.calls_to("chat.update")) == 3, "each repeat re-renders the one message"


def _created_delivery(rig: Rig, approval_id: str) -> Delivery:
    async def enqueued() -> Delivery:
        await rig.service.record([await rig.provider.store.get(approval_id)])
        found = await rig.service.outbox.get(
            delivery_id(f"{approval_id}:approval.created", "slack")
        )
        assert found is not None
        return found

    return rig.run(enqueued)


def test_two_attempts_racing_on_a_new_approval_post_one_message(rig: Rig) -> None:
    approval_id = rig.pause("deploy payments-api")
    delivery = _created_delivery(rig, approval_id)

    async def twice_at_once() -> list[object]:
        return await asyncio.gather(
            rig.sink.deliver(delivery), rig.sink.deliver(delivery), return_exceptions=True
        )

    outcomes = rig.run(twice_at_once)

    assert len(rig.slack.calls_to("chat.postMessage")) == 1
    failures = [outcome for outcome in outcomes if outcome is not None]
    assert len(failures) <= 1, outcomes
    for failure in failures:
        assert isinstance(failure, DeliveryFailed) and not failure.permanent
        assert "being posted by another attempt" in failure.reason
    assert rig.message(approval_id).ts is not None


def test_an_attempt_that_crashed_mid_post_is_taken_over_once_its_reservation_is_stale(
    rig: Rig,
) -> None:
    busy, crashed = rig.pause("deploy payments-api"), rig.pause("deploy ledger")
    messages = SlackMessages(rig.client)
    rig.run(lambda: messages.reserve(busy, busy, now=utcnow()))
    rig.run(lambda: messages.reserve(crashed, crashed, now=utcnow() - timedelta(minutes=3)))

    with pytest.raises(DeliveryFailed, match="being posted by another attempt"):
        rig.run(rig.sink.deliver, _created_delivery(rig, busy))
    rig.run(rig.sink.deliver, _created_delivery(rig, crashed))

    [posted] = rig.slack.calls_to("chat.postMessage")
    assert "deploy ledger" in text_of(posted.body["blocks"])
    assert rig.message(crashed).ts is not None


def test_a_post_slack_refused_for_now_is_posted_once_on_the_retry(rig: Rig) -> None:
    approval_id = rig.pause("deploy payments-api")
    rig.slack.fail("chat.postMessage", "ratelimited", status=429)

    assert rig.notify(approval_id) == [DeliveryStatus.PENDING]
    created = delivery_id(f"{approval_id}:approval.created", "slack")
    waiting = rig.run(rig.service.outbox.get, created)
    assert waiting is not None and waiting.last_error is not None
    assert "ratelimited (HTTP 429)" in waiting.last_error
    assert rig.run(SlackMessages(rig.client).get, approval_id) is None, "no reservation left"

    rig.clock.advance(3600)
    assert rig.notify(approval_id) == [DeliveryStatus.DELIVERED]
    assert len(rig.slack.calls_to("chat.postMessage")) == 2, "the refused one, then one message"


@pytest.mark.parametrize(
    ("error", "status", "permanent"),
    [
        ("ratelimited", 429, False),
        ("internal_error", 500, False),
        ("invalid_auth", 200, True),
        ("channel_not_found", 200, True),
    ],
)
def test_slack_errors_are_retried_or_given_up_by_what_they_mean(
    rig: Rig, error: str, status: int, permanent: bool
) -> None:
    approval_id = rig.pause("deploy payments-api")
    rig.slack.fail("chat.postMessage", error, status=status)

    states = rig.notify(approval_id)

    assert states == [DeliveryStatus.DEAD if permanent else DeliveryStatus.PENDING]
    created = delivery_id(f"{approval_id}:approval.created", "slack")
    delivery = rig.run(rig.service.outbox.get, created)
    assert delivery is not None and delivery.last_error is not None and error in delivery.last_error


def test_a_later_event_before_the_message_exists_is_retried(rig: Rig) -> None:
    approval_id = rig.pause("deploy payments-api")
    rig.http.portal.call(
        lambda: rig.provider.store.decide(approval_id, verdict="approved", reviewer="alice")
    )
    record = rig.record(approval_id)
    decided = Delivery.model_validate(
        {
            "_id": delivery_id(f"{approval_id}:approval.decided", "slack"),
            "sink": "slack",
            "event": next(
                event.model_dump(mode="json")
                for event in events_for(record)
                if event.type.value == "approval.decided"
            ),
            "url": rig.sink.destination,
            "status": "sending",
            "next_attempt_at": rig.clock.now,
            "created_at": rig.clock.now,
        }
    )

    with pytest.raises(DeliveryFailed, match="no Slack message yet") as failed:
        rig.run(rig.sink.deliver, decided)
    assert not failed.value.permanent


def test_the_bot_token_without_the_signing_secret_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EAT_SLACK_BOT_TOKEN", TOKEN)
    with pytest.raises(ConfigurationError, match="EAT_SLACK_SIGNING_SECRET"):
        configured_sinks(Settings())
    monkeypatch.setenv("EAT_SLACK_SIGNING_SECRET", SIGNING_SECRET)
    [sink] = configured_sinks(Settings())
    assert sink.name == "slack"
    monkeypatch.delenv("EAT_SLACK_BOT_TOKEN")
    assert configured_sinks(Settings()) == []


def test_the_token_never_reaches_the_logs(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    approval_id = rig.pause("deploy payments-api")
    rig.slack.fail("chat.postMessage", "invalid_auth")
    rig.notify(approval_id)
    assert "invalid_auth" in caplog.text
    assert TOKEN not in caplog.text


# -- clicking -------------------------------------------------------------------------------


def test_a_signed_approve_click_votes_as_the_slack_users_reviewer_and_updates_the_message(
    rig: Rig,
) -> None:
    approval_id = rig.pause("deploy payments-api")
    rig.notify(approval_id)

    answer = rig.click(approval_id, ALICE, "approve")

    assert answer.status_code == 200
    record = rig.record(approval_id)
    assert record.status is ApprovalStatus.DECIDED
    decision = record.tool_calls[0].decision
    assert decision is not None and decision.verdict is Verdict.APPROVED
    assert (decision.reviewer, decision.surface) == ("alice", "slack")
    assert [(v.reviewer, v.surface) for v in decision.votes] == [("alice", "slack")]
    [update] = rig.slack.calls_to("chat.update")
    post = rig.message(approval_id)
    assert (update.body["channel"], update.body["ts"]) == (post.channel, post.ts)
    assert "Approved by alice (slack)" in text_of(update.body["blocks"])
    assert action_ids(update.body["blocks"]) == ["eat_inbox"], "no buttons once decided"

    # The decided event re-renders the same message; the resume adds the outcome.
    rig.notify(approval_id)
    rig.run(rig.provider.resume_agent, approval_id)
    rig.notify(approval_id)
    assert len(rig.slack.calls_to("chat.postMessage")) == 1
    final = rig.slack.calls_to("chat.update")[-1]
    shown = text_of(final.body["blocks"])
    assert "Completed: deploy_service" in shown
    assert "*Outcome:* ran: `deployed payments-api 2.4.1 to production`" in shown
    assert "*The run completed.* Final output:" in shown


def test_a_bad_signature_or_a_replay_older_than_five_minutes_is_401_and_changes_nothing(
    rig: Rig,
) -> None:
    approval_id = rig.pause("deploy payments-api")
    rig.notify(approval_id)
    posted = rig.latest(approval_id)
    element = button(posted.body["blocks"], "eat_approve:0")
    payload = {
        "type": "block_actions",
        "user": {"id": ALICE},
        "actions": [{"action_id": "eat_approve:0", "value": element["value"]}],
        "response_url": rig.slack.response_url("forged"),
    }
    before = rig.record(approval_id)

    forged = rig.interact(payload, secret="not-the-signing-secret")
    replayed = rig.interact(payload, timestamp=int(time.time()) - 301)
    body = urlencode({"payload": json.dumps(payload)}).encode()
    unsigned = rig.http.post("/slack/actions", content=body)
    tampered_headers = signed(body)
    tampered = rig.http.post(
        "/slack/actions", content=body.replace(b"U0ALICE", b"U0CAROL"), headers=tampered_headers
    )

    assert [r.status_code for r in (forged, replayed, unsigned, tampered)] == [401] * 4
    assert rig.record(approval_id).version == before.version
    assert rig.record(approval_id).tool_calls[0].votes == []
    assert rig.slack.calls_to("chat.update") == [] and rig.slack.responses == []


def test_a_user_who_may_not_decide_gets_an_ephemeral_refusal_and_no_vote(rig: Rig) -> None:
    approval_id = rig.pause("grant admin")
    rig.notify(approval_id)

    no_role = rig.click(approval_id, ALICE, "approve")
    unknown = rig.click(approval_id, DAVE, "approve")

    assert (no_role.status_code, unknown.status_code) == (200, 200)
    record = rig.record(approval_id)
    assert record.status is ApprovalStatus.PENDING and record.tool_calls[0].votes == []
    refusals = {response.method: response.body for response in rig.slack.responses}
    assert refusals[f"click-{ALICE}"]["response_type"] == "ephemeral"
    assert refusals[f"click-{ALICE}"]["replace_original"] is False
    assert (
        "You cannot approve this call: needs one of the roles" in refusals[f"click-{ALICE}"]["text"]
    )
    assert "security" in refusals[f"click-{ALICE}"]["text"]
    assert f'slack_user_id = "{DAVE}"' in refusals[f"click-{DAVE}"]["text"]
    assert rig.slack.calls_to("chat.update") == []

    rig.click(approval_id, BOB, "approve")
    decision = rig.record(approval_id).tool_calls[0].decision
    assert decision is not None and decision.reviewer == "bob"


def test_two_slack_votes_complete_a_quorum_of_two_and_the_first_shows_one_of_two(
    rig: Rig,
) -> None:
    approval_id = rig.pause("restart payments-api")
    rig.notify(approval_id)
    assert "Waiting for a decision  ·  0 of 2 approvals" in text_of(rig.latest(approval_id).body)

    rig.click(approval_id, ALICE, "approve")

    first = rig.record(approval_id)
    assert first.status is ApprovalStatus.PENDING
    assert [(v.reviewer, v.surface) for v in first.tool_calls[0].votes] == [("alice", "slack")]
    [update] = rig.slack.calls_to("chat.update")
    assert "1 of 2 approvals (alice)" in text_of(update.body["blocks"])
    assert "eat_approve:0" in action_ids(update.body["blocks"]), "still open for the second"

    again = rig.click(approval_id, ALICE, "approve")
    assert again.status_code == 200
    assert "you already voted on this call" in rig.slack.responses[-1].body["text"]

    rig.click(approval_id, CAROL, "approve")

    second = rig.record(approval_id)
    assert second.status is ApprovalStatus.DECIDED
    decision = second.tool_calls[0].decision
    assert decision is not None and decision.reviewer == "carol"
    assert [v.reviewer for v in decision.votes] == ["alice", "carol"]
    last = rig.slack.calls_to("chat.update")[-1]
    assert "Approved by carol (slack)" in text_of(last.body["blocks"])


def test_reject_asks_for_a_reason_in_a_dialog_and_its_submission_rejects_with_it(
    rig: Rig,
) -> None:
    approval_id = rig.pause("deploy payments-api")
    rig.notify(approval_id)

    rig.click(approval_id, ALICE, "reject")

    [opened] = rig.slack.calls_to("views.open")
    view = opened.body["view"]
    assert opened.body["trigger_id"].startswith("trigger-")
    assert rig.record(approval_id).tool_calls[0].votes == [], "the click alone decides nothing"
    submission = {
        "type": "view_submission",
        "user": {"id": ALICE},
        "view": {
            "id": "V0DIALOG",
            "callback_id": view["callback_id"],
            "private_metadata": view["private_metadata"],
            "state": {"values": {"reason": {"reason_input": {"value": "  no change ticket "}}}},
        },
    }
    empty = json.loads(json.dumps(submission))
    empty["view"]["state"]["values"]["reason"]["reason_input"]["value"] = "  "
    refused = rig.interact(empty)
    assert refused.json()["response_action"] == "errors"
    assert rig.record(approval_id).tool_calls[0].votes == []

    answer = rig.interact(submission)

    assert answer.status_code == 200 and answer.content == b""
    decision = rig.record(approval_id).tool_calls[0].decision
    assert decision is not None and decision.verdict is Verdict.REJECTED
    assert (decision.reviewer, decision.surface, decision.message) == (
        "alice",
        "slack",
        "no change ticket",
    )
    shown = text_of(rig.slack.calls_to("chat.update")[-1].body["blocks"])
    assert "Rejected by alice (slack): no change ticket" in shown

    late = rig.interact(submission)
    assert late.json()["response_action"] == "errors"
    assert "already rejected by alice" in late.json()["errors"]["reason"]


def test_a_click_after_expiry_is_refused_as_expired_and_the_message_says_so(rig: Rig) -> None:
    approval_id = rig.pause("deploy payments-api")
    rig.notify(approval_id)
    rig.clock.advance(2 * 3600)

    rig.click(approval_id, ALICE, "approve")

    [refusal] = rig.slack.responses
    assert (
        "This call expired at" in refusal.body["text"]
        and "nothing was recorded" in refusal.body["text"]
    )
    record = rig.record(approval_id)
    decision = record.tool_calls[0].decision
    assert decision is not None and decision.reviewer_kind.value == "timeout"
    assert all(v.surface != "slack" for v in decision.votes)
    update = rig.slack.calls_to("chat.update")[-1]
    assert "Expired: deploy_service" in text_of(update.body["blocks"])
    assert "Expired undecided at <!date^" in text_of(update.body["blocks"])
    assert action_ids(update.body["blocks"]) == ["eat_inbox"]

    updates = len(rig.slack.calls_to("chat.update"))
    rig.notify(approval_id)  # approval.expired and approval.decided update the same message
    assert len(rig.slack.calls_to("chat.update")) == updates + 2
    assert "Expired: deploy_service" in text_of(rig.slack.calls_to("chat.update")[-1].body)


# -- escalation and deadline warnings -------------------------------------------------------


def test_an_escalation_mentions_the_role_in_its_channel_and_a_warning_replies_in_thread(
    rig: Rig,
) -> None:
    approval_id = rig.pause("grant admin")
    rig.notify(approval_id)
    post = rig.message(approval_id)
    store = rig.provider.store
    target = Target(slack_channel="#security-leads", role="security")
    escalation = EscalationNotice(escalate_to=target, after_seconds=900).model_dump(mode="json")
    rig.run(store.add_notice, approval_id, Notice.ESCALATED, lambda _: escalation)
    deadline = rig.record(approval_id).tool_calls[0].expires_at
    assert deadline is not None
    warning = DeadlineNotice(deadline=deadline, warn_before_seconds=600).model_dump(mode="json")
    rig.run(store.add_notice, approval_id, Notice.DEADLINE_WARNING, lambda _: warning)

    rig.notify(approval_id)
    rig.notify(approval_id)  # read again: each notice is posted once

    escalated, replied = rig.slack.calls_to("chat.postMessage")[1:]
    assert escalated.body["channel"] == "#security-leads"
    shown = text_of(escalated.body["blocks"])
    assert f"<@{BOB}>" in shown and f"<@{ALICE}>" not in shown
    assert f"posted in <#{post.channel}>" in shown and "No decision yet* after 15m" in shown
    assert replied.body["channel"] == post.channel and replied.body["thread_ts"] == post.ts
    assert "still undecided" in text_of(replied.body["blocks"])
    assert len(rig.slack.calls_to("chat.postMessage")) == 3


# -- how kinds of calls read ------------------------------------------------------------------


def _call(call_id: str, kind: CallKind, tool_name: str, arguments: Any) -> ToolCallRecord:
    return ToolCallRecord(
        call_id=call_id,
        tool_name=tool_name,
        agent_name=AGENT,
        kind=kind,
        arguments=arguments,
        arguments_sha256=arguments_digest(arguments),
    )


def test_shell_commands_and_patch_diffs_read_as_in_the_inbox_and_big_records_fit_slack() -> None:
    record = make_record("apr_kinds")
    shell = {"commands": ["kubectl rollout restart deploy/api", "rm -rf /tmp/x"], "timeout_ms": 5}
    patch = {
        "operations": [
            {
                "type": "update_file",
                "path": "app/settings.py",
                "diff": "@@\n-DEBUG = True\n+DEBUG = False\n",
            }
        ]
    }
    record.tool_calls = [
        _call("c1", CallKind.SHELL, "shell", shell),
        _call("c2", CallKind.APPLY_PATCH, "apply_patch", patch),
    ]

    shown = text_of(approval_message(record).blocks)

    assert "```$ kubectl rollout restart deploy/api\n$ rm -rf /tmp/x```" in shown
    assert "timeout_ms: 5" in shown
    assert "*update_file* `app/settings.py`\n```@@\n-DEBUG = True\n+DEBUG = False\n```" in shown
    assert "eat_approve:1" in action_ids(approval_message(record).blocks)

    huge = {"blob": "x" * 50_000}
    record.tool_calls = [_call(f"c{i}", CallKind.FUNCTION, "bulk", huge) for i in range(30)]
    message = approval_message(record, inbox_link=f"{INBOX_URL}/approvals/apr_kinds")
    assert len(message.blocks) <= 50
    sections = [b["text"]["text"] for b in message.blocks if b["type"] == "section"]
    assert max(len(text) for text in sections) <= 3000
    assert "21 more calls are not shown here: open the inbox." in text_of(message.blocks)
    assert action_ids(message.blocks)[-1] == "eat_inbox"


def test_approve_the_suggestion_runs_the_suggested_arguments_once_as_an_edit(rig: Rig) -> None:
    approval_id = rig.pause("grant admin")
    rig.notify(approval_id)
    blocks = rig.latest(approval_id).body["blocks"]
    assert action_ids(blocks) == [
        "eat_approve_suggestion:0",
        "eat_approve:0",
        "eat_reject:0",
        "eat_inbox",
    ]
    assert "*Suggested arguments:*\n`hours`: `48` \u2192 `2`" in text_of(blocks)

    # A button whose suggestion is not the record's (the message is stale) decides nothing.
    element = button(blocks, "eat_approve_suggestion:0")
    carried = json.loads(element["value"])
    stale = json.dumps(carried | {"g": arguments_digest({"hours": 1})}, separators=(",", ":"))
    assert rig.click(approval_id, BOB, "approve_suggestion", value=stale).status_code == 200
    assert rig.record(approval_id).tool_calls[0].votes == []
    [refusal] = rig.slack.responses
    assert "not the ones this message showed" in refusal.body["text"]

    rig.click(approval_id, BOB, "approve_suggestion")
    decided = rig.record(approval_id)
    [call] = decided.tool_calls
    assert decided.status is ApprovalStatus.DECIDED and call.decision is not None
    assert call.decision.verdict is Verdict.APPROVED
    assert (call.decision.reviewer, call.decision.surface) == ("bob", "slack")
    assert call.decision.edited_arguments == call.arguments | {"hours": 2}
    assert call.decision.message == SUGGESTION_APPLIED
    assert "with edited arguments" in text_of(rig.slack.calls_to("chat.update")[-1].body)

    done = rig.run(rig.provider.resume_agent, approval_id)
    [outcome] = done.outcomes.values()
    assert outcome.output == "granted mallory@example.com Super Administrator for 2h"


def test_approve_the_suggestion_on_an_inbox_without_the_agents_says_what_it_needs(
    rig: Rig,
) -> None:
    approval_id = rig.pause("grant admin")
    rig.notify(approval_id)
    inbox = rig.http.app.state.inbox  # type: ignore[attr-defined]
    inbox.provider = None  # as ``eat inbox`` without --app: no tool to check an edit against

    rig.click(approval_id, BOB, "approve_suggestion")

    assert rig.record(approval_id).tool_calls[0].votes == []
    [refusal] = rig.slack.responses
    assert "needs an inbox started with --app" in refusal.body["text"]


def test_a_call_too_long_to_show_whole_gets_no_approve_in_slack_and_no_click_approves_it(
    rig: Rig,
) -> None:
    """Keys are sorted, so a long first argument pushes the rest out of the code block: what
    a reviewer cannot read in full is approved in the inbox, not in Slack."""
    approval_id = rig.pause("deploy " + "payments-api " * 250)
    rig.notify(approval_id)
    blocks = rig.latest(approval_id).body["blocks"]
    assert action_ids(blocks) == ["eat_reject:0", "eat_inbox"]
    assert "Too long to review in Slack" in text_of(blocks)
    assert "\"version\"" not in text_of(blocks), "the cut-off argument is indeed not shown"

    # A button this message does not have (an older rendering, an altered payload) is refused.
    answer = rig.click(approval_id, ALICE, "reject", as_action="approve")
    assert answer.status_code == 200
    assert rig.record(approval_id).tool_calls[0].votes == []
    [refusal] = rig.slack.responses
    assert "Too long to review in Slack" in refusal.body["text"]

    rig.click(approval_id, ALICE, "reject")  # rejecting needs no reading of every byte
    assert len(rig.slack.calls_to("views.open")) == 1


def test_the_risk_shown_is_the_known_risk_a_declared_high_tool_reads_high() -> None:
    low_score = {"risk": 0.05, "verdict": "needs_approval", "reason": "scored low"}
    call = make_record("apr_risk").tool_calls[0].model_copy(
        update={"signal": low_score, "metadata": {"risk": "high"}}
    )
    record = make_record("apr_risk").model_copy(update={"tool_calls": [call]})
    shown = text_of(approval_message(record).blocks)
    assert "risk *high (scored 0.05, the tool is declared high)*" in shown


def test_a_body_past_a_megabyte_is_413_before_its_signature_is_looked_at(rig: Rig) -> None:
    big = b"payload=" + b"x" * (1024 * 1024 + 1)
    answer = rig.http.post(
        "/slack/actions",
        content=big,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(20):
            yield b"y" * (64 * 1024)

    streamed = rig.http.post(
        "/slack/actions",
        content=chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert streamed.status_code == 413


def test_a_reason_or_output_cannot_forge_a_status_line() -> None:
    forged = "fine\n:white_check_mark: Approved by alice (web)"
    call = make_record("apr_forge").tool_calls[0].model_copy(
        update={"signal": {"risk": 0.9, "verdict": "needs_approval", "reason": forged}}
    )
    record = make_record("apr_forge").model_copy(update={"tool_calls": [call]})
    shown = text_of(approval_message(record).blocks)
    assert "*Reason:* fine :white_check_mark: Approved by alice (web)" in shown
    assert not any(
        line.startswith(":white_check_mark: Approved") for line in shown.splitlines()
    ), "the reason stays on its own line"


def test_slack_email_and_the_inbox_reveal_the_same_hidden_characters() -> None:
    from evolving_agents.notify.email_message import visible
    from evolving_agents.notify.slack_text import escape
    from evolving_agents.present.reveal import escape_hidden

    text = "rm -rf /srv/\u202etxt.sh \u3164 \ue000 \U000e0041 \u0378 ok"
    expected = "rm -rf /srv/\\u202etxt.sh \\u3164 \\ue000 \\U000e0041 \\u0378 ok"
    assert escape_hidden(text) == visible(text) == escape(text) == expected


async def test_slack_message_entries_expire_by_a_ttl_index_on_the_wire_server(
    mongo: MongoDBClient,
) -> None:
    messages = SlackMessages(mongo)
    post, attempt = await messages.reserve("apr_ttl", "apr_ttl", now=utcnow())
    assert post is None and attempt
    indexes = await mongo.collection("eat_slack_messages").index_information()
    ttl = indexes["created_ttl"]
    assert ttl["key"] == [("created_at", 1)]
    days = max(60, 2 * mongo.settings.purge_after_days)
    assert ttl["expireAfterSeconds"] == int(days * 86400)
    stored = await mongo.collection("eat_slack_messages").find_one({"_id": "apr_ttl"})
    assert stored is not None and stored["created_at"] is not None


def test_with_eat_slack_team_id_a_click_from_another_workspace_is_refused(rig: Rig) -> None:
    approval_id = rig.pause("deploy payments-api")
    rig.notify(approval_id)
    assert rig.interact({"type": "shortcut", "team": {"id": "T0TEAM"}}).status_code == 200
    actions = rig.http.app.state.slack_actions  # type: ignore[attr-defined]
    actions.team_id = "T0OTHER"  # as EAT_SLACK_TEAM_ID=T0OTHER would set it

    refused = rig.click(approval_id, ALICE, "approve")
    assert refused.status_code == 403
    assert rig.record(approval_id).tool_calls[0].votes == []

    actions.team_id = "T0TEAM"  # the workspace the rig's clicks come from
    assert rig.click(approval_id, ALICE, "approve").status_code == 200
    assert rig.record(approval_id).status is ApprovalStatus.DECIDED


def test_eat_slack_team_id_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EAT_SLACK_TEAM_ID", "T0WORK")
    assert Settings().notify.slack_team_id == "T0WORK"
