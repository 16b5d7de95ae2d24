"""Wraps a governed tool's invoker so its body runs at most once per call (see ledger.py).

The wrapper sits outside the SDK's failure handling: an ``outcome unknown`` must stop the run
for a person, not become a message the model reads and works around. A second, inner wrapper
sits inside it, around the body itself, and only notes an exception the SDK is about to turn
into a message for the model: the ledger then records the call as ``raised`` (an approved
action that did not happen), not as finished with the error text as its output.

Under a lease (a resumed run, see ``approvals/lease.py``) the body runs inside
``lease.tool_body()`` and keeps a heartbeat on its ledger entry: a worker that lost its lease
lets the body finish and records its end before it stops, and a worker that took the run over
meanwhile waits for that end instead of calling the outcome unknown.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from agents.tool_context import ToolContext
from pydantic_core import to_jsonable_python
from pymongo.errors import PyMongoError

from evolving_agents.approvals.lease import RunLease, current_lease
from evolving_agents.approvals.ledger import (
    ExecutionStatus,
    LedgerScope,
    ToolOutcomeUnknown,
    current_scope,
    running_call,
)
from evolving_agents.approvals.models import arguments_digest

logger = logging.getLogger(__name__)

Invoker = Callable[[ToolContext[Any], str], Awaitable[Any]]
_BIND = "__agents_bind_function_tool__"
_MARK = "__eat_ledgered__"
_NOTED = "__eat_notes_raises__"
# The SDK's failure-handling invoker keeps the body it wraps here (agents/tool.py).
_SDK_BODY = "_invoke_tool_impl"
# The errors the body of the call running now raised, which the SDK then handled.
_raised: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "eat_raised", default=None
)


def ledgered(invoker: Invoker) -> Invoker:
    """The invoker, recording each execution in the ledger of the run in scope (if any)."""

    async def invoke(ctx: ToolContext[Any], raw_arguments: str) -> Any:
        scope = current_scope.get()
        call_id = ctx.tool_call_id
        if scope is None:
            # Outside a provider run (a plain Runner.run) there is no ledger to consult.
            with running_call(call_id):
                return await invoker(ctx, raw_arguments)
        lease = current_lease.get()
        if lease is not None and lease.lost is not None:
            await _stopped(lease)  # the run is being stopped: no new body starts
        with contextlib.nullcontext() if lease is None else lease.tool_body():
            earlier = await scope.ledger.begin(
                scope.run_id,
                call_id,
                tool_name=ctx.tool_name,
                arguments_sha256=_digest(raw_arguments),
                approval_id=scope.approval_id,
                worker_id=scope.worker_id,
                alive_for=None if lease is None else lease.seconds,
            )
            if earlier is None:
                return await _run_body(invoker, ctx, raw_arguments, scope, lease)
        # Not ours: wait while another worker's body still runs, then its end decides.
        earlier = await scope.ledger.await_end(earlier)
        if earlier.status is ExecutionStatus.FINISHED:
            logger.info("call %s already ran; returning its recorded output", call_id)
            return earlier.output
        raise ToolOutcomeUnknown(earlier)

    if getattr(invoker, _MARK, False):
        return invoker
    _note_raises_inside(invoker)
    bind = getattr(invoker, _BIND, None)
    if callable(bind):
        # Copies of the tool rebind the SDK's invoker to themselves; keep the wrapper on top.
        setattr(invoke, _BIND, lambda tool: ledgered(bind(tool)))
    setattr(invoke, _MARK, True)
    return invoke


async def _run_body(
    invoker: Invoker,
    ctx: ToolContext[Any],
    raw_arguments: str,
    scope: LedgerScope,
    lease: RunLease | None,
) -> Any:
    """Run the body this worker owns, keep its entry's heartbeat, and record how it ended."""
    call_id = ctx.tool_call_id
    handled: list[str] = []
    token = _raised.set(handled)
    beat = (
        None
        if lease is None
        else asyncio.create_task(_heartbeat(scope, call_id, lease.seconds), name=f"beat {call_id}")
    )
    try:
        with running_call(call_id):
            output = await invoker(ctx, raw_arguments)
    except BaseException as exc:
        await scope.ledger.raised(scope.run_id, call_id, f"{type(exc).__name__}: {exc}")
        raise
    finally:
        _raised.reset(token)
        if beat is not None:
            beat.cancel()
    if handled:
        # The body raised and the SDK gave the model an error message instead.
        await scope.ledger.raised(scope.run_id, call_id, handled[0])
        return output
    await scope.ledger.finish(scope.run_id, call_id, to_jsonable_python(output, fallback=str))
    return output


async def _heartbeat(scope: LedgerScope, call_id: str, alive_for: float) -> None:
    interval = max(alive_for / 3, 0.05)
    while True:
        await asyncio.sleep(interval)
        try:
            await scope.ledger.heartbeat(scope.run_id, call_id, alive_for)
        except PyMongoError as exc:
            # The body goes on regardless; a lapsed heartbeat only makes a takeover give up.
            logger.warning("heartbeat of running call %s failed: %s", call_id, exc)


async def _stopped(lease: RunLease) -> None:
    """Wait for the stop of a run whose lease is lost (it cancels this call)."""
    await asyncio.sleep(lease.seconds)
    lease.raise_if_lost()  # the stop never came: refuse the call rather than run it


def _note_raises_inside(invoker: Invoker) -> None:
    """Put a recorder between the SDK's failure handling and the body, where there is one."""
    body = getattr(invoker, _SDK_BODY, None)
    if body is None or getattr(body, _NOTED, False):
        return

    async def noting(ctx: ToolContext[Any], raw_arguments: str) -> Any:
        try:
            return await body(ctx, raw_arguments)
        except Exception as exc:
            # Not a catch: a recorder. Whatever the body raised is noted for the ledger and
            # raised on unchanged, so the SDK's own failure handling still sees it.
            handled = _raised.get()
            if handled is not None:
                handled.append(f"{type(exc).__name__}: {exc}")
            raise

    # Keep what the SDK reads off its body (argument preparation, the wrapped callable).
    for name, value in vars(body).items() if hasattr(body, "__dict__") else ():
        setattr(noting, name, value)
    setattr(noting, _NOTED, True)
    setattr(invoker, _SDK_BODY, noting)


def _digest(raw_arguments: str) -> str:
    try:
        return arguments_digest(json.loads(raw_arguments or "{}"))
    except ValueError:
        return arguments_digest(raw_arguments)
