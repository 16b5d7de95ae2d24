"""What the store's transitions tell telemetry: metrics and spans, after each write landed.

::

    started = traces.now_ns()
    ...                                            # the conditional update lands
    observe.votes_landed(record, plan, ballot, started)

Each function is called once per landed write, with what the writer already holds (the record
as read, the decisions it wrote): no read of its own. With no meter or tracer provider
configured every call below is the OpenTelemetry API's no-op; none of them raises (a failing
exporter is logged by ``telemetry/guard.py``), since the write they report has landed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from evolving_agents.approvals.ballot import Ballot, CallVote
from evolving_agents.approvals.models import PendingApproval, ToolDecision
from evolving_agents.telemetry import metrics, traces
from evolving_agents.telemetry.guard import harmless


def carrier_of(record: PendingApproval) -> traces.Carrier:
    """The stored trace context of ``record``'s pause, or none."""
    return traces.NO_CARRIER if record.trace is None else record.trace.carrier


def _decided(record: PendingApproval, decision: ToolDecision) -> None:
    metrics.record_decision(
        verdict=decision.verdict.value,
        reviewer_kind=decision.reviewer_kind.value,
        surface=decision.surface,
        waited_seconds=(decision.at - record.created_at).total_seconds(),
    )


@harmless(None)
def votes_landed(
    record: PendingApproval, plan: Sequence[CallVote], ballot: Ballot, started_ns: int
) -> None:
    """A ballot landed on ``record`` (as read before it): each call it settled is a decision,
    and the ballot is one ``eat.decision`` span, a child of the record's pause."""
    settled = 0
    for vote in plan:
        if vote.decision is not None:
            settled += 1
            _decided(record, vote.decision)
    traces.record_span(
        "eat.decision",
        carrier_of(record),
        started_ns,
        {
            traces.APPROVAL_ID: record.id,
            traces.RUN_ID: record.run_id,
            traces.AGENT: record.agent_name,
            "eat.verdict": ballot.verdict.value,
            "eat.reviewer_kind": ballot.reviewer_kind.value,
            "eat.surface": ballot.surface,
            "eat.call_ids": [record.tool_calls[vote.position].call_id for vote in plan],
            "eat.calls_settled": settled,
        },
    )


@harmless(None)
def expiry_landed(
    record: PendingApproval,
    expired: Sequence[tuple[int, ToolDecision]],
    started_ns: int,
) -> None:
    """Overdue calls of ``record`` became timeout rejections: decisions and expiries, and
    one ``eat.expiry`` span, a child of the record's pause."""
    for index, decision in expired:
        call = record.tool_calls[index]
        _decided(record, decision)
        metrics.record_expiry(agent=call.agent_name, tool=call.tool_name)
    traces.record_span(
        "eat.expiry",
        carrier_of(record),
        started_ns,
        {
            traces.APPROVAL_ID: record.id,
            traces.RUN_ID: record.run_id,
            traces.AGENT: record.agent_name,
            "eat.call_ids": [record.tool_calls[index].call_id for index, _ in expired],
        },
    )


@harmless(None)
def claim_landed(record: PendingApproval, *, kind: str, now: datetime) -> None:
    """``record`` (as read before the claim) was claimed: ``kind`` ``decided``, ``partial``
    or ``takeover`` (a lapsed lease: its decision-to-resume was measured at the first claim)."""
    if kind == "takeover":
        metrics.record_takeover()
        return
    decided_at = [call.decision.at for call in record.tool_calls if call.decision is not None]
    waited = (now - max(decided_at)).total_seconds() if decided_at else None
    metrics.record_claim(kind=kind, decided_seconds_ago=waited)
