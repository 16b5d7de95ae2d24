"""``DecisionAgent``: ``AsyncDecisionAgent`` for code without an event loop.

::

    with DecisionAgent(actor="ops-agent", domain="it_actions", model=model) as agent:

        @agent.action(system="okta", risk="high", environment="production")
        def grant_okta_admin(user: str, duration_hours: int) -> dict: ...

        response = agent.run(messages=[{"role": "user", "content": "..."}])
        for event in agent.run_stream(messages="..."):
            ...

One event loop (``asyncio.Runner``) lives as long as the agent, so the database client and the
decision layer stay bound to it across calls; close the agent (or use ``with``) to stop it.
Inside async code use ``AsyncDecisionAgent``: a running loop cannot be blocked on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Coroutine, Iterator
from types import TracebackType
from typing import Any, TypeVar

from evolving_agents.actions.agent import AsyncDecisionAgent
from evolving_agents.errors import ConfigurationError

T = TypeVar("T")


class DecisionAgent:
    """The same agent as :class:`AsyncDecisionAgent`, with blocking ``run``, ``run_stream``,
    ``run_with_approval`` and ``resume``; it takes the same arguments."""

    def __init__(self, **options: Any) -> None:
        self.aio = AsyncDecisionAgent(**options)
        """The async agent underneath (its ``provider``, ``registry``, ``sdk_agent``)."""
        self._runner: asyncio.Runner | None = None

    def __getattr__(self, name: str) -> Any:
        # action, tool, provider, registry, actor, ...: the async agent's, unchanged.
        if name.startswith("_") or name == "aio":
            raise AttributeError(name)
        return getattr(self.aio, name)

    def _run(self, coroutine: Coroutine[Any, Any, T] | Awaitable[T]) -> T:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            if isinstance(coroutine, Coroutine):
                coroutine.close()
            raise ConfigurationError(
                "DecisionAgent blocks, and an event loop is running here: "
                "use AsyncDecisionAgent (await agent.run(...)) in async code"
            )
        if self._runner is None:
            self._runner = asyncio.Runner()
        return self._runner.run(_as_coroutine(coroutine))

    def run(self, messages: Any = None, **options: Any) -> dict[str, Any]:
        return self._run(self.aio.run(messages, **options))

    def resume(self, approval_id: str, **options: Any) -> dict[str, Any]:
        return self._run(self.aio.resume(approval_id, **options))

    def run_with_approval(self, messages: Any = None, **options: Any) -> dict[str, Any]:
        return self._run(self.aio.run_with_approval(messages, **options))

    def run_stream(self, messages: Any = None, **options: Any) -> Iterator[dict[str, Any]]:
        stream = self.aio.run_stream(messages, **options)
        try:
            while True:
                try:
                    yield self._run(stream.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            if self._runner is not None:
                self._runner.run(stream.aclose())

    def close(self) -> None:
        if self._runner is None:
            return
        try:
            self._runner.run(self.aio.aclose())
        finally:
            self._runner.close()
            self._runner = None

    def __enter__(self) -> DecisionAgent:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable
