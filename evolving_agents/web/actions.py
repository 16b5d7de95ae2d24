"""The inbox's forms: decide a call, approve a suggestion, resume a decided run, cancel a run.

Each checks the Origin and CSRF token, then the reviewer, then what this reviewer may do with
this call (the same rules the page used to show it read-only): a forged form gets a 403.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from evolving_agents.approvals.models import PendingApproval, ToolCallRecord, Verdict
from evolving_agents.approvals.rules import Refusal, RefusalKind, Reviewer, cancel_refusal
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.approvals.suggestions import SUGGESTION_APPLIED
from evolving_agents.errors import (
    ApprovalConflict,
    ApprovalError,
    ApprovalNotFound,
    ConfigurationError,
    EvolvingAgentsError,
    InvalidDecision,
    NotAuthorized,
    StateIntegrityError,
    UnreadableRecord,
)
from evolving_agents.present.views import CallView
from evolving_agents.reviewers.directory import decide_as
from evolving_agents.web.requests import (
    Refused,
    form_text,
    inbox_of,
    refused_page,
    session_of,
    signed_in_form,
)
from evolving_agents.web.routes import detail_page

logger = logging.getLogger(__name__)

router = APIRouter()

_Apply = Callable[[Request, str, FormData, Reviewer], Awaitable[str]]


@router.post("/approvals/{approval_id}/decide")
async def decide(request: Request, approval_id: str) -> Response:
    return await _decided_page(request, approval_id, _apply_decision)


@router.post("/approvals/{approval_id}/approve-suggestion")
async def approve_suggestion(request: Request, approval_id: str) -> Response:
    return await _decided_page(request, approval_id, _apply_suggestion)


async def _decided_page(request: Request, approval_id: str, apply: _Apply) -> Response:
    """A deciding form's answer: the checked form applied, then the page with its notice, or
    the page (or an error page) with why nothing was written."""
    try:
        form, session, reviewer = await signed_in_form(request)
    except Refused as exc:
        return refused_page(request, exc, session_of(request))
    try:
        done = await apply(request, approval_id, form, reviewer)
    except Refused as exc:
        if exc.status_code == 404:
            return refused_page(request, exc, session)
        return await detail_page(
            request, approval_id, session, reviewer, error=exc.message, status_code=exc.status_code
        )
    return RedirectResponse(f"/approvals/{approval_id}?done={done}", status_code=303)


async def _apply_decision(
    request: Request, approval_id: str, form: FormData, reviewer: Reviewer
) -> str:
    """Check the form against the record and this reviewer, decide; returns the notice key."""
    store = inbox_of(request).store
    call, view = await _call_to_decide(store, approval_id, form, reviewer)
    verdict = form_text(form, "verdict")
    message = form_text(form, "message") or None
    if verdict not in (Verdict.APPROVED.value, Verdict.REJECTED.value):
        raise Refused(400, "Choose approve or reject.")
    if verdict == Verdict.REJECTED.value and message is None:
        raise Refused(400, "Say why you reject it: the agent reads your message.")
    if verdict == Verdict.APPROVED.value and view.approve_refusal is not None:
        raise _refused(view.approve_refusal, "approve")
    edited = _edited_arguments(form, call.arguments) if verdict == "approved" else None
    # Sticky: the run decides every later call of this tool the same way, without asking.
    always = form_text(form, "always") in ("true", "on", "1")
    with _store_refusals():
        await decide_as(
            store,
            approval_id,
            reviewer,
            call_id=call.call_id,
            verdict=verdict,
            message=message,
            always=always,
            surface="web",
            arguments_sha256=call.arguments_sha256,
            edited_arguments=edited,
        )
    logger.info(
        "inbox: %s %s call %s of %s%s",
        reviewer.name,
        verdict,
        call.call_id,
        approval_id,
        " (sticky)" if always else "",
    )
    if edited is not None:
        return "edited"
    return f"{verdict}-always" if always else verdict


async def _apply_suggestion(
    request: Request, approval_id: str, form: FormData, reviewer: Reviewer
) -> str:
    """Approve the call with the decision layer's suggested arguments, exactly those the page
    showed: the form carries their digest, and a suggestion that differs now is refused."""
    store = inbox_of(request).store
    call, view = await _call_to_decide(store, approval_id, form, reviewer)
    if view.approve_refusal is not None:
        raise _refused(view.approve_refusal, "approve")
    suggestion = view.suggestion
    if suggestion is None:
        raise Refused(409, "This call has no suggested arguments to approve; nothing was recorded.")
    if suggestion.arguments_sha256 != form_text(form, "suggested_sha256"):
        raise Refused(
            409,
            "The suggested arguments are not the ones the page showed you; nothing was "
            "recorded. Review the suggestion as it is now.",
        )
    with _store_refusals():
        await decide_as(
            store,
            approval_id,
            reviewer,
            call_id=call.call_id,
            verdict=Verdict.APPROVED,
            message=form_text(form, "message") or SUGGESTION_APPLIED,
            surface="web",
            arguments_sha256=call.arguments_sha256,
            edited_arguments=suggestion.arguments,
        )
    logger.info(
        "inbox: %s approved the suggestion for call %s of %s",
        reviewer.name,
        call.call_id,
        approval_id,
    )
    return "suggested"


async def _call_to_decide(
    store: PendingApprovalStore, approval_id: str, form: FormData, reviewer: Reviewer
) -> tuple[ToolCallRecord, CallView]:
    """The form's call in the record as it is now, and what this reviewer may do with it;
    ``Refused`` when they may not decide it at all."""
    record = await _record(store, approval_id, "Nothing can be decided on it")
    call = record.call(form_text(form, "call_id"))
    if call is None:
        raise Refused(400, "That call is not part of this approval.")
    # The rules the store enforces, asked first: a forged form gets the page's answer.
    view = CallView.of(record, call, reviewer)
    if view.refusal is not None:
        raise _refused(view.refusal, "decide")
    return call, view


async def _record(
    store: PendingApprovalStore, approval_id: str, unreadable: str
) -> PendingApproval:
    try:
        return await store.get(approval_id)
    except ApprovalNotFound:
        raise Refused(404, f"No approval {approval_id}.") from None
    except UnreadableRecord as exc:
        raise Refused(422, f"{unreadable}: {exc}") from None


def _refused(refusal: Refusal, what: str) -> Refused:
    """A refusal of the rules as the status the store's error would get (``_store_refusals``)."""
    if refusal.kind is RefusalKind.MALFORMED_RULES:
        status = 400
    else:
        status = 403 if refusal.forbidden else 409
    return Refused(status, f"You cannot {what} this call: {refusal.reason}.")


@contextlib.contextmanager
def _store_refusals() -> Iterator[None]:
    """The store's refusals as statuses: who you are 403, the record's state 409, the form 400."""
    try:
        yield
    except NotAuthorized as exc:
        raise Refused(403, f"The store refused: {exc}") from None
    except ApprovalConflict as exc:
        raise Refused(409, str(exc)) from None
    except StateIntegrityError as exc:
        # A record altered outside the app takes no vote; a forged form gets the reason, not a 500.
        raise Refused(409, f"The store refused: {exc}; nothing was recorded.") from None
    except (InvalidDecision, ConfigurationError) as exc:
        raise Refused(400, str(exc)) from None


def _edited_arguments(form: FormData, original: Any) -> dict[str, Any] | None:
    raw = form_text(form, "edited_arguments")
    if not raw:
        return None
    try:
        edited = json.loads(raw)
    except ValueError as exc:
        raise Refused(400, f"The edited arguments are not valid JSON: {exc}") from None
    if not isinstance(edited, dict):
        raise Refused(400, "The edited arguments must be a JSON object.")
    return None if edited == original else edited


@router.post("/approvals/{approval_id}/resume")
async def resume(request: Request, approval_id: str) -> Response:
    try:
        _, session, reviewer = await signed_in_form(request)
    except Refused as exc:
        return refused_page(request, exc, session_of(request))
    provider = inbox_of(request).provider
    if provider is None:
        return refused_page(
            request, Refused(404, "Resuming needs the inbox started with --app."), session
        )
    try:
        outcome = await provider.resume_agent(approval_id)
    except ApprovalNotFound:
        return refused_page(request, Refused(404, f"No approval {approval_id}."), session)
    except ApprovalConflict as exc:
        return await detail_page(
            request, approval_id, session, reviewer, error=str(exc), status_code=409
        )
    except (ApprovalError, EvolvingAgentsError) as exc:
        # The record is left as it was (refused state, unknown agent): say why, keep the page.
        return await detail_page(
            request, approval_id, session, reviewer, error=str(exc), status_code=500
        )
    logger.info("inbox: %s resumed %s: %s", reviewer.name, approval_id, outcome.status.value)
    return RedirectResponse(f"/approvals/{approval_id}?done=resumed", status_code=303)


@router.post("/approvals/{approval_id}/cancel")
async def cancel(request: Request, approval_id: str) -> Response:
    try:
        form, session, reviewer = await signed_in_form(request)
    except Refused as exc:
        return refused_page(request, exc, session_of(request))
    store = inbox_of(request).store
    try:
        record = await _record(store, approval_id, "It cannot be cancelled")
        refusal = cancel_refusal(record, reviewer)
        if refusal is not None and refusal.kind is not RefusalKind.STATUS:
            raise Refused(403, f"You may not cancel this run: {refusal.reason}.")
        # A record no longer pending or decided: the store says so, as a conflict.
        await store.cancel(approval_id, by=reviewer.name, reason=form_text(form, "reason") or None)
    except Refused as exc:
        return refused_page(request, exc, session)
    except ApprovalConflict as exc:
        return await detail_page(
            request, approval_id, session, reviewer, error=str(exc), status_code=409
        )
    return RedirectResponse(f"/approvals/{approval_id}?done=cancelled", status_code=303)
