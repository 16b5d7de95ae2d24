"""EAT's intent plans: a paused run as an ``IntentPlan``, linked through the approvals store."""

from evolving_agents.plans.intent_plans import (
    Intent,
    IntentPlan,
    IntentPlanStore,
    IntentStatus,
    PlanNotFound,
    PlanStatus,
    plan_from_approval,
)

__all__ = [
    "Intent",
    "IntentPlan",
    "IntentPlanStore",
    "IntentStatus",
    "PlanNotFound",
    "PlanStatus",
    "plan_from_approval",
]
