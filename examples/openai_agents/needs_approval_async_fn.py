"""Approval decided per call by an async function: small refunds run, large ones pause.

    python examples/openai_agents/needs_approval_async_fn.py

The predicate gets the SDK's (run context, parsed arguments, call id) for every call.
"""

from __future__ import annotations

import asyncio
from typing import Any

from agents import Agent, RunContextWrapper
from agents.testing import ScriptedModel, assistant_message, function_call

from evolving_agents import AgentRegistry, MongoDBClient, OpenAIAgentsProvider, OpenAIToolAdapter

LIMIT = 100.0


def refund(order_id: str, amount: float) -> str:
    """Refund an order."""
    return f"refunded {amount:.2f} on {order_id}"


async def over_limit(ctx: RunContextWrapper[Any], arguments: dict[str, Any], call_id: str) -> bool:
    return float(arguments.get("amount", 0)) > LIMIT


async def main() -> None:
    model = ScriptedModel(
        [
            [
                function_call("refund", {"order_id": "A-1", "amount": 25.0}, call_id="call_a1"),
                function_call("refund", {"order_id": "B-2", "amount": 900.0}, call_id="call_b2"),
            ],
            [assistant_message("Both refunds are done.")],
        ]
    )
    tool = OpenAIToolAdapter().adapt(
        refund, needs_approval=over_limit, metadata={"system": "payments"}
    )
    agent = Agent(name="support-agent", tools=[tool], model=model)
    registry = AgentRegistry()
    registry.register(agent)
    client = MongoDBClient()
    provider = OpenAIAgentsProvider(mongodb_client=client, registry=registry)
    print("offline: the model is an agents.testing.ScriptedModel script")

    run = await provider.execute_agent("support-agent", "Refund A-1 (25) and B-2 (900)")
    print(
        f"paused: {run.status}; waiting on "
        + ", ".join(f"{c.call_id} {c.arguments}" for c in run.pending_tool_calls)
    )
    assert run.approval_id is not None
    await provider.store.decide(run.approval_id, verdict="approved", reviewer="finance-lead")
    done = await provider.resume_agent(run.approval_id)
    for output in done.tool_outputs:
        print(f"tool {output.call_id}: {output.output}")
    print(f"final: {done.status} {done.final_output}")
    await client.close()


if __name__ == "__main__":
    asyncio.run(main())
