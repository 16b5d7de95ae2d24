"""The review inbox: a FastAPI app over the approval store.

::

    app = create_app(provider, ReviewerDirectory.from_env())   # or a PendingApprovalStore
    uvicorn.run(app, host="127.0.0.1", port=8765)              # what `eat inbox` does

With a provider (built from ``--app``) the inbox can also resume decided runs; with a bare
store it reviews only. Pages are server-rendered HTML; a little hand-written JavaScript keeps
the queue live and adds keyboard shortcuts, and everything works without it. While the
database does not answer, every page is a 503 saying so (``outage.py``) and ``/healthz`` fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import secrets
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path

import jinja2
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from evolving_agents.approvals.models import utcnow
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.config import NEW_SECRET_HINT, Settings, secret_weakness
from evolving_agents.errors import ConfigurationError
from evolving_agents.notify.feed import ApprovalFeed
from evolving_agents.notify.service import WebhookService
from evolving_agents.present.reveal import reveal
from evolving_agents.present.views import highlight_json, pretty_json
from evolving_agents.providers.openai_agents_provider import OpenAIAgentsProvider
from evolving_agents.reviewers.directory import ReviewerDirectory
from evolving_agents.storage.mongodb_client import MongoDBClient
from evolving_agents.storage.outage import DatabaseWatch, cancel_and_wait
from evolving_agents.web import actions, metrics, routes
from evolving_agents.web.inbox import Inbox as Inbox  # re-exported: its old home
from evolving_agents.web.live import InboxEvents
from evolving_agents.web.outage import DatabaseGate
from evolving_agents.web.session import COOKIE_NAME, SCOPE_KEY, InboxSessions, SessionCodec
from evolving_agents.web.slack import router as slack_router
from evolving_agents.web.throttle import ALL_TOGETHER, PER_CLIENT, Backoff, SignInThrottle

HERE = Path(__file__).parent
SESSION_SECRET_ENV = "EAT_WEB_SECRET"
# How long the background loops get to end at shutdown, a database that does not answer or not.
_STOP_SECONDS = 2.0

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
    mongodb_client: MongoDBClient | None = None,
    sign_in_backoff: Backoff = PER_CLIENT,
    all_sign_ins_backoff: Backoff = ALL_TOGETHER,
    settings: Settings | None = None,
) -> FastAPI:
    """Build the inbox app.

    ``session_secret`` signs cookies and CSRF tokens and keys the stored sessions (default:
    ``settings.web_secret``, i.e. ``EAT_WEB_SECRET``; required with ``EAT_ENV=production``).
    Without one the app makes a random secret that no other process shares, and then serves
    loopback connections only: two inboxes behind a balancer would sign each other's users
    out. Sign-ins are kept in ``eat_inbox_sessions`` and wrong tokens counted in
    ``eat_inbox_sign_in_attempts``, through ``mongodb_client`` (default: the provider's, or the
    store's). ``sign_in_backoff`` (per client address) and ``all_sign_ins_backoff`` (all
    clients together) pace wrong tokens. ``secure_cookies`` None means: ``Secure`` when the
    request came over https. ``webhooks``, when given, runs beside the inbox for the app's
    lifetime. ``settings``: the ones the caller built (``eat inbox`` passes its own); None
    reads the environment once, here.
    """
    inbox = _build_inbox(
        provider_or_store,
        reviewers,
        _session_codec(session_secret, Settings() if settings is None else settings),
        mongodb_client=mongodb_client,
        throttle=(sign_in_backoff, all_sign_ins_backoff),
        poll_interval=poll_interval,
        clock=clock,
        title=title,
        secure_cookies=secure_cookies,
    )
    app = FastAPI(
        title=title,
        lifespan=_lifespan(inbox, webhooks),
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.inbox = inbox
    app.state.webhooks = webhooks
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(routes.router)
    app.include_router(actions.router)
    app.include_router(slack_router)  # Slack's button clicks: /slack/actions
    app.include_router(metrics.router)
    app.add_middleware(SessionLoader, inbox=inbox)
    app.add_middleware(DatabaseGate, inbox=inbox)
    app.add_middleware(SecurityHeaders)
    return app


def _build_inbox(
    provider_or_store: OpenAIAgentsProvider | PendingApprovalStore,
    reviewers: ReviewerDirectory,
    codec: SessionCodec,
    *,
    mongodb_client: MongoDBClient | None,
    throttle: tuple[Backoff, Backoff],
    poll_interval: float,
    clock: Callable[[], datetime],
    title: str,
    secure_cookies: bool | None,
) -> Inbox:
    """The one ``Inbox`` every handler reads (``app.state.inbox``)."""
    if isinstance(provider_or_store, OpenAIAgentsProvider):
        provider: OpenAIAgentsProvider | None = provider_or_store
        store = provider_or_store.store
    else:
        provider, store = None, provider_or_store
    if mongodb_client is None:
        # The store's own client: sessions live in the same database as the approvals.
        mongodb_client = provider.mongodb_client if provider is not None else store.client
    database = DatabaseWatch(mongodb_client, label="inbox")
    inbox = Inbox(
        store=store,
        provider=provider,
        reviewers=reviewers,
        sessions=InboxSessions(mongodb_client, codec, reviewers, clock=clock),
        sign_ins=SignInThrottle(
            mongodb_client,
            per_client=throttle[0],
            all_clients=throttle[1],
            clock=clock,
        ),
        events=InboxEvents(ApprovalFeed(store, poll_interval=poll_interval), database=database),
        database=database,
        templates=_templates(),
        clock=clock,
        title=title,
        secure_cookies=secure_cookies,
    )
    return inbox


def _lifespan(
    inbox: Inbox, webhooks: WebhookService | None
) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    """The inbox's background loops: the database check, the live feed, and the webhook
    service when given."""

    @contextlib.asynccontextmanager
    async def lifespan(app_: FastAPI) -> AsyncIterator[None]:
        tasks = [
            asyncio.create_task(inbox.database.run(), name="eat-inbox-database"),
            asyncio.create_task(inbox.events.run(), name="eat-inbox-feed"),
        ]
        if webhooks is not None:
            tasks.append(asyncio.create_task(webhooks.run_until_cancelled(), name="eat-webhooks"))
        # /healthz reports a background task that ended while the inbox still serves pages.
        app_.state.background = tasks
        try:
            yield
        finally:
            # Bounded: a loop waiting on a database that does not answer must not hold up
            # the shutdown (uvicorn waits for this before it lets the process exit).
            await cancel_and_wait(tasks, timeout=_STOP_SECONDS)

    return lifespan


def _session_codec(value: str | bytes | None, settings: Settings) -> SessionCodec:
    source = "session_secret"
    if value is None and settings.web_secret:
        value, source = settings.web_secret, SESSION_SECRET_ENV
    if value is None:
        if settings.is_production:
            raise ConfigurationError(
                f"{SESSION_SECRET_ENV} is required when EAT_ENV=production: every inbox process "
                "must sign sessions with the same key, or one signs out the users of another; "
                f"set it to the same random value (32+ bytes, e.g. {NEW_SECRET_HINT}) on each"
            )
        return SessionCodec(secrets.token_bytes(32), ephemeral=True)
    secret = value.encode("utf-8") if isinstance(value, str) else value
    if len(secret) < 16:
        raise ConfigurationError(f"{source} must be at least 16 bytes long")
    if settings.is_production and (weakness := secret_weakness(secret)) is not None:
        raise ConfigurationError(
            f"{source} is too weak for EAT_ENV=production: {weakness}. Set it to 32+ random "
            f"bytes, e.g. {NEW_SECRET_HINT}, the same on every inbox process"
        )
    return SessionCodec(secret)


_EPHEMERAL_REFUSAL = (
    f"This inbox is reachable beyond this machine but {SESSION_SECRET_ENV} is not set: its "
    "sessions are signed with a key of this process alone, so another inbox behind the same "
    "balancer, or a restart, signs everyone out. It serves loopback connections only until "
    f"{SESSION_SECRET_ENV} is set to the same random value on every inbox process.\n"
)


class SessionLoader:
    """Loads each request's session (one read of ``eat_inbox_sessions``) before any handler.

    Handlers read it with ``requests.session_of``. With a per-process secret it refuses any
    connection that did not arrive on a loopback address.
    """

    def __init__(self, app: ASGIApp, inbox: Inbox) -> None:
        self.app = app
        self.inbox = inbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/static/"):
            await self.app(scope, receive, send)
            return
        if self.inbox.sessions.ephemeral and not _arrived_on_loopback(scope):
            refusal = PlainTextResponse(_EPHEMERAL_REFUSAL, status_code=503)
            await refusal(scope, receive, send)
            return
        if scope["path"] == "/healthz":
            # No session needed, and none read: it must answer while the database does not.
            await self.app(scope, receive, send)
            return
        cookie = Request(scope).cookies.get(COOKIE_NAME)
        scope[SCOPE_KEY] = await self.inbox.sessions.load(cookie)
        await self.app(scope, receive, send)


def _arrived_on_loopback(scope: Scope) -> bool:
    """Whether the connection came in on a loopback address (or a Unix socket)."""
    server = scope.get("server")
    if server is None or server[1] is None:
        return True
    host = str(server[0])
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["json"] = pretty_json
    env.filters["highlight_json"] = highlight_json
    env.filters["reveal"] = reveal
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
