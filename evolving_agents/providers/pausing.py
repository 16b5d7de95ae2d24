"""From a finished SDK run to our result, storing the pause when the run stopped on approvals.

::

    pauses = PauseWriter(store, codec)
    with recording_signals() as signals:
        result = await Runner.run(agent, input, **plan.runner_options())
    run = await pauses.settle(result, agent, plan, RunLabels(run_id, 0, actor, domain, text),
                              signals)
    run.status   # SUCCESS / TOOL_ERROR, or AWAITING_APPROVAL with run.approval_id stored

A pause is one ``PendingApproval``: every interrupted call of the turn (its metadata from the
tool of the agent that made it, its decision signal from the run's recorder), the signed state,
and the run options that can be stored. A pause after a resume is the run's next record in the
chain (``sequence + 1``, ``previous_approval_id``), and the calls a partial resume left
undecided keep their votes and deadlines.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Mapping
from typing import Any, NamedTuple

from agents import Agent
from agents.items import ToolApprovalItem
from pydantic_core import to_jsonable_python

from evolving_agents.adapters.call_signals import RunSignals
from evolving_agents.approvals.codec import StateCodec
from evolving_agents.approvals.models import (
    AgentRunResult,
    CallOutcome,
    CallOutcomeStatus,
    PendingApproval,
    PendingToolCall,
    RunStatus,
    ToolCallRecord,
    TraceLink,
    utcnow,
)
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.providers.context_codec import check_round_trip, codec_for
from evolving_agents.providers.run_plan import RunPlan
from evolving_agents.providers.turns import call_record, tool_outputs
from evolving_agents.telemetry import traces

logger = logging.getLogger(__name__)

_PREVIEW_CHARS = 500


def new_approval_id() -> str:
    return f"apr_{secrets.token_hex(8)}"


class RunLabels(NamedTuple):
    """What a run's records say about it besides its calls and state."""

    run_id: str
    sequence: int
    actor: str | None
    domain: str | None
    input_preview: str

    @classmethod
    def of(cls, record: PendingApproval) -> RunLabels:
        """The labels of the run ``record`` paused."""
        return cls(
            record.run_id, record.sequence, record.actor, record.domain, record.input_preview
        )


class PauseWriter:
    """Settles finished runs; the only writer of state blobs (at ``store.create``)."""

    def __init__(self, store: PendingApprovalStore, codec: StateCodec) -> None:
        self._store = store
        self._codec = codec

    async def settle(
        self,
        result: Any,
        agent: Agent[Any],
        plan: RunPlan,
        labels: RunLabels,
        signals: RunSignals,
        *,
        previous: PendingApproval | None = None,
        outcomes: dict[str, CallOutcome] | None = None,
    ) -> AgentRunResult:
        """Turn a finished SDK result into our result, storing a pause when there is one.

        ``previous``: the record a resumed run came from; ``outcomes``: what its calls did.
        """
        outcomes = outcomes or {}
        if not result.interruptions:
            return _finished(result, agent, labels, previous, outcomes)
        # A pause after a resume is the run's next record in the chain.
        if previous is not None:
            labels = labels._replace(sequence=labels.sequence + 1)
        with traces.pause_span(
            agent=agent.name, run_id=labels.run_id, sequence=labels.sequence
        ) as span:
            # Made inside the span: the record keeps the span's trace context.
            record = self._pause_record(result, agent, plan, labels, signals, previous)
            span.set_attribute(traces.APPROVAL_ID, record.id)
            if record.trace is not None and record.trace.sdk_trace_id is not None:
                span.set_attribute(traces.SDK_TRACE_ID, record.trace.sdk_trace_id)
            stored = await self._store.create(record)
        logger.info(
            "run %s paused: approval %s waits on %s",
            labels.run_id,
            record.id,
            ", ".join(call.tool_name for call in record.tool_calls),
        )
        return AgentRunResult(
            status=RunStatus.AWAITING_APPROVAL,
            approval_id=record.id,
            pending_tool_calls=[
                PendingToolCall.model_validate(
                    call.model_dump(exclude={"decision", "signal", "votes", "outcome"})
                )
                for call in record.tool_calls
            ],
            tool_outputs=tool_outputs(result.new_items),
            run_id=labels.run_id,
            sequence=labels.sequence,
            agent_name=agent.name,
            outcomes=outcomes,
        ).with_record(stored)

    def _pause_record(
        self,
        result: Any,
        agent: Agent[Any],
        plan: RunPlan,
        labels: RunLabels,
        signals: RunSignals,
        previous: PendingApproval | None,
    ) -> PendingApproval:
        context = plan.context_value(result)
        codec, codec_kind = codec_for(context, plan.context_codec)
        check_round_trip(context, codec)
        approval_id = new_approval_id()
        calls = [
            call_record(
                item, agent, signals, None if previous is None else _undecided(previous, item)
            )
            for item in result.interruptions
        ]
        state_json = result.to_state().to_json(
            context_serializer=None if codec is None else codec.serialize
        )
        now = utcnow()
        return PendingApproval(
            id=approval_id,
            run_id=labels.run_id,
            sequence=labels.sequence,
            agent_name=agent.name,
            actor=labels.actor,
            domain=labels.domain,
            input_preview=labels.input_preview,
            tool_calls=calls,
            state=self._codec.encode(approval_id, state_json, run_id=labels.run_id),
            run_options=plan.stored(codec_kind),
            previous_approval_id=None if previous is None else previous.id,
            created_at=now,
            updated_at=now,
            trace=_trace_link(state_json),
        )


def _trace_link(state_json: dict[str, Any]) -> TraceLink | None:
    """The current span's trace context and the SDK's trace id of the run, if either is on.

    The SDK's id is read from its own serialized state (``trace.id``), where the SDK keeps it
    to reattach the trace at resume; it is absent while SDK tracing is disabled.
    """
    traceparent, tracestate = traces.current_carrier()
    sdk_trace = state_json.get("trace")
    sdk_trace_id = sdk_trace.get("id") if isinstance(sdk_trace, dict) else None
    if not isinstance(sdk_trace_id, str) or sdk_trace_id == "no-op":
        sdk_trace_id = None
    if traceparent is None and sdk_trace_id is None:
        return None
    return TraceLink(traceparent=traceparent, tracestate=tracestate, sdk_trace_id=sdk_trace_id)


def _finished(
    result: Any,
    agent: Agent[Any],
    labels: RunLabels,
    previous: PendingApproval | None,
    outcomes: dict[str, CallOutcome],
) -> AgentRunResult:
    failed = any(o.status is CallOutcomeStatus.TOOL_ERROR for o in outcomes.values())
    return AgentRunResult(
        status=RunStatus.TOOL_ERROR if failed else RunStatus.SUCCESS,
        final_output=to_jsonable_python(result.final_output, fallback=str),
        approval_id=None if previous is None else previous.id,
        tool_outputs=tool_outputs(result.new_items),
        run_id=labels.run_id,
        sequence=labels.sequence,
        agent_name=agent.name,
        outcomes=outcomes,
        error=_tool_errors(outcomes),
    )


def _undecided(previous: PendingApproval, item: ToolApprovalItem) -> ToolCallRecord | None:
    call = previous.call(item.call_id or "")
    return call if call is not None and call.decision is None else None


def _tool_errors(outcomes: Mapping[str, CallOutcome]) -> str | None:
    failed = [
        f"{call_id}: {outcome.error}"
        for call_id, outcome in outcomes.items()
        if outcome.status is CallOutcomeStatus.TOOL_ERROR
    ]
    if not failed:
        return None
    return "approved call(s) raised, the approved action did not happen: " + "; ".join(failed)


def preview(input: str | list[Any]) -> str:
    """The start of a run's input, as its records show it."""
    text = input if isinstance(input, str) else json.dumps(to_jsonable_python(input, fallback=str))
    return text if len(text) <= _PREVIEW_CHARS else text[: _PREVIEW_CHARS - 1] + "…"


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
