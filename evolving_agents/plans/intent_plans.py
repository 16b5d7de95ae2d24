"""EAT's intent review, extended to paused OpenAI runs: one ``Intent`` per pending tool call.

::

    plans = IntentPlanStore(client, approvals=store)
    plan = await plans.create_for_approval(approval_id)      # linked both ways by plan_id
    for intent in plan.intents:                                # intent_id == the call's call_id
        intent.component_name, intent.params

EAT stored statuses in upper case; they are read in any casing and written in lower case.
"""

from __future__ import annotations

import secrets
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from evolving_agents.approvals.models import (
    PendingApproval,
    UtcDatetime,
    Verdict,
    bson_ready,
    utcnow,
)
from evolving_agents.approvals.protocols import ApprovalStore
from evolving_agents.errors import ApprovalConflict, EvolvingAgentsError
from evolving_agents.storage.mongodb_client import MongoDBClient
from evolving_agents.storage.names import INTENT_PLANS

PLANS_COLLECTION = INTENT_PLANS
# The format of the plan documents this release writes; a document without it is schema 1.
PLAN_SCHEMA = 1


class _AnyCase(StrEnum):
    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, str):
            for member in cls:
                if member.value == value.lower():
                    return member
        return None


class IntentStatus(_AnyCase):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    ESCALATED = "escalated"
    EXECUTING = "executing"
    COMPLETE = "complete"
    FAILED = "failed"


class PlanStatus(_AnyCase):
    PENDING_REVIEW = "pending_review"
    APPROVED = "approved"
    PARTIALLY_APPROVED = "partially_approved"
    REJECTED = "rejected"
    EXECUTING = "executing"
    COMPLETE = "complete"
    FAILED = "failed"


class PlanNotFound(EvolvingAgentsError):
    def __init__(self, plan_id: str) -> None:
        super().__init__(f"intent plan {plan_id}: not found")
        self.plan_id = plan_id


class NewerPlanSchema(EvolvingAgentsError):
    """A plan written by a newer release, in a format this one cannot read (names both)."""

    def __init__(self, plan_id: str, found: object, supported: int) -> None:
        super().__init__(
            f"intent plan {plan_id}: written in plan schema {found} by a newer release; this "
            f"release reads schema {supported} and older"
        )
        self.plan_id = plan_id
        self.found = found
        self.supported = supported


class Intent(BaseModel):
    """One thing the agent intends to do. For a paused run: one pending tool call."""

    model_config = ConfigDict(extra="ignore")

    intent_id: str
    step_type: str = "EXECUTE"
    component_type: str = "TOOL"
    component_name: str
    action: str = "call"
    params: dict[str, Any] = Field(default_factory=dict)
    justification: str = ""
    depends_on: list[str] = Field(default_factory=list)
    status: IntentStatus = IntentStatus.PENDING
    result: dict[str, Any] | None = None
    errors: list[str] | None = None
    review_comments: str | None = None
    # Links to the paused run this intent stands for.
    approval_id: str | None = None
    agent_name: str | None = None
    arguments_sha256: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    signal: dict[str, Any] | None = None
    reviewer: str | None = None


class IntentPlan(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    plan_id: str = Field(alias="_id")
    title: str
    description: str = ""
    objective: str = ""
    intents: list[Intent]
    status: PlanStatus = PlanStatus.PENDING_REVIEW
    review_timestamp: UtcDatetime | None = None
    reviewer_comments: str | None = None
    rejection_reason: str | None = None
    approval_id: str | None = None
    run_id: str | None = None
    created_at: UtcDatetime = Field(default_factory=utcnow)
    record_schema: int = PLAN_SCHEMA

    def intent(self, intent_id: str) -> Intent | None:
        return next((i for i in self.intents if i.intent_id == intent_id), None)


def plan_from_approval(record: PendingApproval, plan_id: str | None = None) -> IntentPlan:
    """The ``IntentPlan`` view of a paused run: decided calls keep their verdicts."""
    intents = []
    for call in record.tool_calls:
        status = IntentStatus.PENDING
        comments = None
        if call.decision is not None:
            approved = call.decision.verdict is Verdict.APPROVED
            status = IntentStatus.APPROVED if approved else IntentStatus.REJECTED
            comments = call.decision.message
        intents.append(
            Intent(
                intent_id=call.call_id,
                component_name=call.tool_name,
                action=str(call.metadata.get("action") or "call"),
                params=_params(call.arguments),
                justification=f"proposed by {call.agent_name} for: {record.input_preview}",
                status=status,
                review_comments=comments,
                approval_id=record.id,
                agent_name=call.agent_name,
                arguments_sha256=call.arguments_sha256,
                metadata=call.metadata,
                signal=call.signal,
            )
        )
    return IntentPlan(
        plan_id=plan_id or f"plan_{secrets.token_hex(8)}",
        title=f"{record.agent_name}: {len(intents)} action(s) awaiting review",
        description=record.input_preview,
        objective=record.input_preview,
        intents=intents,
        status=plan_status(intents),
        approval_id=record.id,
        run_id=record.run_id,
    )


def _params(arguments: Any) -> dict[str, Any]:
    return arguments if isinstance(arguments, dict) else {"raw": arguments}


def plan_status(intents: list[Intent]) -> PlanStatus:
    statuses = {intent.status for intent in intents}
    if statuses & {IntentStatus.PENDING, IntentStatus.ESCALATED}:
        return PlanStatus.PENDING_REVIEW
    if statuses == {IntentStatus.APPROVED}:
        return PlanStatus.APPROVED
    if statuses == {IntentStatus.REJECTED}:
        return PlanStatus.REJECTED
    return PlanStatus.PARTIALLY_APPROVED


class IntentPlanStore:
    """The ``eat_intent_plans`` collection: one plan per paused-run record, linked both ways.

    A plan is a view for reviewers; the approval record stays the source of truth for
    decisions, so ``refresh`` rebuilds intent statuses from it. The link on the approval
    record is written by the approvals store (``link_plan``: conditional, audited); this
    store writes only plans.
    """

    def __init__(self, client: MongoDBClient, *, approvals: ApprovalStore) -> None:
        self._client = client
        self._approvals = approvals

    @property
    def collection(self) -> Any:
        return self._client.collection(PLANS_COLLECTION)

    async def get(self, plan_id: str) -> IntentPlan:
        document = await self.collection.find_one({"_id": plan_id})
        if document is None:
            raise PlanNotFound(plan_id)
        schema = document.get("record_schema", 1)
        if not isinstance(schema, int) or schema > PLAN_SCHEMA:
            raise NewerPlanSchema(plan_id, schema, PLAN_SCHEMA)
        return IntentPlan.model_validate(document)

    async def create_for_approval(self, approval_id: str) -> IntentPlan:
        """The plan of a paused run, created once: a second call returns the same plan."""
        record = await self._approvals.get(approval_id)
        if record.plan_id is not None:
            return await self.refresh(record.plan_id)
        plan = plan_from_approval(record)
        await self.collection.insert_one(_document(plan))
        try:
            await self._approvals.link_plan(approval_id, plan.plan_id)
        except ApprovalConflict:
            # Another process linked its plan first: keep theirs, drop ours.
            await self.collection.delete_one({"_id": plan.plan_id})
            winner = await self._approvals.get(approval_id)
            if winner.plan_id is None:
                raise
            return await self.refresh(winner.plan_id)
        return plan

    async def refresh(self, plan_id: str) -> IntentPlan:
        """Bring intent statuses in line with the approval record's decisions."""
        plan = await self.get(plan_id)
        if plan.approval_id is None:
            return plan
        record = await self._approvals.get(plan.approval_id)
        fresh = plan_from_approval(record, plan_id=plan.plan_id)
        for intent in fresh.intents:
            old = plan.intent(intent.intent_id)
            if old is not None and intent.status is IntentStatus.PENDING:
                intent.status = old.status
                intent.review_comments = old.review_comments
        fresh.status = plan_status(fresh.intents)
        fresh.created_at = plan.created_at
        fresh.review_timestamp = plan.review_timestamp
        fresh.reviewer_comments = plan.reviewer_comments
        await self.collection.replace_one({"_id": plan_id}, _document(fresh))
        return fresh

    async def mark_escalated(self, plan_id: str, intent_id: str, reason: str) -> None:
        """An AI or policy reviewer handed this intent to a person."""
        await self.collection.update_one(
            {"_id": plan_id, "intents.intent_id": intent_id},
            {
                "$set": {
                    "intents.$.status": IntentStatus.ESCALATED.value,
                    "intents.$.review_comments": reason,
                    "review_timestamp": utcnow(),
                }
            },
        )


def _document(plan: IntentPlan) -> dict[str, Any]:
    document: dict[str, Any] = bson_ready(plan.model_dump(by_alias=True, mode="python"))
    return document
