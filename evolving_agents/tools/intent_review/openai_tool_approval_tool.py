"""``OpenAIToolApprovalTool``: one EAT tool to list, show, approve, reject, review and resume.

::

    tool = OpenAIToolApprovalTool(provider=provider, reviewer=IntentReviewAgent(model=m))
    out = await tool.run(ApprovalToolInput(action="show", approval_id=approval_id))
    out.approval.tool_calls[0].arguments
    await tool.run(ApprovalToolInput(action="approve", approval_id=approval_id, reviewer="alice"))
    # always=True: every later call of the same tool in this run is approved without asking
    agent = Agent(name="system", tools=[tool.as_function_tool()])   # a model may call it too

Inputs and outputs are Pydantic models and JSON-safe. ``show`` never loads the run state.
Errors come back as ``ok=False`` with the reason, so an agent calling the tool reads them.

Who decides comes from the surface, never from the caller's input. ``run`` records decisions as
this tool's ``reviewer_kind`` (a person's app, by default). The SDK tool a model calls records
only ``ai`` decisions, under a name of the surface's choosing (not the model's ``reviewer``),
and by default cannot approve or reject at all: it escalates, leaving the call for a person,
unless ``as_function_tool(may_approve=True)`` / ``may_reject=True`` allow it. Even then the
store's AI cap applies (the tool's metadata must opt into AI review, at low risk).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from agents import FunctionTool
from agents.tool_context import ToolContext
from pydantic import BaseModel, Field, ValidationError

from evolving_agents.approvals.models import (
    AgentRunResult,
    ApprovalStatus,
    AuditEntry,
    PendingApproval,
    ReviewerKind,
    RunStatus,
    ToolCallRecord,
    Verdict,
)
from evolving_agents.errors import EvolvingAgentsError

if TYPE_CHECKING:
    from evolving_agents.providers.openai_agents_provider import OpenAIAgentsProvider
    from evolving_agents.reviewers.ai import IntentReviewAgent

Action = Literal["list", "show", "approve", "reject", "escalate", "review", "resume"]
_DECISIONS = frozenset({"approve", "reject"})


class ApprovalToolInput(BaseModel):
    action: Action
    approval_id: str | None = None
    call_id: str | None = Field(
        default=None, description="One call of the record; omitted means every undecided call."
    )
    reviewer: str | None = Field(
        default=None,
        description="Who decides; ignored when a model calls this tool (the app names it).",
    )
    message: str | None = Field(default=None, description="What the model reads on a rejection.")
    always: bool = Field(
        default=False,
        description=(
            "approve or reject: and every later call of this tool in this run, without asking"
        ),
    )
    status: ApprovalStatus | None = ApprovalStatus.PENDING
    limit: int = Field(default=20, ge=1, le=200)


class ApprovalSummary(BaseModel):
    approval_id: str
    status: ApprovalStatus
    agent_name: str
    tools: list[str]
    undecided: int
    created_at: str


class ApprovalView(BaseModel):
    """What a reviewer needs to decide, without the state blob."""

    approval_id: str
    status: ApprovalStatus
    run_id: str
    sequence: int
    agent_name: str
    actor: str | None
    input_preview: str
    tool_calls: list[ToolCallRecord]
    plan_id: str | None
    expires_at: str | None
    audit: list[AuditEntry]


class ApprovalToolOutput(BaseModel):
    ok: bool
    action: Action
    message: str = ""
    approvals: list[ApprovalSummary] = Field(default_factory=list)
    approval: ApprovalView | None = None
    result: AgentRunResult | None = None
    review: list[dict[str, Any]] = Field(default_factory=list)


class OpenAIToolApprovalTool:
    """Reviewer actions on paused runs, as one tool for people, agents and the SystemAgent."""

    name = "OpenAIToolApprovalTool"
    description = (
        "Work with OpenAI agent runs paused for tool approval: list them, show one, approve or "
        "reject a call, hand a record to the AI reviewer, or resume a decided run."
    )

    def __init__(
        self,
        *,
        provider: OpenAIAgentsProvider,
        reviewer: IntentReviewAgent | None = None,
        reviewer_kind: ReviewerKind = ReviewerKind.HUMAN,
        default_reviewer: str = "eat",
    ) -> None:
        self._provider = provider
        self._ai_reviewer = reviewer
        self._reviewer_kind = reviewer_kind
        self._default_reviewer = default_reviewer

    async def run(self, request: ApprovalToolInput) -> ApprovalToolOutput:
        """Do one action; decisions are recorded as this tool's ``reviewer_kind``."""
        voice = _Voice(
            reviewer=request.reviewer or self._default_reviewer,
            kind=self._reviewer_kind,
            may=_DECISIONS,
            surface="api",
        )
        return await self._run(request, voice)

    async def _run(self, request: ApprovalToolInput, voice: _Voice) -> ApprovalToolOutput:
        try:
            return await self._dispatch(request, voice)
        except (EvolvingAgentsError, ValueError) as exc:
            return ApprovalToolOutput(ok=False, action=request.action, message=str(exc))

    async def _dispatch(self, request: ApprovalToolInput, voice: _Voice) -> ApprovalToolOutput:
        store = self._provider.store
        if request.action == "list":
            page = await store.list(status=request.status, limit=request.limit)
            return ApprovalToolOutput(
                ok=True,
                action="list",
                message=f"{len(page.items)} approval(s)",
                approvals=[_summary(record) for record in page.items],
            )
        approval_id = _required(request.approval_id, "approval_id", request.action)
        if request.action == "show":
            record = await store.get(approval_id)
            return ApprovalToolOutput(ok=True, action="show", approval=_view(record))
        if request.action == "escalate" or (
            request.action in _DECISIONS and request.action not in voice.may
        ):
            return _escalated(request, voice)
        if request.action in _DECISIONS:
            verdict = Verdict.APPROVED if request.action == "approve" else Verdict.REJECTED
            record = await store.decide(
                approval_id,
                call_id=request.call_id,
                verdict=verdict,
                reviewer=voice.reviewer,
                reviewer_kind=voice.kind,
                message=request.message,
                always=request.always,
                surface=voice.surface,
            )
            sticky = ", and every later call of this tool in this run" if request.always else ""
            return ApprovalToolOutput(
                ok=True,
                action=request.action,
                message=f"{verdict.value}{sticky}; record is {record.status.value}",
                approval=_view(record),
            )
        if request.action == "review":
            return await self._review(approval_id)
        result = await self._provider.resume_agent(approval_id)
        # A run that finished with an approved call that raised, or failed, is not "ok".
        succeeded = result.status in (RunStatus.SUCCESS, RunStatus.AWAITING_APPROVAL)
        message = (
            result.status.value if result.error is None else f"{result.status}: {result.error}"
        )
        return ApprovalToolOutput(ok=succeeded, action="resume", message=message, result=result)

    async def _review(self, approval_id: str) -> ApprovalToolOutput:
        if self._ai_reviewer is None:
            return ApprovalToolOutput(
                ok=False, action="review", message="no reviewer is configured for this tool"
            )
        decisions = await self._ai_reviewer.review_and_decide(self._provider.store, approval_id)
        record = await self._provider.store.get(approval_id)
        return ApprovalToolOutput(
            ok=True,
            action="review",
            message=f"reviewed {len(decisions)} call(s); record is {record.status.value}",
            approval=_view(record),
            review=[decision.model_dump(mode="json") for decision in decisions],
        )

    def as_function_tool(
        self, *, may_approve: bool = False, may_reject: bool = False, reviewer: str | None = None
    ) -> FunctionTool:
        """The same tool for an SDK agent, that is, for a model.

        A model is never a person: every decision it makes is an ``ai`` decision, recorded
        under ``reviewer`` (default ``model:<calling agent>``), whatever it writes in the input's
        ``reviewer`` field. By default it may only escalate: ``approve`` and ``reject`` leave
        the call undecided for a person and say so. ``may_approve`` / ``may_reject`` let it
        decide; the store's AI cap still refuses approvals the tool's metadata does not allow.
        """
        schema = ApprovalToolInput.model_json_schema()
        allowed = frozenset(
            action for action, allow in (("approve", may_approve), ("reject", may_reject)) if allow
        )

        async def invoke(ctx: ToolContext[Any], raw: str) -> str:
            try:
                request = ApprovalToolInput.model_validate_json(raw or "{}")
            except ValidationError as exc:
                return json.dumps({"ok": False, "message": f"invalid input: {exc.errors()}"})
            # Typed ToolContext so the SDK passes the calling agent (a RunContextWrapper
            # annotation would get the bare run context).
            caller = "model" if ctx.agent is None else f"model:{ctx.agent.name}"
            voice = _Voice(
                reviewer=reviewer or caller,
                kind=ReviewerKind.AI,
                may=allowed,
                surface="model",
            )
            output = await self._run(request, voice)
            return output.model_dump_json()

        return FunctionTool(
            name="openai_tool_approval",
            description=self.description,
            params_json_schema=schema,
            on_invoke_tool=invoke,
            strict_json_schema=False,
        )


@dataclass(frozen=True)
class _Voice:
    """Who a decision is recorded as, and which decisions it may make: set by the surface."""

    reviewer: str
    kind: ReviewerKind
    may: frozenset[str]
    surface: str


def _escalated(request: ApprovalToolInput, voice: _Voice) -> ApprovalToolOutput:
    what = "every undecided call" if request.call_id is None else f"call {request.call_id}"
    if request.action == "escalate":
        message = f"{what} left for a person to decide"
    else:
        message = (
            f"{voice.reviewer} ({voice.kind.value} reviewer) may not {request.action} here; "
            f"{what} stays for a person to decide"
        )
    # Not an error for an agent that asked to escalate; a refused decision is reported as one.
    return ApprovalToolOutput(
        ok=request.action == "escalate", action=request.action, message=message
    )


def _required(value: str | None, name: str, action: str) -> str:
    if not value:
        raise ValueError(f"action {action!r} needs {name}")
    return value


def _summary(record: PendingApproval) -> ApprovalSummary:
    return ApprovalSummary(
        approval_id=record.id,
        status=record.status,
        agent_name=record.agent_name,
        tools=[call.tool_name for call in record.tool_calls],
        undecided=len(record.undecided_calls()),
        created_at=record.created_at.isoformat(),
    )


def _view(record: PendingApproval) -> ApprovalView:
    return ApprovalView(
        approval_id=record.id,
        status=record.status,
        run_id=record.run_id,
        sequence=record.sequence,
        agent_name=record.agent_name,
        actor=record.actor,
        input_preview=record.input_preview,
        tool_calls=record.tool_calls,
        plan_id=record.plan_id,
        expires_at=None if record.expires_at is None else record.expires_at.isoformat(),
        audit=record.audit,
    )


__all__ = [
    "ApprovalSummary",
    "ApprovalToolInput",
    "ApprovalToolOutput",
    "ApprovalView",
    "OpenAIToolApprovalTool",
]
