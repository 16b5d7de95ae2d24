"""One gated tool call, pause -> approve -> resume, in three contenders; and bytes stored.

(a) the raw Agents SDK with the least hand-written persistence: ``to_string``, ``insert_one``,
    ``find_one``, ``from_string``, ``approve``, ``Runner.run``;
(b) this project: ``execute_agent``, ``store.decide``, ``resume_agent``;
(c) LangGraph with langgraph-checkpoint-mongodb's saver: see ``bench/langgraph_contender.py``.

Every contender runs the same tool with the same arguments over two scripted model turns, so
only the framework is measured. Each cycle is timed twice: wall time (``perf_counter``) and
this process's CPU time (``process_time``: every thread of the bench process, which is what
LangGraph's saver threads need; the database server is another process, so its work is not
in the CPU figure). ``*_once`` builds a contender once and returns one cycle as a callable,
so ``python -m bench`` can interleave the contenders cycle by cycle.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
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


Cycle = Callable[[int], Awaitable[None]]


@dataclass
class CycleSamples:
    """Per cycle, in the same order: wall milliseconds and this process's CPU milliseconds."""

    wall_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)

    def extend(self, other: CycleSamples) -> None:
        self.wall_ms += other.wall_ms
        self.cpu_ms += other.cpu_ms


async def timed(run_once: Cycle, i: int, into: CycleSamples) -> None:
    """Run ``run_once(i)`` and append its wall and CPU milliseconds to ``into``."""
    wall, cpu = time.perf_counter(), time.process_time()
    await run_once(i)
    into.cpu_ms.append((time.process_time() - cpu) * 1000)
    into.wall_ms.append((time.perf_counter() - wall) * 1000)


async def samples(run_once: Cycle, runs: int, warmup: int) -> CycleSamples:
    """Wall and CPU milliseconds per call of ``run_once`` after ``warmup`` untimed calls."""
    for i in range(warmup):
        await run_once(-1 - i)
    out = CycleSamples()
    for i in range(runs):
        await timed(run_once, i, out)
    return out


def median(values: list[float]) -> float:
    return statistics.median(values)


# -- (a) the raw SDK -------------------------------------------------------------------------


def raw_sdk_once(client: MongoDBClient) -> Cycle:
    """One cycle of contender (a), ``i`` naming its call."""
    set_tracing_disabled(True)
    collection = client.collection("bench_raw_states")
    tool = function_tool(grant_access, needs_approval=True)

    async def once(i: int) -> None:
        agent = Agent(name="ops-agent", tools=[tool], model=ScriptedModel(_steps(f"c{i}")))
        result = await Runner.run(agent, "Grant Alice admin for 48h")
        inserted = await collection.insert_one({"state": result.to_state().to_string()})
        document = await collection.find_one({"_id": inserted.inserted_id})
        assert document is not None
        state = await RunState.from_string(agent, document["state"])
        state.approve(state.get_interruptions()[0])
        done = await Runner.run(agent, state)
        assert done.final_output

    return once


async def raw_sdk_cycle(client: MongoDBClient, runs: int, warmup: int = 3) -> CycleSamples:
    """Wall and CPU per cycle (``runs`` samples) for contender (a)."""
    return await samples(raw_sdk_once(client), runs, warmup)


# -- (b) this project ------------------------------------------------------------------------


def eat_once(client: MongoDBClient, *, by_id: bool = False) -> Cycle:
    """One cycle of contender (b), ``i`` naming its call.

    As (a) does, one process pauses, decides and resumes, handing each step the record the
    last one returned (``known=``). ``by_id`` passes only the approval id, as a reviewer and
    a worker in other processes do: each of them then reads the record first.
    """
    tool = OpenAIToolAdapter().adapt(grant_access, needs_approval=True)
    registry = AgentRegistry()
    provider = OpenAIAgentsProvider(mongodb_client=client, registry=registry)

    async def once(i: int) -> None:
        agent = Agent(name="ops-agent", tools=[tool], model=ScriptedModel(_steps(f"c{i}")))
        registry.register(agent, replace=True)
        run = await provider.execute_agent("ops-agent", "Grant Alice admin for 48h")
        assert run.approval_id is not None
        known = None if by_id else run.record
        decided = await provider.store.decide(
            run.approval_id, verdict="approved", reviewer="alice", known=known
        )
        done = await provider.resume_agent(run.approval_id, known=None if by_id else decided)
        assert done.final_output

    return once


async def eat_cycle(client: MongoDBClient, runs: int, warmup: int = 3) -> CycleSamples:
    """Wall and CPU per cycle (``runs`` samples) for contender (b)."""
    return await samples(eat_once(client), runs, warmup)


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
    assert document is not None
    sizes["evolving_agents"] = len(bson.encode(document))

    if uri is not None:
        from bench.langgraph_contender import langgraph_paused_bytes

        sizes["langgraph"] = await langgraph_paused_bytes(uri, turns)
    return sizes
