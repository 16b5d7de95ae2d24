"""Slack: each approval as one message with Approve / Reject buttons, kept up to date.

::

    EAT_SLACK_BOT_TOKEN=xoxb-... EAT_SLACK_SIGNING_SECRET=... EAT_SLACK_CHANNEL=#ops eat worker

    sink = SlackSink.from_settings(settings, client=client)   # None without the token
    service = WebhookService(client, sinks=[sink])

On ``approval.created`` the sink reads the record and posts its message (``slack_blocks.py``)
in the channel its route names (``notify/routing.py``: the tool's ``slack_channel``, the
routing file, ``EAT_SLACK_CHANNEL``); every later event of the record (decided, expired,
completed, failed, cancelled, tool_error) re-renders it from the record and updates the message
in place (``chat.update``), so it shows the votes, then the outcome. ``approval.escalated``
posts to the route's ``escalate_to`` channel, mentioning the reviewers who hold its role;
``approval.deadline_warning`` replies in the message's thread. The buttons are answered by the
inbox (``web/slack.py``, ``/slack/actions``), which is why the signing secret is required.

Each message is posted once (``slack_posts.py`` keeps where it is and documents the one crash
window left); a later event whose message is not posted yet fails its attempt and is retried
by the outbox. A record routed to no channel is not posted, and says so in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from evolving_agents.approvals.models import ApprovalStatus, PendingApproval, utcnow
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.config import Settings
from evolving_agents.errors import (
    ConfigurationError,
    DeliveryFailed,
)
from evolving_agents.notify.escalation import DeadlineNotice, EscalationNotice
from evolving_agents.notify.events import WebhookEvent, WebhookEventType
from evolving_agents.notify.outbox import Delivery
from evolving_agents.notify.routing import NotifyRoutes, Route, Target
from evolving_agents.notify.sinks.base import ReviewerContacts, record_of
from evolving_agents.notify.slack_chat import require_slack_sdk
from evolving_agents.notify.slack_notices import deadline_warning_message, escalation_message
from evolving_agents.notify.slack_posts import ApprovalPosts
from evolving_agents.storage.mongodb_client import MongoDBClient

logger = logging.getLogger(__name__)

SLACK_SINK = "slack"


class SlackSink:
    """Posts and updates approval messages in Slack; an ``EventSink``."""

    name = SLACK_SINK

    def __init__(
        self,
        posts: ApprovalPosts | None,
        records: PendingApprovalStore | None,
        routes: NotifyRoutes,
        *,
        reviewers: ReviewerContacts | None = None,
        destination: str = "slack:",
    ) -> None:
        self.posts = posts
        self._records = records
        self._routes = routes
        self._reviewers = reviewers
        self.destination = destination

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        transport: object = None,
        client: MongoDBClient | None = None,
        reviewers: ReviewerContacts | None = None,
        records: PendingApprovalStore | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> SlackSink | None:
        """The sink ``settings.notify`` describes, or None without ``EAT_SLACK_BOT_TOKEN``.

        ``transport`` is unused (slack_sdk runs on aiohttp). Without ``client`` the sink can be
        listed (``eat doctor``) but every delivery fails permanently, saying why. ``records``
        is the store to read records through (default: one on ``client``); ``reviewers``
        who holds a role, for escalations' mentions (``ReviewerDirectory`` is one).
        """
        notify = settings.notify
        if not notify.slack_bot_token:
            return None
        if not notify.slack_signing_secret:
            raise ConfigurationError(
                "EAT_SLACK_BOT_TOKEN is set but EAT_SLACK_SIGNING_SECRET is not: the inbox "
                "verifies every button click with it (/slack/actions); set it to the signing "
                "secret of the Slack app (Basic Information > App Credentials)"
            )
        require_slack_sdk()
        routes = NotifyRoutes.from_settings(notify)
        channel = notify.slack_channel or "(routed)"
        if notify.slack_channel is None and notify.routes_file is None:
            logger.warning(
                "Slack is on but neither EAT_SLACK_CHANNEL nor EAT_NOTIFY_FILE is set: only "
                "approvals of tools whose metadata names a slack_channel are posted"
            )
        posts = None
        if client is not None:
            posts = ApprovalPosts.on(settings, client, clock=clock or utcnow)
            if records is None:
                records = PendingApprovalStore(client)
        return cls(posts, records, routes, reviewers=reviewers, destination=f"slack:{channel}")

    async def aclose(self) -> None:
        """Nothing is held open: each Web API call opens and closes its own session."""

    async def deliver(self, delivery: Delivery) -> None:
        try:
            event = delivery.approval_event()
        except ValidationError as exc:
            reason = f"not an approval event: {exc.errors()[0]['msg']}"
            raise DeliveryFailed(reason, permanent=True) from exc
        posts = self.posts
        if posts is None:  # built without a database client: nowhere to keep its messages
            raise DeliveryFailed(
                "the Slack sink was built without a database client", permanent=True
            )
        record = await record_of(self._records, event.approval_id, sink="Slack")
        route = self._routes.route_for(record)
        if event.type is WebhookEventType.CREATED:
            await self._created(posts, record, route)
        elif event.type is WebhookEventType.ESCALATED:
            await self._escalated(posts, record, route, event)
        elif event.type is WebhookEventType.DEADLINE_WARNING:
            await self._warned(posts, record, route, event)
        else:
            await self._changed(posts, record, route, event)

    async def _created(self, posts: ApprovalPosts, record: PendingApproval, route: Route) -> None:
        if route.slack_channel is None:
            logger.info(
                "slack: approval %s is routed to no Slack channel (EAT_SLACK_CHANNEL, the "
                "routing file or its tool's slack_channel); not posted",
                record.id,
            )
            return
        await posts.show(record, route.slack_channel)

    async def _changed(
        self, posts: ApprovalPosts, record: PendingApproval, route: Route, event: WebhookEvent
    ) -> None:
        if await posts.refresh(record):
            return
        if route.slack_channel is None:
            logger.debug("slack: %s for %s: no channel, nothing to update", event.type, record.id)
            return
        raise DeliveryFailed(
            f"approval {record.id} has no Slack message yet (its approval.created delivery "
            "has not gone out); retrying"
        )

    async def _escalated(
        self, posts: ApprovalPosts, record: PendingApproval, route: Route, event: WebhookEvent
    ) -> None:
        if record.status is not ApprovalStatus.PENDING:
            logger.info("slack: not escalating %s: it is %s now", record.id, record.status)
            return
        notice = _escalation(event.notice)
        target = (route.escalate_to or Target()) if notice is None else notice.escalate_to
        original = await posts.messages.get(record.id)
        where = None
        if original is not None and original.channel is not None and original.ts is not None:
            where = (original.channel, original.ts)
        channel = target.slack_channel or (where[0] if where else route.slack_channel)
        if channel is None:
            logger.info("slack: escalation of %s names no Slack channel; not posted", record.id)
            return
        mentions: list[str] = []
        if target.role is not None and self._reviewers is not None:
            for contact in self._reviewers.contacts(target.role):
                if contact.slack_user_id is not None:
                    mentions.append(contact.slack_user_id)
        elif target.role is not None:
            logger.info(
                "slack: escalation of %s names role %r but the sink has no reviewer contacts; "
                "the role is named without mentions",
                record.id,
                target.role,
            )
        message = escalation_message(
            record,
            mentions=mentions,
            role=target.role,
            original=where,
            inbox_link=posts.inbox_link(record.id),
            waited_seconds=None if notice is None else notice.after_seconds,
        )
        key = f"{record.id}:{WebhookEventType.ESCALATED.value}"
        await posts.post_once(key, record, channel, message)

    async def _warned(
        self, posts: ApprovalPosts, record: PendingApproval, route: Route, event: WebhookEvent
    ) -> None:
        if record.status is not ApprovalStatus.PENDING:
            logger.info("slack: no deadline warning for %s: it is %s", record.id, record.status)
            return
        original = await posts.messages.get(record.id)
        if original is None or original.channel is None or original.ts is None:
            if route.slack_channel is None:
                logger.debug("slack: deadline warning for %s: no channel", record.id)
                return
            raise DeliveryFailed(f"approval {record.id} has no Slack message to reply to yet")
        message = deadline_warning_message(record, _deadline(event.notice))
        key = f"{record.id}:{WebhookEventType.DEADLINE_WARNING.value}"
        await posts.post_once(key, record, original.channel, message, thread_ts=original.ts)


def _escalation(notice: dict[str, Any] | None) -> EscalationNotice | None:
    """What the escalation's audit entry recorded (None: unreadable, the route decides)."""
    try:
        return EscalationNotice.model_validate(notice or {})
    except ValidationError:
        logger.warning("slack: the escalation notice does not parse: %r", notice)
        return None


def _deadline(notice: dict[str, Any] | None) -> datetime | None:
    try:
        return DeadlineNotice.model_validate(notice or {}).deadline
    except ValidationError:
        return None
