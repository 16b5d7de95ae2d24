"""Slack's interaction endpoint: ``POST /slack/actions``, where the message buttons' clicks land.

::

    # the Slack app's Interactivity request URL:  https://<inbox>/slack/actions
    EAT_SLACK_BOT_TOKEN=xoxb-... EAT_SLACK_SIGNING_SECRET=... eat inbox

Slack posts each click as a form with one ``payload`` field (JSON), signed: the endpoint
checks ``X-Slack-Signature`` (``v0=`` HMAC-SHA256 with the signing secret over
``v0:<X-Slack-Request-Timestamp>:<raw body>``, compared in constant time, by slack_sdk's
``SignatureVerifier``) and refuses a timestamp more than 5 minutes off with a 401, before it
reads anything. The Slack user is the reviewer whose entry in the reviewers file has that
``slack_user_id``; their vote goes through ``decide_as`` (surface ``slack``), bound to the
digest of the arguments the message showed (and an Approve only for a call the message
could show whole: ``slack_calls.fully_shown``), so the same rules hold as in the inbox and the
CLI: roles, quorum, no self-approval, sticky decisions, expiry. A click that may not decide
(an unknown user, a missing role, a decided or expired call) gets an ephemeral answer saying
why, and changes nothing.

Approve decides at once; so does "Approve the suggestion", with the decision layer's suggested
arguments as the approved edit (bound to their digest as the message showed them, and checked
against the tool and the rules again, so it needs an inbox started with ``--app``). Reject
opens a dialog (``views.open``) asking for the reason, and the dialog's submission decides; a
refusal then shows in the dialog. After a vote the message is
updated in place (so the first vote of a quorum of two shows "1 of 2 approvals"). Slack wants
an answer within 3 seconds: the endpoint answers once the vote is written (one database
update), and talks to Slack (update, ephemeral, dialog) after the answer is sent. A suggestion,
checked again as an edit (the decision layer may take longer), is decided after the answer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import PlainTextResponse, Response

from evolving_agents.approvals.models import (
    PendingApproval,
    ToolCallRecord,
    Verdict,
)
from evolving_agents.approvals.rules import Reviewer
from evolving_agents.approvals.suggestions import SUGGESTION_APPLIED
from evolving_agents.errors import (
    ApprovalConflict,
    ApprovalNotFound,
    ApprovalStoreError,
    ConfigurationError,
    DeliveryFailed,
    EvolvingAgentsError,
    InvalidDecision,
    NotAuthorized,
    StateIntegrityError,
    UnreadableRecord,
)
from evolving_agents.notify.slack_blocks import (
    REJECT_CALLBACK,
    ActionValue,
)
from evolving_agents.notify.slack_notices import reject_modal
from evolving_agents.notify.slack_posts import ApprovalPosts
from evolving_agents.notify.slack_text import INBOX_ACTION
from evolving_agents.reviewers.directory import decide_as
from evolving_agents.web import slack_payloads as payloads
from evolving_agents.web.inbox import Inbox
from evolving_agents.web.requests import inbox_of

logger = logging.getLogger(__name__)

router = APIRouter()

SURFACE = "slack"
# Slack's payloads carry the whole clicked message: generous, but bounded.
_MAX_BODY = 1024 * 1024
_STATE_KEY = "slack_actions"
_NOT_CONFIGURED = (
    "Slack is not configured on this inbox: set EAT_SLACK_BOT_TOKEN and "
    "EAT_SLACK_SIGNING_SECRET (see docs/NOTIFICATIONS.md)."
)

Reply = Callable[[str], Awaitable[None]]


@router.post("/slack/actions")
async def slack_actions(request: Request, background: BackgroundTasks) -> Response:
    slack = _slack_of(request)
    if slack is None:
        return PlainTextResponse(_NOT_CONFIGURED, status_code=404)
    body = await payloads.capped_body(request, _MAX_BODY)
    if body is None:
        return PlainTextResponse("payload too large", status_code=413)
    if not slack.signed(
        body,
        request.headers.get("x-slack-request-timestamp"),
        request.headers.get("x-slack-signature"),
    ):
        logger.warning("slack: refused a request to /slack/actions: bad or stale signature")
        return PlainTextResponse("invalid or expired Slack signature", status_code=401)
    payload = payloads.payload_of(body)
    if payload is None:
        return PlainTextResponse("expected a form with a JSON payload field", status_code=400)
    if slack.team_id is not None and payloads.team_id(payload) != slack.team_id:
        logger.warning("slack: refused a click from workspace %r", payloads.team_id(payload))
        return PlainTextResponse("this inbox takes clicks from one Slack workspace", 403)
    kind = payload.get("type")
    if kind == "block_actions":
        await slack.clicked(payload, background)
        return Response(status_code=200)
    if kind == "view_submission":
        return await slack.submitted(payload, background)
    logger.debug("slack: ignored an interaction of type %r", kind)
    return Response(status_code=200)


def _slack_of(request: Request) -> SlackActions | None:
    """The app's ``SlackActions``, built on first use from the store's client's settings."""
    state = request.app.state
    if not hasattr(state, _STATE_KEY):
        setattr(state, _STATE_KEY, SlackActions.build(inbox_of(request)))
    found: SlackActions | None = getattr(state, _STATE_KEY)
    return found


@dataclass
class SlackActions:
    """What answering Slack needs: the inbox, the signing secret, and the message poster."""

    inbox: Inbox
    signing_secret: str
    posts: ApprovalPosts
    team_id: str | None = None
    """With ``EAT_SLACK_TEAM_ID``: clicks from any other workspace are refused (Slack Connect
    channels, an app installed in several workspaces)."""

    @classmethod
    def build(cls, inbox: Inbox) -> SlackActions | None:
        notify = inbox.store.client.settings.notify
        if not notify.slack_signing_secret or not notify.slack_bot_token:
            return None
        try:
            posts = ApprovalPosts.on(inbox.store.client.settings, inbox.store.client)
        except ConfigurationError as exc:
            logger.error("slack: /slack/actions is off: %s", exc)
            return None
        return cls(
            inbox=inbox,
            signing_secret=notify.slack_signing_secret,
            posts=posts,
            team_id=notify.slack_team_id,
        )

    def signed(self, body: bytes, timestamp: str | None, signature: str | None) -> bool:
        from slack_sdk.signature import SignatureVerifier

        verifier = SignatureVerifier(self.signing_secret)
        try:
            return verifier.is_valid(body=body, timestamp=timestamp, signature=signature)
        except (ValueError, TypeError):
            # A timestamp that is not a number, a signature that is not ASCII: not Slack's.
            return False

    # -- a button ---------------------------------------------------------------------------

    async def clicked(self, payload: dict[str, Any], background: BackgroundTasks) -> None:
        actions = payload.get("actions")
        action = actions[0] if isinstance(actions, list) and actions else {}
        action_id = str(action.get("action_id", "")) if isinstance(action, dict) else ""
        verdict = payloads.verdict_of(action_id)
        if verdict is None:
            if action_id != INBOX_ACTION:
                logger.debug("slack: ignored the action %r", action_id)
            return
        reply = self._reply_to(payload)
        user = payloads.user_id(payload)
        value = ActionValue.decode(action.get("value"))
        if value is None:
            background.add_task(_quietly, "reply", reply, "This button is not one of this inbox's.")
            return
        found = await self._clicked_call(value, user)
        if isinstance(found, str):
            background.add_task(_quietly, "reply", reply, found)
            return
        reviewer, record, call = found
        where = payloads.clicked_message(payload)
        refusal = payloads.refusal(record, call, reviewer, verdict, value)
        suggested: dict[str, Any] | None = None
        if refusal is None and verdict is Verdict.APPROVED:
            refusal, suggested = payloads.approval_refusal(
                record, call, action_id, value, can_edit=self.inbox.provider is not None
            )
        if refusal is not None:
            background.add_task(_quietly, "reply", reply, refusal)
            if payloads.stale(record, call):
                background.add_task(self._refresh, record, where)
            return
        if verdict is Verdict.REJECTED:
            origin = {"channel": where[0], "ts": where[1]} if where else {}
            if isinstance(payload.get("response_url"), str):
                origin["response_url"] = payload["response_url"]
            view = reject_modal(value, call, origin=origin)
            background.add_task(self._ask_why, str(payload.get("trigger_id", "")), view, reply)
            return
        message = None if suggested is None else SUGGESTION_APPLIED
        decide = partial(
            self._decide, record, call, value, reviewer, Verdict.APPROVED, message, user,
            edited_arguments=suggested,
        )  # fmt: skip
        await self._approve(decide, suggested is not None, where, reply, background)

    async def _approve(
        self,
        decide: Callable[[], Awaitable[PendingApproval | str]],
        edited: bool,
        where: tuple[str, str] | None,
        reply: Reply,
        background: BackgroundTasks,
    ) -> None:
        """Record the approval, then update the message (or say what refused it)."""
        if edited:
            # An edit is checked against the tool and the decision layer again, which can
            # outlast Slack's 3 s: decided after the answer, the outcome told as a reply.
            background.add_task(self._decide_then_tell, decide, where, reply)
            return
        decided = await decide()  # one conditional update, inside Slack's 3 s
        if isinstance(decided, str):
            background.add_task(_quietly, "reply", reply, decided)
            return
        background.add_task(self._refresh, decided, where)

    async def _decide_then_tell(
        self,
        decide: Callable[[], Awaitable[PendingApproval | str]],
        where: tuple[str, str] | None,
        reply: Reply,
    ) -> None:
        decided = await decide()
        if isinstance(decided, str):
            await _quietly("reply", reply, decided)
        else:
            await self._refresh(decided, where)

    # -- the reject dialog ------------------------------------------------------------------

    async def submitted(self, payload: dict[str, Any], background: BackgroundTasks) -> Response:
        view = payload.get("view")
        if not isinstance(view, dict) or view.get("callback_id") != REJECT_CALLBACK:
            return Response(status_code=200)
        origin = payloads.json_object(view.get("private_metadata"))
        value = ActionValue.decode(origin.get("v"))
        if value is None:
            return payloads.dialog_error("This dialog is not one of this inbox's.")
        reason = payloads.reason_of(view)
        if not reason:
            return payloads.dialog_error("Say why you reject it: the agent reads your message.")
        user = payloads.user_id(payload)
        found = await self._clicked_call(value, user)
        if isinstance(found, str):
            return payloads.dialog_error(found)
        reviewer, record, call = found
        channel, ts = origin.get("channel"), origin.get("ts")
        where = (channel, ts) if isinstance(channel, str) and isinstance(ts, str) else None
        refusal = payloads.refusal(record, call, reviewer, Verdict.REJECTED, value)
        if refusal is not None:
            if payloads.stale(record, call):
                background.add_task(self._refresh, record, where)
            return payloads.dialog_error(refusal)
        decided = await self._decide(record, call, value, reviewer, Verdict.REJECTED, reason, user)
        if isinstance(decided, str):
            return payloads.dialog_error(decided)
        background.add_task(self._refresh, decided, where)
        return Response(status_code=200)

    # -- the rules, the store ---------------------------------------------------------------

    async def _clicked_call(
        self, value: ActionValue, user: str
    ) -> tuple[Reviewer, PendingApproval, ToolCallRecord] | str:
        """Who clicked, and the record and call their button names; or why nobody may."""
        reviewer = self.inbox.reviewers.by_slack_user(user)
        if reviewer is None:
            return payloads.not_linked(user)
        found = await self._call_of(value)
        if isinstance(found, str):
            return found
        return (reviewer, *found)

    async def _call_of(self, value: ActionValue) -> tuple[PendingApproval, ToolCallRecord] | str:
        """The record and call the button names, as they are now; or why there is none."""
        try:
            record = await self.inbox.store.get(value.approval_id)
        except ApprovalNotFound:
            return f"Approval {value.approval_id} no longer exists; nothing was recorded."
        except UnreadableRecord as exc:
            return f"Nothing can be decided on it: {exc}"
        except ApprovalStoreError as exc:
            logger.error("slack: could not read %s: %s", value.approval_id, exc)
            return "The database did not answer; nothing was recorded. Try again shortly."
        call = record.call(value.call_id)
        if call is None:
            return "That call is not part of this approval; nothing was recorded."
        return record, call

    async def _decide(
        self,
        record: PendingApproval,
        call: ToolCallRecord,
        value: ActionValue,
        reviewer: Reviewer,
        verdict: Verdict,
        message: str | None,
        user: str,
        *,
        edited_arguments: dict[str, Any] | None = None,
    ) -> PendingApproval | str:
        """The record after this vote, or what refused it (nothing was recorded then)."""
        try:
            decided = await decide_as(
                self.inbox.store,
                record.id,
                reviewer,
                call_id=call.call_id,
                verdict=verdict,
                message=message,
                surface=SURFACE,
                arguments_sha256=value.arguments_sha256,
                edited_arguments=edited_arguments,
            )
        except (NotAuthorized, ApprovalConflict, InvalidDecision, StateIntegrityError) as exc:
            return f"Nothing was recorded: {exc.reason}."
        except ConfigurationError as exc:
            return f"Nothing was recorded: {exc}."
        except ApprovalStoreError as exc:
            logger.error("slack: %s's vote on %s: %s", reviewer.name, record.id, exc)
            return (
                "The database did not answer, so your vote may not have been recorded: "
                "look at the message again in a moment."
            )
        except EvolvingAgentsError as exc:
            # An inbox whose --app lacks the run's agent, say: refused before any write.
            logger.warning("slack: %s's vote on %s refused: %s", reviewer.name, record.id, exc)
            return f"Nothing was recorded: {exc}."
        logger.info(
            "slack: %s (%s) %s call %s of %s%s",
            reviewer.name,
            user,
            verdict.value,
            call.call_id,
            record.id,
            " with the suggested arguments" if edited_arguments is not None else "",
        )
        return decided

    # -- talking back to Slack (after the answer) -------------------------------------------

    def _reply_to(self, payload: dict[str, Any]) -> Reply:
        """An ephemeral answer to the clicking user: through the interaction's
        ``response_url``, else ``chat.postEphemeral`` in the channel clicked in."""
        response_url = payload.get("response_url")
        user = payloads.user_id(payload)
        where = payloads.clicked_message(payload)
        chat = self.posts.chat

        async def reply(text: str) -> None:
            if isinstance(response_url, str) and response_url.startswith(("https://", "http://")):
                await chat.respond(response_url, text)
            elif where is not None and user:
                await chat.ephemeral(where[0], user, text)
            else:
                logger.warning("slack: no way to tell %s: %s", user or "the user", text)

        return reply

    async def _refresh(self, record: PendingApproval, where: tuple[str, str] | None) -> None:
        try:
            if not await self.posts.refresh(record, where=where):
                logger.warning("slack: no message of %s to update after a vote", record.id)
        except DeliveryFailed as exc:
            logger.warning("slack: could not update the message of %s: %s", record.id, exc.reason)

    async def _ask_why(self, trigger_id: str, view: dict[str, Any], reply: Reply) -> None:
        try:
            await self.posts.chat.open_view(trigger_id, view)
        except DeliveryFailed as exc:
            logger.warning("slack: could not open the reject dialog: %s", exc.reason)
            await _quietly("reply", reply, "Slack did not open the dialog: reject in the inbox.")


async def _quietly(what: str, reply: Reply, text: str) -> None:
    try:
        await reply(text)
    except DeliveryFailed as exc:
        logger.warning("slack: could not %s: %s (%s)", what, exc.reason, text)
