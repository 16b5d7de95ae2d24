"""Slack's mrkdwn, made safe for hostile text, and the few Block Kit pieces messages are built of.

::

    escape("<!channel> & co")       # "&lt;!channel&gt; &amp; co": literal, mentions nobody
    code(arguments_json)            # a code block nothing inside can close
    section(text), context(text)    # blocks, cut to Slack's limits
    slack_date(moment)              # a date token each reader sees in their own time zone

Everything taken from a record is hostile: ``&``, ``<`` and ``>`` are escaped (no link,
mention or ``<!channel>`` can be smuggled in), backticks are shown as U+02CB (a modifier grave
accent) so text cannot open or close a code block, invisible and direction-changing
characters are shown as ``\\uXXXX``, and every text is cut to Slack's limits without ending
inside an entity.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from evolving_agents.approvals.deadlines import clock_time
from evolving_agents.approvals.hidden_text import escape_hidden

INBOX_ACTION = "eat_inbox"
"""The link button: Slack reports its clicks too, and the endpoint only acknowledges them."""

# Slack's limits (https://docs.slack.dev/reference/block-kit/blocks).
SECTION_CHARS = 3000
CODE_CHARS = 2400
HEADER_CHARS = 150
BUTTON_TEXT_CHARS = 75
FALLBACK_CHARS = 3000
# What a backtick is shown as: one that looks alike but cannot open or close code.
BACKTICK = "\u02cb"


class SlackMessage(BaseModel):
    """What ``chat.postMessage`` / ``chat.update`` get: the notification text and the blocks."""

    text: str
    blocks: list[dict[str, Any]] = Field(default_factory=list)


def escape(text: str) -> str:
    """``text`` as literal mrkdwn: Slack's three control characters escaped, hidden ones
    shown, backticks that could open (or close) code shown as ``BACKTICK``."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return reveal(escaped.replace("`", BACKTICK))


def reveal(text: str) -> str:
    """Invisible and direction-changing characters as ``\\uXXXX`` escapes (the inbox's rule,
    ``approvals/hidden_text.py``): a reviewer reads nothing other than what runs."""
    return escape_hidden(text)


def cut(escaped: str, limit: int) -> str:
    """At most ``limit`` characters of escaped text, never ending inside an entity."""
    if len(escaped) <= limit:
        return escaped
    cut = escaped[: limit - 1]
    amp = cut.rfind("&", max(0, len(cut) - 5))
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def one_line(text: str) -> str:
    """``text`` with its line breaks and runs of spaces as one space: a reason, a message or a
    tool's output cannot start a line of its own that reads like a status ("Approved by ...")."""
    return " ".join(text.split())


def inline(text: str, limit: int = 200) -> str:
    """Hostile text as inline code, on one line."""
    flat = one_line(text) or " "
    return "`" + cut(escape(flat), limit) + "`"


def code(text: str, limit: int = CODE_CHARS) -> str:
    """Hostile text as a code block."""
    return "```" + cut(escape(text), limit) + "```"


def plain(text: str, limit: int) -> str:
    """Hostile text for a plain_text field (shown literally by Slack), cut to ``limit``."""
    shown = reveal(" ".join(text.split()))
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def slack_date(moment: datetime) -> str:
    """A date token: each reader sees it in their own time zone; the fallback is UTC."""
    fallback = clock_time(moment)
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def plain_text(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": plain(text, limit), "emoji": True}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": cut(text, SECTION_CHARS)}}


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": cut(text, 2000)}]}


def link_block(url: str) -> dict[str, Any]:
    return {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "action_id": INBOX_ACTION,
                "text": plain_text("Open in the inbox", BUTTON_TEXT_CHARS),
                "url": url,
            }
        ],
    }


def duration(seconds: float) -> str:
    """``45s``, ``15m``, ``2h 30m``, ``3d 4h``: the two largest units."""
    total = int(seconds)
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size or (unit == "s" and not parts):
            parts.append(f"{total // size}{unit}")
            total %= size
    return " ".join(parts[:2])


def is_user_id(text: str) -> bool:
    return len(text) > 2 and text[0] in "UW" and text.isalnum() and text.isupper()


def is_channel_id(text: str) -> bool:
    return len(text) > 2 and text[0] in "CG" and text.isalnum() and text.isupper()
