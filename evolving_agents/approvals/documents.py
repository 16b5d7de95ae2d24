"""Stored documents in and out: read a record or say what does not parse; check that a record
can be written before writing it.

::

    record = parse_record(document)       # or UnreadableRecord naming the fields that fail
    check_writable(record, document)      # RecordTooLarge / UnstorableToolCall, before insert
    unreadable.note(exc)                  # logs each unreadable record once, with its id

Anyone with write access to the database can leave a document the code cannot read (an
operator's typo in ``status``, a half-migrated field). Readers that go over many records (lists,
the expiry sweep, feeds) skip such a document and report it; nothing ever writes to it.
Anything a model proposes can end up in a record, so ``create`` checks the record as it will be
written: its BSON size, and every key and value BSON and MongoDB accept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import bson
from bson.errors import InvalidDocument
from pydantic import BaseModel, ValidationError

from evolving_agents.approvals.models import RECORD_SCHEMA, PendingApproval
from evolving_agents.errors import (
    NewerRecordSchema as NewerRecordSchema,
)
from evolving_agents.errors import (
    RecordTooLarge,
    UnreadableRecord,
    UnstorableRecord,
    UnstorableToolCall,
)

logger = logging.getLogger(__name__)

# MongoDB refuses documents over 16 MiB and later updates add votes, decisions, outcomes and
# audit entries: a new record must leave that much room.
MAX_RECORD_BYTES = 15 * 1024 * 1024
# MongoDB stores at most 100 levels of nested objects and arrays (the record itself is one).
MAX_NESTING = 100
_INT64 = (-(2**63), 2**63 - 1)
_PROBLEMS_SHOWN = 3
_SHOWN_CHARS = 40
_REMEMBERED = 10_000


class UnreadableEntry(BaseModel):
    """A document on a list page that does not parse: shown as "unreadable record <id>"."""

    id: str
    problem: str
    """What does not parse, field by field (``UnreadableRecord.reason``)."""
    position: int
    """Where it sits on the page, counting every document of the page (readable or not)."""


def record_id_of(document: Mapping[str, Any]) -> str:
    return str(document.get("_id", "?"))


# Record schema n -> n + 1, applied in memory on read; the next transition writes the result.
# Schema 1 is the first, so there is nothing to upgrade yet.
UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


def record_schema_of(document: Mapping[str, Any]) -> int:
    """The document's record schema (1 when it has none), else ``UnreadableRecord``."""
    schema = document.get("record_schema", 1)
    if isinstance(schema, bool) or not isinstance(schema, int) or schema < 1:
        raise UnreadableRecord(
            record_id_of(document),
            [f"record_schema: not a schema version (got {shown(schema)})"],
        )
    if schema > RECORD_SCHEMA:
        raise NewerRecordSchema(record_id_of(document), schema, RECORD_SCHEMA)
    return schema


def upgraded(document: Mapping[str, Any]) -> Mapping[str, Any]:
    """The document in this release's record schema (in memory; nothing is written)."""
    schema = record_schema_of(document)
    if schema == RECORD_SCHEMA:
        return document
    current = dict(document)
    while schema < RECORD_SCHEMA:
        current = UPGRADES[schema](current)
        schema += 1
    current["record_schema"] = schema
    return current


def parse_record(document: Mapping[str, Any]) -> PendingApproval:
    """The stored document as a record, else ``UnreadableRecord`` naming what fails
    (``NewerRecordSchema`` for a record of a newer release)."""
    try:
        return PendingApproval.model_validate(upgraded(document))
    except ValidationError as exc:
        raise UnreadableRecord(record_id_of(document), problems_of(exc)) from exc


def problems_of(exc: ValidationError) -> list[str]:
    """One short line per failing field: ``status: Input should be ... (got 'aproved')``."""
    errors = exc.errors(include_url=False)
    problems = []
    for error in errors[:_PROBLEMS_SHOWN]:
        where = ".".join(str(part) for part in error["loc"]) or "document"
        problem = f"{where}: {error['msg']}"
        if error["type"] != "missing":
            problem += f" (got {shown(error.get('input'))})"
        problems.append(problem)
    if len(errors) > _PROBLEMS_SHOWN:
        problems.append(f"{len(errors) - _PROBLEMS_SHOWN} more field(s)")
    return problems


def shown(value: Any) -> str:
    """A stored value in an error line: ASCII only (no hidden characters), one line, short."""
    text = ascii(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


class UnreadableRecords:
    """The unreadable records one store (or feed) met: each logged once, with its id."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._seen: dict[str, str] = {}

    def note(self, exc: UnreadableRecord) -> None:
        if self._seen.get(exc.approval_id) == exc.reason:
            return
        logger.error(
            "%s: skipped unreadable record %s: %s",
            self._what,
            exc.approval_id,
            "; ".join(exc.problems),
        )
        self._seen.pop(exc.approval_id, None)
        self._seen[exc.approval_id] = exc.reason
        if len(self._seen) > _REMEMBERED:
            # Forget the oldest: it is logged again if met again, which is better than growing.
            del self._seen[next(iter(self._seen))]

    @property
    def seen(self) -> dict[str, str]:
        """Approval id -> what does not parse, for every unreadable record met so far."""
        return dict(self._seen)


# -- writing -----------------------------------------------------------------------------------


def check_writable(record: PendingApproval, document: Mapping[str, Any]) -> None:
    """Refuse, before anything is written, a record MongoDB would refuse or could not grow.

    ``UnstorableToolCall`` names the call whose arguments (or metadata) BSON cannot hold: a
    key with a NUL byte or that is not a string, a lone surrogate, an integer beyond 64 bits,
    nesting beyond MongoDB's 100 levels. ``RecordTooLarge`` names the run when the encoded
    document is over ``MAX_RECORD_BYTES`` (compressed state does not count for less here:
    repetitive arguments compress well in the state and are stored as they are in the call).
    """
    problem = _first_problem(document, "", 1)
    if problem is None:
        try:
            size = len(bson.encode(document))
        except (InvalidDocument, ValueError, OverflowError, TypeError) as exc:
            problem = ("", f"BSON cannot encode it: {exc}")
        else:
            if size > MAX_RECORD_BYTES:
                raise RecordTooLarge(
                    record.id,
                    f"the record of run {record.run_id} is {size / 1_048_576:.1f} MiB as "
                    f"stored, over the {MAX_RECORD_BYTES // 1_048_576} MiB limit this store "
                    f"keeps under MongoDB's 16 MiB document limit{_largest_call(record)}; "
                    "nothing was stored",
                    run_id=record.run_id,
                    size=size,
                )
            return
    path, reason = problem
    _refuse(record, path, reason)


def _refuse(record: PendingApproval, path: str, reason: str) -> None:
    parts = path.split(".")
    if len(parts) >= 2 and parts[0] == "tool_calls" and parts[1].isdigit():
        index = int(parts[1])
        if index < len(record.tool_calls):
            call = record.tool_calls[index]
            where = ".".join(parts[2:]) or "the call"
            raise UnstorableToolCall(
                record.id,
                f"call {shown(call.call_id)} of tool {shown(call.tool_name)} cannot be stored: "
                f"{where}: {reason}; nothing was stored",
                call_id=call.call_id,
                tool_name=call.tool_name,
            )
    raise UnstorableRecord(
        record.id,
        f"the record of run {record.run_id} cannot be stored: {path or 'document'}: {reason}; "
        "nothing was stored",
    )


def _largest_call(record: PendingApproval) -> str:
    sizes = []
    for call in record.tool_calls:
        try:
            sizes.append((len(bson.encode({"a": call.arguments})), call))
        except (InvalidDocument, ValueError, OverflowError, TypeError):
            continue
    if not sizes:
        return ""
    size, call = max(sizes, key=lambda item: item[0])
    return (
        f" (call {shown(call.call_id)} of tool {shown(call.tool_name)} has "
        f"{size / 1_048_576:.1f} MiB of arguments)"
    )


def _first_problem(value: Any, path: str, depth: int) -> tuple[str, str] | None:
    """The first part of ``value`` BSON or MongoDB refuses, as (dotted path, why); None if none.

    Iterative, so hostile nesting cannot exhaust the stack.
    """
    stack: list[tuple[Any, str, int]] = [(value, path, depth)]
    while stack:
        current, where, level = stack.pop()
        if isinstance(current, Mapping):
            if level > MAX_NESTING:
                return where, f"nested more than {MAX_NESTING} levels deep"
            for key, item in current.items():
                if not isinstance(key, str):
                    return where, f"key {shown(key)} is not a string"
                if "\x00" in key:
                    return where, f"key {shown(key)} contains a NUL byte"
                if not _encodable(key):
                    return where, f"key {shown(key)} is not valid Unicode (a lone surrogate)"
                stack.append((item, f"{where}.{key}" if where else key, level + 1))
        elif isinstance(current, list | tuple):
            if level > MAX_NESTING:
                return where, f"nested more than {MAX_NESTING} levels deep"
            stack.extend(
                (item, f"{where}.{index}", level + 1) for index, item in enumerate(current)
            )
        elif isinstance(current, str) and not _encodable(current):
            return where, "a string is not valid Unicode (a lone surrogate)"
        elif _beyond_int64(current):
            return where, f"integer {shown(current)} does not fit in 64 bits"
    return None


def _beyond_int64(value: Any) -> bool:
    if not isinstance(value, int) or isinstance(value, bool):
        return False
    return not _INT64[0] <= value <= _INT64[1]


def _encodable(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
