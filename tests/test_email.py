"""Email: new approvals mailed to the routed addresses through a real SMTP server on loopback.

The server is ``aiosmtpd`` on 127.0.0.1 (its own thread and loop), keeping every message it
takes; the store is the real one on memory://, and deliveries go through the outbox of a real
``WebhookService``. Nothing of ours is mocked.
"""

from __future__ import annotations

import email
import email.policy
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from evolving_agents.approvals.codec import StateCodec
from evolving_agents.approvals.models import (
    PendingApproval,
    ToolCallRecord,
    arguments_digest,
    utcnow,
)
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.config import NotifySettings, Settings
from evolving_agents.errors import ConfigurationError
from evolving_agents.notify import DELIVERY_HEADER, DeliveryStatus, WebhookService, delivery_id
from evolving_agents.notify.email_message import message_id, visible
from evolving_agents.notify.events import WebhookEventType
from evolving_agents.notify.sinks import SINKS, configured_sinks
from evolving_agents.notify.sinks.email import EmailSink
from evolving_agents.storage.mongodb_client import MongoDBClient
from tests.conftest import TEST_SECRET
from tests.test_webhooks import Clock

CODEC = StateCodec(TEST_SECRET.encode())
INBOX = "https://inbox.example.com"
SENDER = "eat@example.com"

ROUTES_TOML = """
[default]
emails = ["oncall@example.com"]

[[routes]]
tools = ["grant_*"]
risk = ["high"]
emails = ["security@example.com", "iam@example.com"]

[[routes]]
tools = ["deploy"]
emails = ["release@example.com"]
"""


# -- the SMTP peer ------------------------------------------------------------------------------


@dataclass
class Mailbox:
    """What the SMTP server took; ``refuse`` maps an address to the reply its RCPT gets."""

    host: str = "127.0.0.1"
    port: int = 0
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    controller: Controller | None = None

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        return "250 Message accepted"

    def start(self) -> None:
        self.controller = Controller(self, hostname=self.host, port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[Mailbox]:
    """A running SMTP server on a free loopback port."""
    box = Mailbox(port=free_port())
    box.start()
    yield box
    box.stop()


@pytest.fixture
async def memory() -> AsyncIterator[MongoDBClient]:
    client = MongoDBClient("memory://", f"eat_test_{uuid.uuid4().hex[:10]}")
    yield client
    await client.close()


# -- records and settings -----------------------------------------------------------------------


def tool_call(
    call_id: str,
    tool_name: str,
    arguments: dict[str, Any],
    *,
    metadata: dict[str, Any] | None = None,
    signal: dict[str, Any] | None = None,
) -> ToolCallRecord:
    return ToolCallRecord(
        call_id=call_id,
        tool_name=tool_name,
        agent_name="ops-agent",
        arguments=arguments,
        arguments_sha256=arguments_digest(arguments),
        metadata=metadata or {},
        signal=signal,
    )


def pending(
    approval_id: str,
    *calls: ToolCallRecord,
    created_at: Any = None,
    request: str = "Give alice admin for the incident\nsecond line is not shown",
) -> PendingApproval:
    now = created_at or utcnow()
    return PendingApproval(
        id=approval_id,
        run_id=f"run-{approval_id}",
        sequence=0,
        agent_name="ops-agent",
        actor="release-bot",
        input_preview=request,
        tool_calls=list(calls),
        state=CODEC.encode(approval_id, {"$schemaVersion": "1.21"}),
        created_at=now,
        updated_at=now,
    )


def grant_call(**arguments: Any) -> ToolCallRecord:
    return tool_call(
        "c1",
        "grant_okta_admin",
        arguments or {"user": "alice", "hours": 48},
        metadata={"system": "okta"},
        signal={
            "risk": 0.82,
            "verdict": "needs_approval",
            "reason": "admin access to the identity provider",
            "better_action": "grant read-only access for 2 hours instead",
        },
    )


def email_settings(
    box: Mailbox, tmp_path: Path, *, routes: str = ROUTES_TOML, **notify: Any
) -> Settings:
    routes_file = tmp_path / "notify.toml"
    routes_file.write_text(routes, encoding="utf-8")
    values: dict[str, Any] = {
        "smtp_host": box.host,
        "smtp_port": box.port,
        "smtp_starttls": False,
        "email_from": SENDER,
        "inbox_url": INBOX,
        "routes_file": routes_file,
        **notify,
    }
    return Settings(notify=NotifySettings.model_validate(values))


def service_for(
    client: MongoDBClient, settings: Settings, clock: Clock, **sink_options: Any
) -> tuple[WebhookService, EmailSink]:
    sink = EmailSink.from_settings(settings, client=client, clock=clock, **sink_options)
    assert sink is not None
    return WebhookService(client, sinks=[sink], clock=clock), sink


async def deliver_all(service: WebhookService, store: PendingApprovalStore, *ids: str) -> None:
    await service.record([await store.get(approval_id) for approval_id in ids])
    await service.dispatch_due()


def text_and_html(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))
    markup = message.get_body(preferencelist=("html",))
    assert text is not None and markup is not None
    return str(text.get_content()), str(markup.get_content())


# -- tests --------------------------------------------------------------------------------------


async def test_a_new_approval_mails_the_routed_addresses_with_the_calls_and_the_inbox_link(
    memory: MongoDBClient, smtp: Mailbox, tmp_path: Path
) -> None:
    clock = Clock()
    store = PendingApprovalStore(memory, clock=clock, approval_timeout="4h")
    record = await store.create(pending("apr_mail1", grant_call(), created_at=clock.now))
    service, _ = service_for(memory, email_settings(smtp, tmp_path), clock)
    try:
        await deliver_all(service, store, record.id)
    finally:
        await service.aclose()

    assert len(smtp.messages) == 1
    message = smtp.messages[0]
    sender, recipients = smtp.envelopes[0]
    assert sender == SENDER
    assert recipients == ["security@example.com", "iam@example.com"], "the grant_* high route"
    assert message["To"] == "security@example.com, iam@example.com"
    assert message["Subject"] == ("Approval needed: grant_okta_admin (high 0.82) - ops-agent")
    wanted_id = delivery_id(f"{record.id}:{WebhookEventType.CREATED.value}", "email")
    assert message[DELIVERY_HEADER] == wanted_id
    assert message["Message-ID"] == message_id(wanted_id, SENDER)
    assert message["Message-ID"] == "<apr_mail1.approval.created-email@example.com>"
    text, markup = text_and_html(message)
    for body in (text, markup):
        assert "grant_okta_admin" in body
        assert '"user": "alice"' in body.replace("&quot;", '"')
        assert '"hours": 48' in body.replace("&quot;", '"')
        assert "high 0.82" in body
        assert "admin access to the identity provider" in body
        assert "grant read-only access for 2 hours instead" in body
        assert "Give alice admin for the incident" in body
        assert "second line is not shown" not in body
        assert "(in 4h)" in body, "the deadline, and how far off it is"
        assert f"{INBOX}/approvals/{record.id}" in body
    assert text.count("http") == 1, "one link: the record in the inbox"
    assert markup.count("href=") == 1
    for word in ("approve", "reject", "decide?", "verdict="):
        assert f"/{word}" not in markup.lower() and f"?{word}" not in markup.lower()
    delivered = await service.outbox.get(wanted_id)
    assert delivered is not None and delivered.status is DeliveryStatus.DELIVERED


async def test_hostile_arguments_are_escaped_in_html_and_hidden_characters_shown(
    memory: MongoDBClient, smtp: Mailbox, tmp_path: Path
) -> None:
    clock = Clock()
    store = PendingApprovalStore(memory, clock=clock)
    hostile = {
        "user": '<script>alert("x")</script>',
        "note": '"><img src=x onerror=alert(1)>',
        "path": "invoice\u202efdp.exe",
    }
    call = tool_call(
        "c1",
        "deploy",
        hostile,
        signal={"risk": 0.6, "reason": "<b>bold</b> & <i>claims</i>"},
    )
    record = await store.create(
        pending("apr_hostile", call, created_at=clock.now, request="<a href='https://evil'>x</a>")
    )
    service, _ = service_for(memory, email_settings(smtp, tmp_path), clock)
    try:
        await deliver_all(service, store, record.id)
    finally:
        await service.aclose()

    assert smtp.envelopes[0][1] == ["release@example.com"]
    text, markup = text_and_html(smtp.messages[0])
    assert "<script>" not in markup and "<img" not in markup and "<b>bold" not in markup
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in markup.replace(
        "\\&quot;", "&quot;"
    )
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; &lt;i&gt;claims&lt;/i&gt;" in markup
    assert "href='https://evil'" not in markup and "&lt;a href=" in markup
    assert markup.count("<a ") == 1, "only the inbox link is a link"
    for body in (text, markup):
        assert "\u202e" not in body, "a direction override never reaches the reader"
        assert "invoice\\u202efdp.exe" in body
    assert visible("a\u200bb\nc") == "a\\u200bb\nc"


async def test_a_delivery_retried_after_the_smtp_server_was_down_is_mailed_once(
    memory: MongoDBClient, tmp_path: Path
) -> None:
    box = Mailbox(port=free_port())  # not started yet: nothing listens on its port
    clock = Clock()
    store = PendingApprovalStore(memory, clock=clock)
    record = await store.create(pending("apr_retry", grant_call(), created_at=clock.now))
    service, _ = service_for(memory, email_settings(box, tmp_path), clock)
    wanted_id = delivery_id(f"{record.id}:{WebhookEventType.CREATED.value}", "email")
    try:
        await deliver_all(service, store, record.id)
        waiting = await service.outbox.get(wanted_id)
        assert waiting is not None and waiting.status is DeliveryStatus.PENDING
        assert waiting.attempts == 1 and waiting.last_error is not None
        assert "SMTPConnectError" in waiting.last_error

        box.start()
        try:
            assert await service.dispatch_due() == 0, "not before its backoff"
            clock.advance(3600)
            assert await service.dispatch_due() == 1
            clock.advance(3600)
            await service.record([await store.get(record.id)])
            assert await service.dispatch_due() == 0, "delivered: never sent again"
        finally:
            box.stop()
    finally:
        await service.aclose()

    assert len(box.messages) == 1
    assert box.messages[0][DELIVERY_HEADER] == wanted_id
    done = await service.outbox.get(wanted_id)
    assert done is not None and done.status is DeliveryStatus.DELIVERED and done.attempts == 2


async def test_routing_by_tool_and_risk_picks_the_addresses_and_a_tools_own_list_wins(
    memory: MongoDBClient, smtp: Mailbox, tmp_path: Path
) -> None:
    clock = Clock()
    store = PendingApprovalStore(memory, clock=clock)
    low_grant = tool_call("c1", "grant_okta_admin", {"user": "bob"}, signal={"risk": 0.2})
    high_grant = grant_call()
    deploy = tool_call("c1", "deploy", {"service": "api"}, metadata={"risk": "high"})
    own_list = tool_call(
        "c1", "rotate_keys", {"key": "k1"}, metadata={"notify_emails": ["keys@example.com"]}
    )
    unrouted = tool_call("c1", "grant_okta_admin", {"user": "carol"}, signal={"risk": 0.9})
    ids = []
    for approval_id, call in [
        ("apr_low", low_grant),
        ("apr_high", high_grant),
        ("apr_deploy", deploy),
        ("apr_own", own_list),
    ]:
        ids.append((await store.create(pending(approval_id, call, created_at=clock.now))).id)
    # Without a default address and no route matching, there is nothing to send.
    bare = await store.create(pending("apr_none", unrouted, created_at=clock.now))
    service, _ = service_for(memory, email_settings(smtp, tmp_path), clock)
    quiet, _ = service_for(
        memory, email_settings(smtp, tmp_path, routes="[[routes]]\ntools = ['deploy']\n"), clock
    )
    try:
        await deliver_all(service, store, *ids)
        await quiet.record([await store.get(bare.id)])
        assert await quiet.dispatch_due() == 1
    finally:
        await service.aclose()
        await quiet.aclose()

    by_id = {
        str(message["X-EAT-Approval"]): envelope[1]
        for message, envelope in zip(smtp.messages, smtp.envelopes, strict=True)
    }
    assert by_id == {
        "apr_low": ["oncall@example.com"],
        "apr_high": ["security@example.com", "iam@example.com"],
        "apr_deploy": ["release@example.com"],
        "apr_own": ["keys@example.com"],
    }
    nothing = await quiet.outbox.get(delivery_id("apr_none:approval.created", "email"))
    assert nothing is not None and nothing.status is DeliveryStatus.DELIVERED, (
        "nothing to send is done, not an error"
    )


async def test_every_recipient_refused_with_a_5xx_is_given_up_and_a_4xx_is_retried(
    memory: MongoDBClient, smtp: Mailbox, tmp_path: Path
) -> None:
    clock = Clock()
    store = PendingApprovalStore(memory, clock=clock)
    smtp.refuse = {
        "release@example.com": "550 5.1.1 no such mailbox",
        "oncall@example.com": "451 4.3.0 try again later",
    }
    deploy = await store.create(
        pending("apr_refused", tool_call("c1", "deploy", {"a": 1}), created_at=clock.now)
    )
    busy = await store.create(
        pending("apr_busy", tool_call("c1", "lookup", {"a": 1}), created_at=clock.now)
    )
    service, _ = service_for(memory, email_settings(smtp, tmp_path), clock)
    try:
        await deliver_all(service, store, deploy.id, busy.id)
    finally:
        await service.aclose()

    assert smtp.messages == []
    dead = await service.outbox.get(delivery_id("apr_refused:approval.created", "email"))
    assert dead is not None and dead.status is DeliveryStatus.DEAD
    assert dead.last_error is not None and "550" in dead.last_error
    later = await service.outbox.get(delivery_id("apr_busy:approval.created", "email"))
    assert later is not None and later.status is DeliveryStatus.PENDING
    assert later.last_error is not None and "451" in later.last_error


async def test_the_sink_is_on_with_eat_smtp_host_and_keeps_its_password_out_of_sight(
    memory: MongoDBClient, smtp: Mailbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert "email" in SINKS
    box = smtp  # offers no AUTH: every login is refused
    assert configured_sinks(Settings(notify=NotifySettings())) == []
    settings = email_settings(
        box, tmp_path, smtp_username="eat", smtp_password="hunter2-very-secret"
    )
    sinks = configured_sinks(settings, client=memory)
    assert [sink.name for sink in sinks] == ["email"]
    sink = sinks[0]
    assert sink.destination == f"smtp://127.0.0.1:{box.port}"
    assert "hunter2" not in repr(vars(sink)) and "hunter2" not in repr(sink)

    with_default = email_settings(box, tmp_path, email_to=["oncall@example.com"])
    listed = EmailSink.from_settings(with_default)
    assert listed is not None and listed.destination == "mailto:oncall@example.com"
    with pytest.raises(ConfigurationError, match="EAT_EMAIL_FROM"):
        EmailSink.from_settings(email_settings(box, tmp_path, email_from=None))
    with pytest.raises(ConfigurationError, match="EAT_SMTP_PASSWORD"):
        EmailSink.from_settings(email_settings(box, tmp_path, smtp_username="eat"))

    # A login that fails is retried, and the password is in no log line nor error.
    clock = Clock()
    store = PendingApprovalStore(memory, clock=clock)
    record = await store.create(pending("apr_login", grant_call(), created_at=clock.now))
    service, _ = service_for(memory, settings, clock)
    caplog.set_level("DEBUG")
    try:
        await deliver_all(service, store, record.id)
    finally:
        await service.aclose()
    failed = await service.outbox.get(delivery_id("apr_login:approval.created", "email"))
    assert failed is not None and failed.status is DeliveryStatus.PENDING
    assert failed.last_error is not None and "AUTH" in failed.last_error
    assert smtp.messages == []
    assert "hunter2" not in caplog.text and "hunter2" not in str(failed.last_error)
