"""Every collection and index name the package uses, defined once.

::

    from evolving_agents.storage.names import APPROVALS, ApprovalIndex
    client.collection(APPROVALS)              # owned by approvals/, written only there
    cursor.hint(ApprovalIndex.STATUS_CREATED)

Each collection has one owner (the module named beside it), the only code that writes it.
The old constant names (``approvals.store.COLLECTION_NAME``, ``plans.intent_plans.
PLANS_COLLECTION``, ...) are re-exports of these.
"""

from __future__ import annotations

from enum import StrEnum

APPROVALS = "eat_openai_pending_approvals"
"""One document per paused run; owner: ``approvals/`` (``PendingApprovalStore``)."""
TOOL_EXECUTIONS = "eat_openai_tool_executions"
"""One document per governed call's execution; owner: ``approvals/ledger.py``."""
INTENT_PLANS = "eat_intent_plans"
"""EAT's plan view of a paused run; owner: ``plans/intent_plans.py``."""
WEBHOOK_OUTBOX = "eat_webhook_outbox"
"""Webhook deliveries and the feed's checkpoint; owner: ``notify/outbox.py``."""
SLACK_MESSAGES = "eat_slack_messages"
"""Which Slack message shows each approval (channel, ts); owner: ``notify/slack_posts.py``."""
INBOX_SESSIONS = "eat_inbox_sessions"
"""Signed-in inbox reviewers; owner: ``web/session.py``."""
INBOX_SIGN_IN_ATTEMPTS = "eat_inbox_sign_in_attempts"
"""Wrong sign-in tokens, counted for back-off; owner: ``web/throttle.py``."""


class ApprovalIndex(StrEnum):
    """The indexes of ``APPROVALS`` (created by ``PendingApprovalStore.ensure_indexes``)."""

    STATUS_CREATED = "status_created"
    CREATED = "created"
    """Every record in creation order: the lists across all statuses."""
    RUN_SEQUENCE = "run_sequence"
    TOOL_STATUS = "tool_status"
    AGENT_STATUS = "agent_status"
    PENDING_EXPIRY = "pending_expiry"
    PARTIAL_READY = "partial_ready"
    """Pending records a partial-resume policy lets run now (partial on exactly those)."""
    CLAIM_LEASE = "claim_lease"
    """Leases of ``resuming`` records (partial on that status: finished ones are not in it)."""
    PURGE_TTL = "purge_ttl"
    UPDATED_AT = "updated_at"
    """Only for change feeds (``ApprovalFeed``), created by the first one that runs."""


__all__ = [
    "APPROVALS",
    "INBOX_SESSIONS",
    "INBOX_SIGN_IN_ATTEMPTS",
    "INTENT_PLANS",
    "SLACK_MESSAGES",
    "TOOL_EXECUTIONS",
    "WEBHOOK_OUTBOX",
    "ApprovalIndex",
]
