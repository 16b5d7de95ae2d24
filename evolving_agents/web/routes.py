"""The inbox's pages: sign-in, the queue (and its live rows and events), one approval.

GET pages need a signed-in reviewer, else they redirect to ``/login``. The forms these pages
post are handled in ``actions.py``.
"""

from __future__ import annotations

import logging
import math
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)

from evolving_agents.approvals.models import ApprovalStatus, PendingApproval
from evolving_agents.approvals.rules import Reviewer, cancel_refusal
from evolving_agents.errors import ApprovalNotFound, UnreadableRecord
from evolving_agents.present.expired import expired_phrase, record_expired_at
from evolving_agents.present.views import (
    CallView,
    expires_in,
    humanize,
    page_rows,
    tool_errors,
)
from evolving_agents.web.drafts import EditDraft
from evolving_agents.web.next_step import next_step
from evolving_agents.web.requests import (
    Refused,
    checked_form,
    client_address,
    form_text,
    inbox_of,
    local_path,
    redirect_to_login,
    refused_page,
    render,
    reviewer_of,
    session_of,
    set_session_cookie,
)
from evolving_agents.web.session import Session

logger = logging.getLogger(__name__)

router = APIRouter()

_STATUSES = [status.value for status in ApprovalStatus]
_PAGE_SIZE = 100
# The live rows' count of waiting approvals, which the page's script puts in the tab title.
WAITING_HEADER = "X-Eat-Waiting"
_NOTICES = {
    "approved": "Approved.",
    "rejected": "Rejected; the agent will read your message.",
    "approved-always": "Approved, and every later call of this tool in this run will be too.",
    "rejected-always": "Rejected, and every later call of this tool in this run will be too.",
    "edited": "Approved with your edited arguments.",
    "suggested": "Approved with the decision layer's suggested arguments.",
    "resumed": "The run was resumed.",
    "cancelled": "The run was cancelled.",
}


# -- sign-in -----------------------------------------------------------------------------------


@router.get("/login")
async def login_page(request: Request, next: str = "/") -> Response:
    session = session_of(request)
    if reviewer_of(request, session) is not None:
        return RedirectResponse(local_path(next), status_code=303)
    fresh = session is None
    session = session or Session.anonymous()
    return render(
        request,
        "login.html",
        {"next": local_path(next), "error": None},
        session=session,
        new_session=fresh,
    )


@router.post("/login")
async def login(request: Request) -> Response:
    try:
        form, session = await checked_form(request)
    except Refused as exc:
        return refused_page(request, exc, session_of(request))
    inbox = inbox_of(request)
    token = form_text(form, "token")
    target = local_path(form_text(form, "next") or "/")
    client = client_address(request)
    # Counted before the token is looked at: during a backoff no guess is tested at all.
    wait = await inbox.sign_ins.reserve(client) if token else 0.0
    if wait > 0:
        logger.warning("inbox sign-in from %s throttled for %.0f s", client, wait)
        seconds = math.ceil(wait)
        response = render(
            request,
            "login.html",
            {"next": target, "error": f"Too many sign-in attempts; try again in {seconds} s."},
            session=session,
            status_code=429,
        )
        response.headers["Retry-After"] = str(seconds)
        return response
    identity = inbox.reviewers.authenticate(token) if token else None
    if identity is None:
        logger.warning("inbox sign-in refused from %s: unknown token", client)
        return render(
            request,
            "login.html",
            {"next": target, "error": "That token is not known here."},
            session=session,
            status_code=401,
        )
    await inbox.sign_ins.succeeded(client)
    if session.reviewer is not None:
        await inbox.sessions.end(session)  # signing in again ends the session it replaces
    signed_in = await inbox.sessions.start(identity, token)
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(request, response, signed_in)
    logger.info("inbox: %s signed in", identity.name)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    try:
        _, session = await checked_form(request)
    except Refused as exc:
        return refused_page(request, exc, session_of(request))
    # Deleting the stored sign-in ends this session for every copy of its cookie, everywhere.
    await inbox_of(request).sessions.end(session)
    if session.reviewer is not None:
        logger.info("inbox: %s signed out", session.reviewer.name)
    response = RedirectResponse("/login", status_code=303)
    set_session_cookie(request, response, Session.anonymous())
    return response


# -- the queue ---------------------------------------------------------------------------------


async def _rows(request: Request, status: str, agent: str, tool: str, cursor: str | None) -> Any:
    if status != "all" and status not in _STATUSES:
        raise Refused(400, f"Unknown status {status!r}.")
    inbox = inbox_of(request)
    try:
        page = await inbox.store.list(
            status=None if status == "all" else status,
            agent_name=agent or None,
            tool_name=tool or None,
            newest_first=status != "pending",
            limit=_PAGE_SIZE,
            cursor=cursor or None,
        )
    except ValueError as exc:
        # A cursor the store did not make (or a filter it refuses): the request's fault.
        raise Refused(400, str(exc)) from None
    # Unreadable documents are rows too ("unreadable record <id>"), where they sit.
    return page_rows(page, now=inbox.clock()), page.next_cursor


async def _waiting(
    request: Request, filters: dict[str, str], cursor: str, rows: Any, next_cursor: str | None
) -> str:
    """The tab title's count of approvals waiting for a decision: ``3``, ``100+``, or ``""``.

    The unfiltered pending queue's first page is that count already; any other view asks for
    the pending records' first page (the same query), so the title counts the same thing
    whatever the reviewer filtered.
    """
    if filters == {"status": "pending", "agent": "", "tool": ""} and not cursor:
        count = sum(1 for row in rows if not row.unreadable)
        more = next_cursor is not None
    else:
        page = await inbox_of(request).store.list(status="pending", limit=_PAGE_SIZE)
        count, more = len(page.items), page.next_cursor is not None
    if more:
        return f"{count}+"
    return str(count) if count else ""


@router.get("/")
async def queue(
    request: Request,
    status: str = "pending",
    agent: str = "",
    tool: str = "",
    cursor: str = "",
) -> Response:
    session = session_of(request)
    if reviewer_of(request, session) is None:
        return redirect_to_login(request)
    filters = {"status": status, "agent": agent, "tool": tool}
    try:
        rows, next_cursor = await _rows(request, status, agent, tool, cursor)
    except Refused as exc:
        return refused_page(request, exc, session)
    return render(
        request,
        "list.html",
        {
            "rows": rows,
            "waiting": await _waiting(request, filters, cursor, rows, next_cursor),
            "filters": filters,
            "statuses": ["all", *_STATUSES],
            "query": urlencode(filters),
            "next_cursor": next_cursor,
        },
        session=session,
    )


@router.get("/approvals/rows")
async def queue_rows(
    request: Request, status: str = "pending", agent: str = "", tool: str = ""
) -> Response:
    """The table body alone, which the page's script swaps in when the queue changes; its
    ``X-Eat-Waiting`` header is the tab title's count (``_waiting``)."""
    session = session_of(request)
    if reviewer_of(request, session) is None:
        return HTMLResponse("", status_code=401)
    filters = {"status": status, "agent": agent, "tool": tool}
    try:
        rows, next_cursor = await _rows(request, status, agent, tool, None)
    except Refused as exc:
        return HTMLResponse(exc.message, status_code=exc.status_code)
    response = render(request, "_rows.html", {"rows": rows}, session=session)
    response.headers[WAITING_HEADER] = await _waiting(request, filters, "", rows, next_cursor)
    return response


@router.get("/events")
async def events(request: Request) -> Response:
    if reviewer_of(request, session_of(request)) is None:
        return JSONResponse({"error": "sign in first"}, status_code=401)
    return StreamingResponse(
        inbox_of(request).events.stream(request),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/healthz")
async def healthz(request: Request) -> Response:
    """200 while the database answers and every background loop is alive and getting its
    work done, else 503.

    Reports the database (``answering`` or ``unreachable``, from the inbox's check every
    second), each loop (the live feed, and the webhook service's when it runs here), the
    background tasks that ended, and how many unreadable records were skipped. Errors are
    named by type only, and the database's address not at all: this endpoint needs no sign-in.
    """
    inbox = inbox_of(request)
    feed = inbox.events.feed
    state = request.app.state
    loops = [inbox.events.health]
    webhooks = getattr(state, "webhooks", None)
    if webhooks is not None:
        loops.extend(webhooks.health)
    dead = [
        f"{task.get_name()}: {_ended_with(task)}"
        for task in getattr(state, "background", [])
        if task.done()
    ]
    answering = inbox.database.problem is None
    ok = answering and not dead and all(loop.healthy for loop in loops)
    body = {
        "ok": ok,
        "database": "answering" if answering else "unreachable",
        "live": "change-stream" if feed.watching else "polling",
        "loops": [
            {
                "name": loop.name,
                "state": loop.state,
                "failures": loop.failures,
                "last_error": None if loop.last_error is None else loop.last_error.split(":")[0],
            }
            for loop in loops
        ],
        "dead_tasks": dead,
        "unreadable_records": len(set(inbox.store.unreadable_seen) | feed.unreadable_ids),
    }
    return JSONResponse(body, status_code=200 if ok else 503)


def _ended_with(task: Any) -> str:
    if task.cancelled():
        return "cancelled"
    error = task.exception()
    return "returned" if error is None else type(error).__name__


# -- one approval ------------------------------------------------------------------------------


async def detail_page(
    request: Request,
    approval_id: str,
    session: Session,
    reviewer: Reviewer,
    *,
    error: str | None = None,
    status_code: int = 200,
    draft: EditDraft | None = None,
) -> Response:
    """The record page; ``error`` says why a form wrote nothing, and ``draft`` is the edit
    that form carried, shown again as typed (with what it changes) in its call's edit form."""
    inbox = inbox_of(request)
    try:
        record = await inbox.store.get(approval_id)
    except ApprovalNotFound:
        return refused_page(request, Refused(404, f"No approval {approval_id}."), session)
    except UnreadableRecord as exc:
        message = (
            f"Unreadable record {exc.approval_id}: {'; '.join(exc.problems)}. Nothing can be "
            "decided or resumed on it until an operator repairs or removes the document."
        )
        return refused_page(request, Refused(422, message), session)
    history = [
        earlier
        for earlier in await inbox.store.run_history(record.run_id)
        if earlier.id != record.id and earlier.sequence < record.sequence
    ]
    now = inbox.clock()
    notice = _NOTICES.get(request.query_params.get("done", ""))
    tampered = inbox.store.integrity_problems(record)
    # A tampered record is refused by any resume: the banner says so, not a next step.
    step = None if tampered else await next_step(inbox, record)
    expired_at = record_expired_at(record)
    context = {
        "record": record,
        "tampered": tampered,
        "calls": [CallView.of(record, call, reviewer, now=now) for call in record.tool_calls],
        "drafts": {} if draft is None else {draft.call_id: draft},
        "next_step": step,
        "expired": None if expired_at is None else expired_phrase(expired_at, now),
        "history": history,
        "age": humanize(now - record.created_at),
        "expires_in": expires_in(record, now),
        "tool_errors": tool_errors(record),
        # Edits are checked against the tool's schema and rules, which only the agents know.
        "can_edit": inbox.provider is not None and not tampered,
        "can_resume": inbox.provider is not None and step is not None and step.resumable,
        "can_cancel": may_cancel(record, reviewer),
        "notice": None if error else notice,
        "error": error,
    }
    return render(request, "detail.html", context, session=session, status_code=status_code)


def may_cancel(record: PendingApproval, reviewer: Reviewer) -> bool:
    """Whether the page offers "Cancel the run" (``rules.cancel_refusal``, as the form checks)."""
    return cancel_refusal(record, reviewer) is None


@router.get("/approvals/{approval_id}")
async def approval_page(request: Request, approval_id: str) -> Response:
    session = session_of(request)
    reviewer = reviewer_of(request, session)
    if session is None or reviewer is None:
        return redirect_to_login(request)
    return await detail_page(request, approval_id, session, reviewer)
