"""The other Slack messages about an approval: an escalation, a deadline warning, the reject
dialog.

::

    escalation_message(record, mentions=["U024BE7LH"], role="security-lead")
    deadline_warning_message(record, deadline)      # posted in the approval message's thread
    reject_modal(value, call, origin={"channel": ..., "ts": ..., "response_url": ...})
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from evolving_agents.approvals.models import PendingApproval, ToolCallRecord
from evolving_agents.notify.slack_blocks import (
    REASON_BLOCK,
    REASON_INPUT,
    REJECT_CALLBACK,
    ActionValue,
    deadline,
    request_line,
    tools_of,
)
from evolving_agents.notify.slack_text import (
    FALLBACK_CHARS,
    SlackMessage,
    cut,
    duration,
    escape,
    inline,
    is_channel_id,
    is_user_id,
    link_block,
    plain_text,
    section,
    slack_date,
)

_REQUEST_CHARS = 300
_METADATA_CHARS = 3000


def escalation_message(
    record: PendingApproval,
    *,
    mentions: list[str],
    role: str | None,
    original: tuple[str, str] | None = None,
    inbox_link: str | None = None,
    waited_seconds: float | None = None,
) -> SlackMessage:
    """No decision yet: a message for the escalation channel, mentioning ``mentions``
    (Slack user ids of the reviewers holding ``role``); ``original`` is the approval's own
    message (channel, ts), ``waited_seconds`` the route's ``escalate_after``."""
    people = " ".join(f"<@{user}>" for user in mentions if is_user_id(user))
    if not people and role:
        people = f"reviewers with the role *{escape(role)}*"
    where = f" (posted in <#{original[0]}>)" if original and is_channel_id(original[0]) else ""
    waited = f" after {duration(waited_seconds)}" if waited_seconds else ""
    lines = [
        f":rotating_light: *No decision yet*{waited} on {inline(record.id, 80)}{where}"
        + (f": {people}" if people else ""),
        f"*Request:* {cut(escape(request_line(record)), _REQUEST_CHARS)}",
        f"*Waiting:* {', '.join(inline(c.tool_name, 80) for c in record.undecided_calls())}",
    ]
    when = deadline(record)
    if when is not None:
        lines.append(f"*Deadline:* {slack_date(when)}")
    blocks: list[dict[str, Any]] = [section("\n".join(lines))]
    if inbox_link is not None:
        blocks.append(link_block(inbox_link))
    text = f"No decision yet on {record.id} ({tools_of(record)})"
    return SlackMessage(text=cut(escape(text), FALLBACK_CHARS), blocks=blocks)


def deadline_warning_message(record: PendingApproval, when: datetime | None) -> SlackMessage:
    """The threaded reply on the approval's message: its deadline is near."""
    waiting = record.undecided_calls()
    moment = when or deadline(record)
    at = f" at {slack_date(moment)}" if moment is not None else " soon"
    text = (
        f":alarm_clock: *Deadline{at}:* {len(waiting)} call{'s' if len(waiting) != 1 else ''} "
        f"still undecided ({', '.join(inline(c.tool_name, 80) for c in waiting)}); "
        "undecided calls are rejected when it passes."
    )
    return SlackMessage(text=cut(text, FALLBACK_CHARS), blocks=[section(text)])


def reject_modal(
    value: ActionValue, call: ToolCallRecord, *, origin: dict[str, str]
) -> dict[str, Any]:
    """The ``views.open`` view asking why; ``origin`` (the clicked message's channel, ts and
    response_url) travels in ``private_metadata`` so the submission can answer there."""
    metadata = json.dumps({"v": value.encode(), **origin}, separators=(",", ":"))
    if len(metadata) > _METADATA_CHARS:
        metadata = json.dumps({"v": value.encode()}, separators=(",", ":"))
    return {
        "type": "modal",
        "callback_id": REJECT_CALLBACK,
        "private_metadata": metadata,
        "title": plain_text("Reject the call", 24),
        "submit": plain_text("Reject", 24),
        "close": plain_text("Cancel", 24),
        "blocks": [
            section(f"Reject {inline(call.tool_name, 120)}? The agent reads your reason."),
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "label": plain_text("Why", 2000),
                "element": {
                    "type": "plain_text_input",
                    "action_id": REASON_INPUT,
                    "multiline": True,
                    "min_length": 1,
                    "max_length": 2000,
                },
            },
        ],
    }
