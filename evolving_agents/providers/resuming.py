"""Resuming a paused run: verify once, claim, load the state, and record how it ended.

::

    resumer = Resumer(store, codec, registry, supplies_for, pauses, reports, ledger)
    resume = await resumer.begin(approval_id, worker_id, ResumeArgs(), lease_seconds)
    with recording_signals() as signals:                    # the run's scope (running.py)
        result = await Runner.run(resume.agent, resume.state, **resume.plan.runner_options(
            resumed=True))
    run = await resumer.finish(resume, result, signals)     # or resumer.failed(resume, exc)

``begin`` reads the record with its state once and verifies it once: the blob's hash, its
signature and its schema version (``StateCodec.decode``), and the seals over everything else that
decides the resume (``check_integrity``). Every run option the paused run needs is resolved too.
Only then is the record claimed, so a tampered record, or one this process cannot resume as it
paused, is refused and left exactly as it was. The claim is a compare-and-set on the record as
read; after it the claimed record must still hold the very blob that was verified (same digest
and signature: only ``create`` writes state), else the claim is released and the resume refused.
Whatever stops the load after the claim releases it too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, NamedTuple

from agents import Agent, RunState

from evolving_agents.adapters.call_signals import RunSignals
from evolving_agents.adapters.edits import apply_edits
from evolving_agents.approvals.codec import StateCodec
from evolving_agents.approvals.ledger import ToolExecutionLedger
from evolving_agents.approvals.models import (
    AgentRunResult,
    ApprovalStatus,
    CallOutcome,
    CallOutcomeStatus,
    PendingApproval,
    RunStatus,
    StoredState,
)
from evolving_agents.approvals.records import handed_on, holds_state
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.errors import ApprovalConflict, StateIntegrityError
from evolving_agents.providers.agent_registry import AgentRegistry
from evolving_agents.providers.outcomes import OutcomeReports
from evolving_agents.providers.pausing import PauseWriter, RunLabels, describe
from evolving_agents.providers.run_options import RunSupplies
from evolving_agents.providers.run_plan import (
    ResumeArgs,
    RunPlan,
    resumed_plan,
    resumes_partially,
)
from evolving_agents.providers.turns import apply_decisions, call_outcomes, tool_outputs
from evolving_agents.telemetry import metrics

logger = logging.getLogger(__name__)


class Resume(NamedTuple):
    """A claimed record, ready to run: its agent, its restored state and its options."""

    record: PendingApproval
    agent: Agent[Any]
    state: RunState[Any, Any]
    plan: RunPlan
    worker_id: str


class Resumer:
    """Begins and ends resumed runs; running them is the provider's."""

    def __init__(
        self,
        store: PendingApprovalStore,
        codec: StateCodec,
        registry: AgentRegistry,
        supplies_for: Callable[[str], RunSupplies],
        pauses: PauseWriter,
        reports: OutcomeReports,
        ledger: ToolExecutionLedger,
    ) -> None:
        self._store = store
        self._codec = codec
        self._registry = registry
        self._supplies_for = supplies_for
        self._pauses = pauses
        self._reports = reports
        self._ledger = ledger

    async def begin(
        self,
        approval_id: str,
        worker: str,
        args: ResumeArgs,
        lease_seconds: float,
        *,
        known: PendingApproval | None = None,
    ) -> Resume:
        """Verify, resolve every option, claim, and load the state: ready to run.

        ``known`` (a decided record with its state, as this process holds it) stands in for
        the read; a claim it loses to a change since, the record still decided (released by
        another worker, say), is tried once more on a fresh read.
        """
        unclaimed = resumable_known(known, approval_id)
        if unclaimed is None:
            unclaimed = await self._store.get(approval_id, include_state=True)
        try:
            return await self._begin(unclaimed, worker, args, lease_seconds)
        except ApprovalConflict as exc:
            if unclaimed is not known or exc.status != ApprovalStatus.DECIDED.value:
                raise
        fresh = await self._store.get(approval_id, include_state=True)
        return await self._begin(fresh, worker, args, lease_seconds)

    async def _begin(
        self, unclaimed: PendingApproval, worker: str, args: ResumeArgs, lease_seconds: float
    ) -> Resume:
        approval_id = unclaimed.id
        # The one decode of this resume; everything below works on this verified JSON.
        state_json = self._codec.decode(approval_id, unclaimed.state)
        # Everything that decides this resume (calls, arguments, run id, each decision and
        # its votes, the status) must carry the app key's seals; else nothing is touched.
        self._store.check_integrity(unclaimed)
        agent = self._registry.get(unclaimed.agent_name)
        supplies = self._supplies_for(unclaimed.agent_name)
        plan = await resumed_plan(unclaimed, state_json, supplies, args)
        partial = resumes_partially(unclaimed, supplies, args)
        if partial and unclaimed.status is ApprovalStatus.PENDING:
            record = await self._store.claim_partial(approval_id, worker, lease_seconds)
        else:
            record = await self._store.claim_for_resume(
                approval_id, worker, lease_seconds, known=unclaimed
            )
        try:
            if not _same_state(record.state, unclaimed.state):
                # Only create writes state; a different blob now is someone else's write.
                raise StateIntegrityError(
                    approval_id, "the run state changed between its check and the claim"
                )
            state = await self._load_state(record, agent, state_json, plan, partial=partial)
        except BaseException as exc:
            # Boundary: whatever stopped the load, the record goes back untouched.
            await self._store.release(approval_id, worker, reason=describe(exc), known=record)
            raise
        return Resume(record, agent, state, plan, worker)

    async def finish(self, resume: Resume, result: Any, signals: RunSignals) -> AgentRunResult:
        """Record how the resumed run ended: ``completed`` (finished, or paused again into
        the run's next record), or ``failed`` when that next pause cannot be stored."""
        record = resume.record
        outcomes = await call_outcomes(record, resume.agent, result.new_items, self._ledger)
        try:
            outcome = await self._pauses.settle(
                result,
                resume.agent,
                resume.plan,
                RunLabels.of(record),
                signals,
                previous=record,
                outcomes=outcomes,
            )
        except Exception as exc:
            # Boundary: the run went on and paused again, but that pause cannot be stored
            # (too large, keys the database refuses, a context that cannot be kept). Waiting
            # for the lease would call the model again on every takeover: end it `failed`,
            # with what the approved calls did and why it stopped.
            logger.exception("run %s: the next pause cannot be stored", record.run_id)
            return await self._unstorable_pause(resume, result, outcomes, exc)
        await self._store.complete(
            record.id,
            resume.worker_id,
            final_output=outcome.final_output,
            next_approval_id=outcome.approval_id
            if outcome.status is RunStatus.AWAITING_APPROVAL
            else None,
            outcomes=_by_index(record, outcomes),
            known=record,
        )
        self._reports.report(record, outcomes)
        _count_finished(record, outcomes, outcome)
        return outcome

    async def failed(self, resume: Resume, exc: Exception) -> AgentRunResult:
        """Record that the resumed run raised: ``failed``, never left ``resuming``."""
        record = resume.record
        await self._store.fail(record.id, resume.worker_id, describe(exc), known=record)
        self._reports.report(record, None)
        metrics.record_resume_finished(outcome="failed")
        return AgentRunResult(
            status=RunStatus.ERROR,
            run_id=record.run_id,
            sequence=record.sequence,
            agent_name=record.agent_name,
            approval_id=record.id,
            error=describe(exc),
        )

    async def _unstorable_pause(
        self, resume: Resume, result: Any, outcomes: dict[str, CallOutcome], exc: Exception
    ) -> AgentRunResult:
        record = resume.record
        reason = f"the run paused again but its next pause cannot be stored: {describe(exc)}"
        await self._store.fail(
            record.id,
            resume.worker_id,
            reason,
            known=record,
            outcomes=_by_index(record, outcomes),
        )
        self._reports.report(record, outcomes)
        _count_tool_errors(record, outcomes)
        metrics.record_resume_finished(outcome="failed")
        return AgentRunResult(
            status=RunStatus.ERROR,
            run_id=record.run_id,
            sequence=record.sequence,
            agent_name=record.agent_name,
            approval_id=record.id,
            error=reason,
            tool_outputs=tool_outputs(result.new_items),
            outcomes=outcomes,
        )

    async def _load_state(
        self,
        record: PendingApproval,
        agent: Agent[Any],
        state_json: dict[str, Any],
        plan: RunPlan,
        *,
        partial: bool,
    ) -> RunState[Any, Any]:
        reviewed = apply_edits(state_json, record)
        codec = plan.restore_codec
        state: RunState[Any, Any] = await RunState.from_json(
            agent,
            state_json,
            context_override=plan.context,
            context_deserializer=None if codec is None else codec.deserialize,
        )
        if plan.override_max_turns and plan.max_turns is not None:
            # The SDK resumes with the limit stored in the state; the caller asked for another.
            state._max_turns = plan.max_turns
        formatter = None if plan.run_config is None else plan.run_config.tool_error_formatter
        apply_decisions(
            state, record, reviewed, partial=partial, default_rejection=formatter is None
        )
        return state


def resumable_known(known: PendingApproval | None, approval_id: str) -> PendingApproval | None:
    """``known``, if a resume may start from it without reading: the same record, decided,
    with its state blob. Anything else (pending, claimed, read without its state) is read."""
    known = handed_on(known, approval_id)
    if known is None or known.status is not ApprovalStatus.DECIDED or not holds_state(known):
        return None
    return known


def _count_finished(
    record: PendingApproval, outcomes: dict[str, CallOutcome], outcome: AgentRunResult
) -> None:
    _count_tool_errors(record, outcomes)
    paused = outcome.status is RunStatus.AWAITING_APPROVAL
    metrics.record_resume_finished(outcome="paused" if paused else "completed")


def _count_tool_errors(record: PendingApproval, outcomes: dict[str, CallOutcome]) -> None:
    """Each approved call whose body raised: the approved action did not happen."""
    for call in record.tool_calls:
        outcome = outcomes.get(call.call_id)
        if outcome is not None and outcome.status is CallOutcomeStatus.TOOL_ERROR:
            metrics.record_tool_error(agent=call.agent_name, tool=call.tool_name)


def _same_state(claimed: StoredState | None, verified: StoredState | None) -> bool:
    """Whether the claimed record refers to the blob that was verified: the digest and the
    signature over it (and the approval id, schema version and encoding) are the blob's name."""
    if claimed is None or verified is None:
        return False
    return (claimed.sha256, claimed.hmac) == (verified.sha256, verified.hmac)


def _by_index(record: PendingApproval, outcomes: dict[str, CallOutcome]) -> dict[int, CallOutcome]:
    """Call index -> outcome, as the store keeps outcomes on the record's calls."""
    return {
        index: outcomes[call.call_id]
        for index, call in enumerate(record.tool_calls)
        if call.call_id in outcomes
    }
