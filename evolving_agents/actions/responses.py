"""The response a ``DecisionAgent`` returns, in the shape ``bighub-openai`` documents.

::

    {"llm_response": {"output_text": "...", "final_output": ..., "agent": "ops-agent"},
     "execution": {"events": [event, ...], "last": event | None},
     "status": "completed",             # completed | approval_required | tool_error | error
     "run_id": "...", "approval_id": None, "error": None}

    event = {"type": "execution_event", "tool": "grant_okta_admin", "call_id": "call_1",
             "arguments": {...}, "status": "approval_required",
             "decision": {"mode": "review", "can_run": False, "needs_review": True, ...},
             "output": None, "error": None, "approval_id": "apr_..."}

An event's ``status`` is one of ``executed``, ``blocked``, ``approval_required``,
``tool_error`` (the four ``bighub-openai`` knows), ``needs_context`` (the decision layer wants
more context: the call did not run and the model was told what is missing), and, for calls a
reviewer decided, ``rejected`` and ``expired``. Nothing that did not run is ever
``executed``: a call that raised is ``tool_error``, with the error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from evolving_agents.actions.run_log import CallSeen
from evolving_agents.adapters.decision_gate import needs_context
from evolving_agents.approvals.models import (
    AgentRunResult,
    CallOutcome,
    CallOutcomeStatus,
    PendingApproval,
    RunStatus,
    ToolCallRecord,
    arguments_digest,
)
from evolving_agents.decisions.base import DecisionMode, DecisionSignal, DecisionVerdict

RUN_STATUS = {
    RunStatus.SUCCESS: "completed",
    RunStatus.AWAITING_APPROVAL: "approval_required",
    RunStatus.TOOL_ERROR: "tool_error",
    RunStatus.ERROR: "error",
}
_CAN_RUN = (DecisionMode.AUTONOMOUS, DecisionMode.CONSTRAINED)


def decision_view(
    signal: DecisionSignal | Mapping[str, Any] | None, approval_id: str | None = None
) -> dict[str, Any] | None:
    """A decision as ``bighub-openai`` shows it: its fields, the mode's flags, and the approval
    record that holds the call, when one does."""
    if signal is None:
        return None
    if isinstance(signal, Mapping):
        try:
            signal = DecisionSignal.model_validate(dict(signal))
        except ValueError:
            return {"mode": None, "can_run": False, "reason": "the stored decision is unreadable"}
    mode = signal.mode
    return {
        "request_id": signal.request_id,
        "idempotency_key": signal.idempotency_key,
        "provider": signal.provider,
        "verdict": signal.verdict.value,
        "mode": mode.value,
        "can_run": signal.verdict is DecisionVerdict.ALLOW and mode in _CAN_RUN,
        "needs_review": signal.verdict is DecisionVerdict.NEEDS_APPROVAL
        and not needs_context(signal),
        "needs_more_context": needs_context(signal),
        "should_not_run": signal.verdict is DecisionVerdict.BLOCK,
        "risk": signal.risk,
        "reason": signal.reason,
        "better_action": signal.better_action,
        "better_arguments": signal.better_arguments,
        "error": signal.error,
        "latency_ms": round(signal.latency_ms, 3),
        "approval_id": approval_id,
    }


def event(
    *,
    tool: str,
    call_id: str,
    arguments: Any,
    status: str,
    decision: dict[str, Any] | None,
    output: Any = None,
    error: str | None = None,
    approval_id: str | None = None,
    review: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "type": "execution_event",
        "tool": tool,
        "call_id": call_id,
        "arguments": arguments,
        "status": status,
        "decision": decision,
        "output": output,
        "error": error,
        "approval_id": approval_id,
        "review": review,
    }


def seen_status(seen: CallSeen) -> str | None:
    """The status a call has reached on its own, or None while it may still run or pause."""
    if seen.ran:
        return "tool_error" if seen.error is not None else "executed"
    if seen.signal is None:
        return None
    if seen.signal.verdict is DecisionVerdict.BLOCK:
        return "blocked"
    if needs_context(seen.signal):
        return "needs_context"
    return None


def seen_event(seen: CallSeen, status: str, outputs: Mapping[str, str]) -> dict[str, Any]:
    output = seen.output if seen.ran else outputs.get(seen.call_id)
    return event(
        tool=seen.tool,
        call_id=seen.call_id,
        arguments=seen.arguments,
        status=status,
        decision=decision_view(seen.signal),
        output=output,
        error=seen.error,
    )


def run_events(
    result: AgentRunResult, seen: Iterable[CallSeen], *, resumed: PendingApproval | None = None
) -> list[dict[str, Any]]:
    """The events of one provider run: the calls a resumed record decided, then each call the
    run saw, in order; the calls it paused on are ``approval_required``."""
    outputs = {item.call_id: item.output for item in result.tool_outputs}
    pending = {
        (call.tool_name, call.call_id, call.arguments_sha256) for call in result.pending_tool_calls
    }
    events = [] if resumed is None else _decided_events(resumed, result.outcomes, seen)
    taken = {(e["tool"], e["call_id"]) for e in events}
    for call in seen:
        if (call.tool, call.call_id) in taken and not call.ran:
            continue  # asked again in the resume's guardrail; its event is the decided one
        status = seen_status(call)
        if (
            status is None
            and (call.tool, call.call_id, arguments_digest(call.arguments)) in pending
        ):
            item = seen_event(call, "approval_required", outputs)
            item["approval_id"] = result.approval_id
            if item["decision"] is not None:
                item["decision"]["approval_id"] = result.approval_id
            events.append(item)
        elif status is not None and (call.tool, call.call_id) not in taken:
            events.append(seen_event(call, status, outputs))
    return events


def _decided_events(
    record: PendingApproval, outcomes: Mapping[str, CallOutcome], seen: Iterable[CallSeen]
) -> list[dict[str, Any]]:
    ran = {(call.tool, call.call_id): call for call in seen if call.ran}
    events = []
    for call in record.tool_calls:
        outcome = outcomes.get(call.call_id)
        if outcome is None:
            continue  # undecided in a partial resume: it pauses again, in the next record
        body = ran.get((call.tool_name, call.call_id))
        events.append(
            event(
                tool=call.tool_name,
                call_id=call.call_id,
                arguments=_ran_with(call),
                status=_outcome_status(outcome, body),
                decision=decision_view(call.signal, record.id),
                output=body.output if body is not None else outcome.output,
                error=outcome.error if body is None else body.error,
                approval_id=record.id,
                review=_review(call),
            )
        )
    return events


def _outcome_status(outcome: CallOutcome, body: CallSeen | None) -> str:
    if outcome.status is CallOutcomeStatus.EXECUTED and body is not None and body.error:
        return "tool_error"
    return outcome.status.value


def _ran_with(call: ToolCallRecord) -> Any:
    edited = call.decision.edited_arguments if call.decision is not None else None
    return call.arguments if edited is None else edited


def _review(call: ToolCallRecord) -> dict[str, Any] | None:
    decision = call.decision
    if decision is None:
        return None
    return {
        "verdict": decision.verdict.value,
        "reviewer": decision.reviewer,
        "reviewer_kind": decision.reviewer_kind.value,
        "message": decision.message,
        "edited_arguments": decision.edited_arguments,
        "proposed_arguments": call.arguments,
    }


def response(result: AgentRunResult, events: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    output = result.final_output
    return {
        "llm_response": {
            "output_text": None
            if output is None
            else output
            if isinstance(output, str)
            else str(output),
            "final_output": output,
            "agent": result.agent_name,
        },
        "execution": {"events": events, "last": events[-1] if events else None},
        "status": RUN_STATUS[result.status],
        "run_id": result.run_id,
        "approval_id": result.approval_id,
        "error": result.error,
        **extra,
    }
