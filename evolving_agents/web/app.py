"""The review inbox: a FastAPI app over the approval store.

::

    app = create_app(provider, ReviewerDirectory.from_env())   # or a PendingApprovalStore
    uvicorn.run(app, host="127.0.0.1", port=8765)              # what `eat inbox` does

With a provider (built from ``--app``) the inbox can also resume decided runs; with a bare
store it reviews only. Pages are server-rendered HTML; a little hand-written JavaScript keeps
the queue live and adds keyboard shortcuts, and everything works without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import jinja2
from fastapi import FastAPI
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from evolving_agents.approvals.models import utcnow
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.providers.openai_agents_provider import OpenAIAgentsProvider
from evolving_agents.reviewer_auth import ReviewerDirectory
from evolving_agents.web.live import InboxEvents
from evolving_agents.web.present import highlight_json, pretty_json
from evolving_agents.web.session import SessionCodec
from evolving_agents.webhooks.feed import ApprovalFeed
from evolving_agents.webhooks.service import WebhookService

HERE = Path(__file__).parent
SESSION_SECRET_ENV = "EAT_WEB_SECRET"

_SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


@dataclass
class Inbox:
    """What every request handler needs; one per app, on ``app.state.inbox``."""

    store: PendingApprovalStore
    provider: OpenAIAgentsProvider | None
    reviewers: ReviewerDirectory
    sessions: SessionCodec
    events: InboxEvents
    templates: Jinja2Templates
    clock: Callable[[], datetime]
    title: str
    secure_cookies: bool | None


def create_app(
    provider_or_store: OpenAIAgentsProvider | PendingApprovalStore,
    reviewers: ReviewerDirectory,
    *,
    session_secret: str | bytes | None = None,
    poll_interval: float = 1.0,
    webhooks: WebhookService | None = None,
    secure_cookies: bool | None = None,
    clock: Callable[[], datetime] = utcnow,
    title: str = "EAT review inbox",
) -> FastAPI:
    """Build the inbox app.

    ``session_secret`` signs cookies and CSRF tokens (default: ``EAT_WEB_SECRET``, else a
    random secret, so sessions end when the process does). ``secure_cookies`` None means:
    ``Secure`` when the request came over https. ``webhooks``, when given, runs beside the
    inbox for the app's lifetime.
    """
    from evolving_agents.web import actions, routes

    if isinstance(provider_or_store, OpenAIAgentsProvider):
        provider: OpenAIAgentsProvider | None = provider_or_store
        store = provider_or_store.store
    else:
        provider, store = None, provider_or_store
    inbox = Inbox(
        store=store,
        provider=provider,
        reviewers=reviewers,
        sessions=SessionCodec(_secret(session_secret)),
        events=InboxEvents(ApprovalFeed(store.collection, poll_interval=poll_interval)),
        templates=_templates(),
        clock=clock,
        title=title,
        secure_cookies=secure_cookies,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(inbox.events.run(), name="eat-inbox-feed")]
        if webhooks is not None:
            tasks.append(asyncio.create_task(webhooks.run_until_cancelled(), name="eat-webhooks"))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    app = FastAPI(title=title, lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.inbox = inbox
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(routes.router)
    app.include_router(actions.router)
    app.add_middleware(SecurityHeaders)
    return app


def _secret(value: str | bytes | None) -> bytes:
    if value is None:
        value = os.environ.get(SESSION_SECRET_ENV) or secrets.token_bytes(32)
    return value.encode("utf-8") if isinstance(value, str) else value


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["json"] = pretty_json
    env.filters["highlight_json"] = highlight_json
    return Jinja2Templates(env=env)


class SecurityHeaders:
    """Adds a strict CSP and friends to every response (pure ASGI, so streams stay streams)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)
