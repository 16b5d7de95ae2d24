"""An app for crash tests: a gated payment whose worker can be made to hang, then be killed.

``EAT_TEST_TOOL_LOG``: each body start and end is appended there (``start <call_id> <pid>``).
``EAT_TEST_HANG_IN_TOOL=1``: the body hangs after recording its start (kill -9 mid-tool).
``EAT_TEST_HANG_AFTER_TOOL=1``: the model hangs after the tool returned (kill -9 mid-resume).
"""

from __future__ import annotations

import asyncio
import os
import secrets
from typing import Any

from agents import Agent
from agents.items import TResponseOutputItem
from agents.testing import ModelCall, ModelStep, ScriptedModel, assistant_message, function_call

from evolving_agents import AgentRegistry, OpenAIToolAdapter

AGENT_NAME = "pay-agent"


def _log(line: str) -> None:
    path = os.environ.get("EAT_TEST_TOOL_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(f"{line} {os.getpid()}\n")


async def pay(vendor: str, amount: int) -> str:
    """Pay a vendor."""
    from evolving_agents.approvals.ledger import idempotency_key

    _log(f"start {idempotency_key()}")
    if os.environ.get("EAT_TEST_HANG_IN_TOOL"):
        await asyncio.sleep(3600)
    _log(f"end {idempotency_key()}")
    return f"paid {amount} to {vendor}"


async def _respond(call: ModelCall) -> list[TResponseOutputItem]:
    items = call.input if isinstance(call.input, list) else []
    outputs = [i for i in items if isinstance(i, dict) and i.get("type") == "function_call_output"]
    if not outputs:
        return [
            function_call(
                "pay", {"vendor": "ACME", "amount": 900}, call_id=f"call_{secrets.token_hex(4)}"
            )
        ]
    if os.environ.get("EAT_TEST_HANG_AFTER_TOOL"):
        await asyncio.sleep(3600)
    return [assistant_message(f"done: {outputs[0]['output']}")]


def build_agent() -> Agent[Any]:
    tool = OpenAIToolAdapter().adapt(pay, metadata={"system": "payments"})
    model = ScriptedModel([ModelStep.respond(_respond) for _ in range(4)])
    return Agent(name=AGENT_NAME, tools=[tool], model=model)


def build_registry() -> AgentRegistry:
    registry = AgentRegistry()
    registry.register_factory(AGENT_NAME, build_agent)
    return registry
