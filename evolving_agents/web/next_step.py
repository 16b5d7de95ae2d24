"""What happens to a run once every call is decided, as the record page says it.

::

    step = await next_step(inbox, record)   # None while calls wait, or once the run finished
    step.kind                               # worker / no_worker / resuming / unknown
    step.sentence                           # "Every call is decided: a worker will resume ..."
    step.resumable                          # whether "Resume the run now" may be offered

A decided run moves only when a worker claims it or someone resumes it. Workers leave no
heartbeat, so whether one is alive is read from the records' leases and claims
(``present.workers``, as ``eat doctor``), and from this record itself: a live, idle worker
claims a decided run within seconds, so one left ``decided`` for longer is not being picked
up, whatever claims happened elsewhere.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel
from pymongo.errors import PyMongoError

from evolving_agents.approvals.models import ApprovalStatus, PendingApproval
from evolving_agents.present.durations import humanize
from evolving_agents.present.workers import RECENT_CLAIMS, WorkerActivity, worker_activity
from evolving_agents.web.inbox import Inbox

logger = logging.getLogger(__name__)

# A worker polls every few seconds at most (``eat worker --max-poll-interval``, 5 s by default)
# and wakes at once on a change stream: a run decided longer ago than this and still not
# claimed, while no worker holds a lease, is not being picked up.
PICKUP_GRACE = timedelta(seconds=30)


class NextStepKind(StrEnum):
    WORKER = "worker"
    """A live worker will claim the run."""
    NO_WORKER = "no_worker"
    """No worker is running (or none picks the run up): it waits until someone resumes it."""
    RESUMING = "resuming"
    """A worker holds the run now."""
    UNKNOWN = "unknown"
    """The workers could not be checked (the database refused the read)."""


class NextStep(BaseModel):
    kind: NextStepKind
    sentence: str
    resumable: bool = True
    """Whether the run may be resumed now (decided, or its worker's lease ran out)."""

    @property
    def needs_someone(self) -> bool:
        """Whether nothing will move the run unless a person acts."""
        return self.kind in (NextStepKind.NO_WORKER, NextStepKind.UNKNOWN)


async def next_step(inbox: Inbox, record: PendingApproval) -> NextStep | None:
    """What happens next to ``record``; None while calls wait for a decision, or when done."""
    now = inbox.clock()
    lapsed = ""
    if record.status is ApprovalStatus.RESUMING:
        worker = record.claim.worker_id or "a worker"
        lease = record.claim.lease_until
        if lease is None or lease > now:
            return NextStep(
                kind=NextStepKind.RESUMING,
                sentence=f"Worker {worker} is resuming this run now.",
                resumable=False,
            )
        # Its worker stopped mid-run, most likely: the run is up for a takeover.
        lapsed = f"Worker {worker} stopped resuming this run (its lease ran out " + (
            f"{humanize(now - lease)} ago). "
        )
    elif record.status is not ApprovalStatus.DECIDED:
        return None
    # This inbox's own resumes are claims too, and it is no worker.
    own = None if inbox.provider is None else inbox.provider.worker_id
    try:
        activity = await worker_activity(inbox.store.client, now=now, ignore=own)
    except PyMongoError as exc:
        logger.warning("inbox: could not check the workers: %s", type(exc).__name__)
        return NextStep(
            kind=NextStepKind.UNKNOWN,
            sentence=f"{lapsed}Every call is decided. Whether a worker is running could not be "
            "checked.",
        )
    return _from_activity(activity, lapsed, waited=now - (lease_end(record) or record.updated_at))


def lease_end(record: PendingApproval) -> datetime | None:
    """When a resuming record's lease ran out; None for any other record."""
    if record.status is not ApprovalStatus.RESUMING:
        return None
    return record.claim.lease_until


def _from_activity(activity: WorkerActivity, lapsed: str, *, waited: timedelta) -> NextStep:
    decided = f"{lapsed}Every call is decided"
    if activity.holders:
        names = ", ".join(activity.holders)
        return NextStep(
            kind=NextStepKind.WORKER,
            sentence=f"{decided}: a worker will resume this run ({names} holding a lease now).",
        )
    recent = activity.recent_claim
    if recent is not None and waited <= PICKUP_GRACE:
        return NextStep(
            kind=NextStepKind.WORKER,
            sentence=f"{decided}: a worker will resume this run ({recent[0]} claimed a run "
            f"{humanize(activity.now - recent[1])} ago).",
        )
    if recent is not None:
        return NextStep(
            kind=NextStepKind.NO_WORKER,
            sentence=f"{decided}, but no worker has picked this run up in {humanize(waited)} "
            f"(the last claim was {recent[0]}'s, {humanize(activity.now - recent[1])} ago): "
            "the run waits until someone resumes it.",
        )
    minutes = int(RECENT_CLAIMS.total_seconds() // 60)
    return NextStep(
        kind=NextStepKind.NO_WORKER,
        sentence=f"{decided}, but no worker is running (none claimed a run in the last "
        f"{minutes} minutes): the run waits until someone resumes it.",
    )
