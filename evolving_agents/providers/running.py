"""How the provider runs a run: fresh or resumed, streamed or not, each inside its scope.

::

    runs = RunDriver(store, codec, ledger, registry, supplies_for, OutcomeReports(reporter))
    done = await runs.run(agent, "Grant Alice Okta admin", plan, labels, worker_id)
    async for event in runs.stream_resume(approval_id, worker_id, ResumeArgs(), lease_seconds):
        ...                                            # SDK events, then our AgentRunResult

Every ``Runner.run`` (or ``Runner.run_streamed``) runs inside one scope: the ledger scope its
governed tools record their executions in (``approvals/ledger.py``), and a fresh decision-signal
recorder (``adapters/call_signals.py``) that the run's pause record reads its signals from. Both
are context variables; the SDK's tasks (a streamed run's, each tool's) copy them when they start,
so a streamed run needs the scope only while it is started. A resumed run also runs under its
claim's lease (``approvals/lease.py``), and whatever it raises ends the record ``failed``, never
``resuming``, unless the run was stopped because the lease was lost.

Each run is an OpenTelemetry span (``telemetry/traces.py``): a fresh run ``eat.run``, current
while it runs so its pause is inside it; a resume ``eat.resume``, a child of the pause it
resumes (the trace context stored on the record), whichever process runs it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from agents import Agent, Runner
from agents.exceptions import AgentsException
from agents.stream_events import StreamEvent
from opentelemetry.trace import Span
from opentelemetry.util.types import AttributeValue

from evolving_agents.adapters.call_signals import RunSignals, recording_signals
from evolving_agents.approvals import observe
from evolving_agents.approvals.codec import StateCodec
from evolving_agents.approvals.lease import hold_lease
from evolving_agents.approvals.ledger import LedgerScope, ToolExecutionLedger, current_scope
from evolving_agents.approvals.models import AgentRunResult, PendingApproval, RunStatus
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.providers.agent_registry import AgentRegistry
from evolving_agents.providers.outcomes import OutcomeReports
from evolving_agents.providers.pausing import PauseWriter, RunLabels, describe
from evolving_agents.providers.resuming import Resume, Resumer
from evolving_agents.providers.run_options import RunSupplies
from evolving_agents.providers.run_plan import ResumeArgs, RunPlan
from evolving_agents.telemetry import metrics, traces

logger = logging.getLogger(__name__)


class RunDriver:
    """Runs agents for the provider: the scopes, the lease and the boundaries around the SDK."""

    def __init__(
        self,
        store: PendingApprovalStore,
        codec: StateCodec,
        ledger: ToolExecutionLedger,
        registry: AgentRegistry,
        supplies_for: Callable[[str], RunSupplies],
        reports: OutcomeReports,
    ) -> None:
        self._ledger = ledger
        self._store = store
        self._pauses = PauseWriter(store, codec)
        self._resumer = Resumer(store, codec, registry, supplies_for, self._pauses, reports, ledger)

    @contextlib.contextmanager
    def scope(self, run_id: str, approval_id: str | None, worker_id: str) -> Iterator[RunSignals]:
        """One run's scope: the ledger its governed tools record in, and its signal recorder."""
        token = current_scope.set(LedgerScope(self._ledger, run_id, approval_id, worker_id))
        try:
            with recording_signals() as signals:
                yield signals
        finally:
            current_scope.reset(token)

    async def run(
        self,
        agent: Agent[Any],
        input: str | list[Any],
        plan: RunPlan,
        labels: RunLabels,
        worker_id: str,
    ) -> AgentRunResult:
        """A fresh run, until it finishes or pauses (then its pause is stored)."""
        with traces.run_span(agent=agent.name, run_id=labels.run_id) as span:
            try:
                with self.scope(labels.run_id, None, worker_id) as signals:
                    result = await Runner.run(agent, input, **plan.runner_options())
            except AgentsException as exc:
                logger.warning("run %s of %s failed: %s", labels.run_id, agent.name, exc)
                traces.mark_failed(span, describe(exc))
                return _run_error(labels, agent, exc)
            return await self._pauses.settle(result, agent, plan, labels, signals)

    async def stream(
        self,
        agent: Agent[Any],
        input: str | list[Any],
        plan: RunPlan,
        labels: RunLabels,
        worker_id: str,
    ) -> AsyncIterator[StreamEvent | AgentRunResult]:
        """``run``, yielding the SDK's stream events and then the same result."""
        # Current only around what it covers, never across a yield (the consumer's context).
        span = traces.start_run_span(agent=agent.name, run_id=labels.run_id)
        with traces.ending(span):  # ended however the stream ends; an exporter never raises
            with traces.current(span), self.scope(labels.run_id, None, worker_id) as signals:
                # The streamed run's tasks copy this context when they start, inside the scope.
                streamed = Runner.run_streamed(agent, input, **plan.runner_options())
            try:
                async for event in streamed.stream_events():
                    yield event
            except AgentsException as exc:
                traces.mark_failed(span, describe(exc))
                yield _run_error(labels, agent, exc)
                return
            with traces.current(span):
                outcome = await self._pauses.settle(streamed, agent, plan, labels, signals)
            yield outcome

    async def resume(
        self,
        approval_id: str,
        worker_id: str,
        args: ResumeArgs,
        lease_seconds: float,
        known: PendingApproval | None = None,
    ) -> AgentRunResult:
        """Claim, run on under the lease, and record how the run ended."""
        started = traces.now_ns()
        resume = await self._resumer.begin(
            approval_id, worker_id, args, lease_seconds, known=known
        )
        record = resume.record
        with (
            traces.resume_span(
                observe.carrier_of(record), started, _span_attributes(resume)
            ) as span,
            _in_flight(),
        ):
            outcome = await self._resume_claimed(resume, lease_seconds)
            _mark_outcome(span, outcome)
            return outcome

    async def _resume_claimed(self, resume: Resume, lease_seconds: float) -> AgentRunResult:
        approval_id, worker_id = resume.record.id, resume.worker_id
        run_id = resume.record.run_id
        async with hold_lease(self._store, approval_id, worker_id, lease_seconds) as lease:
            try:
                with self.scope(run_id, approval_id, worker_id) as signals:
                    result = await Runner.run(
                        resume.agent, resume.state, **resume.plan.runner_options(resumed=True)
                    )
            except Exception as exc:
                # Stopped for its lease (the SDK may have wrapped the stop): not a failure of
                # the run, and not this worker's to record; the record is left for a takeover.
                lease.raise_if_lost()
                # Boundary: a resumed run that raises must end `failed`, never stay `resuming`.
                logger.exception("resumed run %s (%s) failed", run_id, approval_id)
                with lease.finishing():
                    return await self._resumer.failed(resume, exc)
            with lease.finishing():
                return await self._resumer.finish(resume, result, signals)

    async def stream_resume(
        self,
        approval_id: str,
        worker_id: str,
        args: ResumeArgs,
        lease_seconds: float,
        known: PendingApproval | None = None,
    ) -> AsyncIterator[StreamEvent | AgentRunResult]:
        """``resume``, yielding the SDK's stream events and then the same result."""
        started = traces.now_ns()
        resume = await self._resumer.begin(
            approval_id, worker_id, args, lease_seconds, known=known
        )
        run_id = resume.record.run_id
        # As in stream: current only around what it covers, never across a yield.
        span = traces.start_resume_span(
            observe.carrier_of(resume.record), started, _span_attributes(resume)
        )
        with _in_flight(), traces.ending(span):
            async with hold_lease(self._store, approval_id, worker_id, lease_seconds) as lease:
                try:
                    scope = self.scope(run_id, approval_id, worker_id)
                    with traces.current(span), scope as signals:
                        streamed = Runner.run_streamed(
                            resume.agent, resume.state, **resume.plan.runner_options(resumed=True)
                        )
                    # A lost lease stops the SDK's run task, not whatever this generator's
                    # caller is doing between events; the stream then ends and the check below
                    # raises.
                    lease.stop_with(streamed.cancel)
                    async for event in streamed.stream_events():
                        yield event
                except Exception as exc:
                    lease.raise_if_lost()  # as in resume
                    # Boundary: as in resume, the record must not stay `resuming`.
                    logger.exception("resumed run %s (%s) failed", run_id, approval_id)
                    with lease.finishing():
                        failed = await self._resumer.failed(resume, exc)
                    _mark_outcome(span, failed)
                    yield failed
                    return
                lease.raise_if_lost()
                with lease.finishing(), traces.current(span):
                    finished = await self._resumer.finish(resume, streamed, signals)
                _mark_outcome(span, finished)
                yield finished


@contextlib.contextmanager
def _in_flight() -> Iterator[None]:
    metrics.IN_FLIGHT.add(1)
    try:
        yield
    finally:
        metrics.IN_FLIGHT.add(-1)


def _span_attributes(resume: Resume) -> dict[str, AttributeValue]:
    record = resume.record
    attributes: dict[str, AttributeValue] = {
        traces.APPROVAL_ID: record.id,
        traces.RUN_ID: record.run_id,
        traces.SEQUENCE: record.sequence,
        traces.AGENT: record.agent_name,
        "eat.worker_id": resume.worker_id,
    }
    if record.trace is not None and record.trace.sdk_trace_id is not None:
        attributes[traces.SDK_TRACE_ID] = record.trace.sdk_trace_id
    return attributes


def _mark_outcome(span: Span, outcome: AgentRunResult) -> None:
    if outcome.status in (RunStatus.ERROR, RunStatus.TOOL_ERROR):
        traces.mark_failed(span, outcome.error or outcome.status.value)
    if outcome.status is RunStatus.AWAITING_APPROVAL and outcome.approval_id is not None:
        span.set_attribute("eat.next_approval_id", outcome.approval_id)


def _run_error(labels: RunLabels, agent: Agent[Any], exc: BaseException) -> AgentRunResult:
    return AgentRunResult(
        status=RunStatus.ERROR, run_id=labels.run_id, agent_name=agent.name, error=describe(exc)
    )
