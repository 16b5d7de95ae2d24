"""What every inbox handler shares: the signed-in reviewer, rendering, checked forms.

Every POST goes through :func:`checked_form`, which checks, in this order, the request's Origin
(when sent) and the CSRF token of the session; :func:`signed_in_form` then asks for a reviewer.
A failure is a :class:`Refused`, which handlers turn into an error page with its status.
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import urlencode, urlsplit

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from evolving_agents.approvals.rules import Reviewer
from evolving_agents.web.inbox import Inbox
from evolving_agents.web.session import COOKIE_NAME, CSRF_FIELD, SCOPE_KEY, Session


class Refused(Exception):
    """A request the inbox turns into an error page with this status."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def inbox_of(request: Request) -> Inbox:
    return cast(Inbox, request.app.state.inbox)


def session_of(request: Request) -> Session | None:
    """The request's session as the app's ``SessionLoader`` found it (None: no valid cookie)."""
    session = request.scope.get(SCOPE_KEY)
    return session if isinstance(session, Session) else None


def reviewer_of(request: Request, session: Session | None) -> Reviewer | None:
    """Who is signed in: the session's stored sign-in, still matching a configured token."""
    return None if session is None else session.reviewer


def client_address(request: Request) -> str:
    """The address sign-in attempts are counted under (the proxy's view, see README)."""
    return request.client.host if request.client is not None else "unknown"


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    session: Session | None,
    status_code: int = 200,
    new_session: bool = False,
) -> Response:
    inbox = inbox_of(request)
    base = {
        "title": inbox.title,
        "reviewer": reviewer_of(request, session),
        "csrf_token": "" if session is None else inbox.sessions.csrf_token(session),
        "csrf_field": CSRF_FIELD,
    }
    response = inbox.templates.TemplateResponse(
        request, template, {**base, **context}, status_code=status_code
    )
    response.headers["Cache-Control"] = "no-store"
    if new_session and session is not None:
        set_session_cookie(request, response, session)
    return response


def set_session_cookie(request: Request, response: Response, session: Session) -> None:
    inbox = inbox_of(request)
    secure = inbox.secure_cookies
    if secure is None:
        secure = request.url.scheme == "https"
    response.set_cookie(
        COOKIE_NAME,
        inbox.sessions.dump(session),
        max_age=int(inbox.sessions.max_age_seconds),
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/",
    )


def refused_page(request: Request, exc: Refused, session: Session | None) -> Response:
    return render(
        request,
        "error.html",
        {"status_code": exc.status_code, "message": exc.message},
        session=session,
        status_code=exc.status_code,
    )


def redirect_to_login(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)


def local_path(target: str) -> str:
    """Only paths on this site: ``next=//evil.example`` must not become a redirect away."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


async def checked_form(request: Request) -> tuple[FormData, Session]:
    """The POSTed form, once its origin and CSRF token check out (else ``Refused`` 403)."""
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
        raise Refused(403, "This form was sent from another site.")
    form = await request.form()
    session = session_of(request)
    if session is None or not inbox_of(request).sessions.csrf_ok(session, form.get(CSRF_FIELD)):
        raise Refused(403, "The form's CSRF token is missing or wrong; reload the page.")
    return form, session


async def signed_in_form(request: Request) -> tuple[FormData, Session, Reviewer]:
    form, session = await checked_form(request)
    reviewer = reviewer_of(request, session)
    if reviewer is None:
        raise Refused(403, "Sign in first.")
    return form, session, reviewer


def form_text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""
