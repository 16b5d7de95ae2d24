"""Runs OpenAI Agents SDK agents with durable pauses for tool approval.

::

    provider = OpenAIAgentsProvider(mongodb_client=MongoDBClient(), registry=registry)
    run = await provider.execute_agent("ops-agent", "Grant Alice Okta admin for 48h")
    if run.status is RunStatus.AWAITING_APPROVAL:
        ...                                   # hours later, in any process:
    await provider.store.decide(run.approval_id, verdict="approved", reviewer="alice")
    done = await provider.resume_agent(run.approval_id)
    done.final_output

This is the only module that runs agents. A run that stops on tool approvals is serialized,
signed and stored as one ``PendingApproval``; ``resume_agent`` claims it, so it resumes once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NamedTuple, Protocol

from agents import (
    Agent,
    RunConfig,
    RunErrorHandlers,
    RunHooks,
    Runner,
    RunState,
    set_tracing_disabled,
)
from agents.exceptions import AgentsException
from agents.memory import Session
from agents.stream_events import StreamEvent
from pydantic_core import to_jsonable_python

from evolving_agents.adapters.edits import apply_edits, check_edited_arguments
from evolving_agents.adapters.openai_tool_adapter import OpenAIToolAdapter
from evolving_agents.approvals.codec import StateCodec
from evolving_agents.approvals.lease import RunLease, hold_lease
from evolving_agents.approvals.ledger import LedgerScope, ToolExecutionLedger, current_scope
from evolving_agents.approvals.models import (
    AgentRunResult,
    ApprovalStatus,
    CallOutcome,
    CallOutcomeStatus,
    PendingApproval,
    PendingToolCall,
    RunStatus,
    StoredRunOptions,
    ToolCallRecord,
    Verdict,
    utcnow,
)
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.config import Settings
from evolving_agents.errors import RunOptionMissing
from evolving_agents.providers import run_options
from evolving_agents.providers.agent_registry import AgentRegistry
from evolving_agents.providers.base import FrameworkProvider
from evolving_agents.providers.context_codec import (
    ContextCodec,
    check_round_trip,
    codec_for,
    codec_from_state,
)
from evolving_agents.providers.run_options import RunSupplies, SessionFactory
from evolving_agents.providers.turns import (
    apply_decisions,
    call_outcomes,
    call_record,
    tool_outputs,
)
from evolving_agents.storage.mongodb_client import MongoDBClient

logger = logging.getLogger(__name__)

DEFAULT_MAX_TURNS = 10
_PREVIEW_CHARS = 500


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def new_approval_id() -> str:
    return f"apr_{secrets.token_hex(8)}"


class OpenAIAgentsProvider(FrameworkProvider):
    """EAT's provider for the OpenAI Agents SDK, with pause, store and exactly-once resume.

    Agents are found by name in ``registry`` (instances passed to ``execute_agent`` are
    registered on the way), because a run paused in one process may be resumed in another.
    ``run_config``, ``hooks``, ``session_factory``, ``context_codec``, ``error_handlers`` and
    ``partial_resume`` apply to every agent registered without its own.
    """

    name = "openai-agents"

    def __init__(
        self,
        *,
        mongodb_client: MongoDBClient | None = None,
        registry: AgentRegistry | None = None,
        store: PendingApprovalStore | None = None,
        codec: StateCodec | None = None,
        tool_adapter: OpenAIToolAdapter | None = None,
        run_config: RunConfig | None = None,
        hooks: RunHooks[Any] | None = None,
        session_factory: SessionFactory | None = None,
        context_codec: ContextCodec | None = None,
        error_handlers: RunErrorHandlers[Any] | None = None,
        partial_resume: bool | None = None,
        settings: Settings | None = None,
        worker_id: str | None = None,
        outcome_reporter: OutcomeReporter | None = None,
        ledger: ToolExecutionLedger | None = None,
    ) -> None:
        self._settings = Settings() if settings is None else settings
        self._mongodb = (
            MongoDBClient(settings=self._settings) if mongodb_client is None else mongodb_client
        )
        self._registry = AgentRegistry() if registry is None else registry
        self._codec = StateCodec.from_settings(self._settings) if codec is None else codec
        self._store = (
            PendingApprovalStore(
                self._mongodb,
                purge_after=timedelta(days=self._settings.purge_after_days),
                approval_timeout=self._settings.approval_timeout,
                edit_checker=self.check_edit,
                signer=self._codec.signer,
            )
            if store is None
            else store
        )
        self._adapter = OpenAIToolAdapter() if tool_adapter is None else tool_adapter
        # Run options for every agent without its own (see run_options.py).
        self._own_supplies = RunSupplies(
            run_config=run_config,
            hooks=hooks,
            session_factory=session_factory,
            context_codec=context_codec,
            error_handlers=error_handlers,
            partial_resume=partial_resume,
        )
        self._outcome_reporter = outcome_reporter
        self._ledger = ToolExecutionLedger(self._mongodb) if ledger is None else ledger
        self._background: set[asyncio.Task[None]] = set()
        self.worker_id = worker_id or default_worker_id()
        self.lease_seconds = self._settings.lease_seconds
        if not self._settings.openai_api_key:
            # Offline: nothing can receive traces, and the SDK would say so on every run.
            set_tracing_disabled(True)

    async def aclose(self) -> None:
        """Wait for best-effort background work (outcome reports) to finish."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    @property
    def store(self) -> PendingApprovalStore:
        return self._store

    @property
    def mongodb_client(self) -> MongoDBClient:
        return self._mongodb

    @property
    def registry(self) -> AgentRegistry:
        return self._registry

    @property
    def codec(self) -> StateCodec:
        return self._codec

    # -- building ------------------------------------------------------------------------

    async def create_agent(
        self, record: Mapping[str, Any], tools: Sequence[Any], firmware: Any = None
    ) -> Agent[Any]:
        """Build and register an SDK agent from an EAT agent record.

        ``record``: ``name``, ``instructions`` (or ``description``), optional ``model`` (a name
        or an SDK ``Model``) and ``domain``. Tools go through ``OpenAIToolAdapter``.
        ``firmware``: EAT governance text (a string or an object with ``get_firmware_prompt``)
        placed before the instructions.
        """
        name = record.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError("an agent record needs a non-empty 'name'")
        instructions = str(record.get("instructions") or record.get("description") or "")
        prompt = _firmware_prompt(firmware, record.get("domain"))
        if prompt:
            instructions = f"{prompt}\n\n{instructions}" if instructions else prompt
        model = record.get("model") or self._settings.openai_model
        agent: Agent[Any] = Agent(
            name=name,
            instructions=instructions,
            tools=list(self._adapter.adapt_all(tools)),
            model=model,
        )
        self._registry.register(agent, replace=True)
        return agent

    # -- running -------------------------------------------------------------------------

    async def execute_agent(
        self,
        agent_or_name: Agent[Any] | str,
        input: str | list[Any],
        *,
        context: Any = None,
        max_turns: int | None = DEFAULT_MAX_TURNS,
        hooks: RunHooks[Any] | None = None,
        run_config: RunConfig | None = None,
        error_handlers: RunErrorHandlers[Any] | None = None,
        previous_response_id: str | None = None,
        auto_previous_response_id: bool = False,
        conversation_id: str | None = None,
        session: Session | None = None,
        actor: str | None = None,
        domain: str | None = None,
    ) -> AgentRunResult:
        """Run until the agent finishes or pauses for approval (then nothing more runs).

        Takes ``Runner.run``'s keywords, with its meanings, and ``actor`` (who started the run:
        they may not approve their own calls) and ``domain``. What a pause cannot store
        (``session``, ``hooks``, ``error_handlers``, callables in ``run_config``) must be
        supplied again where the run resumes: see ``run_options.py``.
        """
        agent = self._starting_agent(agent_or_name)
        plan = self._plan(
            agent,
            context=context,
            max_turns=max_turns,
            hooks=hooks,
            run_config=run_config,
            error_handlers=error_handlers,
            previous_response_id=previous_response_id,
            auto_previous_response_id=auto_previous_response_id,
            conversation_id=conversation_id,
            session=session,
        )
        run_id = secrets.token_hex(12)
        try:
            with self._ledger_scope(run_id, None, self.worker_id):
                result = await Runner.run(agent, input, **plan.runner_options())
        except AgentsException as exc:
            logger.warning("run %s of %s failed: %s", run_id, agent.name, exc)
            return AgentRunResult(
                status=RunStatus.ERROR, run_id=run_id, agent_name=agent.name, error=_describe(exc)
            )
        return await self._settle(
            result,
            agent,
            plan,
            run_id=run_id,
            sequence=0,
            actor=actor,
            domain=domain,
            input_preview=_preview(input),
        )

    async def execute_agent_streamed(
        self,
        agent_or_name: Agent[Any] | str,
        input: str | list[Any],
        *,
        context: Any = None,
        max_turns: int | None = DEFAULT_MAX_TURNS,
        hooks: RunHooks[Any] | None = None,
        run_config: RunConfig | None = None,
        error_handlers: RunErrorHandlers[Any] | None = None,
        previous_response_id: str | None = None,
        auto_previous_response_id: bool = False,
        conversation_id: str | None = None,
        session: Session | None = None,
        actor: str | None = None,
        domain: str | None = None,
    ) -> AsyncIterator[StreamEvent | AgentRunResult]:
        """Yield the SDK's stream events, then the same ``AgentRunResult`` as ``execute_agent``."""
        agent = self._starting_agent(agent_or_name)
        plan = self._plan(
            agent,
            context=context,
            max_turns=max_turns,
            hooks=hooks,
            run_config=run_config,
            error_handlers=error_handlers,
            previous_response_id=previous_response_id,
            auto_previous_response_id=auto_previous_response_id,
            conversation_id=conversation_id,
            session=session,
        )
        run_id = secrets.token_hex(12)
        with self._ledger_scope(run_id, None, self.worker_id):
            # The streamed run's tasks copy this context when they start, inside the scope.
            streamed = Runner.run_streamed(agent, input, **plan.runner_options())
        try:
            async for event in streamed.stream_events():
                yield event
        except AgentsException as exc:
            yield AgentRunResult(
                status=RunStatus.ERROR, run_id=run_id, agent_name=agent.name, error=_describe(exc)
            )
            return
        yield await self._settle(
            streamed,
            agent,
            plan,
            run_id=run_id,
            sequence=0,
            actor=actor,
            domain=domain,
            input_preview=_preview(input),
        )

    async def resume_agent(
        self,
        approval_id: str,
        *,
        worker_id: str | None = None,
        context: Any = None,
        max_turns: int | None = None,
        hooks: RunHooks[Any] | None = None,
        run_config: RunConfig | None = None,
        error_handlers: RunErrorHandlers[Any] | None = None,
        session: Session | None = None,
        partial: bool | None = None,
    ) -> AgentRunResult:
        """Claim a decided record, apply its decisions and run on; exactly one caller wins.

        The state is verified and every run option the paused run needs is resolved before
        the claim, so a tampered record, or one this process cannot resume as it paused
        (``RunOptionMissing``), is refused and left as it was. ``context`` replaces the stored
        context (for handles that cannot be stored); ``run_config`` replaces the paused run's
        stored one; ``max_turns`` replaces the paused run's limit. ``partial=True`` resumes a
        pending record once some of its calls are decided: those run or are rejected, the
        rest pause again as the run's next record, keeping their votes and deadlines (default:
        the agent's or the provider's ``partial_resume``, else every call must be decided).

        Raises ``ApprovalConflict`` when the record is not decided or is already being
        resumed, ``ApprovalNotFound`` for an unknown id.
        """
        resume = await self._begin_resume(
            approval_id,
            worker_id or self.worker_id,
            _ResumeArgs(context, max_turns, hooks, run_config, error_handlers, session, partial),
        )
        async with self._holding_lease(approval_id, resume.worker_id) as lease:
            try:
                with self._ledger_scope(resume.record.run_id, approval_id, resume.worker_id):
                    result = await Runner.run(
                        resume.agent, resume.state, **resume.plan.runner_options(resumed=True)
                    )
            except Exception as exc:
                # Stopped for its lease (the SDK may have wrapped the stop): not a failure of
                # the run, and not this worker's to record; the record is left for a takeover.
                lease.raise_if_lost()
                # Boundary: a resumed run that raises must end `failed`, never stay `resuming`.
                logger.exception("resumed run %s (%s) failed", resume.record.run_id, approval_id)
                with lease.finishing():
                    return await self._resume_failed(resume, exc)
            with lease.finishing():
                return await self._finish_resume(resume, result)

    async def resume_agent_streamed(
        self,
        approval_id: str,
        *,
        worker_id: str | None = None,
        context: Any = None,
        max_turns: int | None = None,
        hooks: RunHooks[Any] | None = None,
        run_config: RunConfig | None = None,
        error_handlers: RunErrorHandlers[Any] | None = None,
        session: Session | None = None,
        partial: bool | None = None,
    ) -> AsyncIterator[StreamEvent | AgentRunResult]:
        """``resume_agent``, yielding the SDK's stream events and then the same result."""
        resume = await self._begin_resume(
            approval_id,
            worker_id or self.worker_id,
            _ResumeArgs(context, max_turns, hooks, run_config, error_handlers, session, partial),
        )
        async with self._holding_lease(approval_id, resume.worker_id) as lease:
            try:
                with self._ledger_scope(resume.record.run_id, approval_id, resume.worker_id):
                    streamed = Runner.run_streamed(
                        resume.agent, resume.state, **resume.plan.runner_options(resumed=True)
                    )
                # A lost lease stops the SDK's run task, not whatever this generator's caller
                # is doing between events; the stream then ends and the check below raises.
                lease.stop_with(streamed.cancel)
                async for event in streamed.stream_events():
                    yield event
            except Exception as exc:
                lease.raise_if_lost()  # as in resume_agent
                # Boundary: as in resume_agent, the record must not stay `resuming`.
                logger.exception("resumed run %s (%s) failed", resume.record.run_id, approval_id)
                with lease.finishing():
                    failed = await self._resume_failed(resume, exc)
                yield failed
                return
            lease.raise_if_lost()
            with lease.finishing():
                finished = await self._finish_resume(resume, streamed)
            yield finished

    # -- internals -----------------------------------------------------------------------

    def _supplies(self, agent_name: str) -> RunSupplies:
        return self._registry.supplies(agent_name).over(self._own_supplies)

    def _plan(
        self,
        agent: Agent[Any],
        *,
        context: Any,
        max_turns: int | None,
        hooks: RunHooks[Any] | None,
        run_config: RunConfig | None,
        error_handlers: RunErrorHandlers[Any] | None,
        previous_response_id: str | None,
        auto_previous_response_id: bool,
        conversation_id: str | None,
        session: Session | None,
    ) -> RunPlan:
        """A fresh run's options: the caller's, else the agent's registered ones, else ours."""
        supplies = self._supplies(agent.name)
        return RunPlan(
            context=context,
            max_turns=max_turns,
            hooks=supplies.hooks if hooks is None else hooks,
            run_config=supplies.run_config if run_config is None else run_config,
            error_handlers=supplies.error_handlers if error_handlers is None else error_handlers,
            previous_response_id=previous_response_id,
            auto_previous_response_id=auto_previous_response_id,
            conversation_id=conversation_id,
            session=session,
            context_codec=supplies.context_codec,
            partial_resume=bool(supplies.partial_resume),
        )

    async def _begin_resume(self, approval_id: str, worker: str, args: _ResumeArgs) -> _Resume:
        """Verify, resolve every option, claim, and load the state: ready to run."""
        unclaimed = await self._store.get(approval_id, include_state=True)
        state_json = self._codec.decode(approval_id, unclaimed.state)
        # Everything that decides this resume (calls, arguments, run id, each decision and
        # its votes, the status) must carry the app key's seals; else nothing is touched.
        self._store.check_integrity(unclaimed)
        agent = self._registry.get(unclaimed.agent_name)
        supplies = self._supplies(unclaimed.agent_name)
        plan = await self._resumed_plan(unclaimed, state_json, supplies, args)
        partial = (
            args.partial
            if args.partial is not None
            else (
                supplies.partial_resume
                if supplies.partial_resume is not None
                else unclaimed.run_options.partial_resume
            )
        )
        if partial and unclaimed.status is ApprovalStatus.PENDING:
            record = await self._store.claim_partial(approval_id, worker, self.lease_seconds)
        else:
            record = await self._store.claim_for_resume(
                approval_id, worker, self.lease_seconds, known=unclaimed
            )
        try:
            if (
                record.state is None
                or unclaimed.state is None
                or (record.state.hmac != unclaimed.state.hmac)
            ):
                # Only create writes state; a different blob now is someone else's write.
                state_json = self._codec.decode(approval_id, record.state)
            state = await self._load_state(record, agent, state_json, plan, partial=partial)
        except BaseException as exc:
            # Boundary: whatever stopped the load, the record goes back untouched.
            await self._store.release(approval_id, worker, reason=_describe(exc), known=record)
            raise
        return _Resume(record, agent, state, plan, worker)

    async def _resumed_plan(
        self,
        record: PendingApproval,
        state_json: dict[str, Any],
        supplies: RunSupplies,
        args: _ResumeArgs,
    ) -> RunPlan:
        stored = record.run_options
        run_config = (
            args.run_config
            if args.run_config is not None
            else run_options.rebuild_run_config(stored, supplies.run_config)
        )
        hooks = supplies.hooks if args.hooks is None else args.hooks
        handlers = supplies.error_handlers if args.error_handlers is None else args.error_handlers
        session = args.session
        if session is None and stored.session_id is not None and supplies.session_factory:
            session = await run_options.open_session(supplies.session_factory, stored.session_id)
        codec: ContextCodec | None = None
        if args.context is None and stored.context_codec == "custom":
            codec = supplies.context_codec
        elif args.context is None and stored.context_codec == "type":
            codec = supplies.context_codec or codec_from_state(state_json)
        lacking = run_options.missing(
            stored,
            run_config=run_config,
            hooks=hooks,
            error_handlers=handlers,
            session=session,
            has_context=args.context is not None or codec is not None,
        )
        if lacking:
            raise RunOptionMissing(record.id, lacking)
        return RunPlan(
            context=args.context,
            max_turns=stored.max_turns if args.max_turns is None else args.max_turns,
            hooks=hooks,
            run_config=run_config,
            error_handlers=handlers,
            previous_response_id=stored.previous_response_id,
            auto_previous_response_id=stored.auto_previous_response_id,
            conversation_id=stored.conversation_id,
            session=session,
            # A pause of the resumed run stores its context as a fresh run would.
            context_codec=supplies.context_codec,
            restore_codec=codec,
            partial_resume=stored.partial_resume,
            override_max_turns=args.max_turns is not None,
        )

    async def _finish_resume(self, resume: _Resume, result: Any) -> AgentRunResult:
        record = resume.record
        outcomes = await call_outcomes(record, resume.agent, result.new_items, self._ledger)
        by_index = {
            index: outcomes[call.call_id]
            for index, call in enumerate(record.tool_calls)
            if call.call_id in outcomes
        }
        try:
            outcome = await self._settle(
                result,
                resume.agent,
                resume.plan,
                run_id=record.run_id,
                sequence=record.sequence,
                actor=record.actor,
                domain=record.domain,
                input_preview=record.input_preview,
                previous=record,
                outcomes=outcomes,
            )
        except Exception as exc:
            # Boundary: the run went on and paused again, but that pause cannot be stored
            # (too large, keys the database refuses, a context that cannot be kept). Waiting
            # for the lease would call the model again on every takeover: end it `failed`,
            # with what the approved calls did and why it stopped.
            logger.exception("run %s: the next pause cannot be stored", record.run_id)
            reason = f"the run paused again but its next pause cannot be stored: {_describe(exc)}"
            await self._store.fail(
                record.id, resume.worker_id, reason, known=record, outcomes=by_index
            )
            self._report_outcomes(record, outcomes)
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
        await self._store.complete(
            record.id,
            resume.worker_id,
            final_output=outcome.final_output,
            next_approval_id=outcome.approval_id
            if outcome.status is RunStatus.AWAITING_APPROVAL
            else None,
            outcomes=by_index,
            known=record,
        )
        self._report_outcomes(record, outcomes)
        return outcome

    async def _resume_failed(self, resume: _Resume, exc: Exception) -> AgentRunResult:
        record = resume.record
        await self._store.fail(record.id, resume.worker_id, _describe(exc), known=record)
        self._report_outcomes(record, None)
        return AgentRunResult(
            status=RunStatus.ERROR,
            run_id=record.run_id,
            sequence=record.sequence,
            agent_name=record.agent_name,
            approval_id=record.id,
            error=_describe(exc),
        )

    def _report_outcomes(
        self, record: PendingApproval, outcomes: Mapping[str, CallOutcome] | None
    ) -> None:
        """Tell the decision service what became of the calls it scored, without waiting.

        ``outcomes`` None: the resumed run failed as a whole.
        """
        reporter = self._outcome_reporter
        if reporter is None:
            return
        for call in record.tool_calls:
            request_id = (call.signal or {}).get("request_id")
            if call.decision is None or not isinstance(request_id, str):
                continue
            found = None if outcomes is None else outcomes.get(call.call_id)
            if call.decision.verdict is Verdict.REJECTED:
                reported = "rejected"
            elif found is None or found.status is not CallOutcomeStatus.EXECUTED:
                reported = "failure"
            else:
                reported = "success"
            details = {"reviewer_kind": call.decision.reviewer_kind.value, "run_id": record.run_id}
            if found is not None:
                details["status"] = found.status.value
            task = asyncio.create_task(
                _report(reporter, reported, request_id, call.call_id, details)
            )
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def check_edit(
        self, record: PendingApproval, call: ToolCallRecord, edited: dict[str, Any]
    ) -> None:
        """Refuse edited arguments the tool's schema or the decision layer would not accept."""
        agent = self._registry.get(record.agent_name)
        await check_edited_arguments(agent, call, edited)

    @contextlib.contextmanager
    def _ledger_scope(self, run_id: str, approval_id: str | None, worker_id: str) -> Iterator[None]:
        token = current_scope.set(LedgerScope(self._ledger, run_id, approval_id, worker_id))
        try:
            yield
        finally:
            current_scope.reset(token)

    def _starting_agent(self, agent_or_name: Agent[Any] | str) -> Agent[Any]:
        if isinstance(agent_or_name, str):
            return self._registry.get(agent_or_name)
        if agent_or_name.name not in self._registry:
            self._registry.register(agent_or_name)
        return agent_or_name

    async def _settle(
        self,
        result: Any,
        agent: Agent[Any],
        plan: RunPlan,
        *,
        run_id: str,
        sequence: int,
        actor: str | None,
        domain: str | None,
        input_preview: str,
        previous: PendingApproval | None = None,
        outcomes: dict[str, CallOutcome] | None = None,
    ) -> AgentRunResult:
        """Turn a finished SDK result into our result, storing a pause when there is one."""
        outputs = tool_outputs(result.new_items)
        outcomes = outcomes or {}
        if not result.interruptions:
            failed = any(o.status is CallOutcomeStatus.TOOL_ERROR for o in outcomes.values())
            return AgentRunResult(
                status=RunStatus.TOOL_ERROR if failed else RunStatus.SUCCESS,
                final_output=to_jsonable_python(result.final_output, fallback=str),
                approval_id=None if previous is None else previous.id,
                tool_outputs=outputs,
                run_id=run_id,
                sequence=sequence,
                agent_name=agent.name,
                outcomes=outcomes,
                error=_tool_errors(outcomes),
            )
        # A pause after a resume is the run's next record in the chain.
        if previous is not None:
            sequence += 1
        codec, codec_kind = codec_for(plan.context_value(result), plan.context_codec)
        check_round_trip(plan.context_value(result), codec)
        approval_id = new_approval_id()
        calls = [
            call_record(
                item,
                agent,
                run_id,
                None if previous is None else _undecided(previous, item.call_id),
            )
            for item in result.interruptions
        ]
        state_json = result.to_state().to_json(
            context_serializer=None if codec is None else codec.serialize
        )
        now = utcnow()
        record = PendingApproval(
            id=approval_id,
            run_id=run_id,
            sequence=sequence,
            agent_name=agent.name,
            actor=actor,
            domain=domain,
            input_preview=input_preview,
            tool_calls=calls,
            state=self._codec.encode(approval_id, state_json, run_id=run_id),
            run_options=plan.stored(codec_kind),
            previous_approval_id=None if previous is None else previous.id,
            created_at=now,
            updated_at=now,
        )
        await self._store.create(record)
        logger.info(
            "run %s paused: approval %s waits on %s",
            run_id,
            approval_id,
            ", ".join(call.tool_name for call in calls),
        )
        return AgentRunResult(
            status=RunStatus.AWAITING_APPROVAL,
            approval_id=approval_id,
            pending_tool_calls=[
                PendingToolCall.model_validate(
                    call.model_dump(exclude={"decision", "signal", "votes", "outcome"})
                )
                for call in calls
            ],
            tool_outputs=outputs,
            run_id=run_id,
            sequence=sequence,
            agent_name=agent.name,
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

    @contextlib.asynccontextmanager
    async def _holding_lease(self, approval_id: str, worker_id: str) -> AsyncIterator[RunLease]:
        """Renew the claim's lease while the run goes on, so no other worker takes it over.

        A failed renewal is retried until a fifth of the lease is left; then (or at once if
        another worker holds the record) the run is stopped and ``LeaseLost`` raised, and the
        record is left ``resuming`` for a takeover, never reported done. A governed tool body
        running then is let finish and recorded first (see ``approvals/lease.py``).
        """
        async with hold_lease(self._store, approval_id, worker_id, self.lease_seconds) as lease:
            yield lease


@dataclass(frozen=True)
class RunPlan:
    """The ``Runner.run`` options of one run (fresh or resumed), resolved."""

    context: Any
    max_turns: int | None
    hooks: RunHooks[Any] | None
    run_config: RunConfig | None
    error_handlers: RunErrorHandlers[Any] | None
    previous_response_id: str | None
    auto_previous_response_id: bool
    conversation_id: str | None
    session: Session | None
    context_codec: ContextCodec | None
    partial_resume: bool
    override_max_turns: bool = False
    restore_codec: ContextCodec | None = None
    """How a resumed run's stored context is rebuilt (None: as stored, or ``context``)."""

    def runner_options(self, *, resumed: bool = False) -> dict[str, Any]:
        options: dict[str, Any] = {
            "hooks": self.hooks,
            "run_config": self.run_config,
            "error_handlers": self.error_handlers,
            "previous_response_id": self.previous_response_id,
            "auto_previous_response_id": self.auto_previous_response_id,
            "conversation_id": self.conversation_id,
            "session": self.session,
        }
        if not resumed:
            # A resumed run takes its context and turn limit from the state (see _load_state).
            options.update(context=self.context, max_turns=self.max_turns)
        return options

    def context_value(self, result: Any) -> Any:
        """The application context as the run left it (tools may have replaced fields)."""
        wrapper = getattr(result, "context_wrapper", None)
        return self.context if wrapper is None else wrapper.context

    def stored(self, context_codec: str | None) -> StoredRunOptions:
        return run_options.capture(
            run_config=self.run_config,
            max_turns=self.max_turns,
            hooks=self.hooks,
            error_handlers=self.error_handlers,
            session=self.session,
            conversation_id=self.conversation_id,
            previous_response_id=self.previous_response_id,
            auto_previous_response_id=self.auto_previous_response_id,
            context_codec=context_codec,
            partial_resume=self.partial_resume,
        )


class _ResumeArgs(NamedTuple):
    context: Any
    max_turns: int | None
    hooks: RunHooks[Any] | None
    run_config: RunConfig | None
    error_handlers: RunErrorHandlers[Any] | None
    session: Session | None
    partial: bool | None


class _Resume(NamedTuple):
    record: PendingApproval
    agent: Agent[Any]
    state: RunState[Any, Any]
    plan: RunPlan
    worker_id: str


def _undecided(previous: PendingApproval, call_id: str | None) -> ToolCallRecord | None:
    call = previous.call(call_id or "")
    return call if call is not None and call.decision is None else None


def _tool_errors(outcomes: Mapping[str, CallOutcome]) -> str | None:
    failed = [
        f"{call_id}: {outcome.error}"
        for call_id, outcome in outcomes.items()
        if outcome.status is CallOutcomeStatus.TOOL_ERROR
    ]
    if not failed:
        return None
    return "approved call(s) raised, the approved action did not happen: " + "; ".join(failed)


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


def _preview(input: str | list[Any]) -> str:
    text = input if isinstance(input, str) else json.dumps(to_jsonable_python(input, fallback=str))
    return text if len(text) <= _PREVIEW_CHARS else text[: _PREVIEW_CHARS - 1] + "…"


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _firmware_prompt(firmware: Any, domain: Any) -> str:
    if firmware is None:
        return ""
    if isinstance(firmware, str):
        return firmware
    getter = getattr(firmware, "get_firmware_prompt", None)
    if callable(getter):
        return str(getter(domain) if domain else getter())
    raise TypeError("firmware must be a string or have get_firmware_prompt()")
