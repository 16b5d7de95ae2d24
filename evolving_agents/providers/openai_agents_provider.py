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
from datetime import timedelta
from typing import Any, Protocol

from agents import Agent, RunConfig, Runner, RunState, set_tracing_disabled
from agents.exceptions import AgentsException
from agents.items import RunItem, ToolApprovalItem, ToolCallItem, ToolCallOutputItem
from agents.stream_events import StreamEvent
from pydantic_core import to_jsonable_python

from evolving_agents.adapters.openai_tool_adapter import (
    OpenAIToolAdapter,
    collect_tool_metadata,
    recall_signal,
)
from evolving_agents.approvals.codec import StateCodec
from evolving_agents.approvals.edits import apply_edits, check_edited_arguments
from evolving_agents.approvals.errors import StateIntegrityError
from evolving_agents.approvals.ledger import LedgerScope, ToolExecutionLedger, current_scope
from evolving_agents.approvals.models import (
    AgentRunResult,
    PendingApproval,
    PendingToolCall,
    RunStatus,
    ToolCallRecord,
    ToolOutput,
    Verdict,
    arguments_digest,
    utcnow,
)
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.config import Settings
from evolving_agents.core.agent_registry import AgentRegistry
from evolving_agents.core.mongodb_client import MongoDBClient
from evolving_agents.providers.base import FrameworkProvider

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
        self._store = (
            PendingApprovalStore(
                self._mongodb,
                purge_after=timedelta(days=self._settings.purge_after_days),
                approval_timeout=self._settings.approval_timeout,
                edit_checker=self.check_edit,
            )
            if store is None
            else store
        )
        self._codec = StateCodec.from_settings(self._settings) if codec is None else codec
        self._adapter = OpenAIToolAdapter() if tool_adapter is None else tool_adapter
        self._run_config = run_config
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
        actor: str | None = None,
        context: Any = None,
        max_turns: int = DEFAULT_MAX_TURNS,
        domain: str | None = None,
        **_: Any,
    ) -> AgentRunResult:
        """Run until the agent finishes or pauses for approval (then nothing more runs)."""
        agent = self._starting_agent(agent_or_name)
        run_id = secrets.token_hex(12)
        try:
            with self._ledger_scope(run_id, None, self.worker_id):
                result = await Runner.run(
                    agent, input, context=context, max_turns=max_turns, run_config=self._run_config
                )
        except AgentsException as exc:
            logger.warning("run %s of %s failed: %s", run_id, agent.name, exc)
            return AgentRunResult(
                status=RunStatus.ERROR, run_id=run_id, agent_name=agent.name, error=_describe(exc)
            )
        return await self._settle(
            result,
            agent,
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
        actor: str | None = None,
        context: Any = None,
        max_turns: int = DEFAULT_MAX_TURNS,
        domain: str | None = None,
    ) -> AsyncIterator[StreamEvent | AgentRunResult]:
        """Yield the SDK's stream events, then the same ``AgentRunResult`` as ``execute_agent``."""
        agent = self._starting_agent(agent_or_name)
        run_id = secrets.token_hex(12)
        with self._ledger_scope(run_id, None, self.worker_id):
            # The streamed run's tasks copy this context when they start, inside the scope.
            streamed = Runner.run_streamed(
                agent, input, context=context, max_turns=max_turns, run_config=self._run_config
            )
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
            run_id=run_id,
            sequence=0,
            actor=actor,
            domain=domain,
            input_preview=_preview(input),
        )

    async def resume_agent(
        self, approval_id: str, *, worker_id: str | None = None
    ) -> AgentRunResult:
        """Claim a decided record, apply its decisions and run on; exactly one caller wins.

        The state is verified before the claim, so a tampered or unreadable record is refused
        and left as it was. Raises ``ApprovalConflict`` when the record is not decided or is
        already being resumed, ``ApprovalNotFound`` for an unknown id.
        """
        worker = worker_id or self.worker_id
        unclaimed = await self._store.get(approval_id, include_state=True)
        self._codec.decode(approval_id, unclaimed.state)
        agent = self._registry.get(unclaimed.agent_name)
        record = await self._store.claim_for_resume(approval_id, worker, self.lease_seconds)
        try:
            state = await self._load_state(record, agent)
        except BaseException as exc:
            # Boundary: whatever stopped the load, the record goes back to `decided` untouched.
            await self._store.release(approval_id, worker, reason=_describe(exc))
            raise
        async with self._holding_lease(approval_id, worker):
            try:
                with self._ledger_scope(record.run_id, approval_id, worker):
                    result = await Runner.run(agent, state, run_config=self._run_config)
            except Exception as exc:
                # Boundary: a resumed run that raises must end `failed`, never stay `resuming`.
                logger.exception("resumed run %s (%s) failed", record.run_id, approval_id)
                await self._store.fail(approval_id, worker, _describe(exc))
                self._report_outcomes(record, failed=True)
                return AgentRunResult(
                    status=RunStatus.ERROR,
                    run_id=record.run_id,
                    sequence=record.sequence,
                    agent_name=record.agent_name,
                    approval_id=approval_id,
                    error=_describe(exc),
                )
            outcome = await self._settle(
                result,
                agent,
                run_id=record.run_id,
                sequence=record.sequence,
                actor=record.actor,
                domain=record.domain,
                input_preview=record.input_preview,
                previous_approval_id=approval_id,
            )
            await self._store.complete(
                approval_id,
                worker,
                final_output=outcome.final_output,
                next_approval_id=outcome.approval_id
                if outcome.status is RunStatus.AWAITING_APPROVAL
                else None,
            )
        self._report_outcomes(record, failed=False)
        return outcome

    # -- internals -----------------------------------------------------------------------

    def _report_outcomes(self, record: PendingApproval, *, failed: bool) -> None:
        """Tell the decision service what became of the calls it scored, without waiting."""
        reporter = self._outcome_reporter
        if reporter is None:
            return
        for call in record.tool_calls:
            request_id = (call.signal or {}).get("request_id")
            if call.decision is None or not isinstance(request_id, str):
                continue
            if call.decision.verdict is Verdict.REJECTED:
                outcome = "rejected"
            else:
                outcome = "failure" if failed else "success"
            details = {"reviewer_kind": call.decision.reviewer_kind.value, "run_id": record.run_id}
            task = asyncio.create_task(
                _report(reporter, outcome, request_id, call.call_id, details)
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
    def _ledger_scope(
        self, run_id: str, approval_id: str | None, worker_id: str
    ) -> Iterator[None]:
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
        *,
        run_id: str,
        sequence: int,
        actor: str | None,
        domain: str | None,
        input_preview: str,
        previous_approval_id: str | None = None,
    ) -> AgentRunResult:
        """Turn a finished SDK result into our result, storing a pause when there is one."""
        tool_outputs = _tool_outputs(result.new_items)
        if not result.interruptions:
            return AgentRunResult(
                status=RunStatus.SUCCESS,
                final_output=to_jsonable_python(result.final_output, fallback=str),
                approval_id=previous_approval_id,
                tool_outputs=tool_outputs,
                run_id=run_id,
                sequence=sequence,
                agent_name=agent.name,
            )
        # A pause after a resume is the run's next record in the chain.
        if previous_approval_id is not None:
            sequence += 1
        approval_id = new_approval_id()
        metadata = collect_tool_metadata(agent)
        calls = [_call_record(item, metadata, agent) for item in result.interruptions]
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
            state=self._codec.encode(approval_id, result.to_state().to_json(), run_id=run_id),
            previous_approval_id=previous_approval_id,
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
                PendingToolCall.model_validate(call.model_dump(exclude={"decision", "signal"}))
                for call in calls
            ],
            tool_outputs=tool_outputs,
            run_id=run_id,
            sequence=sequence,
            agent_name=agent.name,
        )

    async def _load_state(self, record: PendingApproval, agent: Agent[Any]) -> RunState[Any, Any]:
        state_json = self._codec.decode(record.id, record.state)
        reviewed = apply_edits(state_json, record)
        state: RunState[Any, Any] = await RunState.from_json(agent, state_json)
        interruptions = state.get_interruptions()
        seen: set[str] = set()
        for item in interruptions:
            call_id = item.call_id or ""
            call = record.call(call_id)
            if call is None or call.decision is None:
                raise StateIntegrityError(
                    record.id, f"the state waits on call {call_id!r}, which has no decision"
                )
            if arguments_digest(_arguments(item)) != reviewed.get(call_id, call.arguments_sha256):
                raise StateIntegrityError(
                    record.id, f"call {call_id}: state arguments differ from the reviewed ones"
                )
            seen.add(call_id)
            decision = call.decision
            if decision.verdict is Verdict.APPROVED:
                state.approve(item, always_approve=decision.always)
            else:
                state.reject(
                    item,
                    always_reject=decision.always,
                    rejection_message=decision.message
                    or f"The tool call was rejected by {decision.reviewer}. Do not retry it.",
                )
        missing = {call.call_id for call in record.tool_calls} - seen
        if missing:
            raise StateIntegrityError(
                record.id, f"calls {sorted(missing)} are in the record but not in the state"
            )
        return state

    @contextlib.asynccontextmanager
    async def _holding_lease(self, approval_id: str, worker_id: str) -> AsyncIterator[None]:
        """Renew the claim's lease while the run goes on, so no other worker takes it over."""
        interval = max(self.lease_seconds / 3, 0.05)

        async def renew() -> None:
            while True:
                await asyncio.sleep(interval)
                await self._store.renew_lease(approval_id, worker_id, self.lease_seconds)

        task = asyncio.create_task(renew())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


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


def _call_record(
    item: ToolApprovalItem, metadata: Mapping[str, dict[str, Any]], agent: Agent[Any]
) -> ToolCallRecord:
    arguments = _arguments(item)
    tool_name = item.qualified_name or item.name or "unknown"
    call_id = item.call_id or ""
    signal = recall_signal(agent, call_id)
    return ToolCallRecord(
        call_id=call_id,
        signal=None if signal is None else signal.model_dump(mode="json"),
        tool_name=tool_name,
        agent_name=item.agent.name,
        arguments=arguments,
        arguments_sha256=arguments_digest(arguments),
        metadata=dict(metadata.get(tool_name) or metadata.get(item.name or "") or {}),
    )


def _tool_outputs(items: Sequence[RunItem]) -> list[ToolOutput]:
    names = {
        call_id: getattr(item.raw_item, "name", None)
        for item in items
        if isinstance(item, ToolCallItem | ToolApprovalItem)
        and (call_id := getattr(item.raw_item, "call_id", None))
    }
    outputs = []
    for item in items:
        if not isinstance(item, ToolCallOutputItem):
            continue
        raw = item.raw_item
        call_id = raw.get("call_id") if isinstance(raw, dict) else getattr(raw, "call_id", None)
        if isinstance(call_id, str):
            outputs.append(
                ToolOutput(call_id=call_id, tool_name=names.get(call_id), output=str(item.output))
            )
    return outputs


def _arguments(item: ToolApprovalItem) -> Any:
    raw = item.arguments
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        # A model can emit malformed JSON; the reviewer sees it verbatim.
        return raw


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
