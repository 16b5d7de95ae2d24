"""Hardening (issue 10): settings per agent and call, verdicts per call, models approving,
odd tool signatures.

Each scenario is tried as an attacker or an unlucky app would: two agents of one graph sharing
a tool name, a model reusing call ids, a model calling the approval tool, an AI decision from
outside ``IntentReviewAgent``. Storage scenarios run on memory:// and on a real wire server
(the ``mongo`` fixture), with the real SDK and ``ScriptedModel``.
"""

from __future__ import annotations

import json
import socket
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
    RunStatus,
)
from evolving_agents.adapters import ToolAdapterError, strictest_metadata
from evolving_agents.adapters.tool_lookup import AMBIGUOUS_ROLE
from evolving_agents.approvals import InvalidDecision, NotAuthorized, Reviewer
from evolving_agents.approvals.models import ReviewerKind, Verdict
from evolving_agents.approvals.rules import AI_RISK_CEILING, ai_approval_refusal
from evolving_agents.approvals.store import COLLECTION_NAME, PendingApprovalStore
from evolving_agents.decisions.base import (
    DecisionContext,
    DecisionSignal,
    DecisionVerdict,
    ToolCallRequest,
)
from evolving_agents.plans.intent_plans import IntentPlanStore
from evolving_agents.reviewers import IntentReviewAgent, ReviewVerdict
from evolving_agents.tools.intent_review.approve_plan_tool import ApprovePlanTool, agent_decider
from evolving_agents.tools.intent_review.openai_tool_approval_tool import OpenAIToolApprovalTool
from tests.test_call_kinds import TicketServer
from tests.test_store import make_record

SECURITY = Reviewer(name="sam", roles=frozenset({"security"}))
SECURITY_TOO = Reviewer(name="sue", roles=frozenset({"security"}))
HARMLESS = {"environment": "staging", "needs_approval": True, "ai_review": True, "risk": 0.1}
PRODUCTION = {
    "environment": "production",
    "approver_roles": ["security"],
    "min_approvals": 2,
    "risk": "critical",
}


def provider_for(mongo: MongoDBClient, agent: Agent[Any]) -> OpenAIAgentsProvider:
    registry = AgentRegistry()
    registry.register(agent)
    return OpenAIAgentsProvider(mongodb_client=mongo, registry=registry)


def ai_reviewer(*reviews: dict[str, Any]) -> IntentReviewAgent:
    model = ScriptedModel([[assistant_message(json.dumps({"reviews": list(reviews)}))]])
    return IntentReviewAgent(model=model, risk_threshold=0.3)


async def raw(mongo: MongoDBClient, approval_id: str) -> dict[str, Any]:
    document = await mongo.collection(COLLECTION_NAME).find_one({"_id": approval_id})
    assert document is not None
    return dict(document)


class TwoDeploys:
    """A triage agent with a harmless ``deploy`` handing off to a deployer whose ``deploy`` is
    production: role ``security``, two approvers, critical. The deployer makes the call."""

    def __init__(self, mongo: MongoDBClient) -> None:
        self.ran: list[str] = []
        ran = self.ran

        def deploy(service: str) -> str:
            """Deploy to staging."""
            ran.append(f"staging:{service}")
            return "staged"

        def deploy_production(service: str, environment: str) -> str:
            """Deploy to production."""
            ran.append(f"{environment}:{service}")
            return "deployed"

        adapter = OpenAIToolAdapter()
        self.deployer = Agent(
            name="deployer",
            tools=[adapter.adapt(deploy_production, name="deploy", metadata=PRODUCTION)],
            model=ScriptedModel(
                [
                    [
                        function_call(
                            "deploy", {"service": "api", "environment": "prod"}, call_id="d1"
                        )
                    ],
                    [assistant_message("deployed")],
                ]
            ),
        )
        self.triage = Agent(
            name="triage",
            tools=[adapter.adapt(deploy, metadata=HARMLESS)],
            handoffs=[self.deployer],
            model=ScriptedModel([[function_call("transfer_to_deployer", {}, call_id="h1")]]),
        )
        self.provider = provider_for(mongo, self.triage)

    async def pause(self) -> str:
        run = await self.provider.execute_agent("triage", "ship api to production")
        assert run.status is RunStatus.AWAITING_APPROVAL and run.approval_id is not None
        return run.approval_id


# -- 2. settings come from the tool of the agent that made the call ---------------------------


async def test_a_handoff_agents_deploy_keeps_its_own_roles_and_quorum(
    mongo: MongoDBClient,
) -> None:
    app = TwoDeploys(mongo)
    approval_id = await app.pause()
    [call] = (await app.provider.store.get(approval_id)).tool_calls
    assert call.agent_name == "deployer"
    assert call.metadata == PRODUCTION, "not the starting agent's harmless deploy"

    with pytest.raises(NotAuthorized, match="security"):
        await app.provider.store.decide(approval_id, verdict="approved", reviewer="bob")
    first = await app.provider.store.decide(approval_id, verdict="approved", reviewer=SECURITY)
    assert first.status is ApprovalStatus.PENDING, "one of two approvers"
    await app.provider.store.decide(approval_id, verdict="approved", reviewer=SECURITY_TOO)
    done = await app.provider.resume_agent(approval_id)
    assert done.status is RunStatus.SUCCESS and app.ran == ["prod:api"]


async def test_a_same_named_tool_elsewhere_lends_no_ai_eligibility(mongo: MongoDBClient) -> None:
    app = TwoDeploys(mongo)
    approval_id = await app.pause()
    reviewer = ai_reviewer({"call_id": "d1", "verdict": "approve", "reason": "ok", "risk": 0.0})

    [decision] = await reviewer.review_and_decide(app.provider.store, approval_id)

    assert decision.verdict is ReviewVerdict.ESCALATE
    assert "does not allow AI approval" in decision.reason
    record = await app.provider.store.get(approval_id)
    assert record.tool_calls[0].decision is None and app.ran == []


async def test_an_edit_is_checked_against_the_calling_agents_tool(mongo: MongoDBClient) -> None:
    app = TwoDeploys(mongo)
    approval_id = await app.pause()
    # Fits the starting agent's deploy(service), not the deployer's deploy(service, environment).
    with pytest.raises(InvalidDecision, match=r"do not fit deploy: .*environment"):
        await app.provider.store.decide(
            approval_id,
            verdict="approved",
            reviewer=SECURITY,
            call_id="d1",
            edited_arguments={"service": "web"},
        )


async def test_a_local_mcp_call_takes_its_servers_settings_not_a_namesakes(
    mongo: MongoDBClient,
) -> None:
    def close_ticket(ticket: str) -> str:
        """Close a ticket (a harmless local helper of the same name)."""
        return ticket

    server = TicketServer()
    server.eat_metadata = {"system": "jira", "approver_roles": ["support"]}  # type: ignore[attr-defined]
    helper = Agent(
        name="helper",
        tools=[OpenAIToolAdapter().adapt(close_ticket, metadata={"ai_review": True})],
    )
    agent = Agent(
        name="support",
        mcp_servers=[server],
        handoffs=[helper],
        model=ScriptedModel(
            [
                [function_call("close_ticket", {"ticket": "T-1"}, call_id="m1")],
                [assistant_message("closed")],
            ]
        ),
    )
    provider = provider_for(mongo, agent)
    run = await provider.execute_agent("support", "close T-1")
    assert run.approval_id is not None
    [call] = (await provider.store.get(run.approval_id)).tool_calls
    assert call.tool_name == "tickets.close_ticket"
    assert call.metadata == {"system": "jira", "approver_roles": ["support"]}


async def test_tools_that_cannot_be_told_apart_get_the_strictest_settings(
    mongo: MongoDBClient,
) -> None:
    """Two ``deploy`` tools on one agent, each enabled per run by a callable: which one the
    model called cannot be told afterwards, so neither one's lenient settings may apply."""
    adapter = OpenAIToolAdapter()

    def deploy(service: str) -> str:
        """Deploy."""
        return service

    staging = adapter.adapt(deploy, metadata=HARMLESS)
    production = adapter.adapt(deploy, metadata={**PRODUCTION, "approver_roles": ["security"]})
    staging.is_enabled = lambda ctx, agent: False
    production.is_enabled = lambda ctx, agent: True
    agent = Agent(
        name="ops",
        tools=[staging, production],
        model=ScriptedModel(
            [[function_call("deploy", {"service": "api"}, call_id="c1")], [assistant_message("ok")]]
        ),
    )
    provider = provider_for(mongo, agent)
    run = await provider.execute_agent("ops", "deploy api")
    assert run.approval_id is not None
    [call] = (await provider.store.get(run.approval_id)).tool_calls

    assert call.metadata["min_approvals"] == 2 and call.metadata["approver_roles"] == ["security"]
    assert call.metadata["risk"] == "critical" and call.metadata["ai_review"] is False
    assert call.metadata["environment"] == "production"
    assert call.metadata["ambiguous_tools"] == ["ops.deploy", "ops.deploy"]
    with pytest.raises(NotAuthorized):
        await provider.store.decide(
            run.approval_id, verdict="approved", reviewer="ai:x", reviewer_kind="ai"
        )


async def test_two_agents_of_one_name_get_the_strictest_of_their_tools(
    mongo: MongoDBClient,
) -> None:
    """A restored run state finds agents by name, so two agents named ``ops`` in one graph
    cannot be told apart on resume: the call must not get the lenient one's settings."""
    adapter = OpenAIToolAdapter()

    def deploy(service: str) -> str:
        """Deploy."""
        return service

    other = Agent(
        name="ops",
        tools=[adapter.adapt(deploy, metadata=PRODUCTION)],
        model=ScriptedModel([[function_call("deploy", {"service": "api"}, call_id="c1")]]),
    )
    start = Agent(
        name="ops",
        tools=[adapter.adapt(deploy, metadata=HARMLESS)],
        handoffs=[other],
        model=ScriptedModel([[function_call("transfer_to_ops", {}, call_id="h1")]]),
    )
    provider = provider_for(mongo, start)
    run = await provider.execute_agent(start, "deploy api")
    assert run.approval_id is not None
    [call] = (await provider.store.get(run.approval_id)).tool_calls

    assert call.metadata["min_approvals"] == 2 and call.metadata["approver_roles"] == ["security"]
    assert call.metadata["ai_review"] is False and len(call.metadata["ambiguous_tools"]) == 2


def test_the_strictest_of_disjoint_roles_is_a_role_nobody_holds() -> None:
    merged = strictest_metadata(
        [
            {"approver_roles": ["sre"], "min_approvals": 1, "expires_in": "never"},
            {"approver_roles": ["security"], "min_approvals": 3, "expires_in": "30m"},
            {"min_approvals": "two"},
        ],
        ["a.t", "b.t", "c.t"],
    )
    assert merged["approver_roles"] == [AMBIGUOUS_ROLE]
    assert merged["min_approvals"] == "two", "a malformed quorum is kept, so nobody can decide"
    assert merged["expires_in"] == "30m"
    assert strictest_metadata([{"risk": "low"}, {"risk": "low"}]) == {"risk": "low"}


# -- 3. a verdict belongs to one call of one run ----------------------------------------------


class HoursPolicy:
    """Allows up to 4 hours, asks a person up to 24, blocks longer; counts what it is asked."""

    name = "hours"

    def __init__(self) -> None:
        self.asked: list[tuple[str, int]] = []

    async def decide(self, tool_call: ToolCallRequest, context: DecisionContext) -> DecisionSignal:
        hours = int(tool_call.arguments.get("hours", 0))
        self.asked.append((tool_call.call_id, hours))
        if hours <= 4:
            return DecisionSignal.of("allow", provider=self.name, risk=0.1, reason="short")
        if hours <= 24:
            return DecisionSignal.of("needs_approval", provider=self.name, risk=0.6, reason="day")
        return DecisionSignal.of("block", provider=self.name, risk=0.9, reason="over 24h")


class Grants:
    """One agent whose scripted model reuses the call id ``c1`` for every call."""

    def __init__(self, mongo: MongoDBClient, *hours: int) -> None:
        self.ran: list[int] = []
        ran = self.ran
        self.policy = HoursPolicy()

        def grant_access(user: str, hours: int) -> str:
            """Grant access for some hours."""
            ran.append(hours)
            return f"granted {hours}h"

        steps: list[Any] = []
        for count in hours:
            steps.append(
                [function_call("grant_access", {"user": "al", "hours": count}, call_id="c1")]
            )
            steps.append([assistant_message("done")])
        agent = Agent(
            name="grants",
            tools=[OpenAIToolAdapter(decision_provider=self.policy).adapt(grant_access)],
            model=ScriptedModel(steps),
        )
        self.provider = provider_for(mongo, agent)


async def test_a_reused_call_id_does_not_pass_the_block_after_an_allowed_call(
    mongo: MongoDBClient,
) -> None:
    app = Grants(mongo, 2, 72)
    first = await app.provider.execute_agent("grants", "two hours")
    second = await app.provider.execute_agent("grants", "three days")

    assert first.status is second.status is RunStatus.SUCCESS
    assert app.ran == [2], "the 72h call reused c1 and must still be blocked"
    assert app.policy.asked[-1] == ("c1", 72), "scored afresh"
    assert "Blocked by policy (hours): over 24h" in second.tool_outputs[0].output


async def test_a_reused_call_id_pauses_with_its_own_signal(mongo: MongoDBClient) -> None:
    app = Grants(mongo, 2, 12)
    await app.provider.execute_agent("grants", "two hours")
    paused = await app.provider.execute_agent("grants", "twelve hours")

    assert paused.status is RunStatus.AWAITING_APPROVAL and paused.approval_id is not None
    [call] = (await app.provider.store.get(paused.approval_id)).tool_calls
    assert call.signal is not None
    assert (call.signal["verdict"], call.signal["reason"]) == ("needs_approval", "day")
    assert app.ran == [2]


async def test_an_edit_is_scored_afresh_even_when_the_gate_saw_it(mongo: MongoDBClient) -> None:
    app = Grants(mongo, 12)
    paused = await app.provider.execute_agent("grants", "twelve hours")
    assert paused.approval_id is not None
    asked = len(app.policy.asked)
    with pytest.raises(InvalidDecision, match="blocked by policy"):
        await app.provider.store.decide(
            paused.approval_id,
            call_id="c1",
            verdict="approved",
            reviewer="bob",
            edited_arguments={"user": "al", "hours": 72},
        )
    assert len(app.policy.asked) == asked + 1


# -- 10. models approving ---------------------------------------------------------------------


class Ops:
    """An ops agent paused on a high-risk grant (c1) and an AI-reviewable deploy (c2)."""

    def __init__(self, mongo: MongoDBClient) -> None:
        def grant_access(user: str, hours: int) -> str:
            """Grant access."""
            return "granted"

        def deploy(service: str) -> str:
            """Deploy a service."""
            return "deployed"

        adapter = OpenAIToolAdapter()
        agent = Agent(
            name="ops-agent",
            tools=[
                adapter.adapt(grant_access, metadata={"system": "okta", "risk": "high"}),
                adapter.adapt(deploy, metadata={"system": "kubernetes", "ai_review": True}),
            ],
            model=ScriptedModel(
                [
                    [
                        function_call("grant_access", {"user": "al", "hours": 48}, call_id="c1"),
                        function_call("deploy", {"service": "api"}, call_id="c2"),
                    ],
                    [assistant_message("finished")],
                ]
            ),
        )
        self.provider = provider_for(mongo, agent)

    async def pause(self) -> str:
        run = await self.provider.execute_agent("ops-agent", "grant and deploy")
        assert run.approval_id is not None
        return run.approval_id

    async def supervise(self, tool: Any, *arguments: dict[str, Any]) -> list[dict[str, Any]]:
        """A supervisor model calling the approval tool once per ``arguments``."""
        steps: list[Any] = [
            [function_call("openai_tool_approval", args, call_id=f"s{i}")]
            for i, args in enumerate(arguments)
        ]
        supervisor = Agent(
            name="supervisor",
            tools=[tool],
            model=ScriptedModel([*steps, [assistant_message("done")]]),
        )
        result = await Runner.run(supervisor, "handle the waiting calls")
        return [json.loads(item.output) for item in result.new_items if hasattr(item, "output")]


async def test_a_model_with_the_approval_tool_cannot_approve_as_a_person(
    mongo: MongoDBClient,
) -> None:
    ops = Ops(mongo)
    approval_id = await ops.pause()
    before = await raw(mongo, approval_id)
    tool = OpenAIToolApprovalTool(provider=ops.provider).as_function_tool()

    outputs = await ops.supervise(
        tool,
        {"action": "approve", "approval_id": approval_id, "reviewer": "alice"},
        {"action": "reject", "approval_id": approval_id, "call_id": "c2"},
        {"action": "escalate", "approval_id": approval_id, "call_id": "c1"},
    )

    assert [o["ok"] for o in outputs] == [False, False, True]
    assert "stays for a person to decide" in outputs[0]["message"]
    assert await raw(mongo, approval_id) == before, "nothing recorded, as anyone"


async def test_a_model_allowed_to_approve_decides_as_ai_within_the_cap(
    mongo: MongoDBClient,
) -> None:
    ops = Ops(mongo)
    approval_id = await ops.pause()
    tool = OpenAIToolApprovalTool(provider=ops.provider).as_function_tool(may_approve=True)

    outputs = await ops.supervise(
        tool,
        {"action": "approve", "approval_id": approval_id, "call_id": "c1", "reviewer": "alice"},
        {"action": "approve", "approval_id": approval_id, "call_id": "c2", "always": True},
        {"action": "approve", "approval_id": approval_id, "call_id": "c2", "reviewer": "alice"},
    )

    assert [o["ok"] for o in outputs] == [False, False, True]
    assert "does not allow AI approval" in outputs[0]["message"]
    assert "every later call" in outputs[1]["message"]
    record = await ops.provider.store.get(approval_id)
    grant, deploy = record.tool_calls
    assert grant.decision is None
    assert deploy.decision is not None and deploy.decision.verdict is Verdict.APPROVED
    assert (deploy.decision.reviewer, deploy.decision.reviewer_kind) == (
        "model:supervisor",
        ReviewerKind.AI,
    )


@pytest.mark.parametrize(
    ("metadata", "signal_risk", "always", "refused"),
    [
        ({}, None, False, "does not allow AI approval"),
        ({"ai_review": True, "risk": "high"}, None, False, "not below the AI approval threshold"),
        ({"ai_review": True}, 0.8, False, "not below the AI approval threshold"),
        ({"ai_review": True}, None, True, "every later call"),
        ({"ai_review": True, "risk": "low"}, 0.1, False, None),
    ],
    ids=["not-opted-in", "high-risk-tool", "risky-signal", "sticky", "allowed"],
)
async def test_the_store_caps_every_ai_approval_whatever_sent_it(
    mongo: MongoDBClient,
    metadata: dict[str, Any],
    signal_risk: float | None,
    always: bool,
    refused: str | None,
) -> None:
    store = PendingApprovalStore(mongo)
    record = make_record("a1", calls=("c1", "c2"), metadata=metadata)
    if signal_risk is not None:
        signal = DecisionSignal.of(DecisionVerdict.NEEDS_APPROVAL, provider="p", risk=signal_risk)
        for call in record.tool_calls:
            call.signal = signal.model_dump(mode="json")
    await store.create(record)
    before = await raw(mongo, "a1")

    async def ai_approves() -> Any:
        return await store.decide(
            "a1",
            call_id="c1",
            verdict="approved",
            reviewer="bot",
            reviewer_kind="ai",
            always=always,
        )

    if refused is None:
        assert (await ai_approves()).tool_calls[0].decision is not None
    else:
        with pytest.raises(NotAuthorized, match=refused):
            await ai_approves()
        assert await raw(mongo, "a1") == before
    rejected = await store.decide(
        "a1", call_id="c2", verdict="rejected", reviewer="bot", reviewer_kind="ai"
    )
    assert rejected.tool_calls[1].decision is not None, "an AI may always reject"


async def test_one_refused_ai_decision_does_not_drop_the_others(mongo: MongoDBClient) -> None:
    store = PendingApprovalStore(mongo)
    record = make_record("a1", calls=("c1", "c2"), metadata={"ai_review": True})
    # The tool opts into AI review but asks for the role "sre" only: the store refuses an AI.
    record.tool_calls[0].metadata["approver_roles"] = ["sre"]
    await store.create(record)
    reviewer = ai_reviewer(
        {"call_id": "c1", "verdict": "approve", "reason": "fine", "risk": 0.0},
        {"call_id": "c2", "verdict": "reject", "reason": "48h is too long", "risk": 0.6},
    )

    first, second = await reviewer.review_and_decide(store, "a1")

    assert first.verdict is ReviewVerdict.ESCALATE and "store refused" in first.reason
    assert second.verdict is ReviewVerdict.REJECT
    c1, c2 = (await store.get("a1")).tool_calls
    assert c1.decision is None
    assert c2.decision is not None and c2.decision.verdict is Verdict.REJECTED


async def test_a_plan_review_keeps_the_verdicts_the_store_accepts(mongo: MongoDBClient) -> None:
    store = PendingApprovalStore(mongo)
    record = make_record("a1", calls=("c1", "c2"), metadata={"ai_review": True})
    record.tool_calls[0].metadata["approver_roles"] = ["sre"]
    await store.create(record)
    plans = IntentPlanStore(mongo, approvals=store)
    reviewer = ai_reviewer(
        {"call_id": "c1", "verdict": "approve", "reason": "fine", "risk": 0.0},
        {"call_id": "c2", "verdict": "reject", "reason": "too long", "risk": 0.6},
    )
    tool = ApprovePlanTool(
        approvals=store, plans=plans, decider=agent_decider(reviewer, approvals=store)
    )

    review = await tool.review(approval_id="a1")

    assert review.applied == ["c2"] and review.escalated == ["c1"]
    c1, c2 = (await store.get("a1")).tool_calls
    assert c1.decision is None and c2.decision is not None


def test_the_ai_cap_is_one_rule_for_the_reviewer_and_the_store() -> None:
    [call] = make_record("a1", metadata={"ai_review": True}).tool_calls
    assert ai_approval_refusal(call) is None
    assert ai_approval_refusal(call, risk=0.4, threshold=0.3) is not None
    # A reviewer's own threshold never lifts the store's ceiling.
    refusal = ai_approval_refusal(call, risk=0.6, threshold=0.9)
    assert refusal is not None and f"{AI_RISK_CEILING:.2f}" in refusal


# -- 8. odd tool signatures -------------------------------------------------------------------


async def _yields(hours: int) -> Any:
    yield hours


def _generates(hours: int) -> Any:
    yield hours


def _takes_kwargs(**options: int) -> str:
    return str(options)


def _takes_a_socket(connection: socket.socket) -> str:
    return str(connection)


def _unresolved(value: Undefined) -> str:  # type: ignore[name-defined]  # noqa: F821
    return str(value)


class _Deployer:
    def deploy(self, service: str) -> str:
        return service


@pytest.mark.parametrize(
    ("func", "problem"),
    [
        (_yields, "async generator"),
        (_generates, "a generator"),
        (_Deployer, "a class is not a tool"),
        (_Deployer.deploy, "first parameter is 'self'"),
        (_takes_kwargs, r"\*\*kwargs"),
        (max, "signature cannot be read"),
        (_unresolved, "NameError"),
        (_takes_a_socket, "cannot be described as a JSON schema"),
    ],
    ids=[
        "async-generator",
        "generator",
        "class",
        "unbound-method",
        "kwargs",
        "builtin",
        "unresolved-annotation",
        "unsupported-type",
    ],
)
def test_odd_signatures_are_refused_with_the_adapters_error(func: Any, problem: str) -> None:
    with pytest.raises(ToolAdapterError, match=rf"tool 'odd': .*{problem}"):
        OpenAIToolAdapter().adapt(func, name="odd")


async def test_positional_only_and_star_args_run_with_their_arguments_after_a_pause(
    mongo: MongoDBClient,
) -> None:
    seen: list[Any] = []

    def tag(resource: str, /, *labels: str) -> str:
        """Tag a resource."""
        seen.append((resource, labels))
        return "tagged"

    agent = Agent(
        name="tagger",
        tools=[OpenAIToolAdapter().adapt(tag, metadata={"needs_approval": True})],
        model=ScriptedModel(
            [
                [function_call("tag", {"resource": "db", "labels": ["a", "b"]}, call_id="t1")],
                [assistant_message("ok")],
            ]
        ),
    )
    provider = provider_for(mongo, agent)
    run = await provider.execute_agent("tagger", "tag db")
    assert run.approval_id is not None
    await provider.store.decide(run.approval_id, verdict="approved", reviewer="bob")
    done = await provider.resume_agent(run.approval_id)
    assert done.status is RunStatus.SUCCESS and seen == [("db", ("a", "b"))]
