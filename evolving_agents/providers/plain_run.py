"""Run an agent that never pauses, to its final output: how the AI reviewer asks its model.

::

    report = await run_to_output(reviewer_agent, prompt, ReviewReport, context=ctx, max_turns=2)

The provider (``OpenAIAgentsProvider``) runs the agents whose tool calls pause for approval
and stores their state; this runs the other kind, an agent with no approval tools whose answer
is all that matters (``IntentReviewAgent``'s model). It stays on the providers floor because
the providers are the only code that runs agents. Nothing is stored: a run that pauses anyway
is an error, never a half-finished review.
"""

from __future__ import annotations

from typing import Any, TypeVar

from agents import Agent, Runner

from evolving_agents.errors import UnexpectedPause as UnexpectedPause

T = TypeVar("T")


async def run_to_output(
    agent: Agent[Any],
    prompt: str,
    output_type: type[T],
    *,
    context: Any = None,
    max_turns: int = 10,
) -> T:
    """Run ``agent`` on ``prompt`` to completion and return its final output as ``output_type``.

    Raises what the SDK raises (a model error, ``MaxTurnsExceeded``, a ``TypeError`` when the
    output is not an ``output_type``) and ``UnexpectedPause``; callers that must fail closed
    catch them.
    """
    result = await Runner.run(agent, prompt, context=context, max_turns=max_turns)
    if result.interruptions:
        raise UnexpectedPause(agent.name, [item.name or "?" for item in result.interruptions])
    return result.final_output_as(output_type, raise_if_incorrect_type=True)
