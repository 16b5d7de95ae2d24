"""EAT's ``SystemAgent``: runs a task through a provider and drives paused runs to a decision.

::

    system = SystemAgent(providers, ai_reviewer=IntentReviewAgent(model=m))
    outcome = await system.run_task("ops-agent", "Grant Alice Okta admin for 48h")
    outcome.result.status       # success, or awaiting_openai_tool_approval when a person must act
    outcome.waiting_on          # "person" when the run waits for a human decision

Configuration (``settings=``, else the settings the ``openai-agents`` provider's client was
built with: this class reads no environment of its own): ``INTENT_REVIEW_ENABLED`` and
``INTENT_REVIEW_LEVELS`` containing ``intents`` turn the review on; ``EAT_REVIEWER`` picks
who reviews: ``human`` (a plan is created for a person; a ``human_decider`` such as the
console prompt may answer at once), ``ai`` (``IntentReviewAgent``), ``policy`` (a
``DecisionProvider``) or ``none``. With the review off, the awaiting status is returned for a
later review. Non-OpenAI providers and runs
that never pause come back exactly as their provider returned them.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from evolving_agents.approvals.models import AgentRunResult, RunStatus
from evolving_agents.config import Settings
from evolving_agents.decisions.base import DecisionProvider
from evolving_agents.errors import ConfigurationError
from evolving_agents.plans.intent_plans import IntentPlanStore
from evolving_agents.providers.openai_agents_provider import OpenAIAgentsProvider
from evolving_agents.providers.registry import ProviderRegistry
from evolving_agents.tools.intent_review.approve_plan_tool import (
    ApprovePlanTool,
    PlanDecider,
    PlanReview,
    agent_decider,
    policy_decider,
)
from evolving_agents.tools.intent_review.openai_tool_approval_tool import (
    ApprovalToolInput,
    OpenAIToolApprovalTool,
)

if TYPE_CHECKING:
    from evolving_agents.reviewers.ai import IntentReviewAgent

logger = logging.getLogger(__name__)


class ReviewerMode(StrEnum):
    HUMAN = "human"
    AI = "ai"
    POLICY = "policy"
    NONE = "none"


class SystemRunResult(BaseModel):
    """A task's outcome: the last run result, the reviews on the way, who it waits on."""

    result: AgentRunResult
    plan_ids: list[str] = Field(default_factory=list)
    reviews: list[PlanReview] = Field(default_factory=list)
    waiting_on: str | None = None


class SystemAgent:
    def __init__(
        self,
        providers: ProviderRegistry,
        *,
        settings: Settings | None = None,
        reviewer: ReviewerMode | str | None = None,
        ai_reviewer: IntentReviewAgent | None = None,
        policy: DecisionProvider | None = None,
        human_decider: PlanDecider | None = None,
        max_rounds: int = 5,
    ) -> None:
        self._providers = providers
        self._settings = _settings_of(providers) if settings is None else settings
        self.reviewer = ReviewerMode(reviewer or self._settings.reviewer.lower())
        self._ai_reviewer = ai_reviewer
        self._policy = policy
        self._human_decider = human_decider
        self._max_rounds = max_rounds
        if self.review_enabled and self.reviewer is ReviewerMode.AI and ai_reviewer is None:
            raise ConfigurationError("EAT_REVIEWER=ai needs an IntentReviewAgent (ai_reviewer=)")
        if self.review_enabled and self.reviewer is ReviewerMode.POLICY and policy is None:
            raise ConfigurationError("EAT_REVIEWER=policy needs a DecisionProvider (policy=)")

    @property
    def review_enabled(self) -> bool:
        levels = {level.lower() for level in self._settings.intent_review_levels}
        return (
            self._settings.intent_review_enabled
            and "intents" in levels
            and self.reviewer is not ReviewerMode.NONE
        )

    async def run_task(
        self,
        agent_name: str,
        task: Any,
        *,
        framework: str = "openai-agents",
        actor: str | None = None,
        **options: Any,
    ) -> SystemRunResult:
        provider = self._providers.for_framework(framework)
        result = await provider.execute_agent(agent_name, task, actor=actor, **options)
        outcome = SystemRunResult(result=result)
        if not isinstance(provider, OpenAIAgentsProvider):
            return outcome
        return await self._drive(provider, outcome)

    async def continue_run(self, approval_id: str) -> SystemRunResult:
        """Pick a paused run up again (after a person decided, or to review it now)."""
        provider = self._providers.for_framework("openai-agents")
        if not isinstance(provider, OpenAIAgentsProvider):
            raise ConfigurationError("continue_run needs the openai-agents provider")
        record = await provider.store.get(approval_id)
        waiting = AgentRunResult(
            status=RunStatus.AWAITING_APPROVAL,
            approval_id=approval_id,
            run_id=record.run_id,
            sequence=record.sequence,
            agent_name=record.agent_name,
        )
        return await self._drive(provider, SystemRunResult(result=waiting))

    async def _drive(
        self, provider: OpenAIAgentsProvider, outcome: SystemRunResult
    ) -> SystemRunResult:
        approvals = OpenAIToolApprovalTool(provider=provider, reviewer=self._ai_reviewer)
        plans = IntentPlanStore(provider.mongodb_client, approvals=provider.store)
        for _ in range(self._max_rounds):
            result = outcome.result
            if result.status is not RunStatus.AWAITING_APPROVAL or result.approval_id is None:
                outcome.waiting_on = None
                return outcome
            if not self.review_enabled:
                outcome.waiting_on = "person"
                return outcome
            decider = self._decider(provider)
            if decider is None:
                plan = await plans.create_for_approval(result.approval_id)
                outcome.plan_ids.append(plan.plan_id)
                outcome.waiting_on = "person"
                return outcome
            review = await ApprovePlanTool(
                approvals=provider.store, plans=plans, decider=decider
            ).review(approval_id=result.approval_id)
            outcome.reviews.append(review)
            outcome.plan_ids.append(review.plan_id)
            if not review.ready_to_resume:
                outcome.waiting_on = "person"
                return outcome
            resumed = await approvals.run(
                ApprovalToolInput(action="resume", approval_id=result.approval_id)
            )
            if resumed.result is None:
                raise ConfigurationError(
                    f"resume of {result.approval_id} failed: {resumed.message}"
                )
            outcome.result = resumed.result
        logger.warning(
            "run %s still paused after %d review rounds", outcome.result.run_id, self._max_rounds
        )
        outcome.waiting_on = "person"
        return outcome

    def _decider(self, provider: OpenAIAgentsProvider) -> PlanDecider | None:
        if self.reviewer is ReviewerMode.AI and self._ai_reviewer is not None:
            return agent_decider(self._ai_reviewer, approvals=provider.store)
        if self.reviewer is ReviewerMode.POLICY and self._policy is not None:
            return policy_decider(self._policy)
        if self.reviewer is ReviewerMode.HUMAN:
            return self._human_decider
        return None


def _settings_of(providers: ProviderRegistry) -> Settings:
    """The settings the registered OpenAI provider runs on: its database client's."""
    try:
        provider = providers.for_framework("openai-agents")
    except ConfigurationError:
        provider = None
    if not isinstance(provider, OpenAIAgentsProvider):
        raise ConfigurationError(
            "SystemAgent takes its settings from the openai-agents provider; with none "
            "registered, pass settings=Settings()"
        )
    return provider.mongodb_client.settings
