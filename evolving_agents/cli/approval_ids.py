"""Approval ids as typed on the command line: the whole id, or a prefix of exactly one.

::

    approval_id = await resolve_approval_id(store, "apr_9f3")   # "apr_9f3c1e..." if it is the one

An id that exists is itself, even when it also begins longer ids. Otherwise the ids that start
with what was typed decide: one is the answer, none is ``ApprovalNotFound`` (exit 3), several
are a usage error (exit 2) naming them.

The store has no lookup by id prefix, so one is made from ``list`` alone: every record, a page
at a time, without its state blob. It runs only when the typed id is not an id, the exact
lookup having failed first. (A store method answering from the ``_id`` index, e.g. a range
``{"_id": {"$gte": prefix, "$lt": prefix + "\\uffff"}}`` with a projection of ``_id``, would
make it one indexed query; ``ids_starting_with`` is the one place to swap it in.)
"""

from __future__ import annotations

from rich.markup import escape

from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.cli.common import ExitCode, fail
from evolving_agents.errors import ApprovalNotFound

_NAMED = 10
"""How many candidates an ambiguous prefix's error names."""


async def resolve_approval_id(store: PendingApprovalStore, typed: str) -> str:
    """The id ``typed`` means: itself if it exists, else the one id that begins with it."""
    try:
        await store.get(typed)
    except ApprovalNotFound:
        pass
    else:
        return typed
    matches = await ids_starting_with(store, typed) if typed else []
    if not matches:
        raise ApprovalNotFound(typed)
    if len(matches) == 1:
        return matches[0]
    named = ", ".join(matches[:_NAMED]) + (", ..." if len(matches) > _NAMED else "")
    raise fail(
        f"approval id {escape(repr(typed))} is the start of {len(matches)} approvals: "
        f"{escape(named)}; give more of the id",
        ExitCode.USAGE,
        candidates=matches,
    )


async def ids_starting_with(store: PendingApprovalStore, prefix: str) -> list[str]:
    """Every approval id that begins with ``prefix``, unreadable records' included, sorted."""
    found: list[str] = []
    cursor = None
    while True:
        page = await store.list(limit=1000, cursor=cursor)
        found += [record.id for record in page.items if record.id.startswith(prefix)]
        found += [entry.id for entry in page.unreadable if entry.id.startswith(prefix)]
        if page.next_cursor is None:
            return sorted(found)
        cursor = page.next_cursor
