"""How ``eat approvals`` shows records with Rich: the queue, one record, outcomes."""

from __future__ import annotations

import json
from typing import Any

from rich import box
from rich.json import JSON
from rich.panel import Panel
from rich.table import Table

from evolving_agents.approvals.models import (
    AgentRunResult,
    ApprovalStatus,
    PendingApproval,
    RunStatus,
    ToolCallRecord,
    Verdict,
    utcnow,
)
from evolving_agents.cli.common import console, err_console, print_json
from evolving_agents.reviewer_auth import (
    ReviewerIdentity,
    approver_roles,
    min_approvals,
    votes_of,
)
from evolving_agents.web.present import ApprovalRow, call_risk, expires_in, humanize

_RISK_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "green"}
_STATUS_STYLE = {"pending": "cyan", "decided": "yellow", "completed": "green", "failed": "red"}


def queue_table(rows: list[ApprovalRow], status: str) -> Table:
    table = Table(
        title=f"{len(rows)} {'' if status == 'all' else status} approval(s)",
        box=box.SIMPLE_HEAD,
        title_justify="left",
    )
    for column in ("id", "age", "agent", "tool(s)", "risk", "status", "expires"):
        wraps = column in ("agent", "tool(s)")
        table.add_column(
            column,
            no_wrap=not wraps,
            overflow="fold" if wraps else "ellipsis",
            min_width={"tool(s)": 14, "expires": 7}.get(column),
        )
    for row in rows:
        table.add_row(
            f"[cyan]{row.id}[/]",
            row.age,
            row.agent,
            row.tools.replace(", ", "\n"),
            f"[{_RISK_STYLE.get(row.risk.level, 'dim')}]{row.risk.level}[/]",
            f"[{_STATUS_STYLE.get(row.status, 'dim')}]{row.status}[/]",
            f"[red]{row.expires_in}[/]" if row.expires_in.startswith("expired") else row.expires_in,
        )
    return table


def show_record(record: PendingApproval) -> None:
    now = utcnow()
    console.print(
        Panel(
            f"[bold]{record.agent_name}[/] run [cyan]{record.run_id}[/] step {record.sequence}\n"
            f"status [{_STATUS_STYLE.get(record.status.value, 'dim')}]{record.status.value}[/]"
            f" · requested by {record.actor or 'unknown'}"
            f" · waiting {humanize(now - record.created_at)}"
            f" · expires in {expires_in(record, now)}\n\n[bold]Request:[/] {record.input_preview}",
            title=f"approval {record.id}",
            title_align="left",
        )
    )
    for call in record.tool_calls:
        show_call(call)
    if record.status.is_final:
        outcome = record.result.error or record.result.final_output
        console.print(
            Panel(str(outcome), title=f"outcome: {record.status.value}", title_align="left")
        )
    console.print(audit_table(record))


def show_call(call: ToolCallRecord) -> None:
    risk = call_risk(call)
    head = (
        f"\n[bold]{call.tool_name}[/] [dim]{call.call_id}[/]  "
        f"risk [{_RISK_STYLE.get(risk.level, 'dim')}]{risk.label}[/]"
    )
    roles = approver_roles(call)
    if roles:
        head += f"  approver roles: {', '.join(sorted(roles))}"
    if min_approvals(call) > 1:
        head += f"  needs {min_approvals(call)} approvals"
    console.print(head)
    console.print(JSON(json.dumps(call.arguments, default=str), indent=2))
    signal = call.signal or {}
    if signal:
        console.print(
            f"  signal: [bold]{signal.get('verdict')}[/] ({signal.get('provider', '-')}): "
            f"{signal.get('reason') or '-'}",
            highlight=False,
        )
        if signal.get("better_action"):
            console.print(f"  better action: [green]{signal['better_action']}[/]", highlight=False)
    for vote in votes_of(call):
        console.print(
            f"  vote: {vote.get('reviewer')} {vote.get('verdict')} from {vote.get('surface', '-')}",
            highlight=False,
        )
    if call.decision is not None:
        colour = "green" if call.decision.verdict is Verdict.APPROVED else "red"
        message = f": {call.decision.message}" if call.decision.message else ""
        console.print(
            f"  [{colour}]{call.decision.verdict.value}[/] by {call.decision.reviewer} "
            f"({call.decision.reviewer_kind.value}){message}",
            highlight=False,
        )
        edited = getattr(call.decision, "edited_arguments", None)
        if edited is not None:
            console.print("  runs with edited arguments:")
            console.print(JSON(json.dumps(edited, default=str), indent=2))


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


def report_decision(
    record: PendingApproval,
    call_id: str | None,
    verdict: Verdict,
    identity: ReviewerIdentity,
    as_json: bool,
) -> None:
    if as_json:
        print_json(record.model_dump(mode="json", by_alias=True, exclude={"state"}))
        return
    colour = "green" if verdict is Verdict.APPROVED else "red"
    decided = [
        c.tool_name
        for c in record.tool_calls
        if (call_id is None or c.call_id == call_id)
        and c.decision is not None
        and c.decision.reviewer == identity.name
    ]
    what = ", ".join(decided) or "your vote was recorded"
    console.print(f"[{colour}]{verdict.value}[/] {what} as {identity.name}", highlight=False)
    if record.status is ApprovalStatus.DECIDED:
        console.print(
            "every call is decided: resume with "
            f"[bold]eat approvals resume {record.id} --app ...[/] (or let `eat worker` take it)"
        )
    else:
        console.print(f"{len(record.undecided_calls())} call(s) still wait for a decision")


def report_outcome(outcome: AgentRunResult, as_json: bool) -> None:
    if as_json:
        print_json(outcome.model_dump(mode="json"))
        return
    for output in outcome.tool_outputs:
        console.print(f"  {output.tool_name}: {output.output}", soft_wrap=True, highlight=False)
    if outcome.status is RunStatus.SUCCESS:
        console.print(Panel(str(outcome.final_output), title="completed: the agent's answer"))
    elif outcome.status is RunStatus.AWAITING_APPROVAL:
        console.print(f"the run paused again: approval [cyan]{outcome.approval_id}[/] waits")
    else:
        err_console.print(f"[bold red]the resumed run failed:[/] {outcome.error}", highlight=False)


def resume_summary(results: list[dict[str, Any]]) -> None:
    if not results:
        console.print("nothing decided to resume")
        return
    table = Table(title=f"resumed {len(results)} record(s)", title_justify="left")
    for column in ("approval", "outcome", "detail"):
        table.add_column(column)
    for result in results:
        table.add_row(result["approval_id"], result["outcome"], str(result["detail"])[:120])
    console.print(table)
