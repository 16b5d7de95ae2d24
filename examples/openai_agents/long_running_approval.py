"""A run paused in one process and resumed in another, hours later.

    python examples/openai_agents/long_running_approval.py              # pauses, then exits
    python examples/openai_agents/long_running_approval.py --resume     # approves, resumes
    python examples/openai_agents/long_running_approval.py --resume APPROVAL_ID --reject

Nothing is kept in memory between the two: the paused run lives in MongoDB (MONGODB_URI, else
the embedded local server), and the second process rebuilds the agent from its registry.
The ScriptedModel answers from the conversation it is shown, so any process can continue it.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
from typing import Any

from agents import Agent
from agents.items import TResponseOutputItem
from agents.testing import ModelCall, ModelStep, ScriptedModel, assistant_message, function_call

from evolving_agents import AgentRegistry, MongoDBClient, OpenAIAgentsProvider, OpenAIToolAdapter

AGENT = "release-agent"


def promote_release(version: str, environment: str) -> str:
    """Promote a release to an environment."""
    return f"promoted {version} to {environment}"


def _respond(call: ModelCall) -> list[TResponseOutputItem]:
    items = call.input if isinstance(call.input, list) else []
    outputs = [
        i.get("output")
        for i in items
        if isinstance(i, dict) and i.get("type") == "function_call_output"
    ]
    if not outputs:
        return [
            function_call(
                "promote_release",
                {"version": "v5.2.0", "environment": "prod"},
                call_id=f"call_{secrets.token_hex(4)}",
            )
        ]
    return [assistant_message(f"Release step finished: {outputs[0]}")]


def build_agent() -> Agent[Any]:
    tool = OpenAIToolAdapter().adapt(promote_release, metadata={"environment": "production"})
    model = ScriptedModel([ModelStep.respond(_respond) for _ in range(4)])
    return Agent(name=AGENT, instructions="Ship releases safely.", tools=[tool], model=model)


def build_registry() -> AgentRegistry:
    registry = AgentRegistry()
    registry.register_factory(AGENT, build_agent)
    return registry


async def main(resume: str | None, reject: bool) -> None:
    client = MongoDBClient()
    provider = OpenAIAgentsProvider(mongodb_client=client, registry=build_registry())
    print("offline: the model is an agents.testing.ScriptedModel script")
    try:
        if resume is None:
            run = await provider.execute_agent(AGENT, "Promote v5.2.0 to prod", actor="ci")
            print(f"paused: approval {run.approval_id} is stored; this process exits now.")
            print("resume later with: long_running_approval.py --resume", run.approval_id)
            return
        approval_id = resume
        if approval_id == "oldest":
            page = await provider.store.list(status="pending", agent_name=AGENT, limit=1)
            if not page.items:
                print("nothing is waiting for approval")
                return
            approval_id = page.items[0].id
        await provider.store.decide(
            approval_id,
            verdict="rejected" if reject else "approved",
            reviewer="release-manager",
            message="Freeze until Monday." if reject else None,
        )
        done = await provider.resume_agent(approval_id)
        print(f"resumed {approval_id}: {done.status} {done.final_output}")
    finally:
        await client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--resume",
        nargs="?",
        const="oldest",
        default=None,
        help="resume an approval id (default: the oldest pending one)",
    )
    parser.add_argument("--reject", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.resume, args.reject))
