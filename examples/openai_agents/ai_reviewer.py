"""EAT configured with the OpenAI provider and IntentReviewAgent as the first reviewer.

    python examples/openai_agents/ai_reviewer.py

The AI reviewer may approve only tools whose metadata opts into AI review, under its risk
threshold; everything else is escalated to a person. Here it approves a small staging scale-up,
and its "approve" on a 48h Okta admin grant is capped to an escalation. A person then rejects
that one, and the SystemAgent resumes the run. Both models are ScriptedModel scripts.
"""

from __future__ import annotations

import asyncio
import json
import os

from agents import Agent
from agents.testing import ScriptedModel, assistant_message, function_call

from evolving_agents import (
    AgentRegistry,
    IntentReviewAgent,
    MongoDBClient,
    OpenAIAgentsProvider,
    OpenAIToolAdapter,
    ProviderRegistry,
    SystemAgent,
)

# The configuration an EAT deployment sets in its environment.
os.environ.setdefault("INTENT_REVIEW_ENABLED", "true")
os.environ.setdefault("INTENT_REVIEW_LEVELS", "intents")
os.environ.setdefault("EAT_REVIEWER", "ai")


def scale_deployment(name: str, environment: str, replicas: int) -> str:
    """Scale a deployment."""
    return f"scaled {name} in {environment} to {replicas} replicas"


def grant_okta_admin(user: str, duration_hours: int) -> str:
    """Grant Okta admin for a limited time."""
    return f"granted {user} Okta admin for {duration_hours}h"


def ops_agent() -> Agent[None]:
    adapter = OpenAIToolAdapter()
    model = ScriptedModel(
        [
            [
                function_call(
                    "scale_deployment",
                    {"name": "web", "environment": "staging", "replicas": 5},
                    call_id="call_scale",
                ),
                function_call(
                    "grant_okta_admin",
                    {"user": "alice", "duration_hours": 48},
                    call_id="call_grant",
                ),
            ],
            [assistant_message("Scaled web in staging; the Okta grant was refused.")],
        ]
    )
    return Agent(
        name="ops-agent",
        tools=[
            adapter.adapt(
                scale_deployment, metadata={"system": "kubernetes", "risk": 0.1, "ai_review": True}
            ),
            adapter.adapt(grant_okta_admin, metadata={"system": "okta", "risk": "high"}),
        ],
        model=model,
    )


def reviewer_model() -> ScriptedModel:
    report = {
        "reviews": [
            {
                "call_id": "call_scale",
                "verdict": "approve",
                "risk": 0.1,
                "reason": "small staging scale-up",
            },
            {
                "call_id": "call_grant",
                "verdict": "approve",
                "risk": 0.2,
                "reason": "requested by the user",
            },
        ]
    }
    return ScriptedModel([[assistant_message(json.dumps(report))]])


async def main() -> None:
    client = MongoDBClient()
    registry = AgentRegistry()
    registry.register(ops_agent())
    provider = OpenAIAgentsProvider(mongodb_client=client, registry=registry)
    providers = ProviderRegistry()
    providers.register(provider)
    reviewer = IntentReviewAgent(model=reviewer_model(), risk_threshold=0.3)
    system = SystemAgent(providers, ai_reviewer=reviewer)
    print("offline: both models are agents.testing.ScriptedModel scripts")

    outcome = await system.run_task("ops-agent", "Scale web to 5 in staging; make Alice admin")
    approval_id = outcome.result.approval_id
    assert approval_id is not None
    for review in outcome.reviews:
        print(f"AI review: applied {review.applied}, escalated {review.escalated}")
    record = await provider.store.get(approval_id)
    for call in record.tool_calls:
        decided = call.decision
        who = (
            f"{decided.verdict} by {decided.reviewer} ({decided.reviewer_kind})"
            if decided
            else "waiting for a person"
        )
        print(f"  {call.tool_name}: {who}")
    print(f"status: {outcome.result.status}, waiting on: {outcome.waiting_on}")

    await provider.store.decide(
        approval_id,
        call_id="call_grant",
        verdict="rejected",
        reviewer="security-oncall",
        message="Admin for 48h is not allowed; request 2h with a ticket.",
    )
    done = await system.continue_run(approval_id)
    for output in done.result.tool_outputs:
        print(f"tool {output.tool_name}: {output.output}")
    print(f"final: {done.result.status} {done.result.final_output}")
    await client.close()


if __name__ == "__main__":
    asyncio.run(main())
