"""``eat demo``: the seed scenario from request to resumed run, on the default database."""

from __future__ import annotations

import getpass
import sys
from typing import Any

import typer
from rich.panel import Panel
from rich.prompt import Confirm, Prompt
from rich.table import Table

from evolving_agents.approvals.models import AgentRunResult, PendingToolCall, RunStatus, Verdict
from evolving_agents.cli.common import ExitCode, console, run_async
from evolving_agents.config import Settings
from evolving_agents.demo.scenario import DEMO_REQUEST, OPS_AGENT, build_registry, is_offline
from evolving_agents.providers.openai_agents_provider import OpenAIAgentsProvider
from evolving_agents.storage.mongodb_client import MongoDBClient

NO_TTY_MESSAGE = (
    "No reviewer was at a terminal and no --approve/--reject was given, so the call was "
    "rejected by default. Do not retry it without a new request."
)


def demo(
    approve: bool = typer.Option(False, "--approve", help="Approve every gated call."),
    reject: bool = typer.Option(False, "--reject", help="Reject every gated call."),
    message: str = typer.Option(
        "Rejected in the eat demo: needs a change ticket first.",
        "--message",
        "-m",
        help="What the model reads when a call is rejected.",
    ),
    reviewer: str = typer.Option("", "--as", help="Reviewer name (default: your user name)."),
) -> None:
    """Run the ops-agent scenario: pause on risky calls, store, decide, resume."""
    if approve and reject:
        console.print("[red]error:[/] choose --approve or --reject, not both")
        raise typer.Exit(int(ExitCode.USAGE))
    verdict = Verdict.APPROVED if approve else Verdict.REJECTED if reject else None
    outcome = run_async(_demo(verdict, message, reviewer or getpass.getuser()))
    raise typer.Exit(int(ExitCode.OK if outcome.status is RunStatus.SUCCESS else ExitCode.ERROR))


async def _demo(verdict: Verdict | None, message: str, reviewer: str) -> AgentRunResult:
    settings = Settings()  # the demo's one reading of the environment
    client = MongoDBClient(settings=settings)
    provider = OpenAIAgentsProvider(
        mongodb_client=client, registry=build_registry(settings), settings=settings
    )
    try:
        _intro(settings, client)
        run = await provider.execute_agent(OPS_AGENT, DEMO_REQUEST, actor="ops-bot")
        if run.status is not RunStatus.AWAITING_APPROVAL or run.approval_id is None:
            _finish(run)
            return run
        console.print(
            f"\nThe run [bold]paused[/]: approval [cyan]{run.approval_id}[/] is stored in "
            f"MongoDB with {len(run.pending_tool_calls)} call(s) waiting. Nothing ran yet."
        )
        console.print(_calls_table(run.pending_tool_calls))
        for call in run.pending_tool_calls:
            call_verdict, call_message = _ask(call, verdict, message)
            await provider.store.decide(
                run.approval_id,
                call_id=call.call_id,
                verdict=call_verdict,
                reviewer=reviewer,
                message=call_message if call_verdict is Verdict.REJECTED else None,
                arguments_sha256=call.arguments_sha256,
            )
            colour = "green" if call_verdict is Verdict.APPROVED else "red"
            console.print(f"  [{colour}]{call_verdict.value}[/] {call.tool_name} by {reviewer}")
        console.print("\nResuming the run from its stored state (claimed once, then run)...")
        done = await provider.resume_agent(run.approval_id)
        _finish(done)
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
            f"[bold]Request:[/] {DEMO_REQUEST}\n\n{model}\ndatabase: {database}",
            title="eat demo: ops agent",
        )
    )


def _calls_table(calls: list[PendingToolCall]) -> Table:
    table = Table(title="Waiting for approval", show_lines=True)
    for column in ("tool", "arguments", "risk", "system"):
        table.add_column(column)
    for call in calls:
        arguments = "\n".join(f"{key} = {value}" for key, value in _items(call.arguments))
        table.add_row(
            call.tool_name,
            arguments,
            str(call.metadata.get("risk", "-")),
            str(call.metadata.get("system", "-")),
        )
    return table


def _items(arguments: Any) -> list[tuple[str, Any]]:
    return list(arguments.items()) if isinstance(arguments, dict) else [("raw", arguments)]


def _ask(call: PendingToolCall, verdict: Verdict | None, message: str) -> tuple[Verdict, str]:
    if verdict is not None:
        return verdict, message
    if not sys.stdin.isatty():
        console.print(
            f"  [yellow]no terminal to ask at and no --approve/--reject: rejecting "
            f"{call.tool_name} (fail closed)[/]"
        )
        return Verdict.REJECTED, NO_TTY_MESSAGE
    if Confirm.ask(f"Approve [bold]{call.tool_name}[/]?", default=False):
        return Verdict.APPROVED, ""
    reason = Prompt.ask("Message for the agent", default=message)
    return Verdict.REJECTED, reason


def _finish(run: AgentRunResult) -> None:
    if run.tool_outputs:
        console.print("\n[bold]What the tools returned:[/]")
        for output in run.tool_outputs:
            console.print(f"  {output.tool_name}: {output.output}", soft_wrap=True, highlight=False)
    if run.status is RunStatus.SUCCESS:
        console.print(Panel(str(run.final_output), title="The agent's final answer"))
    elif run.status is RunStatus.AWAITING_APPROVAL:
        console.print(f"The run paused again: approval {run.approval_id} waits for a decision.")
    else:
        console.print(f"[red]The run failed:[/] {run.error}")
