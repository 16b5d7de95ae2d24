"""The inbox's forms: decide a call, preview or approve an edit, approve a suggestion, resume
a decided run, cancel a run.

Each checks the Origin and CSRF token, then the reviewer, then what this reviewer may do with
this call (the same rules the page used to show it read-only): a forged form gets a 403. An
edit that is refused (not JSON, outside the tool's schema, blocked by the decision layer) comes
back in its form as typed, with what it changes (``drafts.py``).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
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
from evolving_agents.present.expired import call_expired_at, expired_phrase
from evolving_agents.present.views import CallView
from evolving_agents.providers.agent_registry import AgentNotRegistered
from evolving_agents.reviewers.directory import decide_as
from evolving_agents.web.drafts import EditDraft
from evolving_agents.web.inbox import Inbox
from evolving_agents.web.requests import (
    Refused,
    form_text,
    inbox_of,
    refused_page,
    session_of,
    signed_in_form,
)
from evolving_agents.web.routes import detail_page
from evolving_agents.web.session import Session

logger = logging.getLogger(__name__)

router = APIRouter()

_Apply = Callable[[Request, str, FormData, Reviewer], Awaitable[str]]


class EditRefused(Refused):
    """A refused approval with edited arguments, carrying the edit as the reviewer typed it."""

    def __init__(self, refused: Refused, draft: EditDraft) -> None:
        super().__init__(refused.status_code, refused.message)
        self.draft = draft


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
        return await _page_refusing(request, approval_id, session, reviewer, exc)
    return RedirectResponse(f"/approvals/{approval_id}?done={done}", status_code=303)


async def _page_refusing(
    request: Request, approval_id: str, session: Session, reviewer: Reviewer, exc: Refused
) -> Response:
    """The record page saying why nothing was written, an edit kept as typed; a 404 page."""
    if exc.status_code == 404:
        return refused_page(request, exc, session)
    return await detail_page(
        request,
        approval_id,
        session,
        reviewer,
        error=exc.message,
        status_code=exc.status_code,
        draft=exc.draft if isinstance(exc, EditRefused) else None,
    )


@router.post("/approvals/{approval_id}/preview-edit")
async def preview_edit(request: Request, approval_id: str) -> Response:
    """The record page with the edit checked and its changes shown; nothing is written."""
    try:
        form, session, reviewer = await signed_in_form(request)
    except Refused as exc:
        return refused_page(request, exc, session_of(request))
    try:
        draft = await _checked_draft(request, approval_id, form, reviewer)
    except Refused as exc:
        return await _page_refusing(request, approval_id, session, reviewer, exc)
    return await detail_page(request, approval_id, session, reviewer, draft=draft)


async def _checked_draft(
    request: Request, approval_id: str, form: FormData, reviewer: Reviewer
) -> EditDraft:
    """The form's edit, checked as an approval would check it (the tool's schema, the decision
    layer); ``EditRefused`` with the draft when it would be refused."""
    inbox = inbox_of(request)
    record, call, view = await _call_to_decide(inbox, approval_id, form, reviewer)
    text = _edit_text(form) or ""
    message = form_text(form, "message")
    try:
        if view.approve_refusal is not None:
            raise _refused(view.approve_refusal, "approve")
        if inbox.provider is None:
            raise Refused(
                400, "Edits are checked against the tool's schema: start the inbox with --app."
            )
        edited = _edited_arguments(form, call.arguments)
        if edited is not None:
            try:
                await inbox.provider.check_edit(record, call, edited)
            except (InvalidDecision, AgentNotRegistered, ConfigurationError) as exc:
                raise Refused(400, str(exc)) from None
    except Refused as exc:
        draft = EditDraft.of(call, text, message=message, error=exc.message)
        raise EditRefused(exc, draft) from None
    return EditDraft.of(call, text, message=message, checked=True)


async def _apply_decision(
    request: Request, approval_id: str, form: FormData, reviewer: Reviewer
) -> str:
    """Check the form against the record and this reviewer, decide; returns the notice key.
    A refused edit is an ``EditRefused`` carrying it as typed."""
    inbox = inbox_of(request)
    _, call, view = await _call_to_decide(inbox, approval_id, form, reviewer)
    text = _edit_text(form)
    try:
        return await _cast(inbox, approval_id, call, view, form, reviewer)
    except Refused as exc:
        if isinstance(exc, EditRefused) or text is None:
            raise
        draft = EditDraft.of(call, text, message=form_text(form, "message"), error=exc.message)
        raise EditRefused(exc, draft) from None


async def _cast(
    inbox: Inbox,
    approval_id: str,
    call: ToolCallRecord,
    view: CallView,
    form: FormData,
    reviewer: Reviewer,
) -> str:
    store = inbox.store
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
    async with _store_refusals(inbox, approval_id, call.call_id):
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
    inbox = inbox_of(request)
    store = inbox.store
    _, call, view = await _call_to_decide(inbox, approval_id, form, reviewer)
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
    async with _store_refusals(inbox, approval_id, call.call_id):
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
    inbox: Inbox, approval_id: str, form: FormData, reviewer: Reviewer
) -> tuple[PendingApproval, ToolCallRecord, CallView]:
    """The record as it is now, the form's call in it, and what this reviewer may do with
    it; ``Refused`` when they may not decide it at all (it expired, say)."""
    record = await _record(inbox.store, approval_id, "Nothing can be decided on it")
    call = record.call(form_text(form, "call_id"))
    if call is None:
        raise Refused(400, "That call is not part of this approval.")
    expired = _expired_refusal(inbox, record, call)
    if expired is not None:
        raise expired
    # The rules the store enforces, asked first: a forged form gets the page's answer.
    view = CallView.of(record, call, reviewer, now=inbox.clock())
    if view.refusal is not None:
        raise _refused(view.refusal, "decide")
    return record, call, view


def _expired_refusal(inbox: Inbox, record: PendingApproval, call: ToolCallRecord) -> Refused | None:
    """The answer to a vote on a call that timed out undecided, or None when it did not."""
    expired_at = call_expired_at(record, call)
    if expired_at is None:
        return None
    return Refused(
        409,
        f"This call {expired_phrase(expired_at, inbox.clock())}: nobody decided it in time, "
        "so it did not run and the agent was told so. Nothing was recorded.",
    )


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


@contextlib.asynccontextmanager
async def _store_refusals(inbox: Inbox, approval_id: str, call_id: str) -> AsyncIterator[None]:
    """The store's refusals as statuses: who you are 403, the record's state 409, the form 400.

    A conflict because the call expired between the page's read and the vote says so."""
    try:
        yield
    except NotAuthorized as exc:
        raise Refused(403, f"The store refused: {exc}") from None
    except ApprovalConflict as exc:
        record = await _record(inbox.store, approval_id, "Nothing was recorded")
        call = record.call(call_id)
        expired = None if call is None else _expired_refusal(inbox, record, call)
        raise (expired or Refused(409, str(exc))) from None
    except StateIntegrityError as exc:
        # A record altered outside the app takes no vote; a forged form gets the reason, not a 500.
        raise Refused(409, f"The store refused: {exc}; nothing was recorded.") from None
    except (InvalidDecision, ConfigurationError) as exc:
        raise Refused(400, str(exc)) from None


def _edit_text(form: FormData) -> str | None:
    """The edited arguments exactly as typed, or None when the form carries no edit."""
    value = form.get("edited_arguments")
    return value if isinstance(value, str) and value.strip() else None


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
