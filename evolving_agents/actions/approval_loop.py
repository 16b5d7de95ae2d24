"""``run_with_approval``: ask a callback about every paused call, apply its answers, resume.

::

    loop = ApprovalLoop(store, on_approval_required, reviewer="ops-bot", roles=frozenset())
    final = await loop.drive(first_response, resume)

The callback gets one context per undecided call (``approval_context``) and answers
``{"resolution": "approved" | "denied" | "modified", "comment": "...", "arguments": {...}}``.
Its answer is a vote like any other: cast through ``store.decide`` as ``reviewer`` (roles,
quorum, no self-approval, sticky decisions all apply), bound to the arguments it was shown;
``modified`` is an edit (checked against the tool's schema and the decision layer again), and
without ``arguments`` it applies the decision layer's suggested arguments. An answer that
cannot be applied leaves its call pending for a person and is reported, never guessed at.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeAlias

from evolving_agents.actions.responses import decision_view
from evolving_agents.approvals.models import (
    ApprovalStatus,
    PendingApproval,
    ReviewerKind,
    ToolCallRecord,
    Verdict,
)
from evolving_agents.approvals.reviewer_identity import Reviewer
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.approvals.suggestions import SUGGESTION_APPLIED, suggested_arguments
from evolving_agents.errors import ApprovalError

logger = logging.getLogger(__name__)

ApprovalCallback: TypeAlias = Callable[[dict[str, Any]], Any | Awaitable[Any]]
Resume: TypeAlias = Callable[[PendingApproval, Mapping[str, Any]], Awaitable[dict[str, Any]]]

_APPROVE = {"approved", "approve", "allow", "allowed", "yes"}
_REJECT = {"denied", "deny", "rejected", "reject", "no"}
_MODIFY = {"modified", "modify", "edited"}


class UnreadableResolution(ValueError):
    """The callback's answer is not one this loop can apply."""


def approval_context(record: PendingApproval, call: ToolCallRecord) -> dict[str, Any]:
    """What the callback is told about one paused call."""
    decision = decision_view(call.signal, record.id)
    return {
        "approval_id": record.id,
        "run_id": record.run_id,
        "agent": record.agent_name,
        "actor": record.actor,
        "call_id": call.call_id,
        "tool": call.tool_name,
        "arguments": call.arguments,
        "metadata": call.metadata,
        "decision": decision,
        "better_action": None if decision is None else decision["better_action"],
        "better_arguments": suggested_arguments(call),
        "expires_at": None if (at := record.call_deadline(call)) is None else at.isoformat(),
    }


class ApprovalLoop:
    def __init__(
        self,
        store: PendingApprovalStore,
        callback: ApprovalCallback,
        *,
        reviewer: str,
        roles: frozenset[str],
        timeout: float | None,
    ) -> None:
        if not callable(callback):
            raise TypeError("on_approval_required must be callable")
        self._store = store
        self._callback = callback
        self._reviewer = Reviewer(name=reviewer, roles=roles)
        self._timeout = timeout

    async def drive(self, response: dict[str, Any], resume: Resume) -> dict[str, Any]:
        """Decide and resume until the run ends or a call is left for a person."""
        events = list(response["execution"]["events"])
        current = response
        while current["status"] == "approval_required" and current["approval_id"]:
            # Read once, with the state: each vote is then cast on the record the last one
            # returned, and the resume starts from the last (``known=``), with no reads between.
            record = await self._store.get(current["approval_id"], include_state=True)
            record, errors = await self._decide_all(record)
            if record.status is ApprovalStatus.PENDING and not errors:
                errors.append(
                    {
                        "approval_id": record.id,
                        "call_id": None,
                        "error": "still pending after the callback's votes (more approvals needed)",
                    }
                )
            if errors:
                return _merged(current, events, errors)
            current = await resume(record, {"known": record})
            events.extend(current["execution"]["events"])
        return _merged(current, events, [])

    async def _decide_all(
        self, record: PendingApproval
    ) -> tuple[PendingApproval, list[dict[str, Any]]]:
        """The record after every undecided call's answer, and the answers that failed."""
        errors = []
        for call in record.undecided_calls():
            try:
                record = await self._decide(record, call)
            except (UnreadableResolution, ApprovalError, TimeoutError) as exc:
                errors.append(_error(record, call, exc))
            except Exception as exc:
                # Boundary: the callback is app code; whatever it raised leaves the call pending.
                logger.exception("on_approval_required failed on call %s", call.call_id)
                errors.append(_error(record, call, exc))
        return record, errors

    async def _decide(self, record: PendingApproval, call: ToolCallRecord) -> PendingApproval:
        answer = await self._ask(approval_context(record, call))
        verdict, message, edited = _resolution(answer, call)
        return await self._store.decide(
            record.id,
            call_id=call.call_id,
            verdict=verdict,
            reviewer=self._reviewer,
            reviewer_kind=ReviewerKind.HUMAN,
            message=message,
            arguments_sha256=call.arguments_sha256,
            edited_arguments=edited,
            surface="callback",
            known=record,
        )

    async def _ask(self, context: dict[str, Any]) -> Any:
        callback = self._callback
        if inspect.iscoroutinefunction(callback):
            pending: Awaitable[Any] = callback(context)
        else:
            # A sync callback may block (a prompt, a chat message); it runs off the loop.
            pending = asyncio.to_thread(callback, context)
        answer = await asyncio.wait_for(pending, timeout=self._timeout)
        if inspect.isawaitable(answer):
            answer = await asyncio.wait_for(answer, timeout=self._timeout)
        return answer


def _resolution(
    answer: Any, call: ToolCallRecord
) -> tuple[Verdict, str | None, dict[str, Any] | None]:
    if not isinstance(answer, Mapping):
        raise UnreadableResolution(
            f"on_approval_required returned a {type(answer).__name__}; return a dict such as "
            '{"resolution": "approved", "comment": "..."}'
        )
    resolution = str(answer.get("resolution", "")).strip().lower()
    comment = answer.get("comment", answer.get("reason"))
    message = None if comment is None else str(comment)
    if resolution in _APPROVE:
        return Verdict.APPROVED, message, None
    if resolution in _REJECT:
        return Verdict.REJECTED, message, None
    if resolution in _MODIFY:
        edited = answer.get("arguments")
        if edited is None:
            edited = suggested_arguments(call)
            if edited is None:
                raise UnreadableResolution(
                    f"resolution 'modified' without arguments, and call {call.call_id} has no "
                    "suggested arguments to apply"
                )
            message = message or SUGGESTION_APPLIED
        if not isinstance(edited, dict):
            raise UnreadableResolution("'arguments' of a 'modified' resolution must be an object")
        return Verdict.APPROVED, message, edited
    raise UnreadableResolution(
        f"resolution {answer.get('resolution')!r} is not approved, denied or modified"
    )


def _error(record: PendingApproval, call: ToolCallRecord, exc: BaseException) -> dict[str, Any]:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    logger.warning("call %s of %s left pending for a person: %s", call.call_id, record.id, text)
    return {
        "approval_id": record.id,
        "call_id": call.call_id,
        "tool": call.tool_name,
        "error": text,
    }


def _merged(
    current: dict[str, Any], events: list[dict[str, Any]], errors: list[dict[str, Any]]
) -> dict[str, Any]:
    merged = dict(current)
    merged["execution"] = {"events": events, "last": events[-1] if events else None}
    merged["approval_errors"] = errors
    return merged
