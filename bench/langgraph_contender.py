"""Contender (c): LangGraph with langgraph-checkpoint-mongodb's saver (its async methods).

A graph with an ``interrupt()`` before the tool, resumed with ``Command(resume=...)``; the
model node is scripted like the SDK's ScriptedModel, so only the framework is measured.
The saver's ``a*`` methods run blocking pymongo calls in the default thread pool: the CPU
figure (``process_time``) counts those threads too, since they are part of this process.
No ``from __future__ import annotations`` here: LangGraph reads the state type's hints.
"""

import contextlib
import uuid
from collections.abc import Iterator
from typing import Annotated, Any, TypedDict

import bson
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.checkpoint.mongodb import MongoDBSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import Command, interrupt
from pymongo import MongoClient

from bench.cycle import ARGS, Cycle, CycleSamples, grant_access, samples


class State(TypedDict):
    messages: Annotated[list[Any], add_messages]


def _langgraph_app(saver: Any, lookups: int = 0) -> Any:
    def model(state: State) -> dict[str, Any]:
        done = sum(isinstance(m, ToolMessage) for m in state["messages"])
        if done < lookups:
            call = {"name": "lookup_ticket", "args": {"number": 1000 + done}, "id": f"l{done}"}
            return {"messages": [AIMessage(content="", tool_calls=[call])]}
        if done == lookups:
            call = {"name": "grant_access", "args": ARGS, "id": "call_grant"}
            return {"messages": [AIMessage(content="", tool_calls=[call])]}
        return {"messages": [AIMessage(content="Alice has the role for 48h.")]}

    def approval(state: State) -> dict[str, Any]:
        call = state["messages"][-1].tool_calls[0]
        if call["name"] == "grant_access":
            verdict = interrupt({"tool": call["name"], "args": call["args"]})
            assert verdict == "approved"
        return {}

    def tools(state: State) -> dict[str, Any]:
        call = state["messages"][-1].tool_calls[0]
        if call["name"] == "grant_access":
            output = grant_access(**call["args"])
        else:
            output = f"ticket CHG-{call['args']['number']}: approved by CAB"
        return {"messages": [ToolMessage(content=output, tool_call_id=call["id"])]}

    def route(state: State) -> str:
        return "approval" if getattr(state["messages"][-1], "tool_calls", None) else END

    graph = StateGraph(State)
    graph.add_node("model", model)
    graph.add_node("approval", approval)
    graph.add_node("tools", tools)
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", route, ["approval", END])
    graph.add_edge("approval", "tools")
    graph.add_edge("tools", "model")
    return graph.compile(checkpointer=saver)


def _saver(uri: str, db_name: str, listeners: list[Any] | None = None) -> Any:
    return MongoDBSaver(MongoClient(uri, event_listeners=listeners or []), db_name=db_name)


@contextlib.contextmanager
def langgraph_once(uri: str, db_name: str, listeners: list[Any] | None = None) -> Iterator[Cycle]:
    """One cycle of contender (c), ``i`` naming its thread; its database is dropped after."""
    saver = _saver(uri, db_name, listeners)
    app = _langgraph_app(saver)

    async def once(i: int) -> None:
        config = {"configurable": {"thread_id": f"t{i}-{uuid.uuid4().hex[:6]}"}}
        paused = await app.ainvoke({"messages": [HumanMessage("Grant Alice admin")]}, config)
        assert "__interrupt__" in paused
        done = await app.ainvoke(Command(resume="approved"), config)
        assert done["messages"][-1].content

    try:
        yield once
    finally:
        saver.client.drop_database(db_name)
        saver.client.close()


async def langgraph_cycle(
    uri: str, db_name: str, runs: int, warmup: int = 3, listeners: list[Any] | None = None
) -> CycleSamples:
    """Wall and CPU per cycle (``runs`` samples) for contender (c)."""
    with langgraph_once(uri, db_name, listeners) as once:
        return await samples(once, runs, warmup)


async def langgraph_paused_bytes(uri: str, turns: int) -> int:
    """BSON bytes of every checkpoint document kept for one thread paused after ``turns``."""
    db_name = f"bench_lg_bytes_{uuid.uuid4().hex[:6]}"
    saver = _saver(uri, db_name)
    app = _langgraph_app(saver, lookups=turns - 1)
    config = {"configurable": {"thread_id": "bytes"}, "recursion_limit": 4 * turns + 10}
    paused = await app.ainvoke({"messages": [HumanMessage("Grant Alice admin")]}, config)
    assert "__interrupt__" in paused
    database = saver.client[db_name]
    total = 0
    for name in database.list_collection_names():
        for doc in database[name].find({"thread_id": "bytes"}):
            total += len(bson.encode(doc))
    saver.client.drop_database(db_name)
    saver.client.close()
    return total
