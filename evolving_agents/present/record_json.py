"""One JSON shape for an approval record, whichever command prints it.

::

    record_json(record, now=utcnow(), problems=store.integrity_problems(record))
    # {"id": "apr_9f...", "run_id": ..., "status": "pending", "agent_name": ...,
    #  "tool_calls": [...], "created_at": "2025-06-01T09:30:00.125000Z", ...,
    #  "tools": ["deploy_service"], "risk": {"level": "high", "score": 0.8}, "waiting": 1,
    #  "age_seconds": 312.5, "deadline": "2025-06-01T13:30:00.125000Z",
    #  "expires_in_seconds": 14087.5, "integrity": {"intact": true, "problems": []},
    #  "unreadable": false}

The stored record as it reads (``id``, not Mongo's ``_id``; the state blob left out), then what
a reviewer's view derives from it: timestamps are ISO-8601 in UTC, ages and time left are
seconds as numbers (``expires_in_seconds`` is negative once the deadline passed, null when
nothing waits or expires), lists are lists. ``eat approvals list``, ``show``, ``approve``,
``reject``, ``cancel`` and ``wait`` print exactly this per record. A stored document that does
not parse is ``{"id", "status": "unreadable", "unreadable": true, "problem"}`` instead.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import TypeAdapter

from evolving_agents.approvals.documents import UnreadableEntry
from evolving_agents.approvals.models import PendingApproval
from evolving_agents.present.views import ApprovalRow, deadline

_MOMENT: TypeAdapter[datetime] = TypeAdapter(datetime)


def moment_json(moment: datetime | None) -> str | None:
    """A timestamp as the record's own fields are written (``2025-06-01T09:30:00.125000Z``)."""
    return None if moment is None else str(_MOMENT.dump_python(moment, mode="json"))


def record_json(record: PendingApproval, *, now: datetime, problems: list[str]) -> dict[str, Any]:
    """``record`` as every ``--json`` output shows it; ``problems`` are its integrity
    problems (``PendingApprovalStore.integrity_problems``, empty when intact)."""
    row = ApprovalRow.of(record, now=now)
    stored = record.model_dump(mode="json", exclude={"id", "state"})
    # Nothing waits on a finished record: its deadlines no longer mean anything.
    due = None if record.status.is_final else deadline(record)
    return {
        "id": record.id,
        **stored,
        "tools": list(dict.fromkeys(call.tool_name for call in record.tool_calls)),
        "kinds": row.kinds,
        "risk": {"level": row.risk.level, "score": row.risk.score},
        "waiting": row.waiting,
        "tool_errors": row.tool_errors,
        "hidden_characters": row.hidden_characters,
        "age_seconds": _seconds(now - record.created_at),
        "deadline": moment_json(due),
        "expires_in_seconds": None if due is None else _seconds(due - now),
        "integrity": {"intact": not problems, "problems": problems},
        "unreadable": False,
    }


def unreadable_json(entry: UnreadableEntry) -> dict[str, Any]:
    """A listed document that does not parse, where the record would be."""
    return {"id": entry.id, "status": "unreadable", "unreadable": True, "problem": entry.problem}


def _seconds(delta: timedelta) -> float:
    return round(delta.total_seconds(), 3)
