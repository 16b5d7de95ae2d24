"""``eat demo``: the seed scenario from request to resumed run, on the default database.

The decision layer is on (the demo's ``LocalRulePolicy``): the reviewer sees each call's risk,
reason and better action, and for the 48h Okta grant a suggested change (``duration_hours``
48 -> 2) that ``[s]uggested`` (or ``--suggested``) approves through the edited-arguments path.
"""

from __future__ import annotations

import getpass
import sys
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import typer
from rich.panel import Panel
from rich.prompt import Confirm, Prompt
from rich.table import Table

from evolving_agents.approvals.models import (
    AgentRunResult,
    CallOutcomeStatus,
    RunStatus,
    ToolCallRecord,
    Verdict,
)
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.approvals.suggestions import (
    SUGGESTION_APPLIED,
    ArgumentChange,
    argument_changes,
    better_action,
    suggested_arguments,
)
from evolving_agents.cli.common import ExitCode, console, run_async
from evolving_agents.config import Settings
from evolving_agents.demo.scenario import DEMO_REQUEST, OPS_AGENT, build_registry, is_offline
from evolving_agents.present.views import call_risk
from evolving_agents.providers.openai_agents_provider import OpenAIAgentsProvider
from evolving_agents.storage.mongodb_client import MongoDBClient

NO_TTY_MESSAGE = (
    "No reviewer was at a terminal and no --approve/--reject was given, so the call was "
    "rejected by default. Do not retry it without a new request."
)


class Choice(StrEnum):
    """What the reviewer chose for every gated call, from the command line."""

    APPROVE = "approve"
    REJECT = "reject"
    SUGGESTED = "suggested"


@dataclass(frozen=True)
class Answer:
    """One reviewer's answer on one call; ``edited`` is the suggestion they applied."""

    verdict: Verdict
    message: str | None = None
    edited: dict[str, Any] | None = None


def demo(
    approve: bool = typer.Option(False, "--approve", help="Approve every gated call."),
    reject: bool = typer.Option(False, "--reject", help="Reject every gated call."),
    suggested: bool = typer.Option(
        False,
        "--suggested",
        help="Approve every gated call, with the decision layer's suggested arguments where "
        "it made a suggestion.",
    ),
    message: str = typer.Option(
        "Rejected in the eat demo: needs a change ticket first.",
        "--message",
        "-m",
        help="What the model reads when a call is rejected.",
    ),
    reviewer: str = typer.Option("", "--as", help="Reviewer name (default: your user name)."),
) -> None:
    """Run the ops-agent scenario: score risky calls, pause, store, decide, resume."""
    chosen = [
        choice
        for choice, given in (
            (Choice.APPROVE, approve),
            (Choice.REJECT, reject),
            (Choice.SUGGESTED, suggested),
        )
        if given
    ]
    if len(chosen) > 1:
        console.print("[red]error:[/] choose one of --approve, --reject and --suggested, not both")
        raise typer.Exit(int(ExitCode.USAGE))
    choice = chosen[0] if chosen else None
    outcome = run_async(_demo(choice, message, reviewer or getpass.getuser()))
    raise typer.Exit(int(ExitCode.OK if outcome.status is RunStatus.SUCCESS else ExitCode.ERROR))


async def _demo(choice: Choice | None, message: str, reviewer: str) -> AgentRunResult:
    settings = Settings()  # the demo's one reading of the environment
    client = MongoDBClient(settings=settings)
    provider = OpenAIAgentsProvider(
        mongodb_client=client, registry=build_registry(settings), settings=settings
    )
    try:
        _intro(settings, client)
        run = await provider.execute_agent(OPS_AGENT, DEMO_REQUEST, actor="ops-bot")
        if run.status is not RunStatus.AWAITING_APPROVAL or run.approval_id is None:
            _finish(run, {})
            return run
        console.print(
            f"\nThe run [bold]paused[/]: approval [cyan]{run.approval_id}[/] is stored in "
            f"MongoDB with {len(run.pending_tool_calls)} call(s) waiting. Nothing ran yet."
        )
        record = await provider.store.get(run.approval_id)
        calls = [call for call in record.tool_calls if call.decision is None]
        console.print(_calls_table(calls))
        applied: dict[str, list[ArgumentChange]] = {}
        for call in calls:
            _show_advice(call)
            answer = _ask(call, choice, message)
            await _vote(provider.store, run.approval_id, call, answer, reviewer)
            if answer.edited is not None:
                applied[call.call_id] = argument_changes(call.arguments, answer.edited)
        console.print("\nResuming the run from its stored state (claimed once, then run)...")
        done = await provider.resume_agent(run.approval_id)
        _finish(done, applied)
        return done
    finally:
        await client.close()


def _intro(settings: Settings, client: MongoDBClient) -> None:
    if is_offline(settings):
        model = (
            "[yellow]offline[/]: the model is an agents.testing.ScriptedModel script "
            "(set OPENAI_API_KEY to use a real model)"
        )
    else:
        model = f"model [bold]{settings.openai_model}[/] (OPENAI_API_KEY is set)"
    database = {
        "embedded": "the embedded SecantusDB server on this machine (eat db status)",
        "memory": "an in-process memory:// database (nothing persists)",
    }.get(client.backend, "MONGODB_URI")
    console.print(
        Panel(
            f"[bold]Request:[/] {DEMO_REQUEST}\n\n{model}\ndatabase: {database}\n"
            "decision layer: local rules (LocalRulePolicy, offline), scoring every call",
            title="eat demo: ops agent",
        )
    )


def _calls_table(calls: list[ToolCallRecord]) -> Table:
    table = Table(title="Waiting for approval", show_lines=True)
    for column in ("tool", "arguments", "risk", "system"):
        table.add_column(column)
    for call in calls:
        arguments = "\n".join(f"{key} = {value}" for key, value in _items(call.arguments))
        table.add_row(
            call.tool_name,
            arguments,
            call_risk(call).label,
            str(call.metadata.get("system", "-")),
        )
    return table


def _items(arguments: Any) -> list[tuple[str, Any]]:
    return list(arguments.items()) if isinstance(arguments, dict) else [("raw", arguments)]


def _show_advice(call: ToolCallRecord) -> None:
    """What the decision layer said about ``call``: risk, reason, better action, suggestion."""
    signal = call.signal or {}
    console.print(
        f"\n[bold]{call.tool_name}[/]  risk {call_risk(call).label}: "
        f"{signal.get('reason') or '-'}",
        highlight=False,
    )
    action = better_action(call)
    if action is not None:
        console.print(f"  better action: [green]{action}[/]", highlight=False)
    suggested = suggested_arguments(call)
    if suggested is not None:
        console.print("  suggested arguments:", highlight=False)
        for change in argument_changes(call.arguments, suggested):
            console.print(f"    {_change_text(change)}", highlight=False)


def _change_text(change: ArgumentChange) -> str:
    if change.added:
        return f"{change.path}: (not set) -> {change.after}"
    if change.removed:
        return f"{change.path}: {change.before} -> (removed)"
    return f"{change.path}: {change.before} -> {change.after}"


def _ran_text(change: ArgumentChange) -> str:
    if change.added:
        return f"{change.path}={change.after} (added)"
    if change.removed:
        return f"{change.path} removed"
    return f"{change.path}={change.after}, not {change.before}"


def _ask(call: ToolCallRecord, choice: Choice | None, message: str) -> Answer:
    suggested = suggested_arguments(call)
    if choice is Choice.APPROVE:
        return Answer(Verdict.APPROVED)
    if choice is Choice.SUGGESTED:
        return Answer(Verdict.APPROVED, edited=suggested)
    if choice is Choice.REJECT:
        return Answer(Verdict.REJECTED, message)
    if not sys.stdin.isatty():
        console.print(
            f"  [yellow]no terminal to ask at and no --approve/--reject: rejecting "
            f"{call.tool_name} (fail closed)[/]"
        )
        return Answer(Verdict.REJECTED, NO_TTY_MESSAGE)
    if suggested is not None:
        picked = Prompt.ask(
            f"Approve [bold]{call.tool_name}[/]? \\[y]es / \\[n]o / \\[s]uggested",
            choices=["y", "n", "s"],
            default="n",
            show_choices=False,
        )
        if picked == "s":
            return Answer(Verdict.APPROVED, edited=suggested)
        approved = picked == "y"
    else:
        approved = Confirm.ask(f"Approve [bold]{call.tool_name}[/]?", default=False)
    if approved:
        return Answer(Verdict.APPROVED)
    return Answer(Verdict.REJECTED, Prompt.ask("Message for the agent", default=message))


async def _vote(
    store: PendingApprovalStore,
    approval_id: str,
    call: ToolCallRecord,
    answer: Answer,
    reviewer: str,
) -> None:
    # The suggestion goes through the edited-arguments path: the store checks it against the
    # tool's schema and the decision layer again, and binds the vote to exactly what was shown.
    rejected = answer.verdict is Verdict.REJECTED
    note = answer.message if rejected else None
    await store.decide(
        approval_id,
        call_id=call.call_id,
        verdict=answer.verdict,
        reviewer=reviewer,
        message=SUGGESTION_APPLIED if answer.edited is not None else note,
        arguments_sha256=call.arguments_sha256,
        edited_arguments=answer.edited,
    )
    colour = "red" if rejected else "green"
    how = " with the suggested arguments" if answer.edited is not None else ""
    console.print(f"  [{colour}]{answer.verdict.value}[/] {call.tool_name}{how} by {reviewer}")


def _finish(run: AgentRunResult, applied: dict[str, list[ArgumentChange]]) -> None:
    if run.tool_outputs:
        console.print("\n[bold]What the tools returned:[/]")
        for output in run.tool_outputs:
            console.print(f"  {output.tool_name}: {output.output}", soft_wrap=True, highlight=False)
    for call_id, changes in applied.items():
        outcome = run.outcomes.get(call_id)
        if outcome is None or outcome.status is not CallOutcomeStatus.EXECUTED:
            continue
        ran = "; ".join(_ran_text(change) for change in changes)
        console.print(
            f"  [green]ran as suggested[/]: {ran} (the model's history shows the call as it ran)",
            highlight=False,
        )
    if run.status is RunStatus.SUCCESS:
        console.print(Panel(str(run.final_output), title="The agent's final answer"))
    elif run.status is RunStatus.AWAITING_APPROVAL:
        console.print(f"The run paused again: approval {run.approval_id} waits for a decision.")
    else:
        console.print(f"[red]The run failed:[/] {run.error}")
