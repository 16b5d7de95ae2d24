"""What the inbox shows while its database does not answer: its own page, at once.

::

    app.add_middleware(DatabaseGate, inbox=inbox)     # inside SecurityHeaders, around the rest

While ``inbox.database`` (a ``DatabaseWatch``) knows of an outage, every page is a 503 that
names the database and its address (password masked) and what to check, answered without
touching the database; a GET page reloads itself every few seconds and is the inbox again
once the database answers. A page asked for just before the watch noticed gets the same page
the moment it does, rather than when its own queries time out (they end unheard in the
background); a form sent then waits for its outcome, so its page can say whether it may have
been saved. ``/healthz``, ``/metrics`` and the static files pass: the health check reports
the outage, the metrics are still scraped.
"""

from __future__ import annotations

import asyncio

from pymongo.errors import PyMongoError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from evolving_agents.errors import EvolvingAgentsError
from evolving_agents.storage.mongodb_client import DatabaseUnreachable
from evolving_agents.storage.outage import is_outage
from evolving_agents.web.inbox import Inbox
from evolving_agents.web.requests import render

RETRY_SECONDS = 5
_PASSING = ("/static/", "/healthz", "/metrics")
_RELOADS = f"This page reloads every {RETRY_SECONDS} s and shows the inbox again once it answers."
_NOT_SAVED = "Nothing was saved: send it again once the database answers."
_MAYBE_SAVED = "Your last action may not have been saved: look again once the database answers."
_DROPPED = (
    "The connection to the database dropped during this request, so it may or may not have "
    "taken effect; the database does not answer right now."
)


class DatabaseGate:
    """The outage page instead of a hanging request or a bare "Internal Server Error"."""

    def __init__(self, app: ASGIApp, inbox: Inbox) -> None:
        self.app = app
        self.inbox = inbox
        self._unheard: set[asyncio.Future[None]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_PASSING):
            await self.app(scope, receive, send)
            return
        watch = self.inbox.database
        problem = watch.problem
        if problem is not None:
            watch.suspect()  # so the first request after the outage finds the inbox back
            after = _RELOADS if _is_read(scope) else _NOT_SAVED
            await _outage_page(scope, problem, after)(scope, receive, send)
            return
        reply = _Reply(send)
        handling = asyncio.ensure_future(self._handle(scope, receive, reply))
        if not _is_read(scope):
            await handling
            return
        silent = asyncio.ensure_future(watch.until_silent())
        try:
            await asyncio.wait((handling, silent), return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            handling.cancel()  # the server cut this request: its handler goes with it
            raise
        finally:
            silent.cancel()
        problem = watch.problem
        if handling.done() or reply.started or problem is None:
            await handling
            return
        reply.muted = True
        self._unheard.add(handling)
        handling.add_done_callback(self._forget)
        await _outage_page(scope, problem, _RELOADS)(scope, receive, send)

    async def _handle(self, scope: Scope, receive: Receive, reply: _Reply) -> None:
        try:
            await self.app(scope, receive, reply.send)
        except (PyMongoError, EvolvingAgentsError) as exc:
            # Only a failure that is an outage, and only while nothing was sent yet (a live
            # stream that broke mid-way just ends); anything else stays the error it is.
            if reply.started or reply.muted or not is_outage(exc):
                raise
            found = self.inbox.database.failed(exc)
            after = _RELOADS if _is_read(scope) else _MAYBE_SAVED
            response = (
                _outage_page(scope, found, after)
                if found is not None
                else _page(scope, f"{_DROPPED} {after}")
            )
            await response(scope, receive, reply.send)

    def _forget(self, handling: asyncio.Future[None]) -> None:
        self._unheard.discard(handling)
        if not handling.cancelled():
            handling.exception()  # the outage it met is already on the page: retrieved


class _Reply:
    """The ASGI ``send`` of one request, knowing whether the response started, and muted
    once the gate answered for a handler still waiting on the database."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False
        self.muted = False

    async def send(self, message: Message) -> None:
        if self.muted:
            return
        self.started = self.started or message["type"] == "http.response.start"
        await self._send(message)


def _is_read(scope: Scope) -> bool:
    return scope.get("method", "GET") in ("GET", "HEAD")


def _outage_page(scope: Scope, problem: DatabaseUnreachable, after: str) -> Response:
    said = str(problem)
    return _page(scope, f"The inbox {said[:1].lower()}{said[1:]}. {after}")


def _page(scope: Scope, message: str) -> Response:
    request = Request(scope)
    response = render(
        request,
        "error.html",
        {
            "status_code": 503,
            "message": message,
            # A POST's page must not reload: that would send the form again.
            "reload_seconds": RETRY_SECONDS if _is_read(scope) else None,
        },
        session=None,
        status_code=503,
    )
    response.headers["Retry-After"] = str(RETRY_SECONDS)
    return response
