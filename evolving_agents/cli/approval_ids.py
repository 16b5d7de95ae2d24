"""Approval ids as typed on the command line: the whole id, or a prefix of exactly one.

::

    approval_id = await resolve_approval_id(store, "apr_9f3")   # "apr_9f3c1e..." if it is the one

An id that exists is itself, even when it also begins longer ids. Otherwise the ids that start
with what was typed decide: one is the answer, none is ``ApprovalNotFound`` (exit 3), several
are a usage error (exit 2) naming them.

The prefix lookup is the store's ``ids_starting_with``: one range query on the ``_id`` index
reading ids only, so it costs the same at 100,000 records as at 10. It runs only when the typed
id is not an id, the exact lookup having failed first.
"""

from __future__ import annotations

from rich.markup import escape

from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.cli.common import ExitCode, fail
from evolving_agents.errors import ApprovalNotFound

_NAMED = 10
"""How many candidates an ambiguous prefix's error names."""
_LOOKED_AT = 1000
"""How many candidates are read at most (the error says "1000 or more" past it)."""


async def resolve_approval_id(store: PendingApprovalStore, typed: str) -> str:
    """The id ``typed`` means: itself if it exists, else the one id that begins with it."""
    try:
        await store.get(typed)
    except ApprovalNotFound:
        pass
    else:
        return typed
    # One more than the error names, so "several" is known without reading them all.
    matches = await store.ids_starting_with(typed, limit=_LOOKED_AT) if typed else []
    if not matches:
        raise ApprovalNotFound(typed)
    if len(matches) == 1:
        return matches[0]
    named = ", ".join(matches[:_NAMED]) + (", ..." if len(matches) > _NAMED else "")
    count = f"{len(matches)} or more" if len(matches) >= _LOOKED_AT else str(len(matches))
    raise fail(
        f"approval id {escape(repr(typed))} is the start of {count} approvals: "
        f"{escape(named)}; give more of the id",
        ExitCode.USAGE,
        candidates=matches,
    )

