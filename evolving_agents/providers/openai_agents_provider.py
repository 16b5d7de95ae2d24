"""Runs OpenAI Agents SDK agents with durable pauses for tool approval.

::

    provider = OpenAIAgentsProvider(mongodb_client=MongoDBClient(), registry=registry)
    run = await provider.execute_agent("ops-agent", "Grant Alice Okta admin for 48h")
    if run.status is RunStatus.AWAITING_APPROVAL:
        ...                                   # hours later, in any process:
    await provider.store.decide(run.approval_id, verdict="approved", reviewer="alice")
    done = await provider.resume_agent(run.approval_id)
    done.final_output

This provider is the only code that runs agents. A run that stops on tool approvals is
serialized, signed and stored as one ``PendingApproval``; ``resume_agent`` claims it, so it
resumes once. This class is the public surface and the wiring; the work is split by
responsibility:

- ``run_plan.py``: each run's ``Runner.run`` options: the caller's, the agent's, the record's;
- ``pausing.py``: a finished run into our result, and the pause record when it paused;
- ``resuming.py``: verify, claim and load a paused run, and record how its resume ended;
- ``running.py``: the scope, the lease and the failure boundaries around each ``Runner.run``;
- ``outcomes.py``: what the decided calls did, reported to the decision service.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import timedelta
from typing import Any

from agents import (
    Agent,
    RunConfig,
    RunErrorHandlers,
    RunHooks,
    set_tracing_disabled,
)
from agents.memory import Session
from agents.stream_events import StreamEvent
from agents.tracing import get_trace_provider

from evolving_agents.adapters.edits import check_edited_arguments
from evolving_agents.adapters.openai_tool_adapter import OpenAIToolAdapter
from evolving_agents.approvals.codec import StateCodec
from evolving_agents.approvals.ledger import ToolExecutionLedger
from evolving_agents.approvals.models import (
    AgentRunResult,
    PendingApproval,
    ToolCallRecord,
)
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.config import Settings
from evolving_agents.providers.agent_registry import AgentRegistry
from evolving_agents.providers.base import FrameworkProvider
from evolving_agents.providers.context_codec import ContextCodec
from evolving_agents.providers.outcomes import OutcomeReporter, OutcomeReports
from evolving_agents.providers.pausing import RunLabels, new_approval_id, preview
from evolving_agents.providers.run_options import RunSupplies, SessionFactory
from evolving_agents.providers.run_plan import (
    DEFAULT_MAX_TURNS,
    FreshArgs,
    ResumeArgs,
    RunPlan,
    fresh_plan,
)
from evolving_agents.providers.running import RunDriver
from evolving_agents.storage.mongodb_client import MongoDBClient

__all__ = [
    "DEFAULT_MAX_TURNS",
    "OpenAIAgentsProvider",
    "OutcomeReporter",
    "RunPlan",
    "default_worker_id",
    "new_approval_id",
]

logger = logging.getLogger(__name__)


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


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
        if settings is None:
            # The client's settings when one is given; otherwise this constructor is the
            # program's entry point and reads the environment, once.
            settings = Settings() if mongodb_client is None else mongodb_client.settings
        self._settings = settings
        self._mongodb = (
            MongoDBClient(settings=self._settings) if mongodb_client is None else mongodb_client
        )
        self._registry = AgentRegistry() if registry is None else registry
        self._codec = StateCodec.from_settings(self._settings) if codec is None else codec
        self._store = self._default_store() if store is None else store
        self._adapter = OpenAIToolAdapter() if tool_adapter is None else tool_adapter
        # Run options for every agent without its own (see run_options.py).
        self._own_supplies = RunSupplies(
            run_config, hooks, session_factory, context_codec, error_handlers, partial_resume
        )
        self._ledger = ToolExecutionLedger(self._mongodb) if ledger is None else ledger
        self._reports = OutcomeReports(outcome_reporter)
        self._runs = RunDriver(
            self._store, self._codec, self._ledger, self._registry, self._supplies, self._reports
        )
        self.worker_id = worker_id or default_worker_id()
        self.lease_seconds = self._settings.lease_seconds
        if not self._settings.openai_api_key and not _sdk_tracing_decided():
            # Offline: nothing can receive the SDK's default traces, and it would say so on
            # every run. An application that switched its tracing on or off keeps its choice.
            set_tracing_disabled(True)

    def _default_store(self) -> PendingApprovalStore:
        return PendingApprovalStore(
            self._mongodb,
            purge_after=timedelta(days=self._settings.purge_after_days),
            approval_timeout=self._settings.approval_timeout,
            edit_checker=self.check_edit,
            signer=self._codec.signer,
        )

    async def aclose(self) -> None:
        """Wait for best-effort background work (outcome reports) to finish."""
        await self._reports.aclose()

    @property
    def settings(self) -> Settings:
        """The settings this provider runs with (its client's, unless others were passed)."""
        return self._settings

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

    @property
    def outcomes(self) -> OutcomeReports:
        """Where what decided calls did is reported (a no-op without an outcome reporter)."""
        return self._reports

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
            FreshArgs(
                context,
                max_turns,
                hooks,
                run_config,
                error_handlers,
                previous_response_id,
                auto_previous_response_id,
                conversation_id,
                session,
            ),
        )
        labels = RunLabels(secrets.token_hex(12), 0, actor, domain, preview(input))
        return await self._runs.run(agent, input, plan, labels, self.worker_id)

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
            FreshArgs(
                context,
                max_turns,
                hooks,
                run_config,
                error_handlers,
                previous_response_id,
                auto_previous_response_id,
                conversation_id,
                session,
            ),
        )
        labels = RunLabels(secrets.token_hex(12), 0, actor, domain, preview(input))
        async for event in self._runs.stream(agent, input, plan, labels, self.worker_id):
            yield event

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
        known: PendingApproval | None = None,
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
        ``known``: the decided record with its state as this process holds it (what
        ``store.decide(known=run.record)`` returned): it is verified as a read would be and
        stands in for the read; the claim lands only if the stored record is still that one.

        Raises ``ApprovalConflict`` when the record is not decided or is already being
        resumed, ``ApprovalNotFound`` for an unknown id.
        """
        args = ResumeArgs(context, max_turns, hooks, run_config, error_handlers, session, partial)
        return await self._runs.resume(
            approval_id, worker_id or self.worker_id, args, self.lease_seconds, known
        )

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
        known: PendingApproval | None = None,
    ) -> AsyncIterator[StreamEvent | AgentRunResult]:
        """``resume_agent``, yielding the SDK's stream events and then the same result."""
        args = ResumeArgs(context, max_turns, hooks, run_config, error_handlers, session, partial)
        worker = worker_id or self.worker_id
        stream = self._runs.stream_resume(approval_id, worker, args, self.lease_seconds, known)
        async for event in stream:
            yield event

    async def check_edit(
        self, record: PendingApproval, call: ToolCallRecord, edited: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Refuse edited arguments the tool's schema or the decision layer would not accept;
        return the decision layer's fresh signal on them (None: the tool has no gate)."""
        agent = self._registry.get(record.agent_name)
        return await check_edited_arguments(agent, call, edited)

    # -- internals -----------------------------------------------------------------------

    def _supplies(self, agent_name: str) -> RunSupplies:
        return self._registry.supplies(agent_name).over(self._own_supplies)

    def _plan(self, agent: Agent[Any], args: FreshArgs) -> RunPlan:
        return fresh_plan(args, self._supplies(agent.name))

    def _starting_agent(self, agent_or_name: Agent[Any] | str) -> Agent[Any]:
        if isinstance(agent_or_name, str):
            return self._registry.get(agent_or_name)
        if agent_or_name.name not in self._registry:
            self._registry.register(agent_or_name)
        return agent_or_name


def _firmware_prompt(firmware: Any, domain: Any) -> str:
    if firmware is None:
        return ""
    if isinstance(firmware, str):
        return firmware
    getter = getattr(firmware, "get_firmware_prompt", None)
    if callable(getter):
        return str(getter(domain) if domain else getter())
    raise TypeError("firmware must be a string or have get_firmware_prompt()")


def _sdk_tracing_decided() -> bool:
    """Whether the application already called the SDK's ``set_tracing_disabled`` (to export
    traces through its own processors without an OpenAI key, say). The SDK's default
    provider keeps that choice in ``_manual_disabled`` (None until someone calls it); read
    with ``getattr`` so another trace provider counts as the application's own decision."""
    sdk = get_trace_provider()
    return getattr(sdk, "_manual_disabled", True) is not None
