"""How ``eat approvals`` shows records with Rich: the queue, one record, outcomes."""

from __future__ import annotations

import json
from typing import Any

from rich.json import JSON
from rich.markup import escape
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from evolving_agents.approvals.hidden_text import (
    FLAG_TEXT,
    escape_hidden,
    escaped,
    hidden_characters,
    is_hidden,
    segments,
)
from evolving_agents.approvals.models import (
    CallKind,
    CallOutcome,
    CallOutcomeStatus,
    PendingApproval,
    ToolCallRecord,
    ToolDecision,
    Verdict,
    utcnow,
)
from evolving_agents.approvals.rules import ToolMetadata, cast_votes
from evolving_agents.cli.common import console
from evolving_agents.present.call_kinds import (
    KIND_LABELS,
    custom_input,
    hosted_mcp_call,
    patch_operations,
    shell_commands,
    shell_options,
)
from evolving_agents.present.views import (
    ChangedArgument,
    Suggestion,
    call_risk,
    changed_arguments,
    expires_in,
    humanize,
    outcome_text,
    tool_errors,
)

RISK_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "green"}
STATUS_STYLE = {"pending": "cyan", "decided": "yellow", "completed": "green", "failed": "red"}
# An invisible or direction-changing character, shown as its escape: impossible to miss.
HIDDEN_STYLE = "bold white on red"


def revealed(text: str, style: str = "") -> Text:
    """``text`` as Rich text (never markup), each hidden character as its styled escape."""
    shown = Text(style=style)
    for piece, hidden in segments(text):
        shown.append(escaped(piece) if hidden else piece, style=HIDDEN_STYLE if hidden else None)
    return shown


def revealed_json(value: Any) -> Text:
    """Highlighted JSON whose hidden characters are styled JSON escapes (it still parses)."""
    highlighted = JSON(json.dumps(value, default=str), indent=2).text
    plain = highlighted.plain
    hidden = [index for index, char in enumerate(plain) if is_hidden(char)]
    if not hidden:
        return highlighted
    pieces = highlighted.divide(sorted({cut for i in hidden for cut in (i, i + 1)}))
    shown = Text(no_wrap=True)
    for piece in pieces:
        if len(piece.plain) == 1 and is_hidden(piece.plain):
            shown.append(escaped(piece.plain, json_escape=True), style=HIDDEN_STYLE)
        else:
            shown.append_text(piece)
    return shown


def show_record(record: PendingApproval, *, tampered: list[str] | None = None) -> None:
    now = utcnow()
    if tampered:
        console.print(
            Panel(
                "\n".join(f"- {escape(problem)}" for problem in tampered)
                + "\n\nWhat is shown may not be what would run. Do not approve it; a resume"
                " refuses it.",
                title="[bold]TAMPERED: this record was altered outside the app[/]",
                title_align="left",
                border_style="bold red",
            )
        )
    header = Text.assemble(
        (record.agent_name, "bold"),
        " run ",
        (record.run_id, "cyan"),
        f" step {record.sequence}\nstatus ",
        (record.status.value, STATUS_STYLE.get(record.status.value, "dim")),
        f" · requested by {record.actor or 'unknown'}",
        f" · waiting {humanize(now - record.created_at)}",
        f" · expires in {expires_in(record, now)}\n\n",
        ("Request: ", "bold"),
        revealed(record.input_preview),
    )
    console.print(Panel(header, title=f"approval {record.id}", title_align="left"))
    for call in record.tool_calls:
        show_call(call, approval_id=record.id)
    if record.status.is_final:
        failed_calls = tool_errors(record)
        if failed_calls:
            console.print(
                f"\n[bold red]{failed_calls} approved call(s) raised when the run resumed: "
                "the approved action did not happen[/]"
            )
        outcome = record.result.error or record.result.final_output
        title = f"outcome: {record.status.value}"
        if failed_calls:
            title += f" ({failed_calls} tool error{'' if failed_calls == 1 else 's'})"
        console.print(Panel(str(outcome), title=title, title_align="left"))
    console.print(audit_table(record))


def show_call(call: ToolCallRecord, *, approval_id: str | None = None) -> None:
    console.print(call_heading(call))
    edited = None if call.decision is None else call.decision.edited_arguments
    suggestion = Suggestion.of(call)
    suggested = None if suggestion is None else suggestion.arguments
    better = (call.signal or {}).get("better_action")
    hidden = hidden_characters(call.tool_name, call.arguments, edited, suggested, better)
    if hidden:
        console.print(
            Text(f"  ! {FLAG_TEXT}: {', '.join(hidden)}; each is shown as its escape", HIDDEN_STYLE)
        )
    show_arguments(call)
    show_signal(call.signal or {})
    if suggestion is not None:
        show_changes("suggested arguments", suggestion.changes)
        if call.decision is None and approval_id is not None:
            console.print(
                Text.assemble(
                    "  approve them: ",
                    (f"eat approvals approve {approval_id} --suggested --call ", "bold"),
                    revealed(call.call_id, "bold"),
                    (" --as NAME --app ...", "bold"),
                )
            )
    for vote in cast_votes(call):
        console.print(
            f"  vote: {vote.reviewer} {vote.verdict.value} from {vote.surface or '-'}",
            highlight=False,
        )
    if call.decision is not None:
        show_decision(call.decision, call, suggestion)
    if call.outcome is not None:
        show_call_outcome(call.outcome)


def call_heading(call: ToolCallRecord) -> Text:
    """The call's first line: tool, call id, kind, risk band, the roles and quorum it needs."""
    risk = call_risk(call)
    tool = ToolMetadata.of(call.metadata, tool_name=call.tool_name)
    head = Text.assemble("\n", revealed(call.tool_name, "bold"), " ", revealed(call.call_id, "dim"))
    head.append("  ")
    if call.kind is not CallKind.FUNCTION:
        head.append(KIND_LABELS[call.kind], style="yellow")
        head.append("  ")
    head.append("risk ")
    head.append(risk.label, style=RISK_STYLE.get(risk.level, "dim"))
    if tool.approver_roles:
        head.append(f"  approver roles: {', '.join(sorted(tool.approver_roles))}")
    if tool.min_approvals > 1:
        head.append(f"  needs {tool.min_approvals} approvals")
    return head


def show_signal(signal: dict[str, Any]) -> None:
    if not signal:
        return
    console.print(
        f"  signal: [bold]{signal.get('verdict')}[/] ({signal.get('provider', '-')}): "
        f"{signal.get('reason') or '-'}",
        highlight=False,
    )
    if signal.get("better_action"):
        console.print(
            Text.assemble("  better action: ", revealed(str(signal["better_action"]), "green"))
        )


def show_changes(title: str, changes: list[ChangedArgument]) -> None:
    """``title:`` then one ``path: before -> after`` line per change, values as JSON."""
    console.print(f"  {title}:", highlight=False)
    for change in changes:
        console.print(
            Text.assemble(
                "    ",
                revealed(change.path, "bold"),
                ": ",
                revealed(change.before_text, "red"),
                " -> ",
                revealed(change.after_text, "green"),
            )
        )


def show_suggestion(call: ToolCallRecord, suggestion: Suggestion) -> None:
    """What ``approve --suggested`` is about to approve: the sentence and the diff."""
    console.print(
        Text.assemble(revealed(call.tool_name, "bold"), " ", revealed(call.call_id, "dim"))
    )
    if suggestion.better_action:
        console.print(
            Text.assemble("  better action: ", revealed(suggestion.better_action, "green"))
        )
    show_changes("suggested arguments", suggestion.changes)


def show_decision(
    decision: ToolDecision,
    call: ToolCallRecord | None = None,
    suggestion: Suggestion | None = None,
) -> None:
    colour = "green" if decision.verdict is Verdict.APPROVED else "red"
    message = f": {decision.message}" if decision.message else ""
    console.print(
        f"  [{colour}]{decision.verdict.value}[/] by {decision.reviewer} "
        f"({decision.reviewer_kind.value}){message}",
        highlight=False,
    )
    if decision.always:
        console.print("  and every later call of this tool in this run", highlight=False)
    if decision.edited_arguments is not None:
        applied = (
            suggestion is not None
            and decision.edited_arguments_sha256 == suggestion.arguments_sha256
        )
        title = "the decision layer's suggested arguments" if applied else "edited arguments"
        if call is not None:
            show_changes(
                f"runs with {title}", changed_arguments(call.arguments, decision.edited_arguments)
            )
        else:
            console.print(f"  runs with {title}:")
        console.print(revealed_json(decision.edited_arguments))


def show_arguments(call: ToolCallRecord) -> None:
    """What the call will do, as its kind reads best: a script, a diff, JSON. Never as markup."""
    commands = shell_commands(call)
    operations = patch_operations(call)
    hosted = hosted_mcp_call(call)
    raw_input = custom_input(call)
    if commands is not None:
        console.print(_code("\n".join(commands), "bash"))
        for key, value in shell_options(call).items():
            console.print(revealed(f"  {key}: {value}", "dim"))
    elif operations is not None:
        for operation in operations:
            where = (
                f"{operation.path} -> {operation.move_to}" if operation.move_to else operation.path
            )
            console.print(Text.assemble(("  " + operation.type, "bold"), " ", revealed(where)))
            if operation.diff:
                console.print(_code(operation.diff, "diff"))
    elif hosted is not None:
        console.print(
            Text.assemble(
                "  server ",
                revealed(hosted.server, "bold"),
                "  tool ",
                revealed(hosted.tool, "bold"),
            )
        )
        console.print(revealed_json(hosted.arguments))
    elif raw_input is not None:
        console.print(Panel(revealed(raw_input), title="input", title_align="left"))
    else:
        console.print(revealed_json(call.arguments))


def _code(text: str, lexer: str) -> Syntax:
    """A script or a diff, highlighted, hidden characters as styled escapes (a raw carriage
    return or override would make a terminal show other text than what runs)."""
    # A diff's final newline is not a line of its own; a Windows line end is a line end.
    lines = text.rstrip("\n").replace("\r\n", "\n").split("\n")
    shown_lines = [escape_hidden(line) for line in lines]
    syntax = Syntax(
        "\n".join(shown_lines),
        lexer,
        theme="ansi_dark",
        word_wrap=True,
        background_color="default",
        padding=(0, 2),
    )
    for number, line in enumerate(lines, start=1):
        column = 0
        for piece, hidden in segments(line):
            width = len(escaped(piece)) if hidden else len(piece)
            if hidden:
                syntax.stylize_range(HIDDEN_STYLE, (number, column), (number, column + width))
            column += width
    return syntax


def show_call_outcome(outcome: CallOutcome) -> None:
    """What a decided call did when its run resumed; a tool error in red, with its error."""
    if outcome.status is CallOutcomeStatus.TOOL_ERROR:
        console.print(
            "  [bold red]outcome: tool error: the approved action did not happen[/]",
            highlight=False,
        )
        if outcome.error:
            console.print(f"  [red]error: {escape(outcome.error)}[/]", highlight=False)
        if outcome.output:
            console.print(f"  the model read: {escape(outcome.output)}", highlight=False)
        return
    colour = "green" if outcome.status is CallOutcomeStatus.EXECUTED else "yellow"
    console.print(f"  outcome: [{colour}]{outcome_text(outcome)}[/]", highlight=False)
    if outcome.output:
        console.print(f"  output: {escape(outcome.output)}", highlight=False, soft_wrap=True)


def audit_table(record: PendingApproval) -> Table:
    table = Table(title="audit trail", title_justify="left")
    for column in ("when (UTC)", "action", "who", "call", "details"):
        table.add_column(column)
    for entry in record.audit:
        details = ", ".join(
            f"{key}={value}"
            for key, value in sorted(entry.detail.items())
            if value not in (None, [])
            and not key.endswith("sha256")
            and key not in ("arguments", "calls")
        )
        table.add_row(
            f"{entry.at:%Y-%m-%d %H:%M:%S}",
            entry.action,
            entry.actor or "-",
            entry.call_id or "",
            details,
        )
    return table
