"""A paused run reviewed as an EAT IntentPlan: one intent per call, verdicts per intent.

    python examples/openai_agents/intent_plan_review.py

The decider here is a callback (approve the read-only change, reject the risky one); the
console prompt and IntentReviewAgent plug into ApprovePlanTool the same way.
"""

from __future__ import annotations

import asyncio

from agents import Agent
from agents.testing import ScriptedModel, assistant_message, function_call

from evolving_agents import (
    AgentRegistry,
    ApprovePlanTool,
    IntentPlan,
    IntentPlanStore,
    IntentVerdict,
    MongoDBClient,
    OpenAIAgentsProvider,
    OpenAIToolAdapter,
    PlanVerdicts,
    callback_decider,
)


def terraform(command: str, workspace: str) -> str:
    """Run a terraform command in a workspace."""
    return f"terraform {command} in {workspace}: ok"


def review(plan: IntentPlan) -> PlanVerdicts:
    verdicts = []
    for intent in plan.intents:
        print(f"  intent {intent.intent_id}: {intent.component_name} {intent.params}")
        if intent.params.get("command") == "plan":
            verdicts.append(IntentVerdict(intent_id=intent.intent_id, verdict="approve"))
        else:
            verdicts.append(
                IntentVerdict(
                    intent_id=intent.intent_id,
                    verdict="reject",
                    reason="apply needs a reviewed plan output first",
                )
            )
    return PlanVerdicts(verdicts=verdicts, reviewer="platform-lead")


async def main() -> None:
    model = ScriptedModel(
        [
            [
                function_call(
                    "terraform", {"command": "plan", "workspace": "prod"}, call_id="call_plan"
                ),
                function_call(
                    "terraform", {"command": "apply", "workspace": "prod"}, call_id="call_apply"
                ),
            ],
            [assistant_message("Plan ran; apply was refused, waiting for review of the plan.")],
        ]
    )
    tool = OpenAIToolAdapter().adapt(terraform, metadata={"system": "terraform"})
    registry = AgentRegistry()
    registry.register(Agent(name="infra-agent", tools=[tool], model=model))
    client = MongoDBClient()
    provider = OpenAIAgentsProvider(mongodb_client=client, registry=registry)
    plans = IntentPlanStore(client, approvals=provider.store)
    print("offline: the model is an agents.testing.ScriptedModel script")

    run = await provider.execute_agent("infra-agent", "Plan and apply prod")
    assert run.approval_id is not None
    plan = await plans.create_for_approval(run.approval_id)
    print(f"plan {plan.plan_id} ({plan.status}) for approval {run.approval_id}:")
    outcome = await ApprovePlanTool(
        approvals=provider.store, plans=plans, decider=callback_decider(review)
    ).review(plan_id=plan.plan_id)
    print(f"plan is now {outcome.status}; applied {outcome.applied}")
    done = await provider.resume_agent(run.approval_id)
    for output in done.tool_outputs:
        print(f"tool {output.call_id}: {output.output}")
    print(f"final: {done.status} {done.final_output}")
    await client.close()


if __name__ == "__main__":
    asyncio.run(main())
