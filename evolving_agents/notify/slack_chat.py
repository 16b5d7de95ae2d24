"""The Slack Web API calls the Slack sink and the inbox's ``/slack/actions`` make, errors named.

::

    chat = SlackChat(token, api_url=None)           # https://slack.com/api/ when None
    channel, ts = await chat.post("#approvals", message)
    await chat.update(channel, ts, message)
    await chat.open_view(trigger_id, view)          # the reject dialog
    await chat.respond(response_url, "You cannot approve this call: ...")   # ephemeral

It wraps the official ``slack_sdk`` async client (``AsyncWebClient``, on aiohttp; the
``slack`` extra), imported when a ``SlackChat`` is built, so the package imports without it.
Every failure is a ``DeliveryFailed``: ``permanent`` when no retry can help (a revoked token,
a channel that does not exist or the bot is not in, blocks Slack refuses), retryable
otherwise (rate limits, Slack's 5xx, timeouts, connection errors). The token is never logged
or put in an error; slack_sdk redacts it from its own debug logs.
"""

from __future__ import annotations

import importlib.util
import logging
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from evolving_agents.errors import ConfigurationError, DeliveryFailed
from evolving_agents.notify.slack_text import SlackMessage

if TYPE_CHECKING:
    from slack_sdk.web.async_client import AsyncWebClient
    from slack_sdk.web.async_slack_response import AsyncSlackResponse

logger = logging.getLogger(__name__)

DEFAULT_API_URL = "https://slack.com/api/"

# Errors no retry can fix: the token, the channel, or the message itself is wrong.
_PERMANENT = frozenset(
    {
        "account_inactive",
        "cant_update_message",
        "channel_not_found",
        "edit_window_closed",
        "invalid_arguments",
        "invalid_auth",
        "invalid_blocks",
        "invalid_blocks_format",
        "is_archived",
        "message_not_found",
        "missing_scope",
        "msg_too_long",
        "no_permission",
        "not_allowed_token_type",
        "not_authed",
        "not_in_channel",
        "restricted_action",
        "team_access_not_granted",
        "token_expired",
        "token_revoked",
    }
)

SLACK_EXTRA_HINT = "pip install 'evolving-agents[slack]'"


def require_slack_sdk() -> None:
    """``ConfigurationError`` unless ``slack_sdk`` and aiohttp (its async transport) import."""
    missing = [name for name in ("slack_sdk", "aiohttp") if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigurationError(
            f"EAT_SLACK_BOT_TOKEN is set but {' and '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not installed: {SLACK_EXTRA_HINT}"
        )


class SlackChat:
    """One bot token's Web API client. Safe across tasks: each call opens its own session."""

    def __init__(
        self, token: str, *, api_url: str | None = None, timeout_seconds: float = 10.0
    ) -> None:
        require_slack_sdk()
        from slack_sdk.web.async_client import AsyncWebClient

        base_url = api_url or DEFAULT_API_URL
        if not base_url.endswith("/"):
            base_url += "/"
        self._timeout = max(1, math.ceil(timeout_seconds))
        self._client: AsyncWebClient = AsyncWebClient(
            token=token, base_url=base_url, timeout=self._timeout
        )

    def __repr__(self) -> str:  # never the token
        return f"SlackChat(base_url={self._client.base_url!r})"

    async def post(
        self, channel: str, message: SlackMessage, *, thread_ts: str | None = None
    ) -> tuple[str, str]:
        """``chat.postMessage``; returns the channel id and the message's ``ts``."""
        response = await self._call(
            "chat.postMessage",
            lambda: self._client.chat_postMessage(
                channel=channel,
                text=message.text,
                blocks=message.blocks,
                thread_ts=thread_ts,
                unfurl_links=False,
                unfurl_media=False,
            ),
        )
        posted_channel, ts = response.get("channel"), response.get("ts")
        if not isinstance(posted_channel, str) or not isinstance(ts, str):
            raise DeliveryFailed("Slack chat.postMessage answered without channel and ts")
        return posted_channel, ts

    async def update(self, channel: str, ts: str, message: SlackMessage) -> None:
        """``chat.update``: the message at ``(channel, ts)`` becomes ``message``."""
        await self._call(
            "chat.update",
            lambda: self._client.chat_update(
                channel=channel, ts=ts, text=message.text, blocks=message.blocks
            ),
        )

    async def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        """``views.open``: a dialog for the user whose click gave ``trigger_id`` (3 s)."""
        await self._call(
            "views.open", lambda: self._client.views_open(trigger_id=trigger_id, view=view)
        )

    async def ephemeral(self, channel: str, user: str, text: str) -> None:
        """``chat.postEphemeral``: ``text`` that only ``user`` sees, in ``channel``."""
        await self._call(
            "chat.postEphemeral",
            lambda: self._client.chat_postEphemeral(channel=channel, user=user, text=text),
        )

    async def respond(self, response_url: str, text: str) -> None:
        """An ephemeral answer to an interaction, through its ``response_url``."""
        import aiohttp
        from slack_sdk.webhook.async_client import AsyncWebhookClient

        hook = AsyncWebhookClient(response_url, timeout=self._timeout)
        try:
            answer = await hook.send(text=text, response_type="ephemeral", replace_original=False)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryFailed(f"Slack response_url: {type(exc).__name__}") from exc
        if answer.status_code != 200:
            raise DeliveryFailed(f"Slack response_url: HTTP {answer.status_code}")

    async def _call(
        self, method: str, send: Callable[[], Awaitable[AsyncSlackResponse]]
    ) -> AsyncSlackResponse:
        import aiohttp
        from slack_sdk.errors import SlackApiError, SlackClientError

        try:
            return await send()
        except SlackApiError as exc:
            error = exc.response.get("error")
            raise _api_failure(method, exc.response.status_code, error) from exc
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            # The request never got an answer: a later attempt may (connection, timeout).
            detail = f": {exc}" if str(exc) else ""
            raise DeliveryFailed(f"Slack {method}: {type(exc).__name__}{detail}") from exc


def _api_failure(method: str, status: int, error: object) -> DeliveryFailed:
    """What an error answer from Slack means for the delivery."""
    code = error if isinstance(error, str) else "no error code"
    reason = f"Slack {method}: {code} (HTTP {status})"
    if status == 429 or status >= 500:
        return DeliveryFailed(reason)
    return DeliveryFailed(reason, permanent=code in _PERMANENT)
