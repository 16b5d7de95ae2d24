"""``eat approvals``: see the queue, decide, resume and cancel paused runs from a terminal.

::

    eat approvals list [--status pending|decided|...|all] [--agent A] [--tool T] [--watch]
    eat approvals show ID
    eat approvals wait ID [--until change|decided|finished] [--timeout 5m]
    eat approvals approve ID [--call CALL] --as NAME [--role ROLE ...] [--comment TEXT] [--always]
    eat approvals approve ID --suggested [--call CALL] --as NAME --app module:attr
    eat approvals reject ID [--call CALL] --as NAME [--role ROLE ...] --message TEXT [--always]
    eat approvals resume ID --app module:attr      # or: resume --all-decided --app ...
    eat approvals cancel ID [--as NAME] [--reason TEXT]

An ID may be the start of one: any prefix that no other approval id shares. Every command
takes ``--json``: data on stdout, nothing else (each record in ``present.record_json``'s
shape), and errors as one JSON object on stderr. Exit codes: 0 ok, 1 error, 2 bad input (an
ambiguous id prefix too), 3 not found, 4 conflict (already decided, claimed or finished),
5 configuration, 7 not allowed (missing role, own run), 9 ``wait`` timed out.

``--as`` and ``--role`` are taken on trust: whoever runs ``eat`` may name anyone. The web
inbox is the authenticated surface (``eat reviewers add``).
"""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.markup import escape

from evolving_agents.approvals.hidden_text import escape_hidden
from evolving_agents.approvals.models import (
    AgentRunResult,
    PendingApproval,
    RunStatus,
    ToolCallRecord,
    Verdict,
)
from evolving_agents.approvals.rules import Reviewer, record_refusal
from evolving_agents.approvals.suggestions import SUGGESTION_APPLIED
from evolving_agents.cli.approval_ids import resolve_approval_id
from evolving_agents.cli.approval_reads import (
    IdArgument,
    JsonOption,
    list_approvals,
    show,
    shown_json,
    store_on,
    wait,
)
from evolving_agents.cli.approval_reports import (
    report_decision,
    report_outcome,
    report_suggestion,
    resume_summary,
)
from evolving_agents.cli.approval_views import show_suggestion
from evolving_agents.cli.bulk_resume import resume_each_decided
from evolving_agents.cli.common import ExitCode, console, fail, print_json, run_async
from evolving_agents.cli.connect import AppDirOption, database, provider_from_app
from evolving_agents.present.views import Suggestion
from evolving_agents.reviewers.directory import cancel_as, decide_as

approvals_app = typer.Typer(
    help="See, decide, resume or cancel paused runs.", no_args_is_help=True, add_completion=False
)
approvals_app.command("list")(list_approvals)
approvals_app.command("show")(show)
approvals_app.command("wait")(wait)

AsOption = typer.Option(..., "--as", help="Your reviewer name, recorded with the decision.")
RoleOption = typer.Option(
    [], "--role", help="A role you act in (repeatable); tools may require one (approver_roles)."
)
CallOption = typer.Option(
    None, "--call", help="The call to decide (default: every undecided call of the record)."
)
AlwaysOption = typer.Option(
    False,
    "--always",
    help="Decide this call and every later call of this tool in this run (sticky).",
)


# -- approve / reject ----------------------------------------------------------------------


@approvals_app.command("approve")
def approve(
    ctx: typer.Context,
    approval_id: str = IdArgument,
    call: str | None = CallOption,
    reviewer: str = AsOption,
    roles: list[str] = RoleOption,
    comment: str | None = typer.Option(None, "--comment", help="Kept in the audit trail."),
    edited_arguments: str | None = typer.Option(
        None,
        "--edited-arguments",
        help="Approve with these arguments instead (a JSON object; needs --call and --app).",
    ),
    suggested: bool = typer.Option(
        False,
        "--suggested",
        help="Approve the decision layer's suggested arguments for the call (needs --app).",
    ),
    app: str | None = typer.Option(
        None, "--app", help="Your agents (module:attr): they check edited arguments."
    ),
    app_dir: str = AppDirOption,
    always: bool = AlwaysOption,
    as_json: bool = JsonOption,
) -> None:
    """Approve one call (--call) or every undecided call of a record.

    With ``--suggested``, approve one call with the arguments the decision layer suggested
    (shown as a diff first): an edit like any other, checked again by your agents' schema and
    rules. ``--call`` picks the call when the record waits on more than one.
    """
    identity = Reviewer(name=reviewer, roles=frozenset(roles))
    if suggested:
        app = _suggestion_options(edited_arguments, app, always)
        record, shown, target, suggestion = run_async(
            _approve_suggestion(ctx, approval_id, call, identity, comment, app, quiet=as_json)
        )
        report_suggestion(record, shown, target, suggestion, identity, as_json)
        return
    edits = _parse_edits(edited_arguments, call, app)
    record, shown = run_async(
        _decide(ctx, approval_id, call, Verdict.APPROVED, identity, comment, edits, app, always)
    )
    report_decision(record, shown, call, Verdict.APPROVED, identity, as_json)


@approvals_app.command("reject")
def reject(
    ctx: typer.Context,
    approval_id: str = IdArgument,
    call: str | None = CallOption,
    reviewer: str = AsOption,
    roles: list[str] = RoleOption,
    message: str = typer.Option(
        ..., "--message", "-m", help="Why: the agent reads this in place of the tool's output."
    ),
    always: bool = AlwaysOption,
    as_json: bool = JsonOption,
) -> None:
    """Reject one call (--call) or every undecided call; the model reads your message."""
    if not message.strip():
        raise fail("--message must say why: the agent reads it", ExitCode.USAGE)
    identity = Reviewer(name=reviewer, roles=frozenset(roles))
    record, shown = run_async(
        _decide(ctx, approval_id, call, Verdict.REJECTED, identity, message, None, None, always)
    )
    report_decision(record, shown, call, Verdict.REJECTED, identity, as_json)


def _parse_edits(raw: str | None, call: str | None, app: str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    if call is None:
        raise fail("--edited-arguments needs --call: edits apply to one call", ExitCode.USAGE)
    if app is None:
        raise fail(
            "--edited-arguments needs --app: your agents check the edit against the tool's "
            "schema and rules",
            ExitCode.USAGE,
        )
    try:
        edits = json.loads(raw)
    except ValueError as exc:
        raise fail(f"--edited-arguments is not valid JSON: {exc}", ExitCode.USAGE) from None
    if not isinstance(edits, dict):
        raise fail("--edited-arguments must be a JSON object", ExitCode.USAGE)
    return edits


def _suggestion_options(edited_arguments: str | None, app: str | None, always: bool) -> str:
    if edited_arguments is not None:
        raise fail(
            "--suggested approves the decision layer's arguments; give either it or "
            "--edited-arguments, not both",
            ExitCode.USAGE,
        )
    if always:
        # Later calls would be approved as the model proposes them, not as suggested.
        raise fail(
            "--suggested applies to this call only; --always would approve later calls as "
            "the model proposes them",
            ExitCode.USAGE,
        )
    if app is None:
        raise fail(
            "--suggested needs --app: your agents check the suggested arguments against the "
            "tool's schema and rules",
            ExitCode.USAGE,
        )
    return app


async def _approve_suggestion(
    ctx: typer.Context,
    approval_id: str,
    call_id: str | None,
    identity: Reviewer,
    comment: str | None,
    app: str,
    *,
    quiet: bool,
) -> tuple[PendingApproval, dict[str, Any], ToolCallRecord, Suggestion]:
    async with database(ctx) as client:
        store = provider_from_app(app, client).store
        approval_id = await resolve_approval_id(store, approval_id)
        record = await store.get(approval_id)
        target, suggestion = _suggested_call(record, call_id)
        _refuse_forbidden(record, target.call_id, identity, Verdict.APPROVED)
        if not quiet:
            show_suggestion(target, suggestion)
        decided = await decide_as(
            store,
            approval_id,
            identity,
            call_id=target.call_id,
            verdict=Verdict.APPROVED,
            message=comment or SUGGESTION_APPLIED,
            surface="cli",
            arguments_sha256=target.arguments_sha256,
            # Exactly what was shown: the store binds the vote to its digest.
            edited_arguments=suggestion.arguments,
        )
        return decided, shown_json(store, decided), target, suggestion


def _suggested_call(
    record: PendingApproval, call_id: str | None
) -> tuple[ToolCallRecord, Suggestion]:
    """The call ``--suggested`` approves and its suggestion, or a one-line error saying why
    there is none to approve (which calls have one, when ``--call`` must choose)."""
    if call_id is not None:
        call = record.call(call_id)
        if call is None:
            raise fail(f"approval {record.id} has no call {_named(call_id)}", ExitCode.USAGE)
        return call, _suggestion_of(record, call)
    waiting = record.undecided_calls()
    if not waiting:
        raise fail(
            f"approval {record.id} has no undecided call (it is {record.status.value})",
            ExitCode.CONFLICT,
        )
    if len(waiting) == 1:
        return waiting[0], _suggestion_of(record, waiting[0])
    offered = [call for call in waiting if Suggestion.of(call) is not None]
    if not offered:
        raise fail(
            f"approval {record.id}: none of its {len(waiting)} undecided calls has suggested "
            "arguments from the decision layer",
            ExitCode.USAGE,
        )
    names = ", ".join(f"{_named(c.call_id)} ({_named(c.tool_name)})" for c in offered)
    raise fail(
        f"approval {record.id} waits on {len(waiting)} calls; pick one with --call "
        f"(suggested arguments: {names})",
        ExitCode.USAGE,
    )


def _suggestion_of(record: PendingApproval, call: ToolCallRecord) -> Suggestion:
    suggestion = Suggestion.of(call)
    if suggestion is None:
        raise fail(
            f"approval {record.id}: call {_named(call.call_id)} ({_named(call.tool_name)}) has "
            "no suggested arguments from the decision layer; approve it as proposed or with "
            "--edited-arguments",
            ExitCode.USAGE,
        )
    return suggestion


def _named(text: str) -> str:
    """A model-chosen name inside an error line: no markup, hidden characters escaped."""
    return escape(escape_hidden(text))


def _refuse_forbidden(
    record: PendingApproval, call_id: str | None, identity: Reviewer, verdict: Verdict
) -> None:
    # The store asks the same rules; asking first says it in a reviewer's words.
    refusal = record_refusal(record, call_id, identity, verdict)
    if refusal is not None and refusal.forbidden:
        tool = next((c.tool_name for c in record.tool_calls if c.call_id == refusal.call_id), "it")
        raise fail(
            f"approval {record.id}: {identity.name} may not decide {tool}: {refusal.reason}",
            ExitCode.FORBIDDEN,
        )


async def _decide(
    ctx: typer.Context,
    approval_id: str,
    call_id: str | None,
    verdict: Verdict,
    identity: Reviewer,
    message: str | None,
    edits: dict[str, Any] | None,
    app: str | None = None,
    always: bool = False,
) -> tuple[PendingApproval, dict[str, Any]]:
    async with database(ctx) as client:
        # The provider's store checks edited arguments; a bare store refuses them.
        store = store_on(client) if app is None else provider_from_app(app, client).store
        approval_id = await resolve_approval_id(store, approval_id)
        record = await store.get(approval_id)
        _refuse_forbidden(record, call_id, identity, verdict)
        target = record.call(call_id) if call_id is not None else None
        sha = None if target is None else target.arguments_sha256
        decided = await decide_as(
            store,
            approval_id,
            identity,
            call_id=call_id,
            verdict=verdict,
            message=message,
            always=always,
            surface="cli",
            arguments_sha256=sha,
            edited_arguments=edits,
        )
        return decided, shown_json(store, decided)


# -- resume / cancel -----------------------------------------------------------------------


@approvals_app.command("resume")
def resume(
    ctx: typer.Context,
    approval_id: str | None = typer.Argument(
        None, metavar="[ID]", help="An approval id, or the start of one that no other id shares."
    ),
    all_decided: bool = typer.Option(
        False, "--all-decided", help="Resume every decided record, with a progress bar."
    ),
    app: str = typer.Option(
        ..., "--app", help="Your agents: module:attr naming an AgentRegistry or a provider."
    ),
    app_dir: str = AppDirOption,
    as_json: bool = JsonOption,
) -> None:
    """Resume a decided run (claimed once, so racing workers cannot run it twice)."""
    if (approval_id is None) == (not all_decided):
        raise fail("give an approval ID or --all-decided (not both)", ExitCode.USAGE)
    if approval_id is not None:
        outcome = run_async(_resume_one(ctx, approval_id, app))
        report_outcome(outcome, as_json)
        # A tool error is no success: the approved action did not happen.
        failed = outcome.status in (RunStatus.ERROR, RunStatus.TOOL_ERROR)
        raise typer.Exit(int(ExitCode.ERROR if failed else ExitCode.OK))
    results = run_async(_resume_all(ctx, app, quiet=as_json))
    if as_json:
        print_json(results)
    else:
        resume_summary(results)
    failed = any(result["outcome"] in ("error", "tool_error", "refused") for result in results)
    raise typer.Exit(int(ExitCode.ERROR if failed else ExitCode.OK))


async def _resume_one(ctx: typer.Context, approval_id: str, app: str) -> AgentRunResult:
    async with database(ctx) as client:
        provider = provider_from_app(app, client)
        try:
            return await provider.resume_agent(
                await resolve_approval_id(provider.store, approval_id)
            )
        finally:
            await provider.aclose()


async def _resume_all(ctx: typer.Context, app: str, *, quiet: bool) -> list[dict[str, Any]]:
    async with database(ctx) as client:
        provider = provider_from_app(app, client)
        try:
            return await resume_each_decided(provider, quiet=quiet)
        finally:
            await provider.aclose()


@approvals_app.command("cancel")
def cancel(
    ctx: typer.Context,
    approval_id: str = IdArgument,
    by: str | None = typer.Option(None, "--as", help="Who cancels (kept in the audit trail)."),
    roles: list[str] = RoleOption,
    reason: str | None = typer.Option(None, "--reason", help="Why (kept as the run's error)."),
    as_json: bool = JsonOption,
) -> None:
    """Withdraw a pending or decided run: it will never resume.

    With ``--as`` the rules apply (a role every call's tool asks for; the run's actor may
    cancel its own run); without it the operator cancels, unnamed.
    """

    async def go() -> tuple[PendingApproval, dict[str, Any]]:
        async with database(ctx) as client:
            store = store_on(client)
            resolved = await resolve_approval_id(store, approval_id)
            if by is None:
                record = await store.cancel(resolved, reason=reason)
            else:
                identity = Reviewer(name=by, roles=frozenset(roles))
                record = await cancel_as(store, resolved, identity, reason=reason)
            return record, shown_json(store, record)

    record, shown = run_async(go())
    if as_json:
        print_json(shown)
    else:
        console.print(f"cancelled [cyan]{record.id}[/]; it will not resume")
