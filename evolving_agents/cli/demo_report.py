"""What ``eat demo`` prints: the intro, the calls waiting, the decision layer's advice, what
ran and what did not, and the commands to try next.

::

    intro(settings, client, offline=True)           # the panel: request, model, database
    console.print(calls_table(calls))               # tool, arguments, risk, system
    finish(run, decided)                            # what ran, what was rejected, the answer
    print_next(approval_id, memory=False)           # eat approvals list --status all, ...
    await PendingGuide(store, "alice", app, memory=False).show(approval_id, "Stopped")

The reviewer's answers are plain data (``Answer``, ``Decided``); ``cli/demo.py`` asks for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from evolving_agents.approvals.models import (
    AgentRunResult,
    CallOutcome,
    CallOutcomeStatus,
    PendingApproval,
    RunStatus,
    ToolCallRecord,
    Verdict,
)
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.approvals.suggestions import (
    ArgumentChange,
    argument_changes,
    better_action,
    suggested_arguments,
)
from evolving_agents.cli.common import ExitCode, console
from evolving_agents.config import Settings
from evolving_agents.demo.guide import Command, finished_commands, pending_commands
from evolving_agents.demo.scenario import DEMO_REQUEST
from evolving_agents.present.views import call_risk
from evolving_agents.storage.mongodb_client import MongoDBClient


@dataclass(frozen=True)
class Answer:
    """One reviewer's answer on one call; ``edited`` is the suggestion they applied."""

    verdict: Verdict
    message: str | None = None
    edited: dict[str, Any] | None = None


@dataclass(frozen=True)
class Decided:
    """A call the demo decided, as it was shown, with the answer and who gave it."""

    call: ToolCallRecord
    answer: Answer
    reviewer: str


def intro(settings: Settings, client: MongoDBClient, *, offline: bool) -> None:
    if not offline:
        model = f"model [bold]{settings.openai_model}[/] (OPENAI_API_KEY is set)"
    elif settings.openai_api_key:
        model = (
            "[yellow]offline[/] (--offline): the model is an agents.testing.ScriptedModel "
            "script; OPENAI_API_KEY is set and not used"
        )
    else:
        model = (
            "[yellow]offline[/]: the model is an agents.testing.ScriptedModel script "
            "(set OPENAI_API_KEY to use a real model)"
        )
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


@dataclass(frozen=True)
class PendingGuide:
    """What the demo prints when it leaves an approval pending: where it is, how to go on."""

    store: PendingApprovalStore
    reviewer: str
    app: str
    memory: bool

    async def show(self, approval_id: str, lead: str) -> None:
        record = await self.store.get(approval_id)  # as stored now: votes cast before leaving
        console.print(f"\n{lead}: {_pending_text(record)}", highlight=False, soft_wrap=True)
        print_commands(pending_commands(approval_id, reviewer=self.reviewer, app=self.app))
        if self.memory:
            _memory_note("the record is gone when this process exits")


def print_next(approval_id: str, *, memory: bool) -> None:
    """The end of a completed demo: the commands that show what it left behind."""
    console.print("\nNext, try:")
    print_commands(finished_commands(approval_id))
    if memory:
        _memory_note("these commands read the embedded server or MONGODB_URI, not this run")


def _memory_note(consequence: str) -> None:
    console.print(
        f"[yellow]note:[/] MONGODB_URI=memory:// keeps nothing: {consequence}", soft_wrap=True
    )


def _pending_text(record: PendingApproval) -> str:
    decided = sum(call.decision is not None for call in record.tool_calls)
    return (
        f"approval [cyan]{record.id}[/] is still [bold]{record.status.value}[/]; nothing ran "
        f"({decided} of {len(record.tool_calls)} call(s) decided)."
    )


def print_commands(commands: list[Command]) -> None:
    """One command a line, under its step; never wrapped by Rich: a command must copy as is."""
    width = max(len(command.step) for command in commands) + 1
    previous = None
    for command in commands:
        step = "" if command.step == previous else command.step
        previous = command.step
        console.print(
            f"  {escape(step.ljust(width))}[bold]{escape(command.line)}[/]",
            highlight=False,
            soft_wrap=True,
        )


def calls_table(calls: list[ToolCallRecord]) -> Table:
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


def show_advice(call: ToolCallRecord) -> None:
    """What the decision layer said about ``call``: risk, reason, better action, suggestion."""
    signal = call.signal or {}
    console.print(
        f"\n[bold]{call.tool_name}[/]  risk {call_risk(call).label}: {signal.get('reason') or '-'}",
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


def finish(run: AgentRunResult, decided: dict[str, Decided]) -> int:
    """What ran, what did not (and why), the final answer; the exit code of the run."""
    ran = [output for output in run.tool_outputs if _did_run(run.outcomes.get(output.call_id))]
    refused = [output for output in run.tool_outputs if output not in ran]  # all have outcomes
    if ran:
        console.print("\n[bold]What ran:[/]")
        for output in ran:
            _print_output(output.tool_name, escape(output.output))
            chosen = decided.get(output.call_id)
            if chosen is not None and chosen.answer.edited is not None:
                changes = argument_changes(chosen.call.arguments, chosen.answer.edited)
                console.print(
                    f"    [green]ran as suggested[/]: {'; '.join(map(_ran_text, changes))} "
                    "(the model's history shows the call as it ran)",
                    highlight=False,
                )
    if refused:
        console.print("\n[bold]What did not run[/] (the model read this instead of a result):")
        for output in refused:
            outcome = run.outcomes[output.call_id]
            _print_output(output.tool_name, _refusal(outcome, decided.get(output.call_id)))
    if run.status is RunStatus.SUCCESS:
        console.print(Panel(str(run.final_output), title="The agent's final answer"))
        return int(ExitCode.OK)
    if run.status is RunStatus.AWAITING_APPROVAL:
        console.print(f"The run paused again: approval {run.approval_id} waits for a decision.")
    else:
        console.print(f"[red]The run failed:[/] {run.error}", soft_wrap=True, highlight=False)
    return int(ExitCode.ERROR)


def _did_run(outcome: CallOutcome | None) -> bool:
    # No outcome: a call that needed no approval, run in a later turn of the resumed run.
    return outcome is None or outcome.status is CallOutcomeStatus.EXECUTED


def _refusal(outcome: CallOutcome, decided: Decided | None) -> str:
    if outcome.status is CallOutcomeStatus.REJECTED:
        by = f" by {decided.reviewer}" if decided is not None else ""
        return f"[red]rejected[/]{by}: {escape(outcome.output or '')}"
    if outcome.status is CallOutcomeStatus.TOOL_ERROR:
        return f"[red]approved, but the tool failed[/]: {escape(outcome.error or '')}"
    return f"[yellow]{outcome.status.value}[/]: {escape(outcome.output or '')}"


def _print_output(tool_name: str | None, text: str) -> None:
    console.print(f"  {tool_name}: {text}", soft_wrap=True, highlight=False)
