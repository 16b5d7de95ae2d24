"""The tool-execution ledger: a governed tool body runs at most once per call.

::

    ledger = ToolExecutionLedger(client)
    owned = await ledger.begin(run_id, call_id, tool_name="grant", arguments_sha256=digest)
    if owned is None:              # first attempt: run the body, then record what it returned
        output = body()
        await ledger.finish(run_id, call_id, output)
    elif owned.status is ExecutionStatus.FINISHED:
        output = owned.output      # a retry: the stored output, the body is not run again
    else:
        raise ToolOutcomeUnknown(...)  # it started and never finished: a person must look

Inside a body, ``idempotency_key()`` is the call id, to pass on to the system acted upon.
The provider opens a ``LedgerScope`` around each run; governed tools consult it.

An entry that ended never changes again (only a started entry may end, once), so the entries
this process ended are kept (``_ENDED_KEPT`` of them) and answered without a read: the
resumed run's outcomes cost no round trip.

A body running under a lease keeps a heartbeat on its entry (``alive_until``). A worker that
took the run over and finds the entry ``started`` waits while that heartbeat is fresh: the
body is still running somewhere, and its end (``finished`` with the output, or ``raised``)
decides. Only an entry whose heartbeat lapsed is judged "outcome unknown".
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pymongo.errors import DuplicateKeyError

from evolving_agents.approvals.models import UtcDatetime, bson_ready, utcnow
from evolving_agents.approvals.written import as_stored
from evolving_agents.errors import EvolvingAgentsError
from evolving_agents.storage.mongodb_client import MongoDBClient
from evolving_agents.storage.names import TOOL_EXECUTIONS

logger = logging.getLogger(__name__)

COLLECTION_NAME = TOOL_EXECUTIONS
# The format of the entries this release writes; an entry without it is schema 1.
LEDGER_SCHEMA = 1
# How often a worker waiting on another worker's running body reads its entry again (at most).
_WAIT_POLL_SECONDS = 0.5
# Ended entries this process wrote, kept to answer ``get`` without a read (most recent).
_ENDED_KEPT = 1024


class ExecutionStatus(StrEnum):
    STARTED = "started"
    FINISHED = "finished"
    RAISED = "raised"


class ToolExecution(BaseModel):
    """One call's execution. ``_id`` is ``run_id:call_id``; ``(run_id, call_id)`` is unique."""

    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(alias="_id")
    run_id: str
    call_id: str
    tool_name: str
    arguments_sha256: str | None = None
    approval_id: str | None = None
    worker_id: str | None = None
    status: ExecutionStatus
    output: Any = None
    error: str | None = None
    started_at: UtcDatetime
    finished_at: UtcDatetime | None = None
    alive_until: UtcDatetime | None = None
    """While ``started``: the body's heartbeat, renewed as it runs (None: no heartbeat)."""
    record_schema: int = LEDGER_SCHEMA

    def running_elsewhere(self) -> bool:
        """Started, and its heartbeat says the body may still be running."""
        return (
            self.status is ExecutionStatus.STARTED
            and self.alive_until is not None
            and self.alive_until > utcnow()
        )


class ToolOutcomeUnknown(EvolvingAgentsError):
    """A tool body started for this call and never recorded an end (its process died, or it
    raised). Running it again could act twice, so the run stops here for a person."""

    def __init__(self, execution: ToolExecution) -> None:
        super().__init__(
            f"outcome unknown: tool {execution.tool_name} call {execution.call_id} started at "
            f"{execution.started_at:%Y-%m-%d %H:%M:%S}Z (worker {execution.worker_id}) and never "
            "finished; check the target system before starting a new run"
        )
        self.execution = execution


class ToolExecutionLedger:
    """The ``eat_openai_tool_executions`` collection, keyed ``_id = "run_id:call_id"``.

    ``begin`` is one insert on that key, unique by construction, so of any number of concurrent
    attempts at the same call exactly one gets to run the body; the others see its entry. No
    secondary index: every write pays for each index, and the ledger is only read by key.
    A body run under a lease refreshes ``alive_until`` (``heartbeat``) until it ends; a
    worker that meets a ``started`` entry waits on it while it is fresh (``await_end``).
    """

    def __init__(self, client: MongoDBClient, *, collection_name: str = COLLECTION_NAME) -> None:
        self._client = client
        self._collection_name = collection_name
        self._begun: dict[str, dict[str, Any]] = {}
        self._ended: OrderedDict[str, ToolExecution] = OrderedDict()

    @property
    def collection(self) -> Any:
        return self._client.collection(self._collection_name)

    async def begin(
        self,
        run_id: str,
        call_id: str,
        *,
        tool_name: str,
        arguments_sha256: str | None = None,
        approval_id: str | None = None,
        worker_id: str | None = None,
        alive_for: float | None = None,
    ) -> ToolExecution | None:
        """Claim the execution of this call: None if it is ours to run, else the earlier entry.

        ``alive_for``: seconds of heartbeat the new entry starts with (see ``heartbeat``).
        """
        now = utcnow()
        entry = ToolExecution(
            id=_key(run_id, call_id),
            run_id=run_id,
            call_id=call_id,
            tool_name=tool_name,
            arguments_sha256=arguments_sha256,
            approval_id=approval_id,
            worker_id=worker_id,
            status=ExecutionStatus.STARTED,
            started_at=now,
            alive_until=None if alive_for is None else now + timedelta(seconds=alive_for),
        )
        document = bson_ready(entry.model_dump(by_alias=True))
        try:
            await self.collection.insert_one(document)
        except DuplicateKeyError:
            return await self.get(run_id, call_id)
        self._begun[entry.id] = document
        return None

    async def finish(self, run_id: str, call_id: str, output: Any) -> None:
        await self._end(run_id, call_id, ExecutionStatus.FINISHED, output=output)

    async def raised(self, run_id: str, call_id: str, error: str) -> None:
        await self._end(run_id, call_id, ExecutionStatus.RAISED, error=error)

    async def heartbeat(self, run_id: str, call_id: str, alive_for: float) -> None:
        """The body of this started call is still running: keep its entry fresh."""
        await self.collection.update_one(
            {"_id": _key(run_id, call_id), "status": ExecutionStatus.STARTED.value},
            {"$set": {"alive_until": utcnow() + timedelta(seconds=alive_for)}},
        )

    async def await_end(self, entry: ToolExecution) -> ToolExecution:
        """Wait while ``entry``'s body runs elsewhere (its heartbeat fresh), and return the
        entry as it then is: ended, or started with a lapsed heartbeat (its worker is gone)."""
        if entry.running_elsewhere():
            logger.warning(
                "call %s of run %s is still running in worker %s; waiting for it to end",
                entry.call_id,
                entry.run_id,
                entry.worker_id,
            )
        while True:
            alive_until = entry.alive_until
            if entry.status is not ExecutionStatus.STARTED or alive_until is None:
                return entry
            left = (alive_until - utcnow()).total_seconds()
            if left <= 0:
                return entry
            await asyncio.sleep(min(left, _WAIT_POLL_SECONDS))
            found = await self.get(entry.run_id, entry.call_id)
            if found is None:  # pragma: no cover - entries are never deleted
                return entry
            entry = found

    async def get(self, run_id: str, call_id: str) -> ToolExecution | None:
        key = _key(run_id, call_id)
        ended = self._ended.get(key)
        if ended is not None:
            return ended
        document = await self.collection.find_one({"_id": key})
        return None if document is None else ToolExecution.model_validate(document)

    async def _end(self, run_id: str, call_id: str, status: ExecutionStatus, **fields: Any) -> None:
        # Only a started entry may end, once: a late writer cannot overwrite a stored output.
        key = _key(run_id, call_id)
        sets = {"status": status.value, "finished_at": utcnow(), **fields}
        result = await self.collection.update_one(
            {"_id": key, "status": ExecutionStatus.STARTED.value}, {"$set": sets}
        )
        begun = self._begun.pop(key, None)
        if result.matched_count == 1 and begun is not None:
            # Ours, and final: the entry as stored (minus a heartbeat it may have moved,
            # which no longer counts once it ended).
            self._ended[key] = ToolExecution.model_validate({**begun, **as_stored(sets)})
            while len(self._ended) > _ENDED_KEPT:
                self._ended.popitem(last=False)


def _key(run_id: str, call_id: str) -> str:
    return f"{run_id}:{call_id}"


@dataclass(frozen=True)
class LedgerScope:
    """What a governed tool needs to record its execution: set by the provider per run."""

    ledger: ToolExecutionLedger
    run_id: str
    approval_id: str | None
    worker_id: str | None


current_scope: contextvars.ContextVar[LedgerScope | None] = contextvars.ContextVar(
    "eat_ledger_scope", default=None
)
_current_call_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "eat_call_id", default=None
)


def idempotency_key() -> str | None:
    """The call id of the governed tool call running now: pass it to the system acted upon,
    so a retry on its side is recognised as the same request."""
    return _current_call_id.get()


@contextlib.contextmanager
def running_call(call_id: str) -> Iterator[None]:
    """Make ``idempotency_key()`` return ``call_id`` while a tool body runs."""
    token = _current_call_id.set(call_id)
    try:
        yield
    finally:
        _current_call_id.reset(token)
