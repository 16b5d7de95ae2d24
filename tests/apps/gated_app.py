"""A small app for cross-process tests: one agent with one gated tool.

The tool appends each execution to the file named by ``EAT_TEST_TOOL_LOG``, so a test in
another process can count how often the body really ran. The model is a ScriptedModel whose
steps answer from the conversation, so any process can resume a run another one paused.
"""

from __future__ import annotations

import json
import os
import secrets
from typing import Any

from agents import Agent
from agents.items import TResponseOutputItem
from agents.testing import ModelCall, ModelStep, ScriptedModel, assistant_message, function_call

from evolving_agents import AgentRegistry, OpenAIToolAdapter

AGENT_NAME = "gated-agent"


def grant_access(user: str, hours: int) -> str:
    """Grant a user admin access for some hours."""
    log = os.environ.get("EAT_TEST_TOOL_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"user": user, "hours": hours, "pid": os.getpid()}) + "\n")
    return f"granted {user} for {hours}h"


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def respond(call: ModelCall) -> list[TResponseOutputItem]:
    items = call.input if isinstance(call.input, list) else []
    outputs = [_field(i, "output") for i in items if _field(i, "type") == "function_call_output"]
    if not outputs:
        return [
            function_call(
                "grant_access",
                {"user": "alice", "hours": 48},
                call_id=f"call_{secrets.token_hex(4)}",
            )
        ]
    return [assistant_message("final: " + "; ".join(str(o) for o in outputs))]


def build_agent() -> Agent[Any]:
    tool = OpenAIToolAdapter().adapt(grant_access, metadata={"system": "okta", "risk": "high"})
    model = ScriptedModel([ModelStep.respond(respond) for _ in range(4)])
    return Agent(name=AGENT_NAME, instructions="grant access", tools=[tool], model=model)


def build_registry() -> AgentRegistry:
    registry = AgentRegistry()
    registry.register_factory(AGENT_NAME, build_agent)
    return registry
