"""What every inbox request handler shares: one ``Inbox`` per app, on ``app.state.inbox``.

::

    inbox = inbox_of(request)          # requests.py
    await inbox.store.get(approval_id)

Its own module so the handlers (``routes``, ``actions``, ``requests``) and the app that builds
it (``app.py``) all import it from below, and the web folder has no import cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from starlette.templating import Jinja2Templates

from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.providers.openai_agents_provider import OpenAIAgentsProvider
from evolving_agents.reviewers.directory import ReviewerDirectory
from evolving_agents.storage.outage import DatabaseWatch
from evolving_agents.web.live import InboxEvents
from evolving_agents.web.session import InboxSessions
from evolving_agents.web.throttle import SignInThrottle


@dataclass
class Inbox:
    """What every request handler needs; one per app, on ``app.state.inbox``."""

    store: PendingApprovalStore
    provider: OpenAIAgentsProvider | None
    reviewers: ReviewerDirectory
    sessions: InboxSessions
    sign_ins: SignInThrottle
    events: InboxEvents
    database: DatabaseWatch
    templates: Jinja2Templates
    clock: Callable[[], datetime]
    title: str
    secure_cookies: bool | None
