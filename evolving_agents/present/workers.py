"""Whether a worker is alive, read from the records it leaves: what ``eat doctor`` reports and
what the inbox's record page says will happen next.

::

    activity = await worker_activity(client, now=utcnow())
    activity.alive            # a lease held now, or a claim within RECENT_CLAIMS
    activity.holders          # the workers holding a lease right now
    activity.last_claim       # (worker id, when) of the newest claim seen, or None

Workers leave no heartbeat of their own: a worker that holds a lease on a ``resuming`` record
now, or wrote a ``claimed`` audit entry in the last minutes, is counted as alive. It reads
through the approvals' read-only ``WorkerTraces`` (as the notifier reads through
``ApprovalChanges``) and writes nothing. Driver errors are
the caller's to name (``PyMongoError``): a surface says "not checked", it does not guess.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from evolving_agents.approvals.worker_traces import WorkerTraces
from evolving_agents.storage.mongodb_client import MongoDBClient
from evolving_agents.storage.names import APPROVALS

# A worker that claimed within this window counts as alive (workers leave no heartbeat).
RECENT_CLAIMS = timedelta(minutes=15)
# The newest records looked at for the last claim, and the resuming ones for leases.
SCANNED = 200


class WorkerActivity(BaseModel):
    """What the records say about the workers at ``now``."""

    now: datetime
    holders: list[str]
    """Workers holding a lease on a ``resuming`` record now, sorted."""
    lapsed: int
    """``resuming`` records whose lease ran out (their worker stopped, most likely)."""
    waiting: int
    """``decided`` records: runs waiting for a worker (or someone) to resume them."""
    last_claim: tuple[str, datetime] | None
    """The newest claim among the newest records: which worker, and when."""

    @property
    def recent_claim(self) -> tuple[str, datetime] | None:
        """The last claim, when it is recent enough to count the worker as alive."""
        if self.last_claim is None or self.now - self.last_claim[1] > RECENT_CLAIMS:
            return None
        return self.last_claim

    @property
    def alive(self) -> bool:
        return bool(self.holders) or self.recent_claim is not None

    @property
    def alive_workers(self) -> list[str]:
        """The workers counted as alive: lease holders, else the one that claimed lately."""
        if self.holders:
            return self.holders
        recent = self.recent_claim
        return [] if recent is None else [recent[0]]


async def worker_activity(
    client: MongoDBClient,
    *,
    now: datetime,
    collection_name: str = APPROVALS,
    ignore: str | None = None,
) -> WorkerActivity:
    """Read the workers' traces from the approvals on ``client`` (three small queries).

    ``ignore``: a worker id whose leases and claims are no worker's (the inbox's own resumes).
    """
    traces = WorkerTraces.on(client, collection_name)
    holders, lapsed = _leases(await traces.resuming_claims(SCANNED), now)
    waiting = await traces.decided_count()
    return WorkerActivity(
        now=now,
        holders=[holder for holder in holders if holder != ignore],
        lapsed=lapsed,
        waiting=waiting,
        last_claim=_last_claim(await traces.newest_claim_audits(SCANNED), ignore),
    )


def _leases(resuming: list[dict[str, Any]], now: datetime) -> tuple[list[str], int]:
    """The workers holding a lease now, and how many resuming records' leases lapsed."""
    holders: set[str] = set()
    lapsed = 0
    for document in resuming:
        claim = document.get("claim") or {}
        lease = claim.get("lease_until")
        if isinstance(lease, datetime) and lease > now:
            holders.add(str(claim.get("worker_id")))
        else:
            lapsed += 1
    return sorted(holders), lapsed


def _last_claim(
    documents: list[dict[str, Any]], ignore: str | None
) -> tuple[str, datetime] | None:
    """The newest claim in these audit trails, not counting ``ignore``'s."""
    last: tuple[str, datetime] | None = None
    for document in documents:
        for entry in document.get("audit") or []:
            at = entry.get("at") if isinstance(entry, dict) else None
            if not isinstance(at, datetime) or entry.get("action") != "claimed":
                continue
            if ignore is not None and entry.get("actor") == ignore:
                continue
            if last is None or at > last[1]:
                last = (str(entry.get("actor")), at)
    return last
