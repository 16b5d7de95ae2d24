"""An approval as a Slack message: Block Kit blocks rendered from the record, nothing else.

::

    message = approval_message(record, inbox_link="https://inbox.example.com/approvals/apr_1")
    await client.chat_postMessage(channel="#approvals", text=message.text, blocks=message.blocks)
    value = ActionValue.decode(action["value"])    # what a clicked button was about, or None

The message shows what the inbox shows: the request, each call's tool and arguments (a shell
call's commands, a patch's diffs, else the arguments as JSON), the decision layer's risk,
reason and better action, the deadline, each call's votes or decision and, once the run
resumed, what each call did and how the run ended. Undecided calls of a pending record get
Approve / Reject buttons whose value names the approval, the call and the digest of the
arguments shown, so a click approves exactly those.

Everything that comes from the record is hostile, and goes through ``slack_text.py``
(escaped, cut to Slack's limits). Times are Slack date tokens, shown in each reader's time
zone. The other messages (escalation, deadline warning, the reject dialog) are in
``slack_notices.py``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from evolving_agents.approvals.deadlines import call_expired_at, first_deadline, record_expired_at
from evolving_agents.approvals.models import (
    ApprovalStatus,
    CallOutcomeStatus,
    PendingApproval,
    ToolCallRecord,
    Verdict,
    arguments_digest,
)
from evolving_agents.approvals.rules import ToolMetadata, cast_votes
from evolving_agents.approvals.suggestions import (
    suggested_arguments,
)
from evolving_agents.notify.slack_calls import TOO_LONG, call_texts
from evolving_agents.notify.slack_text import (
    BUTTON_TEXT_CHARS,
    FALLBACK_CHARS,
    HEADER_CHARS,
    SlackMessage,
    code,
    context,
    cut,
    escape,
    inline,
    link_block,
    one_line,
    plain_text,
    section,
    slack_date,
)

APPROVE_ACTION = "eat_approve"
"""``action_id`` prefix of an Approve button (``eat_approve:<call index>``)."""
REJECT_ACTION = "eat_reject"
SUGGESTION_ACTION = "eat_approve_suggestion"
"""``action_id`` prefix of an "Approve the suggestion" button: the decision layer's suggested
arguments, approved as an edit (checked against the tool and the rules again)."""
REJECT_CALLBACK = "eat_reject_reason"
"""``callback_id`` of the reject dialog."""
REASON_BLOCK = "reason"
REASON_INPUT = "reason_input"

# Slack's limits (https://docs.slack.dev/reference/block-kit/blocks), and our shares of them.
_MAX_BLOCKS = 50
_VALUE_CHARS = 2000
_BLOCKS_PER_CALL = 5
_REQUEST_CHARS = 300
_OUTPUT_CHARS = 600

_STATUS_HEADERS = {
    ApprovalStatus.PENDING: "Approval needed",
    ApprovalStatus.DECIDED: "Decided, waiting to resume",
    ApprovalStatus.RESUMING: "Resuming",
    ApprovalStatus.COMPLETED: "Completed",
    ApprovalStatus.FAILED: "Failed",
    ApprovalStatus.CANCELLED: "Cancelled",
}
_OUTCOMES = {
    CallOutcomeStatus.EXECUTED: "ran",
    CallOutcomeStatus.REJECTED: "did not run: rejected",
    CallOutcomeStatus.BLOCKED: "did not run: blocked by the rules",
    CallOutcomeStatus.EXPIRED: "did not run: not decided in time",
    CallOutcomeStatus.TOOL_ERROR: "tool error: the approved action did not happen",
}


class ActionValue(BaseModel):
    """What a button carries: the approval, the call, and the digest of the arguments shown."""

    model_config = ConfigDict(populate_by_name=True, frozen=True)

    approval_id: str = Field(alias="a", min_length=1)
    call_id: str = Field(alias="c", min_length=1)
    arguments_sha256: str = Field(alias="s", pattern=r"^[0-9a-f]{64}$")
    suggested_sha256: str | None = Field(default=None, alias="g", pattern=r"^[0-9a-f]{64}$")
    """On a suggestion's button: the digest of the suggested arguments the message showed."""

    def encode(self) -> str:
        return json.dumps(self.model_dump(by_alias=True, exclude_none=True), separators=(",", ":"))

    @classmethod
    def decode(cls, text: object) -> ActionValue | None:
        """The value of a button of ours, or None for anything else."""
        if not isinstance(text, str):
            return None
        try:
            return cls.model_validate_json(text)
        except ValidationError:
            return None


# -- what a record says -------------------------------------------------------------------


def request_line(record: PendingApproval) -> str:
    line = next((part.strip() for part in record.input_preview.splitlines() if part.strip()), "")
    return line or "(no request text)"


def deadline(record: PendingApproval) -> datetime | None:
    """When the first undecided call expires, if any does."""
    found = first_deadline(record)
    return None if found is None else found[0]


def tools_of(record: PendingApproval) -> str:
    return ", ".join(dict.fromkeys(call.tool_name for call in record.tool_calls))


def _headline(record: PendingApproval) -> str:
    if record_expired_at(record) is not None:
        return "Expired"
    headline = _STATUS_HEADERS.get(record.status, record.status.value)
    errors = sum(
        1
        for call in record.tool_calls
        if call.outcome is not None and call.outcome.status is CallOutcomeStatus.TOOL_ERROR
    )
    if errors:
        headline += f" ({errors} tool error{'s' if errors > 1 else ''})"
    return headline


# -- the approval message -----------------------------------------------------------------


def approval_message(record: PendingApproval, *, inbox_link: str | None = None) -> SlackMessage:
    """The message for ``record`` as it is now (posted once, then updated in place)."""
    headline = _headline(record)
    tools = tools_of(record)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": plain_text(f"{headline}: {tools}", HEADER_CHARS)},
        section(_summary(record)),
    ]
    budget = (_MAX_BLOCKS - 4) // _BLOCKS_PER_CALL
    shown = record.tool_calls[:budget]
    for index, call in enumerate(shown):
        blocks.extend(_call_blocks(record, index, call, numbered=len(record.tool_calls) > 1))
    if len(record.tool_calls) > len(shown):
        more = len(record.tool_calls) - len(shown)
        blocks.append(context(f"{more} more calls are not shown here: open the inbox."))
    ending = _ending(record)
    if ending:
        blocks.append(section(ending))
    if inbox_link is not None:
        blocks.append(link_block(inbox_link))
    text = f"{headline}: {tools} ({request_line(record)})"
    return SlackMessage(text=cut(escape(text), FALLBACK_CHARS), blocks=blocks)


def _summary(record: PendingApproval) -> str:
    lines = [f"*Request:* {cut(escape(request_line(record)), _REQUEST_CHARS)}"]
    who = f"*Agent:* {inline(record.agent_name, 80)}"
    if record.actor:
        who += f"  ·  *Started by:* {inline(record.actor, 80)}"
    lines.append(who + f"  ·  *Approval:* {inline(record.id, 80)}")
    when = deadline(record)
    if record.status is ApprovalStatus.PENDING and when is not None:
        lines.append(f"*Deadline:* {slack_date(when)}")
    return "\n".join(lines)


def _call_blocks(
    record: PendingApproval, index: int, call: ToolCallRecord, *, numbered: bool
) -> list[dict[str, Any]]:
    shown, arguments, signal, suggestion = call_texts(index, call, numbered=numbered)
    blocks: list[dict[str, Any]] = [{"type": "divider"}, section(shown)]
    if signal:
        blocks.append(section(signal))
    blocks.append(context(_call_status(record, call)))
    if record.status is ApprovalStatus.PENDING and call.decision is None:
        buttons = _buttons(
            record,
            index,
            call,
            numbered=numbered,
            approvable=arguments.complete,
            suggestion_approvable=arguments.complete and suggestion.complete,
        )
        blocks.append(buttons or context("Decide this call in the inbox."))
        if not arguments.complete:
            blocks.append(context(TOO_LONG))
    return blocks


def _call_status(record: PendingApproval, call: ToolCallRecord) -> str:
    decision = call.decision
    if decision is None:
        return _waiting(record, call)
    moment = call_expired_at(record, call)
    if moment is not None:
        status = f":hourglass: Expired undecided at {slack_date(moment)}"
    elif decision.verdict is Verdict.APPROVED:
        status = f":white_check_mark: Approved by {_who(decision.reviewer, decision.surface)}"
        if decision.edited_arguments is not None:
            status += " with edited arguments (see the inbox)"
    else:
        status = f":x: Rejected by {_who(decision.reviewer, decision.surface)}"
        if decision.message:
            status += f": {cut(escape(one_line(decision.message)), 500)}"
    if call.outcome is not None:
        status += f"\n*Outcome:* {_OUTCOMES.get(call.outcome.status, call.outcome.status.value)}"
        detail = call.outcome.error or (
            call.outcome.output if call.outcome.status is CallOutcomeStatus.EXECUTED else None
        )
        if detail:
            status += f": {inline(detail, _OUTPUT_CHARS)}"
    return status


def _waiting(record: PendingApproval, call: ToolCallRecord) -> str:
    meta = ToolMetadata.of(call.metadata, tool_name=call.tool_name)
    approvers = [vote.reviewer for vote in cast_votes(call) if vote.verdict is Verdict.APPROVED]
    if record.status is not ApprovalStatus.PENDING:
        return f":grey_question: Not decided (the record is {record.status.value})"
    parts = [":hourglass_flowing_sand: Waiting for a decision"]
    if meta.min_approvals > 1 or approvers:
        count = f"{len(approvers)} of {meta.min_approvals} approvals"
        if approvers:
            count += " (" + ", ".join(escape(name) for name in approvers) + ")"
        parts.append(count)
    if meta.approver_roles:
        roles = ", ".join(escape(role) for role in sorted(meta.approver_roles))
        parts.append(f"needs role: {roles}")
    return "  ·  ".join(parts)


def _who(reviewer: str, surface: str) -> str:
    return f"{cut(escape(reviewer), 120)} ({escape(surface)})"


def _buttons(
    record: PendingApproval,
    index: int,
    call: ToolCallRecord,
    *,
    numbered: bool,
    approvable: bool,
    suggestion_approvable: bool,
) -> dict[str, Any] | None:
    """Approve (and the suggestion's) where what would run was shown whole; Reject always."""
    value = ActionValue(
        approval_id=record.id, call_id=call.call_id, arguments_sha256=call.arguments_sha256
    ).encode()
    if len(value) > _VALUE_CHARS:
        return None
    suffix = f" {index + 1}. {call.tool_name}" if numbered else ""
    elements: list[dict[str, Any]] = []
    suggested = suggested_arguments(call)
    if suggested is not None and suggestion_approvable:
        carried = ActionValue(
            approval_id=record.id,
            call_id=call.call_id,
            arguments_sha256=call.arguments_sha256,
            suggested_sha256=arguments_digest(suggested),
        ).encode()
        if len(carried) <= _VALUE_CHARS:
            elements.append(
                {
                    "type": "button",
                    "action_id": f"{SUGGESTION_ACTION}:{index}",
                    "style": "primary",
                    "text": plain_text("Approve the suggestion" + suffix, BUTTON_TEXT_CHARS),
                    "value": carried,
                }
            )
    if approvable:
        elements.append(
            {
                "type": "button",
                "action_id": f"{APPROVE_ACTION}:{index}",
                **({} if elements else {"style": "primary"}),
                "text": plain_text("Approve" + suffix, BUTTON_TEXT_CHARS),
                "value": value,
            }
        )
    return {
        "type": "actions",
        "block_id": f"call:{index}",
        "elements": [
            *elements,
            {
                "type": "button",
                "action_id": f"{REJECT_ACTION}:{index}",
                "style": "danger",
                "text": plain_text("Reject" + suffix, BUTTON_TEXT_CHARS),
                "value": value,
            },
        ],
    }


def _ending(record: PendingApproval) -> str:
    """How the run ended, once it did."""
    result = record.result
    if record.status is ApprovalStatus.COMPLETED:
        if record.next_approval_id is not None:
            return f"*The run paused again:* next approval {inline(record.next_approval_id)}"
        if result.final_output is None:
            return "*The run completed.*"
        output = result.final_output
        text = output if isinstance(output, str) else json.dumps(output, default=str)
        return "*The run completed.* Final output:\n" + code(text, _OUTPUT_CHARS)
    if record.status is ApprovalStatus.FAILED:
        return f"*The run failed:* {cut(escape(result.error or 'no error recorded'), 1000)}"
    if record.status is ApprovalStatus.CANCELLED:
        return "*The run was cancelled.*"
    return ""
