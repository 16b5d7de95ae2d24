"""The AI reviewer applies the decision layer's suggestion in one step, within the AI cap.

An IAM agent (the SDK with a ScriptedModel) asks for a 48h grant; the decision layer here is a
test ``DecisionProvider`` that sends it to review at risk 0.9 with a 2h grant suggested in full
(``better_arguments``), and scores the 2h grant on its own. The AI reviewer's model is scripted
too. Approving the suggestion is an edit: the store scores it afresh, and the AI cap judges the
AI's approval by that fresh risk, not the 48h grant's.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from agents import Agent
from agents.testing import ModelCall, ScriptedModel, assistant_message, function_call

from evolving_agents import AgentRegistry, MongoDBClient, OpenAIAgentsProvider, OpenAIToolAdapter
from evolving_agents.approvals.ai_cap import ai_approval_refusal
from evolving_agents.approvals.models import (
    ApprovalStatus,
    ReviewerKind,
    RunStatus,
    Verdict,
    arguments_digest,
)
from evolving_agents.approvals.suggestions import SUGGESTION_APPLIED
from evolving_agents.decisions.base import DecisionContext, DecisionSignal, ToolCallRequest
from evolving_agents.errors import ApprovalConflict, NotAuthorized
from evolving_agents.reviewers import IntentReviewAgent, ReviewVerdict

PROPOSED = {"user": "alice@example.com", "duration_hours": 48}
SUGGESTED = {"user": "alice@example.com", "duration_hours": 2}
BETTER_ACTION = "Grant access for 2h instead"


class GrantPolicy:
    """A grant over 24h is reviewed at risk 0.9, with the 2h grant suggested (unless
    ``suggest`` is off); a shorter one is scored ``short_risk`` (allowed when low)."""

    name = "test-grant-policy"

    def __init__(self, *, short_risk: float = 0.2, suggest: bool = True) -> None:
        self.short_risk = short_risk
        self.suggest = suggest

    async def decide(self, tool_call: ToolCallRequest, context: DecisionContext) -> DecisionSignal:
        if int(tool_call.arguments.get("duration_hours", 0)) > 24:
            return DecisionSignal.of(
                "needs_approval",
                provider=self.name,
                risk=0.9,
                reason="access for more than 24h",
                better_action=BETTER_ACTION if self.suggest else None,
                better_arguments={**tool_call.arguments, "duration_hours": 2}
                if self.suggest
                else None,
            )
        verdict = "allow" if self.short_risk < 0.5 else "needs_approval"
        return DecisionSignal.of(
            verdict, provider=self.name, risk=self.short_risk, reason="a short grant"
        )


class Grants:
    """The IAM agent, its provider, and every time the tool body ran."""

    def __init__(self, mongo: MongoDBClient, policy: GrantPolicy) -> None:
        self.runs: list[dict[str, Any]] = []
        runs = self.runs

        def grant_access(user: str, duration_hours: int) -> str:
            """Grant a user access for some hours."""
            runs.append({"user": user, "duration_hours": duration_hours})
            return f"granted {user} for {duration_hours}h"

        model = ScriptedModel(
            [
                [function_call("grant_access", PROPOSED, call_id="c1")],
                [assistant_message("done")],
            ]
        )
        adapter = OpenAIToolAdapter(decision_provider=policy)
        tool = adapter.adapt(grant_access, metadata={"system": "okta", "ai_review": True})
        registry = AgentRegistry()
        registry.register(Agent(name="iam-agent", tools=[tool], model=model))
        self.provider = OpenAIAgentsProvider(mongodb_client=mongo, registry=registry)

    async def pause(self) -> str:
        run = await self.provider.execute_agent("iam-agent", "give alice access for 48h")
        assert run.status is RunStatus.AWAITING_APPROVAL and run.approval_id is not None
        assert self.runs == []
        return run.approval_id


def ai_reviewer(verdict: str, *, risk: float = 0.1) -> tuple[IntentReviewAgent, ScriptedModel]:
    report = {
        "reviews": [{"call_id": "c1", "verdict": verdict, "reason": "2h is enough", "risk": risk}]
    }
    model = ScriptedModel([[assistant_message(json.dumps(report))]])
    return IntentReviewAgent(model=model, risk_threshold=0.3), model


def shown_data(call: ModelCall) -> dict[str, Any]:
    items = call.input if isinstance(call.input, list) else [{"content": call.input}]
    text = "\n".join(str(item["content"]) for item in items)
    block = text.split(">>>\n", 1)[1].rsplit("\n<<<END DATA", 1)[0]
    data: dict[str, Any] = json.loads(block)
    return data


async def test_the_ai_applies_a_low_risk_suggestion_and_the_tool_runs_once_with_it(
    mongo: MongoDBClient,
) -> None:
    grants = Grants(mongo, GrantPolicy(short_risk=0.2))
    approval_id = await grants.pause()
    reviewer, model = ai_reviewer("approve_suggestion")

    [decision] = await reviewer.review_and_decide(grants.provider.store, approval_id)

    assert decision.verdict is ReviewVerdict.APPROVE_SUGGESTION
    assert decision.edited_arguments == SUGGESTED
    assert decision.risk == pytest.approx(0.2), "the suggestion's fresh risk, not the 48h's 0.9"
    shown = shown_data(model.calls[0])["calls"][0]
    assert shown["suggestion"]["better_action"] == BETTER_ACTION
    assert shown["suggestion"]["suggested_arguments"] == SUGGESTED
    assert shown["suggestion"]["changes"] == [{"path": "duration_hours", "before": 48, "after": 2}]

    record = await grants.provider.store.get(approval_id)
    assert record.status is ApprovalStatus.DECIDED
    call = record.tool_calls[0]
    assert call.arguments == PROPOSED and call.decision is not None
    assert call.decision.verdict is Verdict.APPROVED
    assert call.decision.reviewer_kind is ReviewerKind.AI
    assert call.decision.edited_arguments == SUGGESTED
    assert call.decision.edited_arguments_sha256 == arguments_digest(SUGGESTED)
    assert call.decision.message is not None and SUGGESTION_APPLIED in call.decision.message
    assert call.decision.edit_signal is not None
    assert call.decision.edit_signal["risk"] == 0.2
    assert call.decision.edit_signal["verdict"] == "allow"
    assert grants.provider.store.integrity_problems(record) == []

    done = await grants.provider.resume_agent(approval_id)
    assert done.status is RunStatus.SUCCESS
    assert grants.runs == [SUGGESTED]
    with pytest.raises(ApprovalConflict):  # the run resumes exactly once
        await grants.provider.resume_agent(approval_id)
    assert grants.runs == [SUGGESTED]


async def test_the_cap_refuses_a_suggestion_whose_fresh_risk_is_not_low(
    mongo: MongoDBClient,
) -> None:
    grants = Grants(mongo, GrantPolicy(short_risk=0.6))
    approval_id = await grants.pause()
    reviewer, _ = ai_reviewer("approve_suggestion")

    [decision] = await reviewer.review_and_decide(grants.provider.store, approval_id)

    assert decision.verdict is ReviewVerdict.ESCALATE
    assert "fresh risk 0.60" in decision.reason
    record = await grants.provider.store.get(approval_id)
    assert record.status is ApprovalStatus.PENDING
    assert record.tool_calls[0].decision is None and record.tool_calls[0].votes == []
    assert grants.runs == []


async def test_choosing_the_suggestion_when_there_is_none_escalates(mongo: MongoDBClient) -> None:
    grants = Grants(mongo, GrantPolicy(suggest=False))
    approval_id = await grants.pause()
    reviewer, model = ai_reviewer("approve_suggestion")

    [decision] = await reviewer.review_and_decide(grants.provider.store, approval_id)

    assert decision.verdict is ReviewVerdict.ESCALATE
    assert decision.model_verdict is ReviewVerdict.APPROVE_SUGGESTION
    assert "has none" in decision.reason and decision.edited_arguments is None
    assert "suggestion" not in shown_data(model.calls[0])["calls"][0]
    record = await grants.provider.store.get(approval_id)
    assert record.status is ApprovalStatus.PENDING and record.tool_calls[0].votes == []


async def test_a_plain_ai_approve_of_the_risky_call_still_escalates(mongo: MongoDBClient) -> None:
    grants = Grants(mongo, GrantPolicy(short_risk=0.2))
    approval_id = await grants.pause()
    reviewer, _ = ai_reviewer("approve")

    [decision] = await reviewer.review_and_decide(grants.provider.store, approval_id)

    assert decision.verdict is ReviewVerdict.ESCALATE and "0.90" in decision.reason
    record = await grants.provider.store.get(approval_id)
    assert record.tool_calls[0].decision is None


async def test_a_person_approving_edited_arguments_is_unaffected_by_the_cap(
    mongo: MongoDBClient,
) -> None:
    # The edit's fresh risk 0.6 is beyond any AI approval, and a person may still approve it.
    grants = Grants(mongo, GrantPolicy(short_risk=0.6))
    approval_id = await grants.pause()
    store = grants.provider.store
    with pytest.raises(NotAuthorized, match=r"fresh risk 0\.60"):
        await store.decide(
            approval_id,
            call_id="c1",
            verdict="approved",
            reviewer="eat-ai",
            reviewer_kind="ai",
            edited_arguments=SUGGESTED,
        )

    record = await store.decide(
        approval_id, call_id="c1", verdict="approved", reviewer="bob", edited_arguments=SUGGESTED
    )

    decision = record.tool_calls[0].decision
    assert decision is not None and decision.reviewer == "bob"
    assert decision.reviewer_kind is ReviewerKind.HUMAN
    assert decision.edited_arguments == SUGGESTED
    assert decision.edit_signal is not None and decision.edit_signal["risk"] == 0.6
    assert [vote.reviewer for vote in decision.votes] == ["bob"]
    done = await grants.provider.resume_agent(approval_id)
    assert done.status is RunStatus.SUCCESS and grants.runs == [SUGGESTED]


async def test_an_edit_signal_changed_in_the_database_breaks_the_seal(
    mongo: MongoDBClient,
) -> None:
    grants = Grants(mongo, GrantPolicy(short_risk=0.2))
    approval_id = await grants.pause()
    reviewer, _ = ai_reviewer("approve_suggestion")
    await reviewer.review_and_decide(grants.provider.store, approval_id)
    store = grants.provider.store

    await store._collection.update_one(
        {"_id": approval_id}, {"$set": {"tool_calls.0.decision.edit_signal.risk": 0.0}}
    )

    problems = store.integrity_problems(await store.get(approval_id))
    assert any("decision" in problem for problem in problems)


def test_an_ai_edit_without_a_fresh_score_is_refused() -> None:
    from tests.test_intent_review_agent import tool_call

    call = tool_call("c1", metadata={"ai_review": True})
    assert ai_approval_refusal(call) is None
    refusal = ai_approval_refusal(call, edited=True)
    assert refusal is not None and "no fresh score" in refusal
    assert ai_approval_refusal(call, edited=True, edit_signal={"risk": 0.1}) is None
    forbidden = tool_call("c2", metadata={"system": "okta"})
    refusal = ai_approval_refusal(forbidden, edited=True, edit_signal={"risk": 0.1})
    assert refusal is not None and "does not allow AI approval" in refusal
