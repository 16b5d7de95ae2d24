"""``AsyncDecisionAgent``: the decision-first API users of ``bighub-openai`` know, made durable.

::

    async with AsyncDecisionAgent(actor="ops-agent", domain="it_actions", model=model) as agent:

        @agent.action(system="okta", risk="high", environment="production")
        def grant_okta_admin(user: str, duration_hours: int) -> dict:
            return {"granted": user, "hours": duration_hours}

        response = await agent.run(messages=[{"role": "user", "content": "Grant Alice ..."}])
        last = response["execution"]["last"]
        last["status"], last["decision"]["mode"]          # approval_required, review
        # hours later, in any process that builds the same agent:
        response = await agent.resume(response["approval_id"])

Every proposed call is scored by the decision layer before it runs (local rules offline,
BIGHUB with ``BIGHUB_API_KEY``): it runs, is blocked (the model reads why), needs more context
(the model reads what is missing), or needs approval. Where ``bighub-openai`` returns an
approval-required call to the model as JSON and lets the run go on, here the run **pauses**:
its state is stored, signed, as a pending approval (its id is in the response and in the
call's ``decision``), any reviewer decides it from any process (``eat approvals``, the inbox,
an AI reviewer, :meth:`run_with_approval`'s callback), and it resumes exactly once.

Also better than ``bighub-openai``:

- schemas are the SDK's strict JSON Schemas from the signature (``Optional``, ``Literal``,
  nested Pydantic models, defaults), or the ``parameters_schema`` given, enforced;
- no numeric ``value`` is required: a tool without one is evaluated like any other;
- every mode is honoured as documented, with its flags (``can_run``, ``needs_review``,
  ``needs_more_context``, ``should_not_run``), and every evaluation carries an idempotency key;
- a decision may suggest better arguments (``decision["better_arguments"]``) that a reviewer
  applies in one step, checked again like any edit;
- :meth:`run_with_approval` asks about **every** paused call, not only the last.

Size: about 520 lines, over the ~400 mark: the class is the facade's whole asynchronous
surface (registration, the three ways to run, resume, lifetime), each method documenting the
``bighub-openai`` behaviour it keeps or improves; its parts already live beside it
(``specs.py``, ``decisions.py``, ``run_log.py``, ``responses.py``, ``approval_loop.py``, the
blocking twin in ``sync.py``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable, Mapping
from types import TracebackType
from typing import Any

from agents import Agent, RunConfig
from agents.models.interface import Model

from evolving_agents.actions.approval_loop import ApprovalCallback, ApprovalLoop
from evolving_agents.actions.decisions import (
    ActionDecisions,
    FailMode,
    Rules,
    checked_fail_mode,
    default_decision_provider,
)
from evolving_agents.actions.responses import response, run_events, seen_event, seen_status
from evolving_agents.actions.run_log import RunLog, logging_run
from evolving_agents.actions.specs import ActionSpec, Extractor
from evolving_agents.adapters.openai_tool_adapter import OpenAIToolAdapter
from evolving_agents.approvals.models import AgentRunResult, PendingApproval
from evolving_agents.config import Settings
from evolving_agents.decisions.base import DecisionProvider
from evolving_agents.errors import ConfigurationError
from evolving_agents.providers.agent_registry import AgentRegistry
from evolving_agents.providers.openai_agents_provider import OpenAIAgentsProvider
from evolving_agents.storage.mongodb_client import MongoDBClient

logger = logging.getLogger(__name__)

DEFAULT_INSTRUCTIONS = (
    "You carry out IT actions with the tools you have. Every call is checked before it runs: "
    "if a call is blocked or needs more context, read why and adapt; never pretend a call ran."
)


# bighub-openai options with no meaning here, and what to do instead: a typed error, never a
# keyword the SDK's Agent would reject with a bare TypeError.
_BIGHUB_OPENAI_ONLY = {
    "openai_api_key": "set OPENAI_API_KEY (or pass model=, an SDK Model)",
    "bighub_api_key": "set BIGHUB_API_KEY, or pass decision_provider=BighubDecisionProvider(...)",
    "bighub": "pass decision_provider=BighubDecisionProvider(...)",
    "memory_enabled": "not supported: outcome_reporting=True is what feeds BIGHUB's learning",
    "decision_objective": "not supported: BIGHUB-side option this package does not send",
    "model_selection": "not supported: pass model= to the agent or to run()",
}


class AsyncDecisionAgent:
    """One agent, its actions, and the decision layer in front of every call (see the module).

    ``actor`` is who runs it (recorded; they may not approve their own calls) and ``domain``
    what the decision layer scores in. ``model`` is a model name (needs ``OPENAI_API_KEY``) or
    an SDK ``Model`` (offline: ``agents.testing.ScriptedModel``). ``fail_mode`` is what an
    unavailable decision layer means: ``"closed"`` (a person must approve) or ``"open"`` (the
    call runs, with the error in its decision). ``outcome_reporting`` sends what each decided
    call did to the decision layer (BIGHUB learns from it). ``max_tool_rounds`` bounds the
    model turns of a run. ``rules`` (a ``LocalRulePolicy``, a rules file or a list of rules)
    or ``decision_provider`` choose the decision layer; by default BIGHUB when
    ``BIGHUB_API_KEY`` is set, else each tool's own setting (high risk, production or a
    sensitive system needs approval). Any other keyword of ``Agent`` (``model_settings``,
    ``output_type``, ``handoffs``, ...) goes to the SDK agent.
    """

    def __init__(
        self,
        *,
        actor: str | None = None,
        domain: str | None = None,
        name: str = "decision-agent",
        instructions: str = DEFAULT_INSTRUCTIONS,
        model: str | Model | None = None,
        fail_mode: FailMode = "closed",
        outcome_reporting: bool = True,
        max_tool_rounds: int | None = None,
        rules: Rules = None,
        decision_provider: DecisionProvider | None = None,
        mongodb_client: MongoDBClient | None = None,
        settings: Settings | None = None,
        **agent_options: Any,
    ) -> None:
        foreign = sorted(set(agent_options) & _BIGHUB_OPENAI_ONLY.keys())
        if foreign:
            raise ConfigurationError(
                "; ".join(f"{key}=: {_BIGHUB_OPENAI_ONLY[key]}" for key in foreign)
            )
        if rules is not None and decision_provider is not None:
            raise ConfigurationError("pass rules= or decision_provider=, not both")
        if max_tool_rounds is not None and (
            isinstance(max_tool_rounds, bool)
            or not isinstance(max_tool_rounds, int)
            or max_tool_rounds < 1
        ):
            raise ConfigurationError(
                f"max_tool_rounds must be an int >= 1, not {max_tool_rounds!r}"
            )
        self.actor, self.domain, self.name = actor, domain, name
        self.fail_mode = checked_fail_mode(fail_mode)
        self.outcome_reporting = outcome_reporting
        self.max_tool_rounds = max_tool_rounds
        self._instructions, self._model, self._agent_options = instructions, model, agent_options
        self._rules, self._given_provider = rules, decision_provider
        self._client, self._settings = mongodb_client, settings
        self._specs: dict[str, ActionSpec] = {}
        self._functions: dict[str, Callable[..., Any]] = {}
        self.registry = AgentRegistry()
        """Where the SDK agent is registered: ``--app module:agent.registry`` for ``eat``."""
        self._provider: OpenAIAgentsProvider | None = None
        self._decisions = ActionDecisions(
            self._configured_decisions,
            self._specs,
            fail_mode=self.fail_mode,
            actor=actor,
            domain=domain,
        )
        self._adapter = OpenAIToolAdapter(decision_provider=self._decisions)
        self._register_agent(model)

    # -- registering actions ---------------------------------------------------------------

    def action(
        self,
        fn: Callable[..., Any] | None = None,
        *,
        system: str | None = None,
        risk: str | float | None = None,
        environment: str | None = None,
        name: str | None = None,
        description: str | None = None,
        domain: str | None = None,
        actor: str | None = None,
        action_name: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        metadata_from_args: Extractor | None = None,
        value_from_args: Extractor | None = None,
        target_from_args: Extractor | None = None,
        parameters_schema: Mapping[str, Any] | None = None,
    ) -> Any:
        """Register a function as an action: ``@agent.action(system="okta", risk="high")``
        (or bare ``@agent.action``). Returns the function unchanged."""
        options: dict[str, Any] = {
            "system": system,
            "risk": risk,
            "environment": environment,
            "description": description,
            "domain": domain,
            "actor": actor,
            "action_name": action_name,
            "metadata": dict(metadata or {}),
            "metadata_from_args": metadata_from_args,
            "value_from_args": value_from_args,
            "target_from_args": target_from_args,
            "parameters_schema": parameters_schema,
        }

        def register(function: Callable[..., Any]) -> Callable[..., Any]:
            self.tool(name or function.__name__, function, **options)
            return function

        return register if fn is None else register(fn)

    def tool(
        self,
        name: str,
        fn: Callable[..., Any],
        *,
        domain: str | None = None,
        actor: str | None = None,
        action_name: str | None = None,
        metadata_from_args: Extractor | None = None,
        value_from_args: Extractor | None = None,
        target_from_args: Extractor | None = None,
        parameters_schema: Mapping[str, Any] | None = None,
        system: str | None = None,
        risk: str | float | None = None,
        environment: str | None = None,
        description: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> AsyncDecisionAgent:
        """Register ``fn`` as the action ``name`` (``bighub-openai``'s ``runtime.tool``)."""
        if self._provider is not None:
            raise ConfigurationError(
                f"action {name!r}: register every action before the agent's first run"
            )
        if name in self._specs:
            raise ConfigurationError(f"an action named {name!r} is already registered")
        if not callable(fn):
            raise ConfigurationError(
                f"action {name!r}: fn must be callable, not {type(fn).__name__}"
            )
        self._specs[name] = ActionSpec(
            name=name,
            description=description,
            system=system,
            risk=risk,
            environment=environment,
            domain=domain,
            actor=actor,
            action_name=action_name,
            metadata=dict(metadata or {}),
            metadata_from_args=metadata_from_args,
            value_from_args=value_from_args,
            target_from_args=target_from_args,
            parameters_schema=parameters_schema,
        )
        self._functions[name] = fn
        self._register_agent(self._model)
        return self

    # -- the parts, built at the first run --------------------------------------------------

    @property
    def provider(self) -> OpenAIAgentsProvider:
        """The provider that runs, pauses and resumes this agent (built on first use)."""
        if self._provider is None:
            self._provider = self._build()
        return self._provider

    @property
    def decision_provider(self) -> DecisionProvider:
        """The configured decision layer (local rules or BIGHUB), without the facade's wrap."""
        return self._decisions.inner

    @property
    def sdk_agent(self) -> Agent[Any]:
        return self.registry.get(self.name)

    def _current_settings(self) -> Settings:
        if self._settings is None:
            # This constructor is the program's entry point when given no client or settings.
            self._settings = Settings() if self._client is None else self._client.settings
        return self._settings

    def _configured_decisions(self) -> DecisionProvider:
        """The decision layer, chosen when the first call is scored (every action is known)."""
        if self._given_provider is not None:
            return self._given_provider
        return default_decision_provider(
            self._current_settings(),
            fail_mode=self.fail_mode,
            rules=self._rules,
            argument_fields={
                name: _argument_names(spec, self._functions[name])
                for name, spec in self._specs.items()
            },
        )

    def _register_agent(self, model: str | Model | None) -> None:
        """(Re)build the SDK agent from every action and register it, so ``self.registry``
        serves ``eat worker --app module:agent.registry`` before any run."""
        tools = [
            self._adapter.adapt(
                spec.function_tool(self._functions[name]), metadata=spec.tool_metadata()
            )
            for name, spec in self._specs.items()
        ]
        agent: Agent[Any] = Agent(
            name=self.name,
            instructions=self._instructions,
            tools=list(tools),
            model=model,
            **self._agent_options,
        )
        self.registry.register(agent, replace=True)

    def _build(self) -> OpenAIAgentsProvider:
        settings = self._current_settings()
        if self._model is None:
            self._register_agent(settings.openai_model)
        client = self._client or MongoDBClient(settings=settings)
        reporter = self._decisions if self.outcome_reporting else None
        return OpenAIAgentsProvider(
            mongodb_client=client,
            registry=self.registry,
            settings=settings,
            outcome_reporter=reporter,
        )

    # -- running --------------------------------------------------------------------------

    async def run(
        self,
        messages: str | list[Any] | None = None,
        *,
        input: str | list[Any] | None = None,
        model: str | Model | None = None,
        run_config: RunConfig | None = None,
        max_turns: int | None = None,
        **run_options: Any,
    ) -> dict[str, Any]:
        """Run until the agent answers or pauses for approval; the documented response shape.

        ``messages`` (or ``input``): a string or a list of ``{"role", "content"}`` messages (any
        SDK input items). ``model`` overrides the agent's for this run (through ``RunConfig``).
        Every other keyword is ``Runner.run``'s, carried across a pause as the provider does
        (``context``, ``session``, ``hooks``, ``previous_response_id``, ...).
        """
        given = _input(messages, input)
        options = self._options(model, run_config, max_turns, run_options)
        with logging_run() as log:
            result = await self.provider.execute_agent(self.name, given, **options)
        self._report_fresh(log)
        return response(result, run_events(result, log.calls()))

    async def run_stream(
        self,
        messages: str | list[Any] | None = None,
        *,
        input: str | list[Any] | None = None,
        model: str | Model | None = None,
        run_config: RunConfig | None = None,
        max_turns: int | None = None,
        **run_options: Any,
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Yield each call's ``execution_event`` as it settles (ran, blocked, needs context),
        then ``{"type": "final", "response": <the response run() returns>}``."""
        given = _input(messages, input)
        options = self._options(model, run_config, max_turns, run_options)
        log = RunLog()
        emitted: set[int] = set()
        result: AgentRunResult | None = None
        with logging_run(log):
            stream = self.provider.execute_agent_streamed(self.name, given, **options)
            async for item in stream:
                if isinstance(item, AgentRunResult):
                    result = item
                for settled in _settled(log, emitted):
                    yield settled
        if result is None:
            raise RuntimeError("the provider's stream ended without a result")
        self._report_fresh(log)
        final = response(result, run_events(result, log.calls()))
        for item in final["execution"]["events"]:
            if item["status"] == "approval_required":
                yield item
        yield {"type": "final", "response": final}

    async def resume(self, approval_id: str, **resume_options: Any) -> dict[str, Any]:
        """Resume a decided approval (exactly once, from any process that built this agent);
        the response of the run from there. ``resume_options`` are ``resume_agent``'s."""
        record = await self.provider.store.get(approval_id)
        return await self._resume(record, resume_options)

    async def _resume(self, record: PendingApproval, options: Mapping[str, Any]) -> dict[str, Any]:
        with logging_run() as log:
            result = await self.provider.resume_agent(record.id, **options)
        self._report_fresh(log, skip=record)
        return response(result, run_events(result, log.calls(), resumed=record))

    async def run_with_approval(
        self,
        messages: str | list[Any] | None = None,
        *,
        on_approval_required: ApprovalCallback,
        reviewer: str = "on_approval_required",
        reviewer_roles: frozenset[str] | set[str] | tuple[str, ...] = (),
        callback_timeout: float | None = None,
        **run_options: Any,
    ) -> dict[str, Any]:
        """``run``, then for **every** call that pauses, ask ``on_approval_required(ctx)`` and
        apply its answer (``{"resolution": "approved" | "denied" | "modified", "comment": ...,
        "arguments": {...}}``; ``modified`` without arguments applies the decision layer's
        suggestion) as the reviewer ``reviewer``, through the same rules as every reviewer;
        resume, and go on until the run ends. A callback that raises, times out or answers
        something unreadable leaves the call pending for a person: the response then says
        ``approval_required`` and lists the failures in ``approval_errors``."""
        loop = ApprovalLoop(
            self.provider.store,
            on_approval_required,
            reviewer=reviewer,
            roles=frozenset(reviewer_roles),
            timeout=callback_timeout,
        )
        first = await self.run(messages, **run_options)
        return await loop.drive(first, self._resume)

    # -- outcome reports for calls no reviewer decided ---------------------------------------

    def _report_fresh(self, log: RunLog, skip: PendingApproval | None = None) -> None:
        """Tell the decision layer what each call it let run did (the provider reports the
        calls a reviewer decided, after the resume). Best effort, in the background."""
        if not self.outcome_reporting:
            return
        decided = set() if skip is None else {call.call_id for call in skip.tool_calls}
        for seen in log.calls():
            if not seen.ran or seen.signal is None or seen.signal.request_id is None:
                continue
            if seen.call_id in decided:
                continue
            self.provider.outcomes.report_call(
                seen.signal.request_id,
                seen.call_id,
                "failure" if seen.error else "success",
                {"tool": seen.tool, "error": seen.error},
            )

    def _options(
        self,
        model: str | Model | None,
        run_config: RunConfig | None,
        max_turns: int | None,
        run_options: dict[str, Any],
    ) -> dict[str, Any]:
        options = dict(run_options)
        options.setdefault("actor", self.actor)
        options.setdefault("domain", self.domain)
        if model is not None:
            run_config = (
                RunConfig(model=model) if run_config is None else _with_model(run_config, model)
            )
        if run_config is not None:
            options["run_config"] = run_config
        turns = max_turns if max_turns is not None else self.max_tool_rounds
        if turns is not None:
            options["max_turns"] = turns
        return options

    # -- lifetime -------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Wait for outcome reports in flight and close what this agent built."""
        if self._provider is None:
            return
        await self._provider.aclose()
        closer = getattr(self._decisions.resolved, "aclose", None)
        if closer is not None and self._given_provider is None:
            await closer()
        if self._client is None:
            await self._provider.mongodb_client.close()

    async def __aenter__(self) -> AsyncDecisionAgent:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _settled(log: RunLog, emitted: set[int]) -> list[dict[str, Any]]:
    settled = []
    for seen in log.fresh():
        status = seen_status(seen)
        if status is not None and id(seen) not in emitted:
            emitted.add(id(seen))
            settled.append(seen_event(seen, status, {}))
    return settled


def _input(messages: str | list[Any] | None, input: str | list[Any] | None) -> str | list[Any]:
    if (messages is None) == (input is None):
        raise ConfigurationError("pass messages=... (or input=...), exactly one of them")
    given = messages if messages is not None else input
    if not isinstance(given, str | list):
        raise ConfigurationError(
            f"messages must be a string or a list of messages, not {type(given).__name__}"
        )
    return given


def _with_model(run_config: RunConfig, model: str | Model) -> RunConfig:
    import dataclasses

    return dataclasses.replace(run_config, model=model)


def _argument_names(spec: ActionSpec, fn: Callable[..., Any]) -> list[str]:
    """What BIGHUB may see of an action's arguments: every declared parameter, as
    ``bighub-openai`` sends them (the provider still sends nothing else)."""
    if spec.parameters_schema is not None:
        return list(spec.parameters_schema.get("properties", {}))
    import inspect

    return [
        name
        for name, parameter in inspect.signature(fn).parameters.items()
        if parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
    ]
