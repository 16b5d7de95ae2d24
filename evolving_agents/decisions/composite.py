"""``CompositeDecisionProvider``: ask several providers at once; the most restrictive wins.

::

    decider = CompositeDecisionProvider([LocalRulePolicy.from_file("rules.toml"),
                                         BighubDecisionProvider.from_settings(settings)])

Every signal is kept on the result's ``signals``, so a reviewer sees who said what.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from evolving_agents.decisions.base import (
    DecisionContext,
    DecisionProvider,
    DecisionSignal,
    ToolCallRequest,
)
from evolving_agents.errors import ConfigurationError

logger = logging.getLogger(__name__)


class CompositeDecisionProvider:
    name = "composite"

    def __init__(self, providers: Sequence[DecisionProvider]) -> None:
        if not providers:
            raise ConfigurationError("CompositeDecisionProvider needs at least one provider")
        self.providers = list(providers)

    async def decide(self, tool_call: ToolCallRequest, context: DecisionContext) -> DecisionSignal:
        started = time.perf_counter()
        signals = await asyncio.gather(
            *(_ask(provider, tool_call, context) for provider in self.providers)
        )
        winner = max(signals, key=lambda signal: (signal.verdict.strictness, signal.risk))
        return winner.model_copy(
            update={
                "provider": f"{self.name}:{winner.provider}",
                "latency_ms": (time.perf_counter() - started) * 1000,
                "signals": list(signals),
            }
        )


async def _ask(
    provider: DecisionProvider, tool_call: ToolCallRequest, context: DecisionContext
) -> DecisionSignal:
    try:
        return await provider.decide(tool_call, context)
    except Exception as exc:
        # Boundary that must fail closed: a provider that breaks its no-raise contract still
        # leaves the call in front of a person.
        logger.exception("decision provider %s failed on call %s", provider.name, tool_call.call_id)
        return DecisionSignal.failed(provider.name, exc)
