"""What happens to a run once every call is decided, as the record page says it.

::

    step = await next_step(inbox, record)   # None while calls wait, or once the run finished
    step.kind                               # worker / no_worker / resuming / unknown
    step.sentence                           # "A worker will resume this run: ..."

A decided run moves only when a worker claims it or someone resumes it; whether a worker is
alive is read from the records' leases and claims (``present.workers``, as ``eat doctor``).
"""

from __future__ import annotations

import logging
from enum import StrEnum

from pydantic import BaseModel
from pymongo.errors import PyMongoError

from evolving_agents.approvals.models import ApprovalStatus, PendingApproval
from evolving_agents.present.durations import humanize
from evolving_agents.present.workers import RECENT_CLAIMS, worker_activity
from evolving_agents.web.inbox import Inbox

logger = logging.getLogger(__name__)


class NextStepKind(StrEnum):
    WORKER = "worker"
    """A live worker will claim the run."""
    NO_WORKER = "no_worker"
    """No worker is running: the run waits until someone resumes it."""
    RESUMING = "resuming"
    """A worker holds the run now."""
    UNKNOWN = "unknown"
    """The workers could not be checked (the database refused the read)."""


class NextStep(BaseModel):
    kind: NextStepKind
    sentence: str

    @property
    def needs_someone(self) -> bool:
        """Whether nothing will move the run unless a person acts."""
        return self.kind in (NextStepKind.NO_WORKER, NextStepKind.UNKNOWN)


async def next_step(inbox: Inbox, record: PendingApproval) -> NextStep | None:
    """What happens next to ``record``; None while calls wait for a decision, or when done."""
    if record.status is ApprovalStatus.RESUMING:
        worker = record.claim.worker_id or "a worker"
        return NextStep(
            kind=NextStepKind.RESUMING, sentence=f"Worker {worker} is resuming this run now."
        )
    if record.status is not ApprovalStatus.DECIDED:
        return None
    now = inbox.clock()
    try:
        activity = await worker_activity(inbox.store.client, now=now)
    except PyMongoError as exc:
        logger.warning("inbox: could not check the workers: %s", type(exc).__name__)
        return NextStep(
            kind=NextStepKind.UNKNOWN,
            sentence="Every call is decided. Whether a worker is running could not be checked.",
        )
    if activity.holders:
        names = ", ".join(activity.holders)
        return NextStep(
            kind=NextStepKind.WORKER,
            sentence=f"Every call is decided: a worker will resume this run ({names} "
            "holding a lease now).",
        )
    recent = activity.recent_claim
    if recent is not None:
        return NextStep(
            kind=NextStepKind.WORKER,
            sentence=f"Every call is decided: a worker will resume this run ({recent[0]} "
            f"claimed a run {humanize(now - recent[1])} ago).",
        )
    minutes = int(RECENT_CLAIMS.total_seconds() // 60)
    return NextStep(
        kind=NextStepKind.NO_WORKER,
        sentence=f"Every call is decided, but no worker is running (none claimed a run in the "
        f"last {minutes} minutes): the run waits until someone resumes it.",
    )
