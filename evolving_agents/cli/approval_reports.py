"""What ``eat approvals`` prints after it acts: a decision recorded, a run resumed."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from evolving_agents.approvals.models import (
    AgentRunResult,
    ApprovalStatus,
    CallOutcomeStatus,
    PendingApproval,
    RunStatus,
    ToolCallRecord,
    Verdict,
)
from evolving_agents.approvals.rules import Reviewer
from evolving_agents.cli.approval_views import revealed
from evolving_agents.cli.common import console, err_console, print_json
from evolving_agents.present.views import Suggestion


def report_decision(
    record: PendingApproval,
    shown: dict[str, Any],
    call_id: str | None,
    verdict: Verdict,
    identity: Reviewer,
    as_json: bool,
) -> None:
    """After ``approve`` or ``reject``: ``shown`` (the record as JSON) or what was decided."""
    if as_json:
        print_json(shown)
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
    if any(
        c.decision is not None and c.decision.always and c.tool_name in decided
        for c in record.tool_calls
    ):
        console.print(f"and every later call of {what} in this run", highlight=False)
    _whats_next(record)


def _whats_next(record: PendingApproval) -> None:
    if record.status is ApprovalStatus.DECIDED:
        console.print(
            "every call is decided: resume with "
            f"[bold]eat approvals resume {record.id} --app ...[/] (or let `eat worker` take it)"
        )
    else:
        console.print(f"{len(record.undecided_calls())} call(s) still wait for a decision")


def report_suggestion(
    record: PendingApproval,
    shown: dict[str, Any],
    call: ToolCallRecord,
    suggestion: Suggestion,
    identity: Reviewer,
    as_json: bool,
) -> None:
    """After ``approve --suggested``: the record, and what was approved for which call."""
    if as_json:
        applied = {"call_id": call.call_id, "tool_name": call.tool_name, **suggestion.as_json()}
        print_json({**shown, "suggestion_applied": applied})
        return
    decided = record.call(call.call_id)
    if decided is not None and decided.decision is not None:
        console.print(
            Text.assemble(
                ("approved", "green"),
                " ",
                revealed(call.tool_name),
                f" with the suggested arguments as {identity.name}",
            )
        )
    else:
        console.print(
            "your approval of the suggested arguments was recorded; the call needs more",
            highlight=False,
        )
    _whats_next(record)


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
    elif outcome.status is RunStatus.TOOL_ERROR:
        report_tool_errors(outcome)
    else:
        err_console.print(f"[bold red]the resumed run failed:[/] {outcome.error}", highlight=False)


def report_tool_errors(outcome: AgentRunResult) -> None:
    """The run finished, but an approved call raised: never shown as a success."""
    names = {output.call_id: output.tool_name for output in outcome.tool_outputs}
    failed = {
        call_id: result
        for call_id, result in outcome.outcomes.items()
        if result.status is CallOutcomeStatus.TOOL_ERROR
    }
    which = f"{len(failed)} approved call(s)" if failed else "an approved call"
    err_console.print(
        f"[bold red]the run finished, but {which} raised: the approved action did not happen[/]",
        highlight=False,
        soft_wrap=True,
    )
    for call_id, result in failed.items():
        name = names.get(call_id) or call_id
        error = escape(result.error or "no error text recorded")
        err_console.print(f"  [red]{name}[/] ({call_id}): {error}", highlight=False, soft_wrap=True)
    if outcome.error and not failed:
        # The provider's summary names the same calls; only needed when no outcome does.
        err_console.print(f"  {escape(outcome.error)}", highlight=False, soft_wrap=True)
    console.print(
        Panel(str(outcome.final_output), title="tool error: the agent's answer", border_style="red")
    )


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
