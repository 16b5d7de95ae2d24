"""The seam for a new reviewer kind: a ``PlanDecider`` answers a plan, intent by intent.

::

    async def on_call_sre(plan: IntentPlan) -> PlanVerdicts:
        verdicts = [IntentVerdict(intent_id=i.intent_id, verdict="escalate") for i in plan.intents]
        return PlanVerdicts(verdicts=verdicts, reviewer="pager:sre")

    tool = ApprovePlanTool(approvals=store, plans=plans, decider=on_call_sre)

A new kind of reviewer (a ticketing system, a chat approval, another model) is one object with
this ``__call__``: ``ApprovePlanTool`` maps its verdicts back to exactly the calls they name and
records them through the store, whose rules (``approvals/rules.py``) still apply to every vote
(roles, the run's actor, the AI cap for ``reviewer_kind="ai"``). The deciders shipped are in
``tools/intent_review/approve_plan_tool.py`` (``agent_decider``, ``callback_decider``,
``policy_decider``), and the console prompt in ``cli/plan_review.py``.
"""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel

from evolving_agents.approvals.models import ReviewerKind
from evolving_agents.plans.intent_plans import IntentPlan

IntentVerdictValue = Literal["approve", "reject", "escalate"]


class IntentVerdict(BaseModel):
    """A verdict on one intent; ``escalate`` leaves its call for a person."""

    intent_id: str
    verdict: IntentVerdictValue
    reason: str = ""


class PlanVerdicts(BaseModel):
    """What a decider returns: verdicts for some or all intents, and who gave them."""

    verdicts: list[IntentVerdict]
    reviewer: str
    reviewer_kind: ReviewerKind = ReviewerKind.HUMAN


class PlanDecider(Protocol):
    """Anything that answers a plan: the reviewer-kind seam (see the module docstring)."""

    async def __call__(self, plan: IntentPlan) -> PlanVerdicts: ...
