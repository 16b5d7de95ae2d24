"""Where (b)'s client CPU goes, beside (a)'s: ``python -m bench.cpu_phases [--cycles 150]``.

One SecantusDB wire server (in-memory storage, so the disk is not in the figures); (a) and
(b) run alternately, cycle by cycle, in this process. Each phase is timed with
``time.process_time`` (this process's CPU, every thread), and inside (b)'s phases the steps
that are this project's own (the claim, the ledger's writes, the completion, the checks
before the claim) are timed by wrapping those methods, so the difference between the
contenders can be read step by step. Medians per cycle, in milliseconds; one PyMongo command
alone is measured too, since the gap is mostly commands. Not part of ``python -m bench``
(the wrappers add their own small cost); run it beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import secrets
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agents import Agent, Runner, RunState, function_tool, set_tracing_disabled
from agents.testing import ScriptedModel

from bench.cycle import _steps, grant_access
from evolving_agents import AgentRegistry, MongoDBClient, OpenAIAgentsProvider, OpenAIToolAdapter
from evolving_agents.approvals.ledger import ToolExecutionLedger
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.providers.resuming import Resumer

# (owner, method, label): the steps of (b) timed inside its phases.
STEPS: tuple[tuple[type, str, str], ...] = (
    (PendingApprovalStore, "create", "store.create (insert)"),
    (PendingApprovalStore, "claim_for_resume", "claim (update)"),
    (PendingApprovalStore, "check_integrity", "seals checked before the claim"),
    (ToolExecutionLedger, "begin", "ledger begin (insert)"),
    (ToolExecutionLedger, "finish", "ledger finish (update)"),
    (PendingApprovalStore, "complete", "complete (update)"),
    (Resumer, "_load_state", "RunState.from_json + decisions applied"),
)


def _timed(into: dict[str, float], label: str, method: Callable[..., Any]) -> Callable[..., Any]:
    if asyncio.iscoroutinefunction(method):

        @functools.wraps(method)
        async def timed_async(*args: Any, **kwargs: Any) -> Any:
            started = time.process_time()
            try:
                return await method(*args, **kwargs)
            finally:
                into[label] += time.process_time() - started

        return timed_async

    @functools.wraps(method)
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return method(*args, **kwargs)
        finally:
            into[label] += time.process_time() - started

    return timed


async def measure(uri: str, cycles: int, warmup: int = 5) -> dict[str, Any]:
    """Median CPU ms per phase of (a) and (b), and per step inside (b)'s phases."""
    set_tracing_disabled(True)
    client = MongoDBClient(uri, f"bench_cpu_{secrets.token_hex(3)}")
    raw = client.collection("bench_raw_states")
    raw_tool = function_tool(grant_access, needs_approval=True)
    tool = OpenAIToolAdapter().adapt(grant_access, needs_approval=True)
    registry = AgentRegistry()
    provider = OpenAIAgentsProvider(mongodb_client=client, registry=registry)
    steps: dict[str, float] = defaultdict(float)
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in STEPS]
    for (owner, name, label), (_, _, method) in zip(STEPS, originals, strict=True):
        setattr(owner, name, _timed(steps, label, method))
    phases: dict[str, list[float]] = defaultdict(list)
    per_cycle: dict[str, list[float]] = defaultdict(list)
    clock = time.process_time
    try:
        for i in range(-warmup, cycles):
            steps.clear()
            agent = Agent(name="ops-agent", tools=[raw_tool], model=ScriptedModel(_steps(f"a{i}")))
            t0 = clock()
            paused = await Runner.run(agent, "Grant Alice admin for 48h")
            inserted = await raw.insert_one({"state": paused.to_state().to_string()})
            t1 = clock()
            document = await raw.find_one({"_id": inserted.inserted_id})
            assert document is not None
            state = await RunState.from_string(agent, document["state"])
            state.approve(state.get_interruptions()[0])
            await Runner.run(agent, state)
            t2 = clock()
            ours = Agent(name="ops-agent", tools=[tool], model=ScriptedModel(_steps(f"b{i}")))
            registry.register(ours, replace=True)
            u0 = clock()
            run = await provider.execute_agent("ops-agent", "Grant Alice admin for 48h")
            u1 = clock()
            assert run.approval_id is not None
            decided = await provider.store.decide(
                run.approval_id, verdict="approved", reviewer="alice", known=run.record
            )
            u2 = clock()
            await provider.resume_agent(run.approval_id, known=decided)
            u3 = clock()
            if i < 0:
                continue
            for name, seconds in (
                ("(a) run to the pause, to_string, insert", t1 - t0),
                ("(a) find, from_string, approve, run on", t2 - t1),
                ("(b) execute_agent", u1 - u0),
                ("(b) store.decide", u2 - u1),
                ("(b) resume_agent", u3 - u2),
            ):
                phases[name].append(seconds * 1000)
            for label, seconds in steps.items():
                per_cycle[label].append(seconds * 1000)
        one_command = await _one_command_ms(client)
    finally:
        for owner, name, method in originals:
            setattr(owner, name, method)
        await client.client.drop_database(client.db_name)
        await client.close()
    medians = {name: statistics.median(values) for name, values in phases.items()}
    return {
        "cycles": cycles,
        "phases_cpu_ms": medians,
        "a_cpu_ms": sum(v for k, v in medians.items() if k.startswith("(a)")),
        "b_cpu_ms": sum(v for k, v in medians.items() if k.startswith("(b)")),
        "b_steps_cpu_ms": {name: statistics.median(values) for name, values in per_cycle.items()},
        "one_update_one_cpu_ms": one_command,
    }


async def _one_command_ms(client: MongoDBClient, runs: int = 300) -> float:
    """CPU of one acknowledged ``update_one`` by ``_id``: PyMongo's own work per command."""
    collection = client.collection("bench_one_command")
    await collection.insert_one({"_id": 1, "n": 0})
    for _ in range(20):
        await collection.update_one({"_id": 1}, {"$inc": {"n": 1}})
    started = time.process_time()
    for _ in range(runs):
        await collection.update_one({"_id": 1}, {"$inc": {"n": 1}})
    return (time.process_time() - started) * 1000 / runs


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=150)
    args = parser.parse_args(argv)
    from evolving_agents.storage.embedded import EmbeddedServer

    with tempfile.TemporaryDirectory(prefix="eat-cpu-") as scratch:
        server = EmbeddedServer(Path(scratch) / "server", extra_args=("--storage-path", ":memory:"))
        uri = server.ensure_running()
        try:
            found = asyncio.run(measure(uri, args.cycles))
        finally:
            server.stop()
    print(json.dumps(found, indent=2))
    return found


if __name__ == "__main__":
    main()
