"""Escalations and deadline warnings: written once in the audit trail, then sent by every sink.

::

    routes = NotifyRoutes.from_settings(settings.notify)      # escalate_after, warn_before
    scheduler = EscalationScheduler(store, routes, interval=settings.notify.escalation_interval)
    await scheduler.run_once()                 # one look; how many notices it recorded
    await scheduler.run_forever()              # a look every interval (WebhookService runs it)

A pending record whose route says ``escalate_after`` (with an ``escalate_to``) gets one
``escalated`` audit entry once it has waited that long with a call undecided; one whose first
undecided call's deadline is within the route's ``warn_before`` gets one ``deadline_warning``
entry, never after the deadline. The webhook service's feed turns each entry into an
``approval.escalated`` or ``approval.deadline_warning`` event for every sink, like any other
transition: nothing here sends anything.

Once, with any number of schedulers in any number of processes: each entry is written by one
conditional update (pending, no entry of that action yet, the version read;
``PendingApprovalStore.add_notice``), and the outbox keys each event on ``<id>:<type>``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from evolving_agents.approvals.deadlines import first_deadline
from evolving_agents.approvals.lifecycle import Notice
from evolving_agents.approvals.models import (
    PendingApproval,
    UtcDatetime,
    utcnow,
)
from evolving_agents.approvals.protocols import ApprovalStore
from evolving_agents.errors import ApprovalConflict, ApprovalNotFound, UnreadableRecord
from evolving_agents.notify.routing import NotifyRoutes, Target
from evolving_agents.telemetry import metrics

logger = logging.getLogger(__name__)

SCHEDULER_ACTOR = "eat-escalation"
"""Who the audit trail says wrote an escalation or a warning."""


class EscalationNotice(BaseModel):
    """The detail of an ``escalated`` audit entry: the ``notice`` of ``approval.escalated``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    escalate_to: Target
    after_seconds: float
    """The route's ``escalate_after``: how long the record had waited undecided."""
    route: int | None = None
    """The index of the ``[[routes]]`` entry that asked for it; None: the default."""


class DeadlineNotice(BaseModel):
    """The detail of a ``deadline_warning`` entry: the ``notice`` of
    ``approval.deadline_warning``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    deadline: UtcDatetime
    """When the first undecided call expires (stored as ISO 8601)."""
    warn_before_seconds: float
    tool_name: str | None = None
    """The tool of that call (the entry's ``call_id`` names the call itself)."""
    route: int | None = None


class EscalationScheduler:
    """Looks for overdue and near-deadline pending records and records each notice once.

    ``store`` is any ``ApprovalStore`` (it answers the two indexed queries and writes the
    entries); ``routes`` say which delays and lead times apply to a record; ``clock`` is "now"
    for ``run_once`` without an argument. Safe to run in every process that notifies.
    """

    def __init__(
        self,
        store: ApprovalStore,
        routes: NotifyRoutes,
        *,
        interval: float = 30.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if interval <= 0:
            raise ValueError("the escalation interval must be positive")
        self._store = store
        self._routes = routes
        self.interval = interval
        self._clock = clock

    async def run_forever(self, on_round: Callable[[], None] | None = None) -> None:
        """``run_once`` every ``interval`` seconds until cancelled; ``on_round`` after each
        round that completed (what a health check counts)."""
        while True:
            await self.run_once()
            if on_round is not None:
                on_round()
            await asyncio.sleep(self.interval)

    async def run_once(self, now: datetime | None = None) -> int:
        """One look at ``now``: every escalation and warning due, each recorded once; returns
        how many this call recorded (another scheduler's are not counted)."""
        now = self._clock() if now is None else now
        recorded = 0
        shortest = self._routes.shortest_escalation
        if shortest is not None:
            waiting = self._store.awaiting_notice(Notice.ESCALATED, created_before=now - shortest)
            async for record in waiting:
                if self._escalation(record, now) is not None:
                    recorded += await self._record(record, Notice.ESCALATED, now)
        longest = self._routes.longest_warning
        if longest is not None:
            expiring = self._store.awaiting_notice(
                Notice.DEADLINE_WARNING, deadline_before=now + longest
            )
            async for record in expiring:
                if self._warning(record, now) is not None:
                    recorded += await self._record(record, Notice.DEADLINE_WARNING, now)
        return recorded

    async def _record(self, record: PendingApproval, notice: Notice, now: datetime) -> int:
        def detail_for(current: PendingApproval) -> Mapping[str, Any] | None:
            # Asked again on the record as the write reads it: a vote or an expiry that landed
            # since the query must not be escalated or warned about.
            if notice is Notice.ESCALATED:
                return self._escalation(current, now)
            return self._warning(current, now)

        try:
            written = await self._store.add_notice(
                record.id, notice, detail_for, by=SCHEDULER_ACTOR, now=now
            )
        except (ApprovalConflict, ApprovalNotFound, UnreadableRecord) as exc:
            # Busy, purged or damaged meanwhile: the next round looks again (a damaged
            # record is logged once by the store).
            logger.info("%s of %s skipped this round: %s", notice.value, record.id, exc)
            return 0
        if written is None:
            return 0  # another scheduler wrote it first, or it no longer applies
        entry = next(item for item in reversed(written.audit) if item.action == notice.value)
        tool = _tool_of(written, entry.call_id)
        kind = "escalation" if notice is Notice.ESCALATED else "warning"
        metrics.record_escalation(agent=written.agent_name, tool=tool, kind=kind)
        logger.info("approval %s: %s recorded (%s)", written.id, notice.value, entry.detail)
        return 1

    def _escalation(self, record: PendingApproval, now: datetime) -> dict[str, Any] | None:
        """The detail of the escalation due on ``record`` at ``now``, or None."""
        route = self._routes.route_for(record)
        target, after = route.escalate_to, route.escalate_after
        if target is None or target.empty or after is None:
            return None
        if now < record.created_at + after or not record.undecided_calls():
            return None
        notice = EscalationNotice(
            escalate_to=target, after_seconds=after.total_seconds(), route=route.matched
        )
        return notice.model_dump(mode="json")

    def _warning(self, record: PendingApproval, now: datetime) -> dict[str, Any] | None:
        """The detail of the deadline warning due on ``record`` at ``now``, or None."""
        route = self._routes.route_for(record)
        lead = route.warn_before
        first = first_deadline(record)
        if lead is None or first is None:
            return None
        deadline, call = first
        if not deadline - lead <= now < deadline:
            return None
        notice = DeadlineNotice(
            deadline=deadline,
            warn_before_seconds=lead.total_seconds(),
            tool_name=call.tool_name,
            route=route.matched,
        )
        # call_id goes to the audit entry's own field (records.audit takes it out of detail).
        return {**notice.model_dump(mode="json"), "call_id": call.call_id}


def _tool_of(record: PendingApproval, call_id: str | None) -> str:
    """The tool a notice is about: its call's, else the first undecided call's."""
    calls = [call for call in record.tool_calls if call.call_id == call_id]
    calls = calls or record.undecided_calls() or record.tool_calls
    return calls[0].tool_name


__all__ = [
    "SCHEDULER_ACTOR",
    "DeadlineNotice",
    "EscalationNotice",
    "EscalationScheduler",
]
