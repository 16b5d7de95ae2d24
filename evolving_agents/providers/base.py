"""The interface every agent framework provider implements (EAT's ``FrameworkProvider``)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from evolving_agents.approvals.models import AgentRunResult


class FrameworkProvider(ABC):
    """Builds and runs agents of one framework; ``SystemAgent`` talks to providers only."""

    name: str = ""

    @abstractmethod
    async def create_agent(
        self, record: Mapping[str, Any], tools: Sequence[Any], firmware: Any = None
    ) -> Any:
        """Build an agent from an EAT agent record and its tools."""

    @abstractmethod
    async def execute_agent(
        self, agent_or_name: Any, input: Any, *, actor: str | None = None
    ) -> AgentRunResult:
        """Run an agent to completion, or to a pause awaiting approval. Providers add their
        framework's run options as keywords; an unknown one is a ``TypeError``."""

    def supports(self, framework: str) -> bool:
        return framework == self.name
