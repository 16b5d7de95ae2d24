"""Agents by name, so any process can rebuild the agent a paused run started with.

::

    registry = AgentRegistry()
    registry.register(ops_agent)                       # an instance, reused
    registry.register_factory("ops-agent", build)      # or a factory, called per run
    agent = registry.get("ops-agent")

    registry = load_app("myapp.agents:registry")      # what ``eat --app`` does
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from agents import Agent

from evolving_agents.errors import ConfigurationError, EvolvingAgentsError

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

    def register(
        self, agent: Agent[Any], *, name: str | None = None, replace: bool = False
    ) -> Agent[Any]:
        key = name or agent.name
        self._check_free(key, replace)
        self._factories.pop(key, None)
        self._agents[key] = agent
        return agent

    def register_factory(self, name: str, factory: AgentFactory, *, replace: bool = False) -> None:
        self._check_free(name, replace)
        self._agents.pop(name, None)
        self._factories[name] = factory

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
