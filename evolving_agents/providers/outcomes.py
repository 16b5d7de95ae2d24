"""Telling the decision service what became of the calls it scored, without making runs wait.

::

    reports = OutcomeReports(BighubDecisionProvider(api_key=...))
    reports.report(record, outcomes)   # after a resume: success, failure or rejected per call
    await reports.aclose()             # on shutdown: wait for the reports still in flight

Only calls whose signal names a ``request_id`` (the service's handle) and that have a decision
are reported. Reports run as background tasks: best effort by contract, a failing report is
logged and never reaches the run's caller.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from evolving_agents.approvals.models import (
    CallOutcome,
    CallOutcomeStatus,
    PendingApproval,
    ToolCallRecord,
    Verdict,
)

logger = logging.getLogger(__name__)


class OutcomeReporter(Protocol):
    """Receives what happened to decided calls, e.g. ``BighubDecisionProvider``."""

    async def report_outcome(
        self,
        *,
        outcome: Any,
        request_id: str | None = None,
        call_id: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> bool: ...


class OutcomeReports:
    """The provider's outcome reports: one background task per reported call."""

    def __init__(self, reporter: OutcomeReporter | None) -> None:
        self._reporter = reporter
        self._background: set[asyncio.Task[None]] = set()

    async def aclose(self) -> None:
        """Wait for the reports still in flight."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    def report(self, record: PendingApproval, outcomes: Mapping[str, CallOutcome] | None) -> None:
        """Report each decided, scored call of ``record``; ``outcomes`` None: the resumed run
        failed as a whole."""
        reporter = self._reporter
        if reporter is None:
            return
        for call in record.tool_calls:
            request_id = (call.signal or {}).get("request_id")
            if call.decision is None or not isinstance(request_id, str):
                continue
            found = None if outcomes is None else outcomes.get(call.call_id)
            details = {"reviewer_kind": call.decision.reviewer_kind.value, "run_id": record.run_id}
            if found is not None:
                details["status"] = found.status.value
            self.report_call(request_id, call.call_id, _reported(call, found), details)

    def report_call(
        self, request_id: str, call_id: str, outcome: str, details: dict[str, Any]
    ) -> None:
        """Report one call's outcome in the background (a call no reviewer decided, too)."""
        if self._reporter is None:
            return
        task = asyncio.create_task(_report(self._reporter, outcome, request_id, call_id, details))
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def _reported(call: ToolCallRecord, found: CallOutcome | None) -> str:
    if call.decision is not None and call.decision.verdict is Verdict.REJECTED:
        return "rejected"
    if found is None or found.status is not CallOutcomeStatus.EXECUTED:
        return "failure"
    return "success"


async def _report(
    reporter: OutcomeReporter, outcome: str, request_id: str, call_id: str, details: dict[str, Any]
) -> None:
    try:
        await reporter.report_outcome(
            outcome=outcome, request_id=request_id, call_id=call_id, details=details
        )
    except Exception:
        # Best effort by contract: a reporting failure never reaches the run's caller.
        logger.exception("reporting the outcome of call %s failed", call_id)
