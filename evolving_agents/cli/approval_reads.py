"""``eat approvals list``, ``show`` and ``wait``: reading the queue, once or as it changes.

::

    eat approvals list [--status S] [--agent A] [--tool T] [--limit N] [--watch] [--json]
    eat approvals show ID [--json]
    eat approvals wait ID [--until change|decided|finished] [--timeout 5m] [--json]

An ID may be any prefix that only one approval id starts with. Under ``--json`` each record
is ``present.record_json``'s shape; ``list --watch --json`` prints the page again, one JSON
array per line, whenever it changes.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import typer
from rich.console import Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.text import Text

from evolving_agents.approvals.models import ApprovalStatus, PendingApproval, parse_duration, utcnow
from evolving_agents.approvals.store import ApprovalPage, PendingApprovalStore
from evolving_agents.cli.approval_ids import resolve_approval_id
from evolving_agents.cli.approval_views import show_record
from evolving_agents.cli.approval_wait import Until, wait_for, watch
from evolving_agents.cli.common import ExitCode, console, err_console, fail, print_json, run_async
from evolving_agents.cli.connect import database
from evolving_agents.cli.queue_table import queue_table
from evolving_agents.config import Settings
from evolving_agents.present.record_json import record_json, unreadable_json
from evolving_agents.present.views import page_rows
from evolving_agents.storage.mongodb_client import MongoDBClient
from evolving_agents.storage.names import APPROVALS

JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON.")
IdArgument = typer.Argument(
    ..., metavar="ID", help="An approval id, or the start of one that no other id shares."
)


UntilOption: Until = typer.Option(
    Until.CHANGE,
    "--until",
    help="change: any vote, decision or status; decided: no longer pending; "
    "finished: completed, failed or cancelled.",
)


def store_on(client: MongoDBClient) -> PendingApprovalStore:
    days = Settings().purge_after_days
    return PendingApprovalStore(client, purge_after=timedelta(days=days))


def shown_json(store: PendingApprovalStore, record: PendingApproval) -> dict[str, Any]:
    """``record`` in the one JSON shape, its integrity checked by ``store``."""
    return record_json(record, now=utcnow(), problems=store.integrity_problems(record))


# -- list ----------------------------------------------------------------------------------


def list_approvals(
    ctx: typer.Context,
    status: str = typer.Option(
        "pending", "--status", help="pending, decided, resuming, completed, failed, cancelled, all."
    ),
    agent: str | None = typer.Option(None, "--agent", help="Only this agent's runs."),
    tool: str | None = typer.Option(None, "--tool", help="Only runs waiting on this tool."),
    limit: int = typer.Option(50, "--limit", min=1, max=1000, help="At most this many."),
    cursor: str | None = typer.Option(
        None, "--cursor", help="Start after this point: the next-page cursor a list printed."
    ),
    watch_changes: bool = typer.Option(
        False, "--watch", help="Show the list again whenever it changes, until Ctrl-C."
    ),
    as_json: bool = JsonOption,
) -> None:
    """The queue: oldest first for pending records, newest first otherwise.

    A stored document that does not parse is listed as "unreadable record <id>" with what
    does not parse (in JSON: ``status`` "unreadable"); the rest of the queue is unaffected.
    """
    statuses = [item.value for item in ApprovalStatus]
    if status != "all" and status not in statuses:
        raise fail(
            f"unknown status {status!r}; use one of {', '.join(statuses)}, all", ExitCode.USAGE
        )
    query = _Query(status, agent, tool, limit, cursor)
    if watch_changes:
        try:
            run_async(_watch_list(ctx, query, as_json))
        except KeyboardInterrupt:
            raise typer.Exit(int(ExitCode.OK)) from None  # Ctrl-C is how a watch ends
        return

    async def fetch() -> tuple[list[dict[str, Any]] | RenderableType, str | None, str | None]:
        async with database(ctx) as client:
            store = store_on(client)
            page = await query.read(store)
            never_used = await _never_used(client, page)
            shown = _page_json(store, page) if as_json else _page_view(page, status)
            return shown, page.next_cursor, never_used

    shown, next_cursor, never_used = run_async(fetch())
    if as_json:
        print_json(shown)
        if next_cursor is not None:  # stderr under --json: stdout is the data alone
            err_console.print(f"next page: --cursor {next_cursor}", highlight=False)
    else:
        console.print(shown)
    if never_used is not None:
        (err_console if as_json else console).print(
            f"[dim]{escape(never_used)}[/]", highlight=False, soft_wrap=True
        )


@dataclass(frozen=True)
class _Query:
    """What ``eat approvals list`` asks the store for."""

    status: str
    agent: str | None
    tool: str | None
    limit: int
    cursor: str | None

    async def read(self, store: PendingApprovalStore) -> ApprovalPage:
        try:
            return await store.list(
                status=None if self.status == "all" else self.status,
                agent_name=self.agent,
                tool_name=self.tool,
                newest_first=self.status != "pending",
                limit=self.limit,
                cursor=self.cursor,
            )
        except ValueError as exc:  # a --cursor the store did not make
            raise fail(f"--cursor: {exc}", ExitCode.USAGE) from None


async def _never_used(client: MongoDBClient, page: ApprovalPage) -> str | None:
    """When the database has no approvals at all (a mistyped MONGODB_DATABASE_NAME looks like
    an empty queue): a line naming the database and where it is."""
    if page.items or page.unreadable or await client.has_collection(APPROVALS):
        return None
    return f"database {client.db_name} on {client.address()}: no approvals yet"


def _page_json(store: PendingApprovalStore, page: ApprovalPage) -> list[dict[str, Any]]:
    """The page's records in list order, each unreadable document where it sits."""
    now = utcnow()
    shown = [
        record_json(record, now=now, problems=store.integrity_problems(record))
        for record in page.items
    ]
    for entry in sorted(page.unreadable, key=lambda entry: entry.position):
        shown.insert(min(entry.position, len(shown)), unreadable_json(entry))
    return shown


def _page_view(page: ApprovalPage, status: str) -> RenderableType:
    rows = page_rows(page, now=utcnow())
    if not rows:
        return Text(f"no {'' if status == 'all' else status + ' '}approvals")
    table = queue_table(rows, status)
    if page.next_cursor is None:
        return table
    return Group(table, Text(f"next page: --cursor {page.next_cursor}"))


async def _watch_list(ctx: typer.Context, query: _Query, as_json: bool) -> None:
    """The list, again on every change: redrawn in place on a terminal (ages tick too);
    elsewhere (a pipe, ``--json``) printed again only when a record changed."""
    drawn = not as_json and console.is_terminal
    live = Live(console=console, auto_refresh=False) if drawn else None
    async with database(ctx) as client:
        store = store_on(client)
        last: list[object] | None = None

        async def refresh() -> None:
            nonlocal last
            page = await query.read(store)
            seen: list[object] = [(r.id, r.version, r.status, r.updated_at) for r in page.items]
            seen += [entry.id for entry in page.unreadable]
            changed, last = seen != last, seen
            if live is not None:
                footer = Text(f"watching; Ctrl-C to stop · {utcnow():%H:%M:%S} UTC", style="dim")
                live.update(Group(_page_view(page, query.status), footer), refresh=True)
            elif changed and as_json:
                typer.echo(json.dumps(_page_json(store, page), default=str))
            elif changed:
                console.print(_page_view(page, query.status))

        with live or contextlib.nullcontext():
            await watch(store, refresh, poll_seconds=1.0)


# -- show / wait ---------------------------------------------------------------------------


def show(ctx: typer.Context, approval_id: str = IdArgument, as_json: bool = JsonOption) -> None:
    """One record: the request, each call's arguments and signal, decisions, the audit trail."""

    async def fetch() -> tuple[PendingApproval, list[str]]:
        async with database(ctx) as client:
            store = store_on(client)
            record = await store.get(await resolve_approval_id(store, approval_id))
            return record, store.integrity_problems(record)

    record, problems = run_async(fetch())
    if as_json:
        print_json(record_json(record, now=utcnow(), problems=problems))
        return
    show_record(record, tampered=problems)


def wait(
    ctx: typer.Context,
    approval_id: str = IdArgument,
    until: Until = UntilOption,
    timeout: str = typer.Option(
        "never", "--timeout", help="Give up after this long (30s, 5m, 1h), exit 9."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Return when the record changes (or is decided, or finished): for scripts and CI."""
    try:
        limit = parse_duration(timeout)
    except ValueError as exc:
        raise fail(f"--timeout: {escape(str(exc))}", ExitCode.USAGE) from None

    async def go() -> tuple[PendingApproval, bool, dict[str, Any]]:
        async with database(ctx) as client:
            store = store_on(client)
            resolved = await resolve_approval_id(store, approval_id)
            record, reached = await wait_for(store, resolved, until, timeout=limit)
            return record, reached, shown_json(store, record)

    record, reached, shown = run_async(go())
    if not reached:
        waited = "did not change" if until is Until.CHANGE else f"is still {record.status.value}"
        raise fail(f"approval {record.id} {waited} after {escape(timeout)}", ExitCode.TIMEOUT)
    if as_json:
        print_json(shown)
        return
    decided = len(record.tool_calls) - len(record.undecided_calls())
    console.print(
        f"[cyan]{record.id}[/] is [bold]{record.status.value}[/] "
        f"({decided} of {len(record.tool_calls)} call(s) decided)",
        highlight=False,
    )
