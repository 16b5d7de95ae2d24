"""Reading what Slack posts to ``/slack/actions``, and the answers a click gets in words.

::

    payload = payload_of(body)                        # the form's JSON ``payload``, or None
    verdict = verdict_of(action["action_id"])         # approve (or its suggestion), reject
    why = refusal(record, call, reviewer, verdict, value)   # None: this click may decide

Pure functions over the payload and the record: no database, no Slack. ``web/slack.py`` does
the rest (the signature, the store, talking back).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from evolving_agents.approvals.deadlines import call_expired_at, clock_time
from evolving_agents.approvals.models import (
    PendingApproval,
    ToolCallRecord,
    Verdict,
    arguments_digest,
)
from evolving_agents.approvals.rules import Reviewer, decide_refusal
from evolving_agents.approvals.suggestions import suggested_arguments
from evolving_agents.notify.slack_blocks import (
    APPROVE_ACTION,
    REASON_BLOCK,
    REASON_INPUT,
    REJECT_ACTION,
    SUGGESTION_ACTION,
    ActionValue,
)
from evolving_agents.notify.slack_calls import TOO_LONG, fully_shown


def payload_of(body: bytes) -> dict[str, Any] | None:
    try:
        fields = parse_qs(body.decode("utf-8"), strict_parsing=True)
        payload = json.loads(fields["payload"][0])
    except (UnicodeDecodeError, ValueError, KeyError, IndexError):
        return None
    return payload if isinstance(payload, dict) else None


def verdict_of(action_id: str) -> Verdict | None:
    if action_id.startswith((f"{APPROVE_ACTION}:", f"{SUGGESTION_ACTION}:")):
        return Verdict.APPROVED
    if action_id.startswith(f"{REJECT_ACTION}:"):
        return Verdict.REJECTED
    return None


def refusal(
    record: PendingApproval,
    call: ToolCallRecord,
    reviewer: Reviewer,
    verdict: Verdict,
    value: ActionValue,
) -> str | None:
    """Why this click may not decide, in the reviewer's words; None when it may."""
    expired = call_expired_at(record, call)
    if expired is not None:
        return (
            f"This call expired at {clock_time(expired)} before anyone decided it; "
            "nothing was recorded."
        )
    if value.arguments_sha256 != call.arguments_sha256:
        return (
            "The call's arguments are not the ones this message showed; nothing was recorded. "
            "Review it in the inbox."
        )
    refusal = decide_refusal(record, call, reviewer, verdict)
    if refusal is None:
        return None
    verb = "approve" if verdict is Verdict.APPROVED else "reject"
    return f"You cannot {verb} this call: {refusal.reason}. Nothing was recorded."


def stale(record: PendingApproval, call: ToolCallRecord) -> bool:
    """Whether the message may show buttons for a call nobody can decide any more."""
    return call.decision is not None or record.status.is_final or not record.undecided_calls()


def not_linked(user: str) -> str:
    return (
        f"Your Slack account ({user or 'unknown'}) is not linked to a reviewer of this inbox: "
        f'add slack_user_id = "{user}" to your entry in the reviewers file. Nothing was recorded.'
    )


def user_id(payload: dict[str, Any]) -> str:
    user = payload.get("user")
    found = user.get("id") if isinstance(user, dict) else None
    return found if isinstance(found, str) else ""


def clicked_message(payload: dict[str, Any]) -> tuple[str, str] | None:
    container = payload.get("container")
    if not isinstance(container, dict):
        return None
    channel, ts = container.get("channel_id"), container.get("message_ts")
    return (channel, ts) if isinstance(channel, str) and isinstance(ts, str) else None


def json_object(text: object) -> dict[str, Any]:
    if not isinstance(text, str):
        return {}
    try:
        found = json.loads(text)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def reason_of(view: dict[str, Any]) -> str:
    state = view.get("state")
    values = state.get("values") if isinstance(state, dict) else None
    block = values.get(REASON_BLOCK) if isinstance(values, dict) else None
    field = block.get(REASON_INPUT) if isinstance(block, dict) else None
    text = field.get("value") if isinstance(field, dict) else None
    return text.strip() if isinstance(text, str) else ""


def dialog_error(text: str) -> Response:
    """The dialog stays open with ``text`` under the reason field."""
    return JSONResponse({"response_action": "errors", "errors": {REASON_BLOCK: text[:2000]}})


def team_id(payload: dict[str, Any]) -> str | None:
    """The workspace a click came from (``team.id``, else the user's ``team_id``)."""
    team = payload.get("team")
    found = team.get("id") if isinstance(team, dict) else None
    if not isinstance(found, str):
        user = payload.get("user")
        found = user.get("team_id") if isinstance(user, dict) else None
    return found if isinstance(found, str) else None


async def capped_body(request: Request, limit: int) -> bytes | None:
    """The body, or None past ``limit`` bytes: read in chunks, so an unsigned sender cannot make
    the inbox hold gigabytes before the signature is even looked at."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def approval_refusal(
    record: PendingApproval,
    call: ToolCallRecord,
    action_id: str,
    value: ActionValue,
    *,
    can_edit: bool,
) -> tuple[str | None, dict[str, Any] | None]:
    """Why this Approve may not decide from Slack (or None), and the suggested arguments it
    approves (None: the call's own). A call the message could not show whole is approved in
    the inbox only, whatever button a stale or altered message still has; a suggestion is an
    edit, which needs the agents (``can_edit``: an inbox started with ``--app``)."""
    arguments_whole, suggestion_whole = fully_shown(record, call)
    if not action_id.startswith(f"{SUGGESTION_ACTION}:"):
        return (None if arguments_whole else f"{TOO_LONG} Nothing was recorded."), None
    if not suggestion_whole:
        return f"{TOO_LONG} Nothing was recorded.", None
    suggested = suggested_arguments(call)
    if suggested is None or value.suggested_sha256 != arguments_digest(suggested):
        return (
            "The suggested arguments are not the ones this message showed; nothing was "
            "recorded. Review the suggestion in the inbox."
        ), None
    if not can_edit:
        return (
            "Approving a suggestion needs an inbox started with --app (it checks the "
            "suggested arguments against the tool); nothing was recorded. Approve or "
            "reject the call as it is, or ask an operator."
        ), None
    return None, suggested
