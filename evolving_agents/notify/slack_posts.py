"""Each approval's Slack message, posted once and then updated in place: ``eat_slack_messages``.

::

    posts = ApprovalPosts(chat, SlackMessages(client), inbox_link=settings.notify.inbox_link)
    await posts.show(record, "#approvals")     # posts it, or updates the one already posted
    await posts.refresh(record)                # False when nothing was posted for it yet
    await posts.post_once(f"{record.id}:escalated", record, "#leads", message)

Layout of ``eat_slack_messages`` (owner: this module): ``_id`` = the approval id for its
message, ``<approval id>:<notice>`` for a notice posted about it (an escalation, a deadline
warning); ``approval_id``, ``channel`` (the id Slack answered with), ``ts`` (None while a post
is under way), ``attempt`` (the token of the post under way), ``posting_at``, ``version`` (the
record version last shown, so an older rendering never overwrites a newer one), ``posted_at``,
``created_at``: the TTL index ``created_ttl`` removes an entry ``KEPT_AFTER`` the larger of 60
days and twice ``EAT_PURGE_AFTER_DAYS`` after it was made, by then long past its approval's own
purge (an event about an approval still pending after that would post a new message).

Concurrency and the crash window: before posting, an attempt reserves the key with one insert
(unique ``_id``), so two dispatchers, or a retry while the first attempt still runs, never post
the same message twice; a retry that finds the message posted updates it instead. What is left
is a crash (or a lost answer) between Slack taking the post and the ``ts`` being written here:
the reservation goes stale after ``POSTING_STALE`` and the next attempt posts again, so that
message may appear twice (at least once, never lost). Updates are last-writer-wins against
Slack; the ``version`` check keeps a slow, older rendering from replacing a newer one except
when the two race within one update.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pymongo.errors import DuplicateKeyError, PyMongoError

from evolving_agents.approvals.models import PendingApproval, utcnow
from evolving_agents.config import Settings
from evolving_agents.errors import DeliveryFailed
from evolving_agents.notify.slack_blocks import approval_message
from evolving_agents.notify.slack_chat import SlackChat
from evolving_agents.notify.slack_text import SlackMessage
from evolving_agents.storage.mongodb_client import MongoDBClient
from evolving_agents.storage.names import SLACK_MESSAGES

logger = logging.getLogger(__name__)

KEPT_AFTER = timedelta(days=60)
"""The least time an entry is kept; twice ``EAT_PURGE_AFTER_DAYS`` when that is longer."""
TTL_INDEX = "created_ttl"

POSTING_STALE = timedelta(minutes=2)
"""After this, a reservation without a ``ts`` is taken to be a crashed attempt's."""


class SlackPost(BaseModel):
    """Where one message of ours is in Slack (``ts`` None: being posted)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    key: str = Field(alias="_id")
    approval_id: str
    channel: str | None = None
    ts: str | None = None
    attempt: str | None = None
    posting_at: datetime | None = None
    version: int = 0


class SlackMessages:
    """The ``eat_slack_messages`` collection; see the module docstring for its layout."""

    def __init__(self, client: MongoDBClient) -> None:
        self._client = client
        self._indexed = False

    def _collection(self) -> Any:
        return self._client.collection(SLACK_MESSAGES)

    async def _ensure_ttl(self) -> None:
        """The TTL index, once per process; a failure only logs (entries are then kept)."""
        if self._indexed:
            return
        kept = max(KEPT_AFTER, timedelta(days=2 * self._client.settings.purge_after_days))
        try:
            await self._collection().create_index(
                "created_at", name=TTL_INDEX, expireAfterSeconds=int(kept.total_seconds())
            )
        except PyMongoError as exc:
            logger.warning("slack: could not create the %s TTL index: %s", SLACK_MESSAGES, exc)
        self._indexed = True

    async def get(self, key: str) -> SlackPost | None:
        document = await self._storage("read", self._collection().find_one({"_id": key}))
        return None if document is None else SlackPost.model_validate(document)

    async def reserve(
        self, key: str, approval_id: str, *, now: datetime
    ) -> tuple[SlackPost | None, str]:
        """``(the message already posted, "")``, or ``(None, attempt token)``: this attempt
        may post. ``DeliveryFailed`` (retry) while another attempt is posting it."""
        await self._ensure_ttl()
        attempt = secrets.token_hex(8)
        document = {
            "_id": key,
            "created_at": now,
            "approval_id": approval_id,
            "channel": None,
            "ts": None,
            "attempt": attempt,
            "posting_at": now,
            "version": 0,
        }
        try:
            await self._storage("reserve", self._collection().insert_one(document))
            return None, attempt
        except DuplicateKeyError:
            pass
        existing = await self.get(key)
        if existing is not None and existing.ts is not None:
            return existing, ""
        # A reservation without a ts: someone is posting, or crashed while posting.
        taken = await self._storage(
            "take over",
            self._collection().update_one(
                {"_id": key, "ts": None, "posting_at": {"$lt": now - POSTING_STALE}},
                {"$set": {"attempt": attempt, "posting_at": now}},
            ),
        )
        if taken.modified_count == 1:
            logger.warning(
                "slack: %s was being posted by an attempt that never finished; posting it "
                "again (it may now appear twice)",
                key,
            )
            return None, attempt
        raise DeliveryFailed(f"the Slack message {key} is being posted by another attempt")

    async def posted(self, key: str, attempt: str, channel: str, ts: str, version: int) -> None:
        result = await self._storage(
            "save",
            self._collection().update_one(
                {"_id": key, "ts": None},
                {
                    "$set": {"channel": channel, "ts": ts, "version": version},
                    "$unset": {"attempt": "", "posting_at": ""},
                },
            ),
        )
        if result.matched_count != 1:
            logger.warning("slack: %s was posted twice (another attempt saved first)", key)

    async def release(self, key: str, attempt: str) -> None:
        """Drop this attempt's reservation: its post failed, so a retry may post."""
        await self._storage(
            "release", self._collection().delete_one({"_id": key, "ts": None, "attempt": attempt})
        )

    async def shown(self, key: str, version: int) -> None:
        await self._storage(
            "save", self._collection().update_one({"_id": key}, {"$max": {"version": version}})
        )

    @staticmethod
    async def _storage(what: str, operation: Any) -> Any:
        try:
            return await operation
        except DuplicateKeyError:
            raise
        except PyMongoError as exc:
            raise DeliveryFailed(f"{SLACK_MESSAGES}: could not {what}: {exc}") from exc


class ApprovalPosts:
    """Posts each approval's message once and keeps it showing the record as it is."""

    def __init__(
        self,
        chat: SlackChat,
        messages: SlackMessages,
        *,
        inbox_link: Callable[[str], str | None] = lambda _: None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.chat = chat
        self.messages = messages
        self._inbox_link = inbox_link
        self._clock = clock

    @classmethod
    def on(
        cls, settings: Settings, client: MongoDBClient, *, clock: Callable[[], datetime] = utcnow
    ) -> ApprovalPosts:
        """The poster ``settings`` describe (the bot token, the API, the inbox link), keeping
        its messages in ``client``'s ``eat_slack_messages``: what the sink and the inbox's
        ``/slack/actions`` each build. ``ConfigurationError`` without slack_sdk."""
        notify = settings.notify
        chat = SlackChat(
            notify.slack_bot_token or "",
            api_url=notify.slack_api_url,
            timeout_seconds=settings.webhooks.timeout_seconds,
        )
        return cls(chat, SlackMessages(client), inbox_link=notify.inbox_link, clock=clock)

    def inbox_link(self, approval_id: str) -> str | None:
        """The record's page in the inbox, when ``EAT_INBOX_URL`` is set."""
        return self._inbox_link(approval_id)

    def render(self, record: PendingApproval) -> SlackMessage:
        return approval_message(record, inbox_link=self._inbox_link(record.id))

    async def show(self, record: PendingApproval, channel: str) -> None:
        """Post the record's message in ``channel``, or update it if it is already posted."""
        posted = await self.post_once(record.id, record, channel, self.render(record))
        if not posted:
            await self.refresh(record)

    async def refresh(
        self, record: PendingApproval, *, where: tuple[str, str] | None = None
    ) -> bool:
        """Update the record's message in place; False when there is none to update.

        ``where`` (channel, ts) is the message to update when none is stored: the one a
        reviewer clicked in.
        """
        post = await self.messages.get(record.id)
        if post is not None and post.channel is not None and post.ts is not None:
            if post.version > record.version:
                return True  # a newer rendering is already showing
            where = (post.channel, post.ts)
        if where is None:
            return False
        await self.chat.update(where[0], where[1], self.render(record))
        if post is not None and post.ts is not None:
            await self.messages.shown(record.id, record.version)
        return True

    async def post_once(
        self,
        key: str,
        record: PendingApproval,
        channel: str,
        message: SlackMessage,
        *,
        thread_ts: str | None = None,
    ) -> bool:
        """Post ``message`` unless the one under ``key`` is already posted; True if it posted."""
        existing, attempt = await self.messages.reserve(key, record.id, now=self._clock())
        if existing is not None:
            return False
        try:
            channel_id, ts = await self.chat.post(channel, message, thread_ts=thread_ts)
        except DeliveryFailed:
            try:
                await self.messages.release(key, attempt)
            except DeliveryFailed as exc:
                # The reservation stays until it is stale; the post's failure is what counts.
                logger.warning("slack: could not release %s after a failed post: %s", key, exc)
            raise
        await self.messages.posted(key, attempt, channel_id, ts, record.version)
        logger.info("slack: posted %s in %s (ts %s)", key, channel_id, ts)
        return True
