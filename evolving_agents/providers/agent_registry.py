"""Agents by name, so any process can rebuild the agent a paused run started with.

::

    registry = AgentRegistry()
    registry.register(ops_agent)                       # an instance, reused
    registry.register_factory("ops-agent", build)      # or a factory, called per run
    agent = registry.get("ops-agent")

    # What a resumed run needs again and cannot be stored (see providers/run_options.py):
    registry.register(ops_agent, run_config=RunConfig(tool_error_formatter=fmt),
                      session_factory=lambda sid: SQLiteSession(sid, "ops.db"))

    registry = load_app("myapp.agents:registry")      # what ``eat --app`` does
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agents import Agent

from evolving_agents.errors import ConfigurationError, EvolvingAgentsError

if TYPE_CHECKING:
    from agents import RunConfig, RunErrorHandlers, RunHooks

    from evolving_agents.providers.context_codec import ContextCodec
    from evolving_agents.providers.run_options import RunSupplies, SessionFactory

AgentFactory = Callable[[], Agent[Any]]


class AgentNotRegistered(EvolvingAgentsError):
    """No agent (or factory) is registered under this name in this process."""

    def __init__(self, name: str, known: list[str]) -> None:
        listed = ", ".join(known) if known else "none"
        super().__init__(
            f"no agent named {name!r} is registered (registered: {listed}); register it, or "
            "point the command at your app's registry with --app module:attribute"
        )
        self.name = name


class AgentRegistry:
    """Starting agents by name: instances are reused, factories are called on every ``get``.

    A resumed run must start from an agent with the same name, tools and handoffs as the one
    that paused, so every process that resumes runs registers the same agents.
    """

    def __init__(self) -> None:
        self._agents: dict[str, Agent[Any]] = {}
        self._factories: dict[str, AgentFactory] = {}
        self._supplies: dict[str, RunSupplies] = {}

    def register(
        self,
        agent: Agent[Any],
        *,
        name: str | None = None,
        replace: bool = False,
        run_config: RunConfig | None = None,
        hooks: RunHooks[Any] | None = None,
        session_factory: SessionFactory | None = None,
        context_codec: ContextCodec | None = None,
        error_handlers: RunErrorHandlers[Any] | None = None,
        partial_resume: bool | None = None,
    ) -> Agent[Any]:
        """Register ``agent`` with the run options its runs get in any process (see
        ``RunSupplies``): what a paused run had that cannot be stored is taken from here."""
        key = name or agent.name
        self._check_free(key, replace)
        self._factories.pop(key, None)
        self._agents[key] = agent
        self._supplies[key] = _supplies(
            run_config, hooks, session_factory, context_codec, error_handlers, partial_resume
        )
        return agent

    def register_factory(
        self,
        name: str,
        factory: AgentFactory,
        *,
        replace: bool = False,
        run_config: RunConfig | None = None,
        hooks: RunHooks[Any] | None = None,
        session_factory: SessionFactory | None = None,
        context_codec: ContextCodec | None = None,
        error_handlers: RunErrorHandlers[Any] | None = None,
        partial_resume: bool | None = None,
    ) -> None:
        """Register a factory called on every ``get``; run options as for ``register``."""
        self._check_free(name, replace)
        self._agents.pop(name, None)
        self._factories[name] = factory
        self._supplies[name] = _supplies(
            run_config, hooks, session_factory, context_codec, error_handlers, partial_resume
        )

    def supplies(self, name: str) -> RunSupplies:
        """The run options registered with agent ``name`` (all None when there are none)."""
        found = self._supplies.get(name)
        return _supplies(None, None, None, None, None, None) if found is None else found

    def get(self, name: str) -> Agent[Any]:
        if name in self._agents:
            return self._agents[name]
        factory = self._factories.get(name)
        if factory is None:
            raise AgentNotRegistered(name, self.names())
        agent = factory()
        if agent.name != name:
            raise ConfigurationError(
                f"the factory registered as {name!r} built an agent named {agent.name!r}; "
                "a paused run is resumed by the agent's name, so they must match"
            )
        return agent

    def names(self) -> list[str]:
        return sorted({*self._agents, *self._factories})

    def __contains__(self, name: object) -> bool:
        return name in self._agents or name in self._factories

    def _check_free(self, name: str, replace: bool) -> None:
        if not replace and name in self:
            raise ConfigurationError(
                f"an agent named {name!r} is already registered; pass replace=True to swap it"
            )


def _supplies(
    run_config: RunConfig | None,
    hooks: RunHooks[Any] | None,
    session_factory: SessionFactory | None,
    context_codec: ContextCodec | None,
    error_handlers: RunErrorHandlers[Any] | None,
    partial_resume: bool | None,
) -> RunSupplies:
    # The provider layer owns what a run option is; the registry only keeps them by name.
    from evolving_agents.providers.run_options import RunSupplies

    return RunSupplies(
        run_config=run_config,
        hooks=hooks,
        session_factory=session_factory,
        context_codec=context_codec,
        error_handlers=error_handlers,
        partial_resume=partial_resume,
    )


def load_app(spec: str) -> object:
    """Import ``module:attribute`` (dots allowed in the attribute), like uvicorn's app spec."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigurationError(
            f"--app {spec!r} must look like module:attribute, e.g. myapp.agents:registry"
        )
    try:
        target: object = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(f"--app {spec!r}: cannot import {module_name!r}: {exc}") from exc
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ConfigurationError(
                f"--app {spec!r}: {module_name!r} has no attribute {attribute!r}"
            ) from None
    return target
