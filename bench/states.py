"""Real SDK ``RunState`` snapshots to measure: a short gated run and a 200-turn history."""

from __future__ import annotations

from typing import Any

from agents import Agent, Runner, set_tracing_disabled
from agents.testing import ScriptedModel, assistant_message, function_call

from evolving_agents import OpenAIToolAdapter


def lookup_ticket(number: int) -> str:
    """Look up a change ticket."""
    return f"ticket CHG-{number}: approved by CAB, window 02:00-04:00 UTC, owner team-payments"


def grant_access(user: str, role: str, duration_hours: int) -> str:
    """Grant a user a role for some hours."""
    return f"granted {user} {role} for {duration_hours}h"


def _agent(steps: list[Any]) -> Agent[Any]:
    adapter = OpenAIToolAdapter()
    return Agent(
        name="ops-agent",
        instructions="You are an operations agent. Use the tools; report what happened.",
        tools=[
            adapter.adapt(lookup_ticket, needs_approval=False),
            adapter.adapt(grant_access, metadata={"system": "okta", "risk": "high"}),
        ],
        model=ScriptedModel(steps),
    )


GATED_CALL = function_call(
    "grant_access",
    {"user": "alice@example.com", "role": "Super Administrator", "duration_hours": 48},
    call_id="call_grant",
)


def scripted_agent(turns: int) -> Agent[Any]:
    """An agent scripted to make ``turns - 1`` ungated lookups, then one gated call."""
    steps: list[Any] = [
        [function_call("lookup_ticket", {"number": 1000 + i}, call_id=f"call_lookup_{i}")]
        for i in range(turns - 1)
    ]
    steps.append([GATED_CALL])
    steps.append([assistant_message("done")])
    return _agent(steps)


async def paused_state(turns: int) -> tuple[Agent[Any], dict[str, Any]]:
    """Run ``turns - 1`` ungated lookups, then pause on one gated call; return its state JSON."""
    set_tracing_disabled(True)
    agent = scripted_agent(turns)
    result = await Runner.run(agent, "Grant Alice Okta admin for 48h", max_turns=turns + 5)
    assert result.interruptions, "the gated call must pause the run"
    return agent, result.to_state().to_json()
