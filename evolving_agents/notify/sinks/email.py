"""Email: an ``EventSink`` that mails new approvals, escalations and deadline warnings.

::

    EAT_SMTP_HOST=smtp.example.com EAT_SMTP_USERNAME=eat EAT_SMTP_PASSWORD=... \\
    EAT_EMAIL_FROM=eat@example.com EAT_EMAIL_TO=oncall@example.com \\
    EAT_INBOX_URL=https://eat.example.com eat webhooks run

    sink = EmailSink.from_settings(settings, client=client, reviewers=directory)

On ``approval.created`` it reads the record through the store, routes it (``routing.py``: by
tool and risk band, a tool's ``notify_emails`` first) and sends one message to the route's
addresses (``email_message.py``: each call's tool, arguments, risk, reason and better action,
the deadline, a link to the inbox record; no decision links). ``approval.deadline_warning``
goes to the same addresses; ``approval.escalated`` to the ``escalate_to`` the audit entry
recorded: its ``emails``, and the ``email`` of every reviewer holding its ``role``. Other
events are not mailed. A record no longer pending when its delivery comes up is not mailed:
nobody can decide it any more.

**Reviewers.** The reviewers directory (``reviewers/``) lives on a floor above this one, so the
sink does not read the reviewers file itself: whoever builds it passes ``reviewers`` (anything
with ``contacts(role)``, such as ``ReviewerDirectory``). Without one, an escalation to a role
mails only the target's own ``emails`` and logs a warning naming the role.

Failures: a 4xx answer, a refused connection, a timeout or a dropped connection is a failed
attempt, retried by the outbox; every recipient refused with a 5xx, or a message the server
refuses with a 5xx, is permanent. The SMTP password is never logged.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from pydantic import ValidationError

from evolving_agents.approvals.models import ApprovalStatus, PendingApproval, utcnow
from evolving_agents.approvals.protocols import ApprovalStore
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.config import NotifySettings, Settings
from evolving_agents.errors import (
    ConfigurationError,
)
from evolving_agents.notify.email_message import MAILED_TYPES, approval_email
from evolving_agents.notify.escalation import EscalationNotice
from evolving_agents.notify.events import WebhookEvent, WebhookEventType
from evolving_agents.notify.outbox import Delivery
from evolving_agents.notify.routing import NotifyRoutes, Target
from evolving_agents.notify.sinks.base import DeliveryFailed, ReviewerContacts, record_of
from evolving_agents.storage.mongodb_client import MongoDBClient

logger = logging.getLogger(__name__)

EMAIL_SINK = "email"


class SmtpServer:
    """Where and how to send: host, port, TLS, credentials. The password stays private: it is
    in no ``repr``, no log line and no failure reason."""

    def __init__(
        self,
        host: str,
        port: int = 587,
        *,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = True,
        tls: bool = False,
        timeout_seconds: float = 10.0,
        total_seconds: float = 30.0,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.__password = password
        self.starttls = starttls and not tls
        self.tls = tls
        self.timeout_seconds = timeout_seconds
        """Per SMTP command."""
        self.total_seconds = total_seconds
        """The whole exchange: well inside the outbox's lease (60 s by default), so no second
        dispatcher takes the delivery while this one may still be sending it."""

    def __repr__(self) -> str:
        return f"SmtpServer({self.host!r}, {self.port}, username={self.username!r})"

    @property
    def uri(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    async def send(self, message: EmailMessage, sender: str, recipients: Sequence[str]) -> None:
        """Hand the message over; ``DeliveryFailed`` (permanent or not) when it was not taken."""
        import aiosmtplib  # the email extra; from_settings checked that it is installed

        try:
            async with asyncio.timeout(self.total_seconds):
                refused, _ = await aiosmtplib.send(
                    message,
                    sender=sender,
                    recipients=list(recipients),
                    hostname=self.host,
                    port=self.port,
                    username=self.username,
                    password=self.__password,
                    use_tls=self.tls,
                    # True, not None: STARTTLS asked for is required, never skipped.
                    start_tls=self.starttls,
                    timeout=self.timeout_seconds,
                )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [refusal.code for refusal in exc.recipients]
            reason = "every recipient refused: " + "; ".join(
                f"{refusal.recipient} ({refusal.code} {refusal.message})"
                for refusal in exc.recipients
            )
            raise DeliveryFailed(reason, permanent=all(code >= 500 for code in codes)) from exc
        except (aiosmtplib.SMTPDataError, aiosmtplib.SMTPSenderRefused) as exc:
            # The server refused the message itself or its sender: a 5xx says no retry helps.
            raise DeliveryFailed(_reason(exc), permanent=exc.code >= 500) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            # 4xx, authentication, connection refused or dropped, timeouts: the server, the
            # network or the credentials may be fixed before the next attempt.
            raise DeliveryFailed(_reason(exc)) from exc
        if refused:
            logger.warning(
                "email %s: refused for %s; sent to the others",
                message["Message-ID"],
                ", ".join(f"{address} ({answer.code})" for address, answer in refused.items()),
            )


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class EmailSink:
    """Mails approvals that need someone; an ``EventSink``. See the module docstring."""

    name = EMAIL_SINK

    def __init__(
        self,
        store: ApprovalStore | None,
        server: SmtpServer,
        *,
        sender: str,
        routes: NotifyRoutes,
        inbox_link: Callable[[str], str | None] = lambda approval_id: None,
        reviewers: ReviewerContacts | None = None,
        default_emails: Sequence[str] = (),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._server = server
        self._sender = sender
        self._routes = routes
        self._inbox_link = inbox_link
        self.reviewers = reviewers
        """Who holds a role, for escalations to one; settable after building (see above)."""
        self._clock = clock
        self.destination = "mailto:" + ",".join(default_emails) if default_emails else server.uri

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        transport: object = None,
        client: MongoDBClient | None = None,
        reviewers: ReviewerContacts | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> EmailSink | None:
        """The sink ``settings.notify`` describes, or None when ``EAT_SMTP_HOST`` is unset.

        ``transport`` is unused (it is the HTTP sinks'); ``client`` is the database the
        records are read from (without one every delivery fails permanently, naming why);
        ``reviewers`` resolve an escalation's role to addresses; ``clock`` is "now" for the
        time left before a deadline.
        """
        notify = settings.notify
        if notify.smtp_host is None:
            return None
        if importlib.util.find_spec("aiosmtplib") is None:
            raise ConfigurationError(
                "EAT_SMTP_HOST is set but aiosmtplib is not installed: "
                "pip install 'evolving-agents[email]'"
            )
        if notify.email_from is None:
            raise ConfigurationError(
                "EAT_SMTP_HOST is set but EAT_EMAIL_FROM is not: set the address approval "
                "emails are sent from (most servers refuse mail from an unknown sender)"
            )
        if (notify.smtp_username is None) != (notify.smtp_password is None):
            raise ConfigurationError("set both EAT_SMTP_USERNAME and EAT_SMTP_PASSWORD, or neither")
        if notify.smtp_username is not None and not (notify.smtp_starttls or notify.smtp_tls):
            logger.warning(
                "EAT_SMTP_STARTTLS and EAT_SMTP_TLS are both off: the SMTP login to %s goes "
                "over the network unencrypted",
                notify.smtp_host,
            )
        server = SmtpServer(
            notify.smtp_host,
            notify.smtp_port,
            username=notify.smtp_username,
            password=notify.smtp_password,
            starttls=notify.smtp_starttls,
            tls=notify.smtp_tls,
        )
        store = None if client is None else PendingApprovalStore(client)
        return cls(
            store,
            server,
            sender=notify.email_from,
            routes=NotifyRoutes.from_settings(notify),
            # Only the inbox's address: the settings object itself holds the SMTP password.
            inbox_link=NotifySettings.model_construct(inbox_url=notify.inbox_url).inbox_link,
            reviewers=reviewers,
            default_emails=notify.email_to,
            clock=clock,
        )

    async def aclose(self) -> None:
        """Nothing to release: each delivery opens and closes its own SMTP connection."""

    async def deliver(self, delivery: Delivery) -> None:
        try:
            event = delivery.approval_event()
        except ValidationError as exc:
            raise DeliveryFailed(f"not an approval event: {exc}", permanent=True) from exc
        if event.type not in MAILED_TYPES:
            logger.debug("email: %s is not mailed (%s)", delivery.id, event.type.value)
            return
        record = await record_of(self._store, event.approval_id, sink=EMAIL_SINK)
        if record.status is not ApprovalStatus.PENDING:
            logger.info(
                "email: %s not sent: approval %s is %s, nobody can decide it now",
                delivery.id,
                record.id,
                record.status.value,
            )
            return
        recipients = self._recipients(event, record)
        if not recipients:
            logger.debug("email: %s has no addresses routed; nothing to send", delivery.id)
            return
        message = approval_email(
            record,
            event.type,
            sender=self._sender,
            recipients=recipients,
            delivery_id=delivery.id,
            inbox_link=self._inbox_link(record.id),
            now=self._clock(),
            notice=event.notice,
        )
        await self._server.send(message, self._sender, recipients)
        logger.info(
            "email: %s sent to %d address(es) for approval %s",
            event.type.value,
            len(recipients),
            record.id,
        )

    def _recipients(self, event: WebhookEvent, record: PendingApproval) -> list[str]:
        route = self._routes.route_for(record)
        if event.type is not WebhookEventType.ESCALATED:
            return list(dict.fromkeys(route.emails))
        target = _recorded_target(event) or route.escalate_to
        if target is None:
            return []
        addresses = list(target.emails)
        if target.role is not None:
            addresses += self._role_emails(target.role, record.id)
        return list(dict.fromkeys(addresses))

    def _role_emails(self, role: str, approval_id: str) -> list[str]:
        if self.reviewers is None:
            logger.warning(
                "email: the escalation of %s names role %r, but this email sink was given no "
                "reviewers directory: its holders are not mailed",
                approval_id,
                role,
            )
            return []
        found = [c.email for c in self.reviewers.contacts(role) if c.email is not None]
        if not found:
            logger.warning(
                "email: no reviewer holding role %r has an email (escalation of %s)",
                role,
                approval_id,
            )
        return found


def _recorded_target(event: WebhookEvent) -> Target | None:
    """The target the audit entry recorded (what was decided then, not today's routing)."""
    notice: Any = event.notice
    try:
        return EscalationNotice.model_validate(notice or {}).escalate_to
    except ValidationError:
        logger.warning("email: %s has no readable escalate_to; routing it again", event.id)
        return None
