"""List cursors: an opaque position after a page's last record, and the way back from one.

::

    cursor = cursor_after(documents, newest_first)   # None: no page follows
    created_at, approval_id = decode_cursor(cursor)  # ValueError for anything we did not make

A cursor is the (``created_at``, ``_id``) of the last document of a page, as URL-safe base64
JSON, so any process can page on from a cursor another one made.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from evolving_agents.approvals.documents import shown

logger = logging.getLogger(__name__)


def encode_cursor(created_at: datetime, approval_id: str) -> str:
    payload = json.dumps([created_at.isoformat(), approval_id]).encode("utf-8")
    return base64.urlsafe_b64encode(payload).decode("ascii")


def cursor_after(documents: Sequence[Mapping[str, Any]], newest_first: bool) -> str | None:
    """The cursor after the page's last document that has a BSON date and a string id.

    Read from the raw documents, so a page ending in an unreadable record still pages on. A
    page with no such document holds only documents without a date, which sort before every
    dated one: oldest first, the next page starts at the first dated record; newest first,
    only more of them would follow.
    """
    for document in reversed(documents):
        created, approval_id = document.get("created_at"), document.get("_id")
        if isinstance(created, datetime):
            if isinstance(approval_id, str):
                return encode_cursor(as_utc(created), approval_id)
            # An id that is not a string (inserted by hand) sorts after every string id of the
            # same moment: past them all, in either direction, and past itself.
            return encode_cursor(as_utc(created), _LAST_ID)
    logger.warning("approval store: a page of records without a creation date to page on from")
    return None if newest_first else encode_cursor(datetime(1, 1, 1, tzinfo=UTC), "")


_LAST_ID = "\U0010ffff"


# Cursors this store makes are about 100 characters; anything much longer is not one of them.
_MAX_CURSOR = 1024


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position a cursor from ``encode_cursor`` names, else ``ValueError`` (never more)."""
    invalid = f"invalid list cursor {shown(cursor)}: pass back a next_cursor from a list"
    if not isinstance(cursor, str) or len(cursor) > _MAX_CURSOR or not cursor.isascii():
        raise ValueError(invalid)
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
        if not (
            isinstance(decoded, list)
            and len(decoded) == 2
            and all(isinstance(part, str) for part in decoded)
        ):
            raise ValueError(invalid)
        created = as_utc(datetime.fromisoformat(decoded[0]))
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise ValueError(invalid) from exc
    return created, decoded[1]


def as_utc(moment: datetime) -> datetime:
    # BSON dates are UTC; a naive one (mongomock, or a cursor without a zone) is UTC too.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
