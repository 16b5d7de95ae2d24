"""``ApprovePlanTool``: review an ``IntentPlan`` intent by intent, through a pluggable decider.

::

    decider = agent_decider(IntentReviewAgent(model=m), approvals=store)
    tool = ApprovePlanTool(approvals=store, plans=plans, decider=decider)
    review = await tool.review(plan_id=plan.plan_id)
    review.applied       # call ids whose verdicts landed on the approval record

Deciders: ``agent_decider`` (EAT's ``IntentReviewAgent``), ``callback_decider`` (any function),
and the console prompt in ``evolving_agents.cli.plan_review`` (surfaces own the terminal).
Verdicts are per intent: approving one call and rejecting another in the same plan maps back
to exactly those calls; ``escalate`` leaves a call for a person.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from evolving_agents.approvals.models import ReviewerKind, Verdict
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.decisions.base import (
    DecisionContext,
    DecisionProvider,
    DecisionVerdict,
    ToolCallRequest,
)
from evolving_agents.errors import ApprovalConflict, InvalidDecision, NotAuthorized
from evolving_agents.plans.intent_plans import IntentPlan, IntentPlanStore, IntentStatus, PlanStatus
from evolving_agents.reviewers.base import IntentVerdict as IntentVerdict
from evolving_agents.reviewers.base import IntentVerdictValue as IntentVerdictValue
from evolving_agents.reviewers.base import PlanDecider as PlanDecider
from evolving_agents.reviewers.base import PlanVerdicts as PlanVerdicts

if TYPE_CHECKING:
    from evolving_agents.reviewers.ai import IntentReviewAgent

logger = logging.getLogger(__name__)


class PlanReview(BaseModel):
    """The outcome of one review pass over a plan."""

    plan_id: str
    approval_id: str | None
    status: PlanStatus
    applied: list[str] = Field(default_factory=list)
    escalated: list[str] = Field(default_factory=list)
    skipped: list[str] = Field(default_factory=list)
    ready_to_resume: bool = False


class ApprovePlanTool:
    """EAT's plan approval, honouring per-intent verdicts on paused OpenAI runs."""

    name = "ApprovePlanTool"
    description = "Review an intent plan intent by intent and record the verdicts."

    def __init__(
        self, *, approvals: PendingApprovalStore, plans: IntentPlanStore, decider: PlanDecider
    ) -> None:
        self._approvals = approvals
        self._plans = plans
        self._decider = decider

    async def review(
        self, *, plan_id: str | None = None, approval_id: str | None = None
    ) -> PlanReview:
        """Review one plan (given, or created for ``approval_id``) and apply its verdicts."""
        if (plan_id is None) == (approval_id is None):
            raise ValueError("pass exactly one of plan_id or approval_id")
        if plan_id is None:
            assert approval_id is not None
            plan = await self._plans.create_for_approval(approval_id)
        else:
            plan = await self._plans.refresh(plan_id)
        pending = [i for i in plan.intents if i.status in _OPEN]
        review = PlanReview(plan_id=plan.plan_id, approval_id=plan.approval_id, status=plan.status)
        if not pending or plan.approval_id is None:
            return await self._finish(review)
        verdicts = await self._decider(plan.model_copy(update={"intents": pending}))
        wanted = {intent.intent_id for intent in pending}
        for verdict in verdicts.verdicts:
            if verdict.intent_id not in wanted:
                logger.warning(
                    "plan %s: ignoring a verdict for unknown intent %s",
                    plan.plan_id,
                    verdict.intent_id,
                )
                continue
            wanted.discard(verdict.intent_id)
            await self._apply(plan, verdict, verdicts, review)
        # Intents the decider did not answer stay with a person.
        review.escalated.extend(sorted(wanted))
        return await self._finish(review)

    async def _apply(
        self, plan: IntentPlan, verdict: IntentVerdict, by: PlanVerdicts, review: PlanReview
    ) -> None:
        assert plan.approval_id is not None
        if verdict.verdict == "escalate":
            await self._plans.mark_escalated(plan.plan_id, verdict.intent_id, verdict.reason)
            review.escalated.append(verdict.intent_id)
            return
        intent = plan.intent(verdict.intent_id)
        try:
            await self._approvals.decide(
                plan.approval_id,
                call_id=verdict.intent_id,
                verdict=Verdict.APPROVED if verdict.verdict == "approve" else Verdict.REJECTED,
                reviewer=by.reviewer,
                reviewer_kind=by.reviewer_kind,
                message=verdict.reason or None,
                arguments_sha256=None if intent is None else intent.arguments_sha256,
            )
        except ApprovalConflict as exc:
            # Someone decided this call first; theirs stands.
            logger.info("plan %s: %s", plan.plan_id, exc)
            review.skipped.append(verdict.intent_id)
            return
        except (NotAuthorized, InvalidDecision) as exc:
            # The store refused this verdict (a role, the AI cap): a person decides this call,
            # and the plan's other verdicts still land.
            logger.warning(
                "plan %s: verdict on %s refused: %s", plan.plan_id, verdict.intent_id, exc
            )
            await self._plans.mark_escalated(plan.plan_id, verdict.intent_id, str(exc))
            review.escalated.append(verdict.intent_id)
            return
        review.applied.append(verdict.intent_id)

    async def _finish(self, review: PlanReview) -> PlanReview:
        plan = await self._plans.refresh(review.plan_id)
        review.status = plan.status
        review.ready_to_resume = all(
            i.status in {IntentStatus.APPROVED, IntentStatus.REJECTED} for i in plan.intents
        )
        return review


_OPEN = frozenset({IntentStatus.PENDING, IntentStatus.ESCALATED})


def callback_decider(
    callback: Callable[[IntentPlan], PlanVerdicts | Awaitable[PlanVerdicts]],
) -> PlanDecider:
    """Wrap a plain (sync or async) function as a decider."""

    async def decide(plan: IntentPlan) -> PlanVerdicts:
        outcome = callback(plan)
        if inspect.isawaitable(outcome):
            return await outcome
        return outcome

    return decide


def agent_decider(reviewer: IntentReviewAgent, *, approvals: PendingApprovalStore) -> PlanDecider:
    """EAT's ``IntentReviewAgent`` as a decider; its escalations stay with a person."""

    async def decide(plan: IntentPlan) -> PlanVerdicts:
        if plan.approval_id is None:
            return PlanVerdicts(verdicts=[], reviewer=reviewer.agent.name)
        record = await approvals.get(plan.approval_id)
        decisions = await reviewer.review(
            record, call_ids=[intent.intent_id for intent in plan.intents]
        )
        return PlanVerdicts(
            verdicts=[
                IntentVerdict(intent_id=d.call_id, verdict=d.verdict.value, reason=d.reason)
                for d in decisions
            ],
            reviewer=f"{reviewer.agent.name}:{reviewer.model_name}",
            reviewer_kind=ReviewerKind.AI,
        )

    return decide


_POLICY_OUTCOME: dict[DecisionVerdict, IntentVerdictValue] = {
    DecisionVerdict.ALLOW: "approve",
    DecisionVerdict.BLOCK: "reject",
    DecisionVerdict.NEEDS_APPROVAL: "escalate",
}


def policy_decider(policy: DecisionProvider) -> PlanDecider:
    """A decision provider as reviewer: allow approves, block rejects, the rest goes to a person."""

    async def decide(plan: IntentPlan) -> PlanVerdicts:
        verdicts = []
        for intent in plan.intents:
            signal = await policy.decide(
                ToolCallRequest(
                    tool_name=intent.component_name,
                    arguments=intent.params,
                    metadata=intent.metadata,
                    call_id=intent.intent_id,
                    agent_name=intent.agent_name,
                    tool_requires_approval=True,
                ),
                DecisionContext(),
            )
            outcome = _POLICY_OUTCOME[signal.verdict]
            reason = signal.reason
            if signal.better_action:
                reason = f"{reason} Instead: {signal.better_action}".strip()
            verdicts.append(
                IntentVerdict(intent_id=intent.intent_id, verdict=outcome, reason=reason)
            )
        return PlanVerdicts(
            verdicts=verdicts, reviewer=f"policy:{policy.name}", reviewer_kind=ReviewerKind.POLICY
        )

    return decide
