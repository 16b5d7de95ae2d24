"""The SDK side of a pause and a resume: call records, decisions applied, what each call did.

The provider runs agents and talks to the store (``pausing.py``, ``resuming.py``); this module
turns SDK objects into records and back:

- ``call_record``: an interrupted call as the reviewer sees it (``call_kinds.describe_call``).
- ``apply_decisions``: the record's decisions onto a restored ``RunState``, after checking
  that the state waits on exactly the calls reviewed, with exactly the arguments reviewed.
- ``call_outcomes``: what each decided call did once the run resumed, from the run's items
  and the tool-execution ledger (which knows whether a governed body ran, and if it raised).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agents import Agent, RunState
from agents.items import RunItem, ToolApprovalItem, ToolCallItem, ToolCallOutputItem

from evolving_agents.adapters.call_signals import RunSignals
from evolving_agents.adapters.openai_tool_adapter import GovernedFunctionTool
from evolving_agents.adapters.tool_lookup import tool_for_call, tool_for_record
from evolving_agents.approvals.ledger import ExecutionStatus, ToolExecutionLedger
from evolving_agents.approvals.models import (
    CallOutcome,
    CallOutcomeStatus,
    PendingApproval,
    ReviewerKind,
    ToolCallRecord,
    ToolDecision,
    ToolOutput,
    Verdict,
    arguments_digest,
)
from evolving_agents.errors import StateIntegrityError
from evolving_agents.providers.call_kinds import describe_call


def call_record(
    item: ToolApprovalItem,
    start: Agent[Any],
    signals: RunSignals,
    earlier: ToolCallRecord | None = None,
) -> ToolCallRecord:
    """The record of one interrupted call of a run started from ``start``.

    Its metadata comes from the tool of the agent that made the call (``item.agent``), never
    from a same-named tool elsewhere in the graph; a match in doubt gets the strictest settings
    of the candidates (``tool_lookup``). Its signal is the one the run's recorder ``signals``
    holds for this call with these arguments (``call_signals``). ``earlier`` is the same call's
    record in the run's previous pause (a partial resume), whose votes and deadline it keeps,
    and whose signal it keeps when this run did not score the call again.
    """
    described = describe_call(item)
    call_id = item.call_id or ""
    digest = arguments_digest(described.arguments)
    given = signals.for_call(item.tool_name or "", call_id, described.arguments)
    signal = None if given is None else given.model_dump(mode="json")
    if signal is None and earlier is not None and earlier.arguments_sha256 == digest:
        signal = earlier.signal
    return ToolCallRecord(
        call_id=call_id,
        signal=signal,
        tool_name=described.tool_name,
        agent_name=item.agent.name,
        kind=described.kind,
        arguments=described.arguments,
        arguments_sha256=digest,
        metadata=tool_for_call(item, start).metadata(),
        votes=[] if earlier is None else list(earlier.votes),
        expires_at=None if earlier is None else earlier.expires_at,
    )


def apply_decisions(
    state: RunState[Any, Any],
    record: PendingApproval,
    reviewed: Mapping[str, str],
    *,
    partial: bool,
    default_rejection: bool,
) -> list[str]:
    """Approve or reject each interruption of ``state`` as decided; the undecided call ids.

    Every call the state waits on must be in the record with the reviewed arguments, and
    every call of the record must be in the state; anything else is a tampered or mismatched
    record (``StateIntegrityError``). Undecided calls are allowed only when ``partial``.
    ``default_rejection``: give a rejection without a message this project's text (when the
    run has no ``tool_error_formatter`` of its own to decide what the model reads).
    """
    seen: set[str] = set()
    undecided: list[str] = []
    for item in state.get_interruptions():
        call = _reviewed_call(item, record, reviewed)
        seen.add(call.call_id)
        if call.decision is None:
            if not partial:
                raise StateIntegrityError(
                    record.id, f"the state waits on call {call.call_id!r}, which has no decision"
                )
            undecided.append(call.call_id)
        else:
            _apply(state, item, call.decision, default_rejection=default_rejection)
    missing = {call.call_id for call in record.tool_calls} - seen
    if missing:
        raise StateIntegrityError(
            record.id, f"calls {sorted(missing)} are in the record but not in the state"
        )
    return undecided


def _reviewed_call(
    item: ToolApprovalItem, record: PendingApproval, reviewed: Mapping[str, str]
) -> ToolCallRecord:
    """The record's call for the interruption ``item``, whose arguments must be the reviewed
    ones (an edit's, else the record's)."""
    call_id = item.call_id or ""
    call = record.call(call_id)
    if call is None:
        raise StateIntegrityError(
            record.id, f"the state waits on call {call_id!r}, which is not in the record"
        )
    expected = reviewed.get(call_id, call.arguments_sha256)
    if arguments_digest(describe_call(item).arguments) != expected:
        raise StateIntegrityError(
            record.id, f"call {call_id}: state arguments differ from the reviewed ones"
        )
    return call


def _apply(
    state: RunState[Any, Any],
    item: ToolApprovalItem,
    decision: ToolDecision,
    *,
    default_rejection: bool,
) -> None:
    if decision.verdict is Verdict.APPROVED:
        state.approve(item, always_approve=decision.always)
        return
    message = decision.message
    if message is None and default_rejection:
        message = f"The tool call was rejected by {decision.reviewer}. Do not retry it."
    state.reject(item, always_reject=decision.always, rejection_message=message)


async def call_outcomes(
    record: PendingApproval,
    agent: Agent[Any],
    items: Sequence[RunItem],
    ledger: ToolExecutionLedger,
) -> dict[str, CallOutcome]:
    """What each decided call of ``record`` did in the resumed run, by call id."""
    read = model_read(items)
    outcomes: dict[str, CallOutcome] = {}
    for call in record.tool_calls:
        decision = call.decision
        if decision is None:
            continue
        output = read.get(call.call_id)
        if decision.verdict is Verdict.REJECTED:
            status = (
                CallOutcomeStatus.EXPIRED
                if decision.reviewer_kind is ReviewerKind.TIMEOUT
                else CallOutcomeStatus.REJECTED
            )
            outcomes[call.call_id] = CallOutcome(status=status, output=output)
            continue
        # The tool of the agent that made the call (never a namesake elsewhere in the graph).
        candidates = tool_for_record(agent, call.agent_name, call.tool_name).tools
        if not candidates or not all(isinstance(t, GovernedFunctionTool) for t in candidates):
            # Only governed tools are ledgered; for the others the SDK's output is all we know.
            outcomes[call.call_id] = CallOutcome(status=CallOutcomeStatus.EXECUTED, output=output)
            continue
        entry = await ledger.get(record.run_id, call.call_id)
        if entry is None:
            # Approved, yet the body never started: a guardrail (the decision layer's block)
            # stopped it, and the model read why.
            outcomes[call.call_id] = CallOutcome(status=CallOutcomeStatus.BLOCKED, output=output)
        elif entry.status is ExecutionStatus.FINISHED:
            outcomes[call.call_id] = CallOutcome(status=CallOutcomeStatus.EXECUTED, output=output)
        else:
            outcomes[call.call_id] = CallOutcome(
                status=CallOutcomeStatus.TOOL_ERROR, output=output, error=entry.error
            )
    return outcomes


def model_read(items: Sequence[RunItem]) -> dict[str, str]:
    """Call id -> the output the model read for it, among ``items``."""
    read: dict[str, str] = {}
    for item in items:
        if isinstance(item, ToolCallOutputItem):
            raw = item.raw_item
            call_id = raw.get("call_id") if isinstance(raw, dict) else getattr(raw, "call_id", None)
            if isinstance(call_id, str):
                read[call_id] = str(item.output)
    return read


def tool_outputs(items: Sequence[RunItem]) -> list[ToolOutput]:
    """Every tool output of ``items``, named by the call it answers."""
    names = {
        call_id: getattr(item.raw_item, "name", None)
        for item in items
        if isinstance(item, ToolCallItem | ToolApprovalItem)
        and (call_id := getattr(item.raw_item, "call_id", None))
    }
    return [
        ToolOutput(call_id=call_id, tool_name=names.get(call_id), output=output)
        for call_id, output in model_read(items).items()
    ]
