"""A lease renewal that fails is logged, counted in the worker's stats and retried; one that
cannot get through before the lease runs out ends the claim with ``LeaseLost``; a renewing
task that dies stops the run the same way. Faults are injected on the real wire server with
``failCommand`` on the renewing worker's own client (see ``test_hardening_leases.py``)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from evolving_agents import ApprovalStatus
from evolving_agents.approvals import LeaseLost, lease
from evolving_agents.approvals.lease import hold_lease
from evolving_agents.approvals.worker import ResumeWorker
from tests.test_hardening_leases import (
    LEASE,
    Body,
    Deployment,
    _decided_run,
    _until,
    deployment,  # noqa: F401  (the fixture)
)


@pytest.mark.wire
async def test_a_failed_renewal_is_counted_in_the_worker_stats_and_the_run_completes(
    deployment: Deployment,  # noqa: F811  (the imported fixture)
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = Body(seconds=1.5)
    w1 = deployment.worker("w1", body)
    approval_id = await _decided_run(w1)
    worker = ResumeWorker(w1.provider, worker_id="w1", poll_interval=0.05, max_poll_interval=0.2)

    running = asyncio.create_task(worker.run(drain=True))
    await _until(lambda: bool(body.starts))
    await deployment.fail_updates_of(w1, {"times": 1}, errorCode=2)
    with caplog.at_level(logging.WARNING):
        stats = await asyncio.wait_for(running, timeout=20)

    assert w1.listener.failures.count("update") == 1, "the renewal really failed"
    assert stats.lease_renewal_failures == 1
    assert (stats.completed, stats.errors) == (1, 0), "retried within the lease: still held"
    assert any("renewal 1 of the lease" in r.getMessage() for r in caplog.records), "logged"
    record = await w1.provider.store.get(approval_id)
    assert record.status is ApprovalStatus.COMPLETED and record.claim.attempts == 1


@pytest.mark.wire
async def test_renewals_that_never_get_through_end_the_claim_with_lease_lost_and_are_counted(
    deployment: Deployment,  # noqa: F811  (the imported fixture)
) -> None:
    body = Body()
    w1 = deployment.worker("w1", body, hang_after_tool=True)
    approval_id = await _decided_run(w1)
    worker = ResumeWorker(w1.provider, worker_id="w1", poll_interval=0.05, max_poll_interval=5)

    running = asyncio.create_task(worker.run())
    await _until(lambda: bool(body.ends))
    await deployment.fail_updates_of(w1, "alwaysOn", errorCode=2)
    await _until(lambda: worker.stats.errors == 1, timeout=LEASE * 10)
    worker.request_stop(force=True)
    stats = await asyncio.wait_for(running, timeout=10)

    assert stats.lease_renewal_failures >= 1
    assert stats.last_error is not None and "LeaseLost" in stats.last_error
    assert stats.claimed == 1 and stats.completed == 0
    await deployment.disarm()
    left = await w1.provider.store.get(approval_id)
    assert left.status is ApprovalStatus.RESUMING and left.claim.worker_id == "w1"
    assert left.result.final_output is None, "nothing was reported as done"


class _Renewer:
    def __init__(self) -> None:
        self.renewals = 0

    async def renew_lease(self, approval_id: str, worker_id: str, lease_seconds: float) -> Any:
        self.renewals += 1
        return None


async def test_a_lease_keeper_that_dies_stops_the_run_with_lease_lost(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(self: Any) -> None:
        raise RuntimeError("a bug in the keeper")

    monkeypatch.setattr(lease._Keeper, "run", broken)
    with caplog.at_level(logging.ERROR), pytest.raises(LeaseLost, match="keeper died"):
        async with hold_lease(_Renewer(), "a1", "w1", 30.0):
            await asyncio.sleep(5)
    assert any("lease keeper of a1 died" in r.getMessage() for r in caplog.records)
