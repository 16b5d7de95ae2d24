"""How a record reads to a reviewer: age, risk, time left, one row of a queue, one call.

Shared by the web inbox and ``eat approvals``; plain functions of the record and a clock, no
web framework involved::

    row = ApprovalRow.of(record, now=utcnow())
    row.risk.label, row.expires_in, row.tools
    view = CallView.of(record, call, reviewer)        # view.refusal: what the store will refuse
    view.suggestion                                    # the decision layer's better arguments

Risk badges use the one band definition (``approvals.rules.risk_band``); what a reviewer may
do comes from the one rules function (``approvals.rules.decide_refusal``). How each kind of
call reads (a script, a diff) is in ``call_kinds.py``.

Size: about 500 lines, over the ~400 mark: one module is the point, so the CLI and the inbox
read every row, call, suggestion and risk badge from the same views with the same words;
``CallView`` alone is a quarter of it, and how each kind of call reads is already apart.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from markupsafe import Markup, escape
from pydantic import BaseModel

from evolving_agents.approvals.hidden_text import escape_hidden, hidden_characters
from evolving_agents.approvals.models import (
    ApprovalStatus,
    CallKind,
    CallOutcome,
    CallOutcomeStatus,
    PendingApproval,
    ToolCallRecord,
    Verdict,
    arguments_digest,
)
from evolving_agents.approvals.rules import (
    Refusal,
    Reviewer,
    ToolMetadata,
    cast_votes,
    decide_refusal,
    risk_band,
)
from evolving_agents.approvals.store import ApprovalPage
from evolving_agents.approvals.suggestions import (
    ArgumentChange,
    argument_changes,
    better_action,
    suggested_arguments,
)
from evolving_agents.present.call_kinds import (
    KIND_LABELS,
    HostedMcpCall,
    PatchOperation,
    custom_input,
    hosted_mcp_call,
    patch_operations,
    shell_commands,
    shell_options,
)
from evolving_agents.present.durations import humanize as humanize  # its old home
from evolving_agents.present.expired import call_expired_at, expired_phrase, record_expired_at
from evolving_agents.present.reveal import reveal

_LEVELS = {"low": 1, "medium": 2, "high": 3, "critical": 4}
_LEVEL_NAMES = {0: "unknown", 1: "low", 2: "medium", 3: "high", 4: "critical"}


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
    """The decision layer's risk score in its band (``rules.risk_band``) when there is one,
    else the label the tool's metadata declares as its ``risk``."""
    score = (call.signal or {}).get("risk")
    if isinstance(score, int | float) and not isinstance(score, bool):
        return Risk(level=risk_band(float(score)).value, score=float(score))
    declared = ToolMetadata.of(call.metadata, tool_name=call.tool_name).risk_label
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
    """``4h 10m``, ``expired 5m ago``, or ``-`` when nothing expires (or nothing is waiting).

    Only a pending record waits for reviewers: once every call is decided its deadline no
    longer means anything (an expired record says so with ``ApprovalRow.expired``).
    """
    if record.status is not ApprovalStatus.PENDING:
        return "-"
    when = deadline(record)
    if when is None:
        return "-"
    if when <= now:
        return f"expired {humanize(now - when)} ago"
    return humanize(when - now)


def pretty_json(value: Any) -> str:
    """Indented JSON, hidden characters as their JSON escapes (so it parses to ``value``)."""
    return escape_hidden(_dumps(value), json_escape=True)


def _dumps(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


_JSON_TOKEN = re.compile(
    r'(?P<key>"(?:\\.|[^"\\])*"(?=\s*:))'
    r'|(?P<string>"(?:\\.|[^"\\])*")'
    r"|(?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)"
    r"|(?P<literal>\b(?:true|false|null)\b)"
)


def highlight_json(value: Any) -> Markup:
    """Pretty JSON as HTML, keys, strings, numbers and literals in spans; all text escaped,
    hidden characters as styled JSON escapes (see ``reveal.py``)."""
    text = _dumps(value)
    parts: list[Markup] = []
    position = 0
    for match in _JSON_TOKEN.finditer(text):
        parts.append(escape(text[position : match.start()]))
        parts.append(
            Markup('<span class="j-{}">{}</span>').format(
                match.lastgroup, reveal(match.group(), json_escape=True)
            )
        )
        position = match.end()
    parts.append(escape(text[position:]))
    return Markup("").join(parts)


_OUTCOME_WORDS = {
    CallOutcomeStatus.EXECUTED: "ran",
    CallOutcomeStatus.REJECTED: "did not run: rejected",
    CallOutcomeStatus.BLOCKED: "did not run: blocked by the rules",
    CallOutcomeStatus.EXPIRED: "did not run: not decided in time",
    CallOutcomeStatus.TOOL_ERROR: "tool error: the approved action did not happen",
}


def outcome_text(outcome: CallOutcome) -> str:
    """What a decided call did when its run resumed, in a reviewer's words."""
    return _OUTCOME_WORDS.get(outcome.status, outcome.status.value)


def tool_errors(record: PendingApproval) -> int:
    """How many calls were approved and then raised: their approved action did not happen."""
    return sum(
        1
        for call in record.tool_calls
        if call.outcome is not None and call.outcome.status is CallOutcomeStatus.TOOL_ERROR
    )


_REQUEST_CHARS = 140


def request_line(text: str) -> str:
    """The first non-blank line of a run's input, cut to a queue's width (with an ellipsis)."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= _REQUEST_CHARS else line[: _REQUEST_CHARS - 1].rstrip() + "…"


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
    request: str = ""
    """The first line of what the run was asked (``request_line``)."""
    expired_at: datetime | None = None
    """When the record expired, if every call timed out undecided (``record_expired_at``)."""
    expired: str | None = None
    """``expired 5m ago, at 2025-06-01 09:30 UTC`` when ``expired_at`` is set."""
    tool_errors: int = 0
    """Approved calls whose body raised when the run resumed (see ``status_label``)."""
    kinds: list[str] = []
    """The kinds of its calls (``CallKind`` values), each once, in call order."""
    hidden_characters: list[str] = []
    """Invisible or direction-changing characters in its calls' tool names or arguments."""

    @property
    def unreadable(self) -> bool:
        return False

    @classmethod
    def of(cls, record: PendingApproval, *, now: datetime) -> ApprovalRow:
        expired_at = record_expired_at(record)
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
            request=request_line(record.input_preview),
            expired_at=expired_at,
            expired=None if expired_at is None else expired_phrase(expired_at, now),
            tool_errors=tool_errors(record),
            kinds=list(dict.fromkeys(call.kind.value for call in record.tool_calls)),
            hidden_characters=hidden_characters(
                *((call.tool_name, call.arguments) for call in record.tool_calls)
            ),
        )

    @property
    def kind_tags(self) -> list[str]:
        """Labels of the kinds worth a tag in a queue: every kind but plain function calls."""
        return [
            KIND_LABELS.get(CallKind(kind), kind)
            for kind in self.kinds
            if kind != CallKind.FUNCTION.value
        ]

    @property
    def status_label(self) -> str:
        """``completed``, or ``completed (1 tool error)`` when an approved call raised."""
        if not self.tool_errors:
            return self.status
        plural = "" if self.tool_errors == 1 else "s"
        return f"{self.status} ({self.tool_errors} tool error{plural})"


class UnreadableRow(BaseModel):
    """A queue line for a stored document that does not parse: "unreadable record <id>"."""

    id: str
    problem: str

    @property
    def unreadable(self) -> bool:
        return True

    @property
    def label(self) -> str:
        return f"unreadable record {self.id}"


def page_rows(page: ApprovalPage, *, now: datetime) -> list[ApprovalRow | UnreadableRow]:
    """A page's lines in its order: each record's row, each unreadable document where it sits."""
    rows: list[ApprovalRow | UnreadableRow] = [
        ApprovalRow.of(record, now=now) for record in page.items
    ]
    for entry in sorted(page.unreadable, key=lambda entry: entry.position):
        rows.insert(
            min(entry.position, len(rows)), UnreadableRow(id=entry.id, problem=entry.problem)
        )
    return rows


class ChangedArgument(BaseModel):
    """One line of an argument diff, as a reviewer reads it: ``hours: 48 -> 2``."""

    path: str
    before: Any = None
    after: Any = None
    added: bool = False
    """Only the new side has the key (``before`` is then None)."""
    removed: bool = False

    @classmethod
    def of(cls, change: ArgumentChange) -> ChangedArgument:
        return cls(
            path=change.path,
            before=None if change.added else change.before,
            after=None if change.removed else change.after,
            added=change.added,
            removed=change.removed,
        )

    @property
    def before_text(self) -> str:
        return _ABSENT_TEXT if self.added else _compact(self.before)

    @property
    def after_text(self) -> str:
        return _ABSENT_TEXT if self.removed else _compact(self.after)

    @property
    def line(self) -> str:
        """``path: before -> after`` (values as JSON; hidden characters are the surface's job)."""
        return f"{self.path}: {self.before_text} -> {self.after_text}"

    def as_json(self) -> dict[str, Any]:
        """The raw values; a side that lacks the key is left out."""
        shown: dict[str, Any] = {"path": self.path}
        if not self.added:
            shown["before"] = self.before
        if not self.removed:
            shown["after"] = self.after
        return shown


_ABSENT_TEXT = "(absent)"


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def changed_arguments(before: Any, after: Any) -> list[ChangedArgument]:
    """What changes from ``before`` to ``after``, line by line (see ``argument_changes``)."""
    return [ChangedArgument.of(change) for change in argument_changes(before, after)]


class Suggestion(BaseModel):
    """The decision layer's suggested arguments for a call, as a reviewer is shown them: its
    better-action sentence, the arguments in full, their digest (what a surface binds the
    approval to) and what they change from the proposed ones."""

    better_action: str | None
    arguments: dict[str, Any]
    arguments_sha256: str
    changes: list[ChangedArgument]

    @classmethod
    def of(cls, call: ToolCallRecord) -> Suggestion | None:
        """None when the call has no real suggestion (``suggestions.suggested_arguments``)."""
        suggested = suggested_arguments(call)
        if suggested is None:
            return None
        return cls(
            better_action=better_action(call),
            arguments=suggested,
            arguments_sha256=arguments_digest(suggested),
            changes=changed_arguments(call.arguments, suggested),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "better_action": self.better_action,
            "arguments": self.arguments,
            "arguments_sha256": self.arguments_sha256,
            "changes": [change.as_json() for change in self.changes],
        }


class CallView(BaseModel):
    """One call on the detail page, with what this reviewer may do about it.

    ``refusal``: why they may not decide it at all (the page shows it read-only);
    ``approve_refusal``: why they may not approve it (the run's actor may still reject).
    Both come from ``rules.decide_refusal``, the answer the store enforces.
    """

    call: ToolCallRecord
    risk: Risk
    signal: dict[str, Any]
    tool: ToolMetadata
    roles: list[str]
    min_approvals: int
    votes: list[dict[str, Any]]
    refusal: Refusal | None
    approve_refusal: Refusal | None = None
    edited_arguments: Any = None
    """What the run will use instead of ``call.arguments``, when approved with edits."""
    edit_changes: list[ChangedArgument] = []
    """What those edited arguments change, line by line."""
    suggestion: Suggestion | None = None
    """The decision layer's suggested arguments, when it made a real suggestion."""
    expired_at: datetime | None = None
    """The deadline the call passed undecided (its "rejection" is the timeout's), else None."""
    expired: str | None = None
    """``expired 5m ago, at 2025-06-01 09:30 UTC`` when ``expired_at`` is set."""

    @classmethod
    def of(
        cls,
        record: PendingApproval,
        call: ToolCallRecord,
        reviewer: Reviewer,
        *,
        now: datetime | None = None,
    ) -> CallView:
        """``now``, when given, is what "expired 5m ago" counts from."""
        tool = ToolMetadata.of(call.metadata, tool_name=call.tool_name)
        expired_at = call_expired_at(record, call)
        refusal = decide_refusal(record, call, reviewer, Verdict.REJECTED)
        edited = None if call.decision is None else call.decision.edited_arguments
        return cls(
            call=call,
            risk=call_risk(call),
            signal=dict(call.signal or {}),
            tool=tool,
            roles=sorted(tool.approver_roles),
            min_approvals=tool.min_approvals,
            votes=[vote.model_dump(mode="json") for vote in cast_votes(call)],
            refusal=refusal,
            approve_refusal=refusal or decide_refusal(record, call, reviewer, Verdict.APPROVED),
            edited_arguments=edited,
            edit_changes=[] if edited is None else changed_arguments(call.arguments, edited),
            suggestion=Suggestion.of(call),
            expired_at=expired_at,
            expired=None if expired_at is None else expired_phrase(expired_at, now),
        )

    def refusal_for(self, verdict: Verdict) -> Refusal | None:
        """Why this reviewer may not cast ``verdict`` here, or None when they may."""
        return self.approve_refusal if verdict is Verdict.APPROVED else self.refusal

    @property
    def hidden(self) -> list[str]:
        """Invisible or direction-changing characters in what this call shows; a call with
        any is flagged, and each is shown escaped."""
        suggested = None if self.suggestion is None else self.suggestion.arguments
        return hidden_characters(
            self.call.tool_name,
            self.call.arguments,
            self.edited_arguments,
            suggested,
            better_action(self.call),
        )

    @property
    def suggestion_applied(self) -> bool:
        """Whether the call was approved with exactly the suggested arguments."""
        return (
            self.suggestion is not None
            and self.edited_arguments is not None
            and arguments_digest(self.edited_arguments) == self.suggestion.arguments_sha256
        )

    @property
    def outcome_text(self) -> str | None:
        """What the call did when its run resumed, or None before it did anything."""
        return None if self.call.outcome is None else outcome_text(self.call.outcome)

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.call.kind, self.call.kind.value)

    @property
    def editable(self) -> bool:
        """Whether approve-with-edits is offered: only for calls with JSON-schema arguments."""
        return self.call.kind.editable

    @property
    def script(self) -> str | None:
        commands = shell_commands(self.call)
        return None if commands is None else "\n".join(commands)

    @property
    def script_options(self) -> dict[str, str]:
        return shell_options(self.call)

    @property
    def patch(self) -> list[PatchOperation] | None:
        return patch_operations(self.call)

    @property
    def hosted(self) -> HostedMcpCall | None:
        return hosted_mcp_call(self.call)

    @property
    def raw_input(self) -> str | None:
        return custom_input(self.call)

    @property
    def approvals_so_far(self) -> int:
        return sum(1 for vote in self.votes if vote.get("verdict") == "approved")
