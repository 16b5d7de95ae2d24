"""Intent plans, ApprovePlanTool, OpenAIToolApprovalTool and the SystemAgent's reviewer modes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from agents import Agent, Runner
from agents.testing import ScriptedModel, assistant_message, function_call

from evolving_agents import (
    AgentRegistry,
    ApprovalStatus,
    MongoDBClient,
    OpenAIAgentsProvider,
    OpenAIToolAdapter,
    ProviderRegistry,
    RunStatus,
    Settings,
)
from evolving_agents.core.system_agent import SystemAgent
from evolving_agents.decisions.local_rules import LocalRulePolicy
from evolving_agents.errors import ConfigurationError
from evolving_agents.plans.intent_plans import (
    IntentPlan,
    IntentPlanStore,
    IntentStatus,
    PlanStatus,
)
from evolving_agents.tools.intent_review.approve_plan_tool import (
    ApprovePlanTool,
    IntentVerdict,
    PlanVerdicts,
    callback_decider,
)
from evolving_agents.tools.intent_review.openai_tool_approval_tool import (
    ApprovalToolInput,
    OpenAIToolApprovalTool,
)


class Ops:
    """An ops agent proposing two gated calls at once, and what actually ran."""

    def __init__(self, mongo: MongoDBClient) -> None:
        self.executed: list[str] = []
        executed = self.executed

        def grant_access(user: str, hours: int) -> str:
            """Grant access."""
            executed.append(f"grant:{user}:{hours}")
            return f"granted {user} for {hours}h"

        def deploy(service: str, environment: str) -> str:
            """Deploy a service."""
            executed.append(f"deploy:{service}:{environment}")
            return f"deployed {service}"

        adapter = OpenAIToolAdapter()
        self.model = ScriptedModel(
            [
                [
                    function_call("grant_access", {"user": "alice", "hours": 48}, call_id="c1"),
                    function_call(
                        "deploy", {"service": "api", "environment": "staging"}, call_id="c2"
                    ),
                ],
                [assistant_message("finished")],
            ]
        )
        agent = Agent(
            name="ops-agent",
            tools=[
                adapter.adapt(grant_access, metadata={"system": "okta", "risk": "high"}),
                adapter.adapt(deploy, metadata={"system": "kubernetes", "ai_review": True}),
            ],
            model=self.model,
        )
        registry = AgentRegistry()
        registry.register(agent)
        self.provider = OpenAIAgentsProvider(mongodb_client=mongo, registry=registry)
        self.plans = IntentPlanStore(mongo, approvals=self.provider.store)

    async def pause(self) -> str:
        run = await self.provider.execute_agent("ops-agent", "grant alice and deploy api")
        assert run.approval_id is not None
        return run.approval_id


async def test_a_paused_run_becomes_a_plan_linked_both_ways(mongo: MongoDBClient) -> None:
    ops = Ops(mongo)
    approval_id = await ops.pause()
    plan = await ops.plans.create_for_approval(approval_id)
    again = await ops.plans.create_for_approval(approval_id)

    assert again.plan_id == plan.plan_id, "one plan per paused run"
    assert [i.intent_id for i in plan.intents] == ["c1", "c2"]
    assert plan.intents[0].component_name == "grant_access"
    assert plan.intents[0].params == {"user": "alice", "hours": 48}
    assert plan.status is PlanStatus.PENDING_REVIEW and plan.approval_id == approval_id
    assert (await ops.provider.store.get(approval_id)).plan_id == plan.plan_id
    stored = await mongo.collection("eat_intent_plans").find_one({"_id": plan.plan_id})
    assert stored["intents"][0]["status"] == "pending"


def test_eat_upper_case_statuses_are_read() -> None:
    plan = IntentPlan.model_validate(
        {
            "_id": "p",
            "title": "t",
            "status": "PENDING_REVIEW",
            "intents": [{"intent_id": "i", "component_name": "x", "status": "APPROVED"}],
        }
    )
    assert plan.status is PlanStatus.PENDING_REVIEW
    assert plan.intents[0].status is IntentStatus.APPROVED


async def test_per_intent_verdicts_map_back_to_the_right_calls(mongo: MongoDBClient) -> None:
    ops = Ops(mongo)
    approval_id = await ops.pause()
    seen: list[list[str]] = []

    def decide(plan: IntentPlan) -> PlanVerdicts:
        seen.append([i.intent_id for i in plan.intents])
        return PlanVerdicts(
            verdicts=[
                IntentVerdict(intent_id="c2", verdict="approve"),
                IntentVerdict(intent_id="c1", verdict="reject", reason="48h is too long"),
            ],
            reviewer="carol",
        )

    tool = ApprovePlanTool(
        approvals=ops.provider.store, plans=ops.plans, decider=callback_decider(decide)
    )
    review = await tool.review(approval_id=approval_id)
    assert seen == [["c1", "c2"]]
    assert sorted(review.applied) == ["c1", "c2"] and review.ready_to_resume
    assert review.status is PlanStatus.PARTIALLY_APPROVED

    record = await ops.provider.store.get(approval_id)
    decisions = {c.call_id: c.decision for c in record.tool_calls}
    assert decisions["c1"] is not None and decisions["c1"].verdict == "rejected"
    assert decisions["c1"].message == "48h is too long" and decisions["c1"].reviewer == "carol"
    assert decisions["c2"] is not None and decisions["c2"].verdict == "approved"

    done = await ops.provider.resume_agent(approval_id)
    assert done.status is RunStatus.SUCCESS
    assert ops.executed == ["deploy:api:staging"]


async def test_escalated_and_unanswered_intents_stay_with_a_person(mongo: MongoDBClient) -> None:
    ops = Ops(mongo)
    approval_id = await ops.pause()
    tool = ApprovePlanTool(
        approvals=ops.provider.store,
        plans=ops.plans,
        decider=callback_decider(
            lambda plan: PlanVerdicts(
                verdicts=[IntentVerdict(intent_id="c1", verdict="escalate", reason="too risky")],
                reviewer="bot",
            )
        ),
    )
    review = await tool.review(approval_id=approval_id)
    assert review.escalated == ["c1", "c2"] and not review.ready_to_resume
    plan = await ops.plans.get(review.plan_id)
    assert plan.intents[0].status is IntentStatus.ESCALATED
    assert plan.intents[0].review_comments == "too risky"
    assert (await ops.provider.store.get(approval_id)).status is ApprovalStatus.PENDING


async def test_approval_tool_lists_shows_decides_and_resumes(mongo: MongoDBClient) -> None:
    ops = Ops(mongo)
    approval_id = await ops.pause()
    tool = OpenAIToolApprovalTool(provider=ops.provider)

    listed = await tool.run(ApprovalToolInput(action="list"))
    assert [a.approval_id for a in listed.approvals] == [approval_id]
    assert listed.approvals[0].tools == ["grant_access", "deploy"]

    shown = await tool.run(ApprovalToolInput(action="show", approval_id=approval_id))
    assert shown.ok and shown.approval is not None
    assert shown.approval.input_preview == "grant alice and deploy api"
    assert shown.approval.tool_calls[0].arguments == {"user": "alice", "hours": 48}
    json.dumps(shown.model_dump(mode="json"))

    await tool.run(
        ApprovalToolInput(action="approve", approval_id=approval_id, call_id="c2", reviewer="dana")
    )
    early = await tool.run(ApprovalToolInput(action="resume", approval_id=approval_id))
    assert not early.ok and "not decided yet" in early.message
    rejected = await tool.run(
        ApprovalToolInput(action="reject", approval_id=approval_id, reviewer="dana", message="no")
    )
    assert rejected.ok and rejected.approval is not None
    assert rejected.approval.status is ApprovalStatus.DECIDED
    resumed = await tool.run(ApprovalToolInput(action="resume", approval_id=approval_id))
    assert resumed.ok and resumed.result is not None
    assert resumed.result.final_output == "finished"
    assert ops.executed == ["deploy:api:staging"]

    missing = await tool.run(ApprovalToolInput(action="show"))
    assert not missing.ok and "needs approval_id" in missing.message
    unknown = await tool.run(ApprovalToolInput(action="show", approval_id="apr_nope"))
    assert not unknown.ok and "not found" in unknown.message


async def test_an_agent_can_call_the_approval_tool(mongo: MongoDBClient) -> None:
    ops = Ops(mongo)
    approval_id = await ops.pause()
    tool = OpenAIToolApprovalTool(provider=ops.provider).as_function_tool()
    supervisor = Agent(
        name="supervisor",
        tools=[tool],
        model=ScriptedModel(
            [
                [
                    function_call(
                        "openai_tool_approval",
                        {"action": "show", "approval_id": approval_id},
                        call_id="s1",
                    )
                ],
                [assistant_message("seen")],
            ]
        ),
    )
    result = await Runner.run(supervisor, "what is waiting?")
    assert result.final_output == "seen"
    outputs = [item.output for item in result.new_items if hasattr(item, "output")]
    shown = json.loads(outputs[0])
    assert shown["ok"] and shown["approval"]["tool_calls"][0]["tool_name"] == "grant_access"


async def test_approval_tool_decisions_can_be_sticky_and_say_so_in_the_audit(
    mongo: MongoDBClient,
) -> None:
    ops = Ops(mongo)
    approval_id = await ops.pause()
    tool = OpenAIToolApprovalTool(provider=ops.provider)
    schema = tool.as_function_tool().params_json_schema
    assert schema["properties"]["always"]["type"] == "boolean"
    assert (
        "every later call of this tool in this run" in schema["properties"]["always"]["description"]
    )

    approved = await tool.run(
        ApprovalToolInput(
            action="approve", approval_id=approval_id, call_id="c1", reviewer="dana", always=True
        )
    )
    assert approved.ok and "every later call of this tool" in approved.message
    rejected = await tool.run(
        ApprovalToolInput(action="reject", approval_id=approval_id, call_id="c2", message="no")
    )
    assert rejected.ok and "every later call" not in rejected.message

    record = await ops.provider.store.get(approval_id)
    sticky, once = record.tool_calls
    assert sticky.decision is not None and sticky.decision.always is True
    assert once.decision is not None and once.decision.always is False
    details = {entry.call_id: entry.detail for entry in record.audit if entry.call_id}
    assert details["c1"]["sticky"] is True and "sticky" not in details["c2"]


async def test_an_agent_calling_the_approval_tool_can_make_its_rejection_sticky(
    mongo: MongoDBClient,
) -> None:
    # Was a sticky *approval* recorded as the human "eat": a model approving as a person, for
    # every later call. A model's decisions are now ai decisions, rejections only when allowed,
    # and never a sticky approval (see tests/test_hardening_metadata.py).
    ops = Ops(mongo)
    approval_id = await ops.pause()
    supervisor = Agent(
        name="supervisor",
        tools=[OpenAIToolApprovalTool(provider=ops.provider).as_function_tool(may_reject=True)],
        model=ScriptedModel(
            [
                [
                    function_call(
                        "openai_tool_approval",
                        {
                            "action": "reject",
                            "approval_id": approval_id,
                            "call_id": "c2",
                            "always": True,
                            "reviewer": "alice",
                        },
                        call_id="s1",
                    )
                ],
                [assistant_message("rejected")],
            ]
        ),
    )
    await Runner.run(supervisor, "reject the deploy for the rest of the run")
    decision = (await ops.provider.store.get(approval_id)).tool_calls[1].decision
    assert decision is not None and decision.always is True
    assert (decision.reviewer, decision.reviewer_kind) == ("model:supervisor", "ai")


def _system(ops: Ops, **kwargs: Any) -> SystemAgent:
    providers = ProviderRegistry()
    providers.register(ops.provider)
    settings = Settings(INTENT_REVIEW_ENABLED=True, INTENT_REVIEW_LEVELS="intents")
    return SystemAgent(providers, settings=settings, **kwargs)


async def test_system_agent_without_review_returns_the_awaiting_status(
    mongo: MongoDBClient,
) -> None:
    ops = Ops(mongo)
    providers = ProviderRegistry()
    providers.register(ops.provider)
    outcome = await SystemAgent(providers, settings=Settings()).run_task("ops-agent", "go")
    assert outcome.result.status is RunStatus.AWAITING_APPROVAL
    assert outcome.waiting_on == "person" and outcome.plan_ids == []


async def test_system_agent_human_mode_creates_a_plan_and_waits(mongo: MongoDBClient) -> None:
    ops = Ops(mongo)
    outcome = await _system(ops, reviewer="human").run_task("ops-agent", "go")
    assert outcome.result.status is RunStatus.AWAITING_APPROVAL
    assert outcome.waiting_on == "person" and len(outcome.plan_ids) == 1
    assert ops.executed == []


async def test_system_agent_human_mode_with_a_decider_resumes(mongo: MongoDBClient) -> None:
    ops = Ops(mongo)
    approve_all = callback_decider(
        lambda plan: PlanVerdicts(
            verdicts=[
                IntentVerdict(intent_id=i.intent_id, verdict="approve") for i in plan.intents
            ],
            reviewer="erin",
        )
    )
    outcome = await _system(ops, reviewer="human", human_decider=approve_all).run_task(
        "ops-agent", "go"
    )
    assert outcome.result.status is RunStatus.SUCCESS and outcome.waiting_on is None
    # The SDK runs a turn's approved calls concurrently: each exactly once, in either order.
    assert sorted(ops.executed) == ["deploy:api:staging", "grant:alice:48"]


async def test_system_agent_policy_mode_decides_what_the_rules_cover(
    mongo: MongoDBClient,
) -> None:
    ops = Ops(mongo)
    policy = LocalRulePolicy.from_dict(
        [
            {
                "name": "staging-ok",
                "tools": ["deploy"],
                "when": [{"arg": "environment", "op": "==", "value": "staging"}],
                "verdict": "allow",
                "risk": 0.1,
            },
            {
                "name": "long-grants",
                "tools": ["grant_*"],
                "when": [{"arg": "hours", "op": ">", "value": 24}],
                "verdict": "block",
                "risk": 0.9,
                "reason": "grants over 24h are refused",
                "better_action": "ask for 2h",
            },
        ]
    )
    outcome = await _system(ops, reviewer="policy", policy=policy).run_task("ops-agent", "go")
    assert outcome.result.status is RunStatus.SUCCESS
    assert ops.executed == ["deploy:api:staging"]
    review = outcome.reviews[0]
    assert sorted(review.applied) == ["c1", "c2"]
    record = await ops.provider.store.get(review.approval_id or "")
    c1 = record.call("c1")
    assert c1 is not None and c1.decision is not None
    assert c1.decision.reviewer_kind == "policy"
    assert c1.decision.message == "grants over 24h are refused Instead: ask for 2h"


async def test_system_agent_policy_mode_leaves_uncovered_calls_to_a_person(
    mongo: MongoDBClient,
) -> None:
    ops = Ops(mongo)
    policy = LocalRulePolicy.from_dict(
        [{"name": "staging-ok", "tools": ["deploy"], "verdict": "allow"}]
    )
    outcome = await _system(ops, reviewer="policy", policy=policy).run_task("ops-agent", "go")
    assert outcome.result.status is RunStatus.AWAITING_APPROVAL
    assert outcome.waiting_on == "person" and outcome.reviews[0].escalated == ["c1"]
    assert ops.executed == []


def test_system_agent_refuses_a_mode_without_its_reviewer() -> None:
    providers = ProviderRegistry()
    settings = Settings(INTENT_REVIEW_ENABLED=True, INTENT_REVIEW_LEVELS="intents")
    with pytest.raises(ConfigurationError, match="EAT_REVIEWER=ai"):
        SystemAgent(providers, settings=settings, reviewer="ai")
    with pytest.raises(ConfigurationError, match="EAT_REVIEWER=policy"):
        SystemAgent(providers, settings=settings, reviewer="policy")


async def test_system_agent_passes_other_providers_through_untouched() -> None:
    from evolving_agents import AgentRunResult, FrameworkProvider

    class Echo(FrameworkProvider):
        name = "beeai"

        async def create_agent(self, record: Any, tools: Any, firmware: Any = None) -> Any:
            return record

        async def execute_agent(self, agent_or_name: Any, input: Any, **options: Any) -> Any:
            return AgentRunResult(
                status=RunStatus.SUCCESS,
                final_output=input,
                run_id="r",
                agent_name=str(agent_or_name),
            )

    providers = ProviderRegistry()
    providers.register(Echo())
    settings = Settings(INTENT_REVIEW_ENABLED=True, INTENT_REVIEW_LEVELS="intents")
    outcome = await SystemAgent(providers, settings=settings).run_task(
        "echo", "hello", framework="beeai"
    )
    assert outcome.result.final_output == "hello" and outcome.reviews == []


def _reviewer(reviews: list[dict[str, Any]]) -> Any:
    from evolving_agents.reviewers import IntentReviewAgent

    return IntentReviewAgent(
        model=ScriptedModel([[assistant_message(json.dumps({"reviews": reviews}))]])
    )


AI_REVIEWS = [
    {"call_id": "c1", "verdict": "approve", "risk": 0.1, "reason": "looks fine"},
    {"call_id": "c2", "verdict": "approve", "risk": 0.1, "reason": "staging deploy"},
]


async def test_approval_tool_review_hands_the_record_to_the_ai_reviewer(
    mongo: MongoDBClient,
) -> None:
    ops = Ops(mongo)
    approval_id = await ops.pause()
    tool = OpenAIToolApprovalTool(provider=ops.provider, reviewer=_reviewer(AI_REVIEWS))
    out = await tool.run(ApprovalToolInput(action="review", approval_id=approval_id))
    assert out.ok and [r["verdict"] for r in out.review] == ["escalate", "approve"]
    record = await ops.provider.store.get(approval_id)
    c1, c2 = record.tool_calls
    assert c1.decision is None, "okta/high is not open to AI approval"
    assert c2.decision is not None and c2.decision.reviewer_kind == "ai"
    no_reviewer = OpenAIToolApprovalTool(provider=ops.provider)
    refused = await no_reviewer.run(ApprovalToolInput(action="review", approval_id=approval_id))
    assert not refused.ok and "no reviewer" in refused.message


async def test_system_agent_ai_mode_approves_what_it_may_and_waits_for_the_rest(
    mongo: MongoDBClient,
) -> None:
    ops = Ops(mongo)
    system = _system(ops, reviewer="ai", ai_reviewer=_reviewer(AI_REVIEWS))
    outcome = await system.run_task("ops-agent", "go")
    assert outcome.result.status is RunStatus.AWAITING_APPROVAL
    assert outcome.waiting_on == "person"
    assert outcome.reviews[0].applied == ["c2"] and outcome.reviews[0].escalated == ["c1"]
    approval_id = outcome.result.approval_id
    assert approval_id is not None
    await ops.provider.store.decide(approval_id, call_id="c1", verdict="approved", reviewer="frank")
    done = await system.continue_run(approval_id)
    assert done.result.status is RunStatus.SUCCESS
    # The SDK runs a turn's approved calls concurrently: each exactly once, in either order.
    assert sorted(ops.executed) == ["deploy:api:staging", "grant:alice:48"]


async def test_system_agent_none_mode_returns_the_run_for_later(mongo: MongoDBClient) -> None:
    ops = Ops(mongo)
    outcome = await _system(ops, reviewer="none").run_task("ops-agent", "go")
    assert outcome.result.status is RunStatus.AWAITING_APPROVAL
    assert outcome.waiting_on == "person" and outcome.plan_ids == [] and ops.executed == []


async def test_console_decider_asks_per_intent(mongo: MongoDBClient) -> None:
    from io import StringIO

    from rich.console import Console

    from evolving_agents.cli.plan_review import console_decider

    ops = Ops(mongo)
    approval_id = await ops.pause()
    answers = iter(["r", "needs a ticket", "a"])
    screen = StringIO()
    decider = console_decider(
        reviewer="gina",
        console=Console(file=screen, width=100),
        ask=lambda question, choices, default: next(answers),
    )
    review = await ApprovePlanTool(
        approvals=ops.provider.store, plans=ops.plans, decider=decider
    ).review(approval_id=approval_id)
    assert sorted(review.applied) == ["c1", "c2"]
    record = await ops.provider.store.get(approval_id)
    c1 = record.call("c1")
    assert c1 is not None and c1.decision is not None
    assert c1.decision.verdict == "rejected" and c1.decision.message == "needs a ticket"
    assert c1.decision.reviewer == "gina"
    assert "grant_access" in screen.getvalue() and '"hours": 48' in screen.getvalue()
