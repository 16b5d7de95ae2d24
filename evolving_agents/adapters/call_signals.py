"""The decision layer's verdicts for the calls of one run, carried to its pending record.

::

    with recording_signals() as signals:                # the provider, around one Runner.run
        result = await Runner.run(agent, "Grant Alice Okta admin for 48h")
    for item in result.interruptions:                    # what the gate said about each call
        signals.for_call(item.tool_name, item.call_id, arguments)   # DecisionSignal | None

A ``DecisionGate`` is consulted from inside the SDK (a tool's ``needs_approval``, its block
guardrail), which hands it the run context but gives the caller nothing back but the boolean;
the provider must still write the verdict into the pending record. A ``RunSignals`` recorder
joins the two for exactly one run: the provider opens one per ``Runner.run`` (or streamed run)
and makes it current through a ``ContextVar``. The SDK runs tools, guardrails and nested
agent-as-tool runs in tasks, which copy the context when they start, so they all see the same
recorder object and record into it; a second run in the same process, concurrent or not, sets
its own recorder in its own context and never sees the first one's verdicts. Nothing outlives
the run: the record carries the verdict from there (``tool_calls[].signal``), into any process.

Within a run, a verdict belongs to one gate and one call: the call's tool name, its call id and
the digest of its arguments. Models reuse call ids (scripted models do; some providers number
calls per response), so a call id alone would hand one call's ``allow`` to another, let a
blocked call through the guardrail and show a reviewer another call's signal; a call that
differs in any of the three is decided afresh. Keyed by gate too, two adapters' namesake tools
(two agents with a ``deploy`` each) never answer for each other.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from evolving_agents.approvals.models import arguments_digest
from evolving_agents.decisions.base import DecisionSignal

CallKey = tuple[str, str, str]
"""One call of a run: (tool name, call id, digest of its arguments)."""


def call_key(tool_name: str, call_id: str, arguments: Any) -> CallKey:
    return (tool_name, call_id, arguments_digest(arguments))


class RunSignals:
    """What each decision gate said about each call of one run (see the module docstring).

    Not shared between runs and not safe to share: one recorder, one run, one event loop.
    """

    def __init__(self) -> None:
        self._by_call: dict[CallKey, dict[object, DecisionSignal]] = {}

    def given(self, gate: object, key: CallKey) -> DecisionSignal | None:
        """The signal ``gate`` gave exactly this call in this run, if it gave one."""
        return self._by_call.get(key, {}).get(gate)

    def record(self, gate: object, key: CallKey, signal: DecisionSignal) -> None:
        self._by_call.setdefault(key, {})[gate] = signal

    def for_call(self, tool_name: str, call_id: str, arguments: Any) -> DecisionSignal | None:
        """The signal this run's gates gave the call; of several gates, the strictest (the
        call then went through one of several namesake tools, and fails closed). None when no
        gate scored it in this run."""
        given = self._by_call.get(call_key(tool_name, call_id, arguments))
        if not given:
            return None
        return max(given.values(), key=lambda signal: (signal.verdict.strictness, signal.risk))

    def __len__(self) -> int:
        return sum(len(given) for given in self._by_call.values())


_current: ContextVar[RunSignals | None] = ContextVar("eat_run_signals", default=None)


def current_signals() -> RunSignals | None:
    """The recorder of the run in progress, if a provider (or the app) opened one."""
    return _current.get()


@contextlib.contextmanager
def recording_signals() -> Iterator[RunSignals]:
    """Open a fresh recorder for the one run started inside the block.

    A streamed run's task copies the context when ``Runner.run_streamed`` starts it, so the
    block may end before its events are read. Outside any block, gates remember nothing: each
    consultation asks the decision provider again.
    """
    signals = RunSignals()
    token = _current.set(signals)
    try:
        yield signals
    finally:
        _current.reset(token)
