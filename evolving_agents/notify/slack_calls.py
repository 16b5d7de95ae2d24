"""How one tool call reads in a Slack message, and whether it was shown whole.

::

    shown, arguments, signal, suggestion = call_texts(index, call, numbered=False)
    arguments.complete          # False: something of what would run was cut or left out
    fully_shown(record, call)   # (arguments whole, suggestion whole): what Slack may approve

A reviewer approves what they read. Slack's limits (3,000 characters a section) mean a long
call cannot be shown whole; every cut, collapsed whitespace or left-out part is noted, and a
call not shown whole gets no Approve button in Slack (``slack_blocks.py``), nor is a click on
one accepted (``web/slack.py`` asks ``fully_shown`` again): it is approved in the inbox.
"""

from __future__ import annotations

import json
from typing import Any

from evolving_agents.approvals.models import CallKind, PendingApproval, ToolCallRecord
from evolving_agents.approvals.risk import risk_words
from evolving_agents.approvals.suggestions import (
    ArgumentChange,
    argument_changes,
    better_action,
    suggested_arguments,
)
from evolving_agents.notify.slack_text import (
    CODE_CHARS,
    SECTION_CHARS,
    code,
    cut,
    escape,
    inline,
    one_line,
)

TOO_LONG = (
    "Too long to review in Slack: part of what would run is not shown here, so it can only be "
    "approved in the inbox (reject works here)."
)


class Shown:
    """Whether everything a message shows of something was shown whole: any cut, collapsed
    whitespace or left-out part makes it incomplete, and nothing incomplete gets an Approve."""

    def __init__(self) -> None:
        self.complete = True

    def fits(self, text: str, limit: int) -> None:
        if len(text) > limit:
            self.complete = False

    def code(self, text: str, limit: int = CODE_CHARS) -> str:
        self.fits(escape(text), limit)
        return code(text, limit)

    def inline(self, text: str, limit: int = 200) -> str:
        if one_line(text) != text:
            self.complete = False
        self.fits(escape(text), limit)
        return inline(text, limit)

    def cut(self, escaped: str, limit: int) -> str:
        self.fits(escaped, limit)
        return cut(escaped, limit)


def call_texts(
    index: int, call: ToolCallRecord, *, numbered: bool
) -> tuple[str, Shown, str, Shown]:
    """A call's section (title and arguments) and its signal's text, each with whether it
    was shown whole."""
    number = f"{index + 1}. " if numbered else ""
    title = f"*{number}{inline(call.tool_name, 120)}*"
    if call.kind is not CallKind.FUNCTION:
        title += f"  ({call.kind.value.replace('_', ' ')})"
    title += f"  ·  risk *{_risk(call)}*"
    arguments, suggestion = Shown(), Shown()
    shown = title + "\n" + _arguments(call, arguments)
    arguments.fits(shown, SECTION_CHARS)
    signal = _signal(call, suggestion)
    return shown, arguments, signal, suggestion


def fully_shown(record: PendingApproval, call: ToolCallRecord) -> tuple[bool, bool]:
    """Whether the record's message shows ``call``'s arguments whole, and its suggestion
    whole: what may be approved from Slack (``web/slack.py`` asks again at each click)."""
    index = next(i for i, each in enumerate(record.tool_calls) if each.call_id == call.call_id)
    _, arguments, _, suggestion = call_texts(index, call, numbered=len(record.tool_calls) > 1)
    return arguments.complete, arguments.complete and suggestion.complete


def _arguments(call: ToolCallRecord, shown: Shown) -> str:
    arguments = call.arguments if isinstance(call.arguments, dict) else {}
    if call.kind is CallKind.SHELL and isinstance(arguments.get("commands"), list):
        script = "\n".join(f"$ {command}" for command in arguments["commands"])
        options = [
            f"{key}: {value if isinstance(value, str) else json.dumps(value, sort_keys=True)}"
            for key, value in sorted(arguments.items())
            if key != "commands"
        ]
        extra = f"\n{shown.cut(escape('  ·  '.join(options)), 400)}" if options else ""
        return shown.code(script) + extra
    if call.kind is CallKind.APPLY_PATCH and isinstance(arguments.get("operations"), list):
        parts = []
        per_file = max(200, CODE_CHARS // max(1, len(arguments["operations"])))
        for operation in arguments["operations"]:
            if not isinstance(operation, dict):
                shown.complete = False  # an operation this message cannot show
                continue
            path = shown.inline(str(operation.get("path")))
            line = f"*{escape(str(operation.get('type')))}* {path}"
            if operation.get("move_to") is not None:
                line += f" -> {shown.inline(str(operation['move_to']))}"
            diff = operation.get("diff")
            parts.append(
                line + ("\n" + shown.code(diff, per_file) if isinstance(diff, str) else "")
            )
        return shown.cut("\n".join(parts), SECTION_CHARS - 300)
    if call.kind is CallKind.CUSTOM and isinstance(arguments.get("input"), str):
        return shown.code(arguments["input"])
    text = json.dumps(call.arguments, indent=2, ensure_ascii=False, sort_keys=True, default=str)
    return shown.code(text)


def _signal(call: ToolCallRecord, suggestion: Shown) -> str:
    """The decision layer's reason, better action and suggested arguments; ``suggestion``
    learns whether the suggestion was shown whole."""
    signal = call.signal or {}
    lines = []
    reason = signal.get("reason")
    if isinstance(reason, str) and reason.strip():
        lines.append(f"*Reason:* {cut(escape(one_line(reason)), 900)}")
    better = better_action(call)
    if better is not None:
        lines.append(f"*Better action:* {cut(escape(one_line(better)), 900)}")
    suggested = suggested_arguments(call)
    if suggested is not None:
        changes = argument_changes(call.arguments, suggested)
        shown = "\n".join(_change(change, suggestion) for change in changes[:_SHOWN_CHANGES])
        if len(changes) > _SHOWN_CHANGES:
            suggestion.complete = False
            shown += f"\n... and {len(changes) - _SHOWN_CHANGES} more (see the inbox)"
        lines.append("*Suggested arguments:*\n" + shown)
    return "\n".join(lines)


# Bounded so reason, better action and suggestion fit one section (3,000 characters).
_SHOWN_CHANGES = 6


def _change(change: ArgumentChange, suggestion: Shown) -> str:
    def shown(value: Any) -> str:
        if value is ArgumentChange.ABSENT:
            return "(none)"
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
        return suggestion.inline(text, 60)

    path = suggestion.inline(change.path, 50)
    return f"{path}: {shown(change.before)} \u2192 {shown(change.after)}"


def _risk(call: ToolCallRecord) -> str:
    return escape(risk_words(call))
