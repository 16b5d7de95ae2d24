"""What happened to each tool call of one ``DecisionAgent`` run: its decision and its execution.

::

    with logging_run() as log:                 # the facade, around one provider run
        result = await provider.execute_agent(agent, messages)
    for seen in log.calls():                   # in the order the calls were proposed
        seen.tool, seen.signal, seen.ran, seen.output, seen.error

Two hooks fill the log from inside the SDK: the facade's decision provider
(``decisions.ActionDecisions``) notes each verdict, and each action's body (``observed``) notes
that it ran and what it returned or raised. The log is made current through a ``ContextVar``:
the SDK runs tools and guardrails in tasks (and sync bodies in threads) that copy the context,
so they all write into the log of the run that started them and never into another run's.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from pydantic_core import to_jsonable_python

from evolving_agents.approvals.ledger import idempotency_key as running_call_id
from evolving_agents.approvals.models import arguments_digest
from evolving_agents.decisions.base import DecisionSignal


@dataclass
class CallSeen:
    """One tool call of the run, as far as the log saw it."""

    tool: str
    call_id: str
    arguments: Any
    signal: DecisionSignal | None = None
    ran: bool = False
    output: Any = None
    error: str | None = None
    changed: bool = field(default=True, repr=False)
    """Set whenever something new is noted; ``RunLog.fresh`` clears it (for streaming)."""


class RunLog:
    """The calls of one run, in the order they were first seen. One run, one event loop."""

    def __init__(self) -> None:
        self._calls: list[CallSeen] = []

    def decided(self, tool: str, call_id: str, arguments: Any, signal: DecisionSignal) -> None:
        digest = arguments_digest(arguments)
        for seen in reversed(self._calls):
            same = seen.tool == tool and seen.call_id == call_id
            if same and not seen.ran and arguments_digest(seen.arguments) == digest:
                seen.signal, seen.changed = signal, True
                return
        self._calls.append(CallSeen(tool, call_id, arguments, signal))

    def ran(self, tool: str, call_id: str, arguments: Any, output: Any, error: str | None) -> None:
        # Models reuse call ids across turns: the body belongs to the latest such call that
        # has not run yet (its decision always comes first).
        seen = next(
            (
                seen
                for seen in reversed(self._calls)
                if seen.tool == tool and seen.call_id == call_id and not seen.ran
            ),
            None,
        )
        if seen is None:
            seen = CallSeen(tool, call_id, arguments)
            self._calls.append(seen)
        seen.ran, seen.output, seen.error, seen.changed = True, output, error, True

    def calls(self) -> list[CallSeen]:
        return list(self._calls)

    def fresh(self) -> list[CallSeen]:
        """The calls noted anew since the last time this was asked."""
        changed = [seen for seen in self._calls if seen.changed]
        for seen in changed:
            seen.changed = False
        return changed


_current: ContextVar[RunLog | None] = ContextVar("eat_action_run_log", default=None)


def current_log() -> RunLog | None:
    return _current.get()


@contextlib.contextmanager
def logging_run(log: RunLog | None = None) -> Iterator[RunLog]:
    """Make ``log`` (or a new one) the log of the run started inside the block."""
    log = RunLog() if log is None else log
    token = _current.set(log)
    try:
        yield log
    finally:
        _current.reset(token)


def observed(fn: Callable[..., Any], tool: str) -> Callable[..., Any]:
    """``fn`` with the same signature (the SDK builds the schema from it), noting into the
    current run's log that it ran, with what it returned or raised. Exceptions go on to the
    SDK unchanged, which tells the model; the ledger records the call as ``raised``."""
    signature = inspect.signature(fn)

    def note(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any, error: str | None) -> None:
        log = current_log()
        call_id = running_call_id()
        if log is None or call_id is None:
            return
        try:
            bound = signature.bind_partial(*args, **kwargs).arguments
        except TypeError:
            bound = {"args": list(args), **kwargs}
        log.ran(tool, call_id, to_jsonable_python(bound, fallback=str), output, error)

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            try:
                output = await fn(*args, **kwargs)
            except Exception as exc:
                # Not a catch: a recorder; the error goes on to the SDK's failure handling.
                note(args, kwargs, None, f"{type(exc).__name__}: {exc}")
                raise
            note(args, kwargs, to_jsonable_python(output, fallback=str), None)
            return output

        return run_async

    @functools.wraps(fn)
    def run_sync(*args: Any, **kwargs: Any) -> Any:
        try:
            output = fn(*args, **kwargs)
        except Exception as exc:
            # Not a catch: a recorder; the error goes on to the SDK's failure handling.
            note(args, kwargs, None, f"{type(exc).__name__}: {exc}")
            raise
        note(args, kwargs, to_jsonable_python(output, fallback=str), None)
        return output

    return run_sync
