"""Where contender (b)'s cycle spends its time: phases, every database command, and cProfile.

Runs the (b) cycle of ``bench/cycle.py`` ``runs`` times on a wire server with a pymongo
``CommandListener`` attached, so each command's round trip (as pymongo measures it) is
recorded by name and collection; the three phases (``execute_agent``, ``decide``,
``resume_agent``) are timed around the calls. cProfile covers the same runs; the top
functions by cumulative time go into the report. ``commands_per_cycle`` counts the commands
of every contender's cycle, without cProfile (``python -m bench`` reports it as a target).
"""

from __future__ import annotations

import contextlib
import cProfile
import io
import pstats
import secrets
import statistics
import time
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from agents import Agent
from agents.testing import ScriptedModel
from pymongo import AsyncMongoClient, monitoring

from bench.cycle import _steps, grant_access
from evolving_agents import AgentRegistry, MongoDBClient, OpenAIAgentsProvider, OpenAIToolAdapter


class _Commands(monitoring.CommandListener):
    def __init__(self) -> None:
        self._names: dict[int, str] = {}
        self.log: list[tuple[str, float]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        command = event.command
        target = command.get(event.command_name)
        name = f"{event.command_name} {target}" if isinstance(target, str) else event.command_name
        if event.command_name in ("update", "findAndModify", "insert", "delete", "find"):
            shape = _shape(command)
            if shape:
                name += f" {shape}"
        self._names[event.request_id] = name

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self.log.append((self._names.pop(event.request_id, "?"), event.duration_micros / 1000))

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self.log.append((self._names.pop(event.request_id, "?") + " FAILED", 0.0))


def _shape(command: Mapping[str, Any]) -> str:
    """The fields an operation filters on, e.g. ``{_id,status}``: tells the writes apart."""
    query = command.get("filter") or command.get("query")
    if query is None and command.get("updates"):
        query = command["updates"][0].get("q")
    if query is None:
        return ""
    return "{" + ",".join(sorted(query)) + "}"


async def profile_eat_cycle(uri: str, runs: int, warmup: int = 3) -> dict[str, Any]:
    listener = _Commands()
    db_name = f"bench_profile_{secrets.token_hex(3)}"
    mongo: Any = AsyncMongoClient(uri, tz_aware=True, event_listeners=[listener])
    client = MongoDBClient(client=mongo, db_name=db_name)
    tool = OpenAIToolAdapter().adapt(grant_access, needs_approval=True)
    registry = AgentRegistry()
    provider = OpenAIAgentsProvider(mongodb_client=client, registry=registry)
    phases: dict[str, list[float]] = defaultdict(list)
    commands: dict[str, list[float]] = defaultdict(list)
    profiler = cProfile.Profile()

    async def once(i: int) -> None:
        agent = Agent(name="ops-agent", tools=[tool], model=ScriptedModel(_steps(f"p{i}")))
        registry.register(agent, replace=True)
        marks = [time.perf_counter()]
        run = await provider.execute_agent("ops-agent", "Grant Alice admin for 48h")
        marks.append(time.perf_counter())
        assert run.approval_id is not None
        decided = await provider.store.decide(
            run.approval_id, verdict="approved", reviewer="alice", known=run.record
        )
        marks.append(time.perf_counter())
        done = await provider.resume_agent(run.approval_id, known=decided)
        marks.append(time.perf_counter())
        assert done.final_output
        if i >= 0:
            for name, start, end in zip(
                ("execute_agent", "decide", "resume_agent"), marks, marks[1:], strict=False
            ):
                phases[name].append((end - start) * 1000)
            phases["cycle"].append((marks[-1] - marks[0]) * 1000)

    for i in range(warmup):
        await once(-1 - i)
    listener.log.clear()
    profiler.enable()
    for i in range(runs):
        await once(i)
    profiler.disable()
    # Background work (outcome reports) must not land in the next run's figures.
    await provider.aclose()
    for name, ms in listener.log:
        commands[name].append(ms)
    await mongo.drop_database(db_name)
    await mongo.close()

    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
    return {
        "runs": runs,
        "phases_ms": {name: statistics.median(v) for name, v in phases.items()},
        "commands": {
            name: {"per_cycle": len(v) / runs, "median_ms": statistics.median(v)}
            for name, v in sorted(commands.items())
        },
        "db_ms_per_cycle": sum(ms for _, ms in listener.log) / runs,
        "cprofile_top": out.getvalue(),
    }


# (b) with only the approval id passed on, as when the reviewer and the worker are other
# processes: each reads the record before its write.
BY_ID = "evolving_agents_by_id"


async def commands_per_cycle(uri: str, runs: int = 5) -> dict[str, dict[str, float]]:
    """Database commands per cycle, by name, for each contender (what the times are made of),
    and for (b) by id (``BY_ID``).

    Each contender is built once and warmed up by one cycle (index creation, first
    connections), then ``runs`` cycles are counted; creating indexes and listing collections
    happen once per store or saver, not once per cycle, so they are left out.
    """
    from bench.cycle import eat_once, raw_sdk_once
    from bench.langgraph_contender import langgraph_once

    counts: dict[str, dict[str, float]] = {}
    for contender in ("raw_sdk", "evolving_agents", BY_ID, "langgraph"):
        listener = _Commands()
        db_name = f"bench_count_{secrets.token_hex(3)}"
        mongo: Any = AsyncMongoClient(uri, tz_aware=True, event_listeners=[listener])
        client = MongoDBClient(client=mongo, db_name=db_name)
        with contextlib.ExitStack() as stack:
            if contender == "raw_sdk":
                once = raw_sdk_once(client)
            elif contender in ("evolving_agents", BY_ID):
                once = eat_once(client, by_id=contender == BY_ID)
            else:
                once = stack.enter_context(langgraph_once(uri, db_name + "_lg", [listener]))
            await once(-1)
            listener.log.clear()
            for i in range(runs):
                await once(i)
            log = [(n, ms) for n, ms in listener.log if not n.startswith(("createIndexes", "list"))]
        by_name: dict[str, list[float]] = defaultdict(list)
        for name, ms in log:
            by_name[name.split(" {")[0]].append(ms)
        counts[contender] = {
            "commands": len(log) / runs,
            "db_ms": sum(ms for _, ms in log) / runs,
            **{name: len(v) / runs for name, v in sorted(by_name.items())},
        }
        await mongo.drop_database(db_name)
        await mongo.close()
    return counts
