"""How a record reads to a reviewer: age, risk, time left, one row of a queue.

Shared by the web inbox and ``eat approvals``; plain functions of the record and a clock, no
web framework involved::

    row = ApprovalRow.of(record, now=utcnow())
    row.risk.label, row.expires_in, row.tools
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

from markupsafe import Markup, escape
from pydantic import BaseModel

from evolving_agents.approvals.models import PendingApproval, ToolCallRecord
from evolving_agents.reviewer_auth import (
    Refusal,
    ReviewerIdentity,
    approver_roles,
    min_approvals,
    votes_of,
    why_cannot_decide,
)

_LEVELS = {"low": 1, "medium": 2, "high": 3, "critical": 4}
_LEVEL_NAMES = {0: "unknown", 1: "low", 2: "medium", 3: "high", 4: "critical"}


def humanize(delta: timedelta) -> str:
    """``45s``, ``12m``, ``3h 20m``, ``2d 4h``: short enough for a table cell."""
    seconds = int(abs(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"


class Risk(BaseModel):
    level: str
    """unknown, low, medium, high or critical: also the CSS class of its badge."""
    score: float | None = None

    @property
    def label(self) -> str:
        return self.level if self.score is None else f"{self.level} {self.score:.2f}"

    @property
    def rank(self) -> int:
        return _LEVELS.get(self.level, 0)


def call_risk(call: ToolCallRecord) -> Risk:
    """The decision layer's risk score when there is one, else the tool metadata's ``risk``."""
    score = (call.signal or {}).get("risk")
    if isinstance(score, int | float) and not isinstance(score, bool):
        level = "high" if score >= 0.7 else "medium" if score >= 0.4 else "low"
        return Risk(level=level, score=float(score))
    declared = str(call.metadata.get("risk", "")).lower()
    return Risk(level=declared if declared in _LEVELS else "unknown")


def record_risk(record: PendingApproval) -> Risk:
    risks = [call_risk(call) for call in record.tool_calls]
    return max(
        risks, key=lambda risk: (risk.rank, risk.score or 0.0), default=Risk(level="unknown")
    )


def deadline(record: PendingApproval) -> datetime | None:
    """When the first undecided call (or the record) expires, if anything does."""
    candidates = [record.expires_at] + [
        getattr(call, "expires_at", None) for call in record.undecided_calls()
    ]
    found = [value for value in candidates if isinstance(value, datetime)]
    return min(found) if found else None


def expires_in(record: PendingApproval, now: datetime) -> str:
    """``4h 10m``, ``expired 5m ago``, or ``-`` when nothing expires (or nothing is waiting)."""
    if record.status.is_final:
        return "-"
    when = deadline(record)
    if when is None:
        return "-"
    if when <= now:
        return f"expired {humanize(now - when)} ago"
    return humanize(when - now)


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


_JSON_TOKEN = re.compile(
    r'(?P<key>"(?:\\.|[^"\\])*"(?=\s*:))'
    r'|(?P<string>"(?:\\.|[^"\\])*")'
    r"|(?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)"
    r"|(?P<literal>\b(?:true|false|null)\b)"
)


def highlight_json(value: Any) -> Markup:
    """Pretty JSON as HTML, keys, strings, numbers and literals in spans; all text escaped."""
    text = pretty_json(value)
    parts: list[Markup] = []
    position = 0
    for match in _JSON_TOKEN.finditer(text):
        parts.append(escape(text[position : match.start()]))
        parts.append(Markup('<span class="j-{}">{}</span>').format(match.lastgroup, match.group()))
        position = match.end()
    parts.append(escape(text[position:]))
    return Markup("").join(parts)


class ApprovalRow(BaseModel):
    """One line of a queue: what ``eat approvals list`` and the inbox's table show."""

    id: str
    age: str
    agent: str
    tools: str
    risk: Risk
    status: str
    expires_in: str
    actor: str | None
    created_at: datetime
    waiting: int

    @classmethod
    def of(cls, record: PendingApproval, *, now: datetime) -> ApprovalRow:
        return cls(
            id=record.id,
            age=humanize(now - record.created_at),
            agent=record.agent_name,
            tools=", ".join(dict.fromkeys(call.tool_name for call in record.tool_calls)),
            risk=record_risk(record),
            status=record.status.value,
            expires_in=expires_in(record, now),
            actor=record.actor,
            created_at=record.created_at,
            waiting=len(record.undecided_calls()),
        )

    def as_json(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        data["risk"] = {"level": self.risk.level, "score": self.risk.score}
        return data


class CallView(BaseModel):
    """One call on the detail page, with what this reviewer may do about it."""

    call: ToolCallRecord
    risk: Risk
    signal: dict[str, Any]
    roles: list[str]
    min_approvals: int
    votes: list[dict[str, Any]]
    refusal: Refusal | None
    edited_arguments: Any = None
    """What the run will use instead of ``call.arguments``, when approved with edits."""

    @classmethod
    def of(
        cls, record: PendingApproval, call: ToolCallRecord, reviewer: ReviewerIdentity
    ) -> CallView:
        return cls(
            call=call,
            risk=call_risk(call),
            signal=dict(call.signal or {}),
            roles=sorted(approver_roles(call)),
            min_approvals=min_approvals(call),
            votes=votes_of(call),
            refusal=why_cannot_decide(reviewer, record, call),
            edited_arguments=None if call.decision is None else call.decision.edited_arguments,
        )

    @property
    def approvals_so_far(self) -> int:
        return sum(1 for vote in self.votes if vote.get("verdict") == "approved")
