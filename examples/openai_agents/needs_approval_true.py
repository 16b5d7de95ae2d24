"""A tool that always needs approval: the run pauses, a reviewer decides, the run resumes once.

    python examples/openai_agents/needs_approval_true.py            # approve
    python examples/openai_agents/needs_approval_true.py --reject   # reject with a message

Offline: the model is an agents.testing.ScriptedModel script; the database is MONGODB_URI,
else the embedded local server.
"""

from __future__ import annotations

import argparse
import asyncio

from agents import Agent, function_tool
from agents.testing import ScriptedModel, assistant_message, function_call

from evolving_agents import AgentRegistry, MongoDBClient, OpenAIAgentsProvider


@function_tool(needs_approval=True)
def restart_service(service: str, environment: str) -> str:
    """Restart a service in an environment."""
    return f"restarted {service} in {environment}"


async def main(reject: bool) -> None:
    model = ScriptedModel(
        [
            [
                function_call(
                    "restart_service",
                    {"service": "checkout", "environment": "prod"},
                    call_id="call_restart_1",
                )
            ],
            [assistant_message("Checkout handled; see the tool result above.")],
        ]
    )
    agent = Agent(
        name="sre-agent",
        instructions="Keep services healthy.",
        tools=[restart_service],
        model=model,
    )
    registry = AgentRegistry()
    registry.register(agent)
    client = MongoDBClient()
    provider = OpenAIAgentsProvider(mongodb_client=client, registry=registry)
    print("offline: the model is an agents.testing.ScriptedModel script")

    run = await provider.execute_agent("sre-agent", "Checkout is stuck, restart it", actor="pager")
    call = run.pending_tool_calls[0]
    print(f"paused: {run.status} approval={run.approval_id}")
    print(f"waiting: {call.tool_name}({call.arguments})")

    assert run.approval_id is not None
    await provider.store.decide(
        run.approval_id,
        call_id=call.call_id,
        verdict="rejected" if reject else "approved",
        reviewer="alice",
        message="Not during the sale; page the checkout team instead." if reject else None,
    )
    done = await provider.resume_agent(run.approval_id)
    for output in done.tool_outputs:
        print(f"tool {output.tool_name}: {output.output}")
    print(f"final: {done.status} {done.final_output}")
    await client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--reject", action="store_true")
    asyncio.run(main(parser.parse_args().reject))
