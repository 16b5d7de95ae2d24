"""``eat demo``: the seed scenario from request to resumed run, on the default database.

The decision layer is on (the demo's ``LocalRulePolicy``): the reviewer sees each call's risk,
reason and better action, and for the 48h Okta grant a suggested change (``duration_hours``
48 -> 2) that ``[s]uggested`` (or ``--suggested``) approves through the edited-arguments path.

Offline (no ``OPENAI_API_KEY``, or ``--offline``) the model is a scripted one; with a key the
first line says the demo goes online, and an API that cannot be reached is one line, exit 1.
Ctrl-C at a prompt (exit 130) and ``--leave-pending`` (exit 0) leave the approval in the queue
and print the commands that decide and resume it.
"""

from __future__ import annotations

import contextlib
import getpass
import logging
import signal
import sys
from collections.abc import Iterator
from enum import StrEnum
from typing import Any

import typer
from openai import APIError
from rich.prompt import Confirm, Prompt

from evolving_agents.approvals.models import RunStatus, ToolCallRecord, Verdict
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.approvals.suggestions import SUGGESTION_APPLIED, suggested_arguments
from evolving_agents.cli.common import ExitCode, console, err_console, run_async
from evolving_agents.cli.demo_report import (
    Answer,
    Decided,
    PendingGuide,
    calls_table,
    finish,
    intro,
    print_next,
    show_advice,
)
from evolving_agents.config import Settings
from evolving_agents.demo.guide import api_failure
from evolving_agents.demo.scenario import (
    DEMO_REQUEST,
    OPS_AGENT,
    build_registry,
    demo_app,
    is_offline,
)
from evolving_agents.providers.openai_agents_provider import OpenAIAgentsProvider
from evolving_agents.storage.mongodb_client import MongoDBClient

NO_TTY_MESSAGE = (
    "No reviewer was at a terminal and no --approve/--reject was given, so the call was "
    "rejected by default. Do not retry it without a new request."
)
INTERRUPTED = 130
"""The exit code of a demo stopped by Ctrl-C: 128 + SIGINT, as shells report it."""


class Choice(StrEnum):
    """What the reviewer chose for every gated call, from the command line."""

    APPROVE = "approve"
    REJECT = "reject"
    SUGGESTED = "suggested"
    LEAVE_PENDING = "leave-pending"


class ReviewerLeft(Exception):
    """The reviewer left at a prompt, by Ctrl-C or by ending the input: nothing is decided."""

    def __init__(self, *, interrupted: bool) -> None:
        super().__init__("Ctrl-C at a prompt" if interrupted else "the input ended at a prompt")
        self.interrupted = interrupted


def demo(
    approve: bool = typer.Option(False, "--approve", help="Approve every gated call."),
    reject: bool = typer.Option(False, "--reject", help="Reject every gated call."),
    suggested: bool = typer.Option(
        False,
        "--suggested",
        help="Approve every gated call, with the decision layer's suggested arguments where "
        "it made a suggestion.",
    ),
    leave_pending: bool = typer.Option(
        False,
        "--leave-pending",
        help="Pause and leave the approval in the queue, to decide with eat approvals or "
        "eat inbox.",
    ),
    offline: bool = typer.Option(
        False, "--offline", help="Use the scripted model even when OPENAI_API_KEY is set."
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
            (Choice.LEAVE_PENDING, leave_pending),
        )
        if given
    ]
    if len(chosen) > 1:
        console.print(
            "[red]error:[/] choose only one of --approve, --reject, --suggested and --leave-pending"
        )
        raise typer.Exit(int(ExitCode.USAGE))
    choice = chosen[0] if chosen else None
    code = run_async(_demo(choice, message, reviewer or getpass.getuser(), offline))
    raise typer.Exit(code)


async def _demo(choice: Choice | None, message: str, reviewer: str, forced_offline: bool) -> int:
    settings = Settings()  # the demo's one reading of the environment
    offline = forced_offline or is_offline(settings)
    if not offline:  # before anything else: the demo is about to call a paid API
        console.print(
            f"[bold]going online:[/] OPENAI_API_KEY is set, so the model is "
            f"{settings.openai_model} through the OpenAI API (eat demo --offline stays offline)",
            soft_wrap=True,
            highlight=False,
        )
    client = MongoDBClient(settings=settings)
    if choice is Choice.LEAVE_PENDING and client.backend == "memory":
        await client.close()
        err_console.print(
            "[bold red]error:[/] --leave-pending needs a database that outlives the demo; "
            "MONGODB_URI=memory:// keeps nothing (unset it for the embedded server)",
            soft_wrap=True,
        )
        return int(ExitCode.USAGE)
    provider = OpenAIAgentsProvider(
        mongodb_client=client,
        registry=build_registry(settings, offline=offline),
        settings=settings,
    )
    try:
        with _library_logs_in_one_line():
            intro(settings, client, offline=offline)
            return await _scenario(provider, settings, choice, message, reviewer, offline)
    finally:
        await client.close()


async def _scenario(
    provider: OpenAIAgentsProvider,
    settings: Settings,
    choice: Choice | None,
    message: str,
    reviewer: str,
    offline: bool,
) -> int:
    """Run, pause, decide and resume; the exit code of how it went."""
    try:
        run = await provider.execute_agent(OPS_AGENT, DEMO_REQUEST, actor="ops-bot")
    except APIError as exc:  # only an online run calls the API
        err_console.print(
            f"[bold red]error:[/] {api_failure(exc, model=settings.openai_model)}",
            soft_wrap=True,
            highlight=False,
        )
        return int(ExitCode.ERROR)
    if run.status is not RunStatus.AWAITING_APPROVAL or run.approval_id is None:
        return finish(run, {})
    console.print(
        f"\nThe run [bold]paused[/]: approval [cyan]{run.approval_id}[/] is stored in "
        f"MongoDB with {len(run.pending_tool_calls)} call(s) waiting. Nothing ran yet."
    )
    record = await provider.store.get(run.approval_id)
    calls = [call for call in record.tool_calls if call.decision is None]
    console.print(calls_table(calls))
    memory = provider.store.client.backend == "memory"
    guide = PendingGuide(provider.store, reviewer, demo_app(offline=offline), memory)
    if choice is Choice.LEAVE_PENDING:
        for call in calls:
            show_advice(call)
        await guide.show(run.approval_id, "Left in the queue (--leave-pending)")
        return int(ExitCode.OK)
    try:
        decided = await _review(provider.store, run.approval_id, calls, choice, message, reviewer)
    except ReviewerLeft as left:
        lead = "Stopped at the prompt (Ctrl-C)" if left.interrupted else "No more input"
        await guide.show(run.approval_id, lead)
        return INTERRUPTED if left.interrupted else int(ExitCode.ERROR)
    console.print("\nResuming the run from its stored state (claimed once, then run)...")
    done = await provider.resume_agent(run.approval_id)
    code = finish(done, decided)
    if done.status is RunStatus.SUCCESS:
        print_next(run.approval_id, memory=memory)
    return code


class _OneLine(logging.Formatter):
    def formatException(self, ei: Any) -> str:
        return ""  # the message alone: the demo tells what failed, on its own screen

    def formatStack(self, stack_info: str) -> str:
        return ""


@contextlib.contextmanager
def _library_logs_in_one_line() -> Iterator[None]:
    """While the demo runs, the SDK's and the OpenAI client's logs go nowhere and this
    package's are one line each: a failed model call would otherwise print a traceback per
    retry before the demo says, in one line, what failed."""
    sdk, ours = logging.getLogger("openai"), logging.getLogger("evolving_agents")
    quiet, one_line = logging.NullHandler(), logging.StreamHandler(sys.stderr)
    one_line.setLevel(logging.WARNING)
    one_line.setFormatter(_OneLine("%(message)s"))
    propagated = sdk.propagate, ours.propagate
    sdk.addHandler(quiet)
    ours.addHandler(one_line)
    sdk.propagate = ours.propagate = False
    try:
        yield
    finally:
        sdk.removeHandler(quiet)
        ours.removeHandler(one_line)
        sdk.propagate, ours.propagate = propagated


async def _review(
    store: PendingApprovalStore,
    approval_id: str,
    calls: list[ToolCallRecord],
    choice: Choice | None,
    message: str,
    reviewer: str,
) -> dict[str, Decided]:
    """Show, ask and vote on each call, in order; ``ReviewerLeft`` leaves the rest undecided."""
    decided: dict[str, Decided] = {}
    for call in calls:
        show_advice(call)
        answer = _ask(call, choice, message)
        await _vote(store, approval_id, call, answer, reviewer)
        decided[call.call_id] = Decided(call, answer, reviewer)
    return decided


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
    with _at_prompt():
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


@contextlib.contextmanager
def _at_prompt() -> Iterator[None]:
    """Ctrl-C interrupts the prompt at once, and is ``ReviewerLeft``.

    The prompt blocks the event loop in ``input()``, and ``asyncio.run``'s SIGINT handler only
    cancels the main task, which cannot run until Enter: the first Ctrl-C would be swallowed
    and Enter read as the default answer. Python's own handler raises in ``input()`` instead.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    except KeyboardInterrupt:
        console.print()  # off the prompt's line
        raise ReviewerLeft(interrupted=True) from None
    except EOFError:
        console.print()
        raise ReviewerLeft(interrupted=False) from None
    finally:
        signal.signal(signal.SIGINT, previous)


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
