"""One gated tool call, pause -> approve -> resume, in three contenders; and bytes stored.

(a) the raw Agents SDK with the least hand-written persistence: ``to_string``, ``insert_one``,
    ``find_one``, ``from_string``, ``approve``, ``Runner.run``;
(b) this project: ``execute_agent``, ``store.decide``, ``resume_agent``;
(c) LangGraph with langgraph-checkpoint-mongodb's saver: see ``bench/langgraph_contender.py``.

Every contender runs the same tool with the same arguments over two scripted model turns, so
only the framework is measured.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import bson
from agents import Agent, Runner, RunState, function_tool, set_tracing_disabled
from agents.testing import ScriptedModel, assistant_message, function_call

from bench.states import paused_state, scripted_agent
from evolving_agents import AgentRegistry, MongoDBClient, OpenAIAgentsProvider, OpenAIToolAdapter

ARGS = {"user": "alice@example.com", "role": "Super Administrator", "duration_hours": 48}


def grant_access(user: str, role: str, duration_hours: int) -> str:
    """Grant a user a role for some hours."""
    return f"granted {user} {role} for {duration_hours}h"


def _steps(call_id: str) -> list[Any]:
    return [
        [function_call("grant_access", ARGS, call_id=call_id)],
        [assistant_message("Alice has the role for 48h.")],
    ]


async def samples_ms(
    run_once: Callable[[int], Awaitable[None]], runs: int, warmup: int
) -> list[float]:
    """Milliseconds per call of ``run_once`` after ``warmup`` untimed calls."""
    for i in range(warmup):
        await run_once(-1 - i)
    samples = []
    for i in range(runs):
        start = time.perf_counter()
        await run_once(i)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def median(samples: list[float]) -> float:
    return statistics.median(samples)


# -- (a) the raw SDK -------------------------------------------------------------------------


async def raw_sdk_cycle(client: MongoDBClient, runs: int, warmup: int = 3) -> list[float]:
    """Milliseconds per cycle (``runs`` samples) for contender (a)."""
    set_tracing_disabled(True)
    collection = client.collection("bench_raw_states")
    tool = function_tool(grant_access, needs_approval=True)

    async def once(i: int) -> None:
        agent = Agent(name="ops-agent", tools=[tool], model=ScriptedModel(_steps(f"c{i}")))
        result = await Runner.run(agent, "Grant Alice admin for 48h")
        inserted = await collection.insert_one({"state": result.to_state().to_string()})
        document = await collection.find_one({"_id": inserted.inserted_id})
        state = await RunState.from_string(agent, document["state"])
        state.approve(state.get_interruptions()[0])
        done = await Runner.run(agent, state)
        assert done.final_output

    return await samples_ms(once, runs, warmup)


# -- (b) this project ------------------------------------------------------------------------


async def eat_cycle(client: MongoDBClient, runs: int, warmup: int = 3) -> list[float]:
    """Milliseconds per cycle (``runs`` samples) for contender (b)."""
    tool = OpenAIToolAdapter().adapt(grant_access, needs_approval=True)
    registry = AgentRegistry()
    provider = OpenAIAgentsProvider(mongodb_client=client, registry=registry)

    async def once(i: int) -> None:
        agent = Agent(name="ops-agent", tools=[tool], model=ScriptedModel(_steps(f"c{i}")))
        registry.register(agent, replace=True)
        run = await provider.execute_agent("ops-agent", "Grant Alice admin for 48h")
        assert run.approval_id is not None
        await provider.store.decide(run.approval_id, verdict="approved", reviewer="alice")
        done = await provider.resume_agent(run.approval_id)
        assert done.final_output

    return await samples_ms(once, runs, warmup)


# -- bytes stored per paused run --------------------------------------------------------------


async def stored_bytes(client: MongoDBClient, uri: str | None, turns: int) -> dict[str, int]:
    """BSON bytes each contender keeps for one run paused after ``turns`` model turns."""
    _, state_json = await paused_state(turns)
    raw = {"state": json.dumps(state_json, indent=2)}  # what to_string() stores
    sizes = {"raw_sdk": len(bson.encode(raw))}

    registry = AgentRegistry()
    # The same scripted history, run through the provider so its stored record is real.
    registry.register(scripted_agent(turns), replace=True)
    provider = OpenAIAgentsProvider(mongodb_client=client, registry=registry)
    run = await provider.execute_agent(
        "ops-agent", "Grant Alice Okta admin for 48h", max_turns=turns + 5
    )
    assert run.approval_id is not None
    document = await provider.store._collection.find_one({"_id": run.approval_id})
    sizes["evolving_agents"] = len(bson.encode(document))

    if uri is not None:
        from bench.langgraph_contender import langgraph_paused_bytes

        sizes["langgraph"] = await langgraph_paused_bytes(uri, turns)
    return sizes
