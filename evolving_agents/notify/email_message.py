"""The email a reviewer gets about an approval: plain text, with an HTML alternative.

::

    message = approval_email(
        record, WebhookEventType.CREATED, sender="eat@example.com", recipients=["ops@example.com"],
        delivery_id=delivery.id, inbox_link=settings.notify.inbox_link(record.id), now=utcnow(),
    )
    message["Subject"]            # Approval needed: grant_okta_admin (high 0.82) - ops-agent

It says what the run asked, each call's tool and arguments, the decision layer's risk, reason
and better action, the deadline, and links to the record in the inbox, where the decision is
made: there is no approve or reject link, since a mail client or a link scanner that opens a
link must never change anything. Everything taken from the record is escaped in the HTML part
and shown with its invisible or direction-changing characters as ``\\uXXXX`` in both parts,
so arguments cannot pose as markup or hide what they say.

``Message-ID`` and ``X-EAT-Delivery`` come from the outbox's delivery id, stable across
retries, so a receiving system can drop a repeat.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from evolving_agents.approvals.deadlines import clock_time, first_deadline
from evolving_agents.approvals.hidden_text import escape_hidden
from evolving_agents.approvals.models import PendingApproval, ToolCallRecord, format_duration
from evolving_agents.approvals.risk import known_risk, risk_words
from evolving_agents.approvals.suggestions import better_action
from evolving_agents.notify.escalation import DeadlineNotice, EscalationNotice
from evolving_agents.notify.events import WebhookEventType
from evolving_agents.notify.outbox import DELIVERY_HEADER, EVENT_HEADER

APPROVAL_HEADER = "X-EAT-Approval"
MAILED_TYPES = frozenset(
    {
        WebhookEventType.CREATED,
        WebhookEventType.ESCALATED,
        WebhookEventType.DEADLINE_WARNING,
    }
)
"""The events that become an email; the others (decided, completed, ...) are not mailed."""

# Arguments longer than this are cut in the message (the inbox shows them whole).
_MAX_ARGUMENT_CHARS = 8000
_MAX_SUBJECT_CHARS = 150
_MAX_REQUEST_CHARS = 300
_ATEXT = re.compile(r"[^A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]")


class CallSummary(BaseModel):
    """One call as the message shows it."""

    tool_name: str
    arguments: str
    """Indented JSON, hidden characters escaped, cut at ``_MAX_ARGUMENT_CHARS``."""
    risk: str
    reason: str | None = None
    better_action: str | None = None
    state: str
    """``waiting for a decision``, or who decided it and how."""


class ApprovalSummary(BaseModel):
    """What every approval email says, from the record (and the event's notice)."""

    approval_id: str
    agent_name: str
    actor: str | None
    request: str
    deadline: str | None
    """``2025-06-01 09:30 UTC (in 4h10m)``, or None when nothing expires."""
    calls: list[CallSummary]
    inbox_link: str | None
    headline: str
    """The first sentence: why this message was sent."""
    subject: str

    @classmethod
    def of(
        cls,
        record: PendingApproval,
        kind: WebhookEventType,
        *,
        notice: Mapping[str, Any] | None,
        inbox_link: str | None,
        now: datetime,
    ) -> ApprovalSummary:
        calls = [_call_summary(call) for call in record.tool_calls]
        tools = ", ".join(dict.fromkeys(visible(call.tool_name) for call in record.tool_calls))
        risk = _record_risk(record)
        first = first_deadline(record)
        deadline = None
        if first is not None:
            moment = first[0]
            left = "passed" if moment <= now else f"in {format_duration(moment - now)}"
            deadline = f"{clock_time(moment)} ({left})"
        agent = visible(record.agent_name)
        headline, subject = _headline(kind, notice, agent=agent, tools=tools, risk=risk, now=now)
        return cls(
            approval_id=record.id,
            agent_name=agent,
            actor=None if record.actor is None else visible(record.actor),
            request=_request_line(record.input_preview),
            deadline=deadline,
            calls=calls,
            inbox_link=inbox_link,
            headline=headline,
            subject=_subject(subject),
        )

    def text(self) -> str:
        lines = [self.headline, ""]
        lines.append(f"Approval: {self.approval_id}")
        lines.append(f"Agent: {self.agent_name}" + (f" (for {self.actor})" if self.actor else ""))
        if self.request:
            lines.append(f"Request: {self.request}")
        lines.append(f"Deadline: {self.deadline or 'none'}")
        for number, call in enumerate(self.calls, 1):
            lines += ["", f"{number}. {call.tool_name} - risk {call.risk} - {call.state}"]
            lines.append("   Arguments:")
            lines += [f"     {line}" for line in call.arguments.splitlines()]
            if call.reason:
                lines.append(f"   Reason: {call.reason}")
            if call.better_action:
                lines.append(f"   Better action: {call.better_action}")
        lines.append("")
        lines.append(self._where_to_decide())
        lines.append("This message changes nothing; decisions are made in the inbox.")
        return "\n".join(lines) + "\n"

    def html(self) -> str:
        e = _escape
        rows = [
            ("Approval", f"<code>{e(self.approval_id)}</code>"),
            ("Agent", e(self.agent_name) + (f" (for {e(self.actor)})" if self.actor else "")),
        ]
        if self.request:
            rows.append(("Request", e(self.request)))
        rows.append(("Deadline", e(self.deadline or "none")))
        table = "".join(
            f'<tr><th align="left" style="padding-right:12px">{label}</th><td>{value}</td></tr>'
            for label, value in rows
        )
        parts = [
            "<!DOCTYPE html>",
            '<html><body style="font-family:sans-serif">',
            f"<p><strong>{e(self.headline)}</strong></p>",
            f"<table>{table}</table>",
        ]
        for number, call in enumerate(self.calls, 1):
            parts.append(
                f"<h3>{number}. <code>{e(call.tool_name)}</code> "
                f"<small>risk {e(call.risk)} &middot; {e(call.state)}</small></h3>"
            )
            parts.append(
                '<pre style="background:#f4f4f4;padding:8px;white-space:pre-wrap">'
                f"{e(call.arguments)}</pre>"
            )
            if call.reason:
                parts.append(f"<p>Reason: {e(call.reason)}</p>")
            if call.better_action:
                parts.append(f"<p>Better action: {e(call.better_action)}</p>")
        if self.inbox_link is not None:
            parts.append(
                f'<p><a href="{e(self.inbox_link)}">Open {e(self.approval_id)} in the inbox</a>'
                " to decide.</p>"
            )
        else:
            parts.append(f"<p>{e(self._where_to_decide())}</p>")
        parts.append("<p><small>This message changes nothing; decisions are made in the inbox.")
        parts.append("</small></p></body></html>")
        return "\n".join(parts) + "\n"

    def _where_to_decide(self) -> str:
        if self.inbox_link is not None:
            return f"Decide in the inbox: {self.inbox_link}"
        return (
            f"Decide in the inbox (eat inbox), or: eat approvals show {self.approval_id} "
            "(set EAT_INBOX_URL to get a link here)"
        )


def approval_email(
    record: PendingApproval,
    kind: WebhookEventType,
    *,
    sender: str,
    recipients: Sequence[str],
    delivery_id: str,
    inbox_link: str | None,
    now: datetime,
    notice: Mapping[str, Any] | None = None,
) -> EmailMessage:
    """The message for one delivery of ``kind`` about ``record``: text and HTML alternatives."""
    summary = ApprovalSummary.of(record, kind, notice=notice, inbox_link=inbox_link, now=now)
    message = EmailMessage()
    message["Subject"] = summary.subject
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id(delivery_id, sender)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies, please
    message[DELIVERY_HEADER] = delivery_id
    message[EVENT_HEADER] = kind.value
    message[APPROVAL_HEADER] = record.id
    message.set_content(summary.text())
    message.add_alternative(summary.html(), subtype="html")
    return message


def message_id(delivery_id: str, sender: str) -> str:
    """``<apr_1f2e.approval.created-email@example.com>``: the same for every retry of a delivery
    (the id's ``:`` and ``@``, which a Message-ID cannot hold, become ``.`` and ``-``)."""
    left = _ATEXT.sub("-", delivery_id.replace(":", ".").replace("@", "-")).strip(".") or "eat"
    domain = sender.rpartition("@")[2].strip(" >") if "@" in sender else ""
    domain = _ATEXT.sub("", domain) or "evolving-agents.invalid"
    return f"<{left}@{domain}>"


def visible(text: str) -> str:
    """``text`` with every invisible or direction-changing character as ``\\uXXXX``; newlines
    and tabs stay (a request or a reason may span lines). The inbox's rule
    (``approvals/hidden_text.py``)."""
    return escape_hidden(text)


def _escape(text: str) -> str:
    return html.escape(text, quote=True)


def _call_summary(call: ToolCallRecord) -> CallSummary:
    signal = call.signal or {}
    reason = signal.get("reason")
    better = better_action(call)
    return CallSummary(
        tool_name=visible(call.tool_name),
        arguments=_arguments(call.arguments),
        risk=_call_risk(call),
        reason=visible(reason) if isinstance(reason, str) and reason.strip() else None,
        better_action=None if better is None else visible(better),
        state=_state(call),
    )


def _arguments(arguments: Any) -> str:
    text = json.dumps(arguments, indent=2, ensure_ascii=False, sort_keys=True, default=str)
    text = visible(text)
    if len(text) > _MAX_ARGUMENT_CHARS:
        cut = len(text) - _MAX_ARGUMENT_CHARS
        text = text[:_MAX_ARGUMENT_CHARS] + f"\n... ({cut} more characters: see the inbox)"
    return text


def _state(call: ToolCallRecord) -> str:
    decision = call.decision
    if decision is None:
        return "waiting for a decision"
    return f"{decision.verdict.value} by {visible(decision.reviewer)}"


def _call_risk(call: ToolCallRecord) -> str:
    """The known risk (the decision layer's score and the tool's declared risk), in words."""
    return visible(risk_words(call))


def _record_risk(record: PendingApproval) -> str:
    """The riskiest call's known risk, in words."""
    riskiest = max(record.tool_calls, key=known_risk, default=None)
    return "unknown" if riskiest is None else _call_risk(riskiest)


def _request_line(text: str) -> str:
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    line = visible(line)
    if len(line) > _MAX_REQUEST_CHARS:
        line = line[: _MAX_REQUEST_CHARS - 1].rstrip() + "…"
    return line


def _headline(
    kind: WebhookEventType,
    notice: Mapping[str, Any] | None,
    *,
    agent: str,
    tools: str,
    risk: str,
    now: datetime,
) -> tuple[str, str]:
    """The first sentence of the message, and its subject."""
    if kind is WebhookEventType.ESCALATED:
        waited = _escalation_wait(notice)
        return (
            f"Escalated: {agent} has waited {waited} for a decision on {tools}.",
            f"Escalated: {tools} waiting {waited} - {agent}",
        )
    if kind is WebhookEventType.DEADLINE_WARNING:
        left = _deadline_left(notice, now)
        return (
            f"Deadline {left}: {agent}'s call to {tools} is rejected if nobody decides it.",
            f"Deadline {left}: {tools} - {agent}",
        )
    return (
        f"{agent} asks for approval to run {tools} (risk {risk}).",
        f"Approval needed: {tools} ({risk}) - {agent}",
    )


def _escalation_wait(notice: Mapping[str, Any] | None) -> str:
    try:
        parsed = EscalationNotice.model_validate(notice or {})
    except ValidationError:
        return "too long"
    return format_duration(timedelta(seconds=parsed.after_seconds))


def _deadline_left(notice: Mapping[str, Any] | None, now: datetime) -> str:
    try:
        parsed = DeadlineNotice.model_validate(notice or {})
    except ValidationError:
        return "near"
    if parsed.deadline <= now:
        return "passed"
    return f"in {format_duration(parsed.deadline - now)}"


def _subject(text: str) -> str:
    # One line, no control characters: a header cannot be split by what a tool is named.
    line = " ".join(visible(text).split())
    return line if len(line) <= _MAX_SUBJECT_CHARS else line[: _MAX_SUBJECT_CHARS - 1] + "…"
