"""Every key of a tool's metadata the package reads, in one typed model.

::

    meta = ToolMetadata.of(call.metadata, tool_name=call.tool_name)
    meta.approver_roles, meta.min_approvals, meta.expires_in    # the approval rules
    meta.risk_floor, meta.risk_label, meta.ai_review            # what the AI cap reads
    meta.problems                                               # malformed rules, if any

A tool's metadata is whatever its author wrote, so parsing never raises: a value of the wrong
type reads as "not set", except in the approval rules (``approver_roles``, ``min_approvals``,
``expires_in``), where a malformed value is named in ``problems`` and fails closed: the store
refuses every vote on the call (``ApprovalRules.from_metadata`` raises), because a typo in
``min_approvals`` must not silently let one person approve a call meant for two. Keys this
model does not name are kept in the record's ``metadata`` as they are; the decision layer's
``LocalRulePolicy`` matches any key.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from evolving_agents.approvals.models import parse_duration
from evolving_agents.approvals.risk import metadata_risk

KNOWN_KEYS = (
    "needs_approval",
    "risk",
    "system",
    "environment",
    "approver_roles",
    "min_approvals",
    "expires_in",
    "ai_review",
    "reviewer",
    "action",
    "slack_channel",
    "notify_emails",
)
"""The keys the package reads (``ambiguous_tools`` is written by the adapter, never read);
``slack_channel`` and ``notify_emails`` are read by the notification routing alone."""


def ai_review_allowed(metadata: Mapping[str, Any]) -> bool:
    """True when a tool's metadata lets an AI reviewer approve its calls: ``ai_review`` is
    ``True`` or ``"allowed"``, or ``reviewer`` is ``"ai"``. Anything else (absent, ``1``,
    ``"yes"``) does not."""
    ai_review = metadata.get("ai_review")
    return ai_review is True or ai_review == "allowed" or metadata.get("reviewer") == "ai"


class ToolMetadata(BaseModel):
    """A tool's metadata as the rules read it. Build it with :meth:`of`."""

    model_config = ConfigDict(frozen=True)

    needs_approval: bool | None = None
    """An explicit setting; anything but a bool is None (the adapter refuses it up front)."""
    risk_label: str | None = None
    """The declared ``risk`` when it is text, stripped and lower-cased ("high", "0.6")."""
    risk_floor: float = 0.0
    """The floor the declared ``risk`` sets on a call's known risk (see ``metadata_risk``)."""
    system: str | None = None
    environment: str | None = None
    approver_roles: frozenset[str] = frozenset()
    min_approvals: int = 1
    expires_in: timedelta | Literal["never"] | None = None
    """None when the tool sets nothing (the store's default applies), ``"never"`` to opt out."""
    ai_review: bool = False
    """Whether an AI reviewer may approve its calls at all (``ai_review_allowed``)."""
    action: str | None = None
    problems: tuple[str, ...] = ()
    """Each malformed approval rule, in key order; any makes every vote on the call refused."""

    @classmethod
    def of(cls, metadata: Mapping[str, Any], *, tool_name: str = "?") -> ToolMetadata:
        """Parse leniently; ``tool_name`` only names the tool in ``problems``."""
        problems: list[str] = []
        roles = _roles(tool_name, metadata.get("approver_roles"), problems)
        quorum = metadata.get("min_approvals", 1)
        if isinstance(quorum, bool) or not isinstance(quorum, int) or quorum < 1:
            problems.append(
                f"tool {tool_name}: min_approvals must be an integer >= 1, got {quorum!r}"
            )
            quorum = 1
        risk = metadata.get("risk")
        declared = metadata.get("needs_approval")
        return cls(
            needs_approval=declared if isinstance(declared, bool) else None,
            risk_label=risk.strip().lower() if isinstance(risk, str) else None,
            risk_floor=metadata_risk(metadata),
            system=_text(metadata.get("system")),
            environment=_text(metadata.get("environment")),
            approver_roles=roles,
            min_approvals=quorum,
            expires_in=_expiry(tool_name, metadata.get("expires_in"), problems),
            ai_review=ai_review_allowed(metadata),
            action=_text(metadata.get("action")),
            problems=tuple(problems),
        )


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _roles(tool_name: str, roles: object, problems: list[str]) -> frozenset[str]:
    if roles is None:
        return frozenset()
    if isinstance(roles, str):
        return frozenset({roles})
    if isinstance(roles, list | tuple | set | frozenset) and all(
        isinstance(role, str) for role in roles
    ):
        return frozenset(roles)
    problems.append(f"tool {tool_name}: approver_roles must be a list of role names, got {roles!r}")
    return frozenset()


def _expiry(
    tool_name: str, raw: object, problems: list[str]
) -> timedelta | Literal["never"] | None:
    if raw is None:
        return None
    if not isinstance(raw, str | int | float | timedelta):
        problems.append(f"tool {tool_name}: expires_in {raw!r} is not a duration")
        return None
    try:
        parsed = parse_duration(raw)
    except ValueError as exc:
        problems.append(f"tool {tool_name}: expires_in: {exc}")
        return None
    return "never" if parsed is None else parsed


class ApprovalRules(BaseModel):
    """A call's approval rules, read strictly from its tool's metadata.

    ``expires_in``: None when the tool sets nothing (the store's default applies), ``"never"``
    when it opts out of expiry.
    """

    model_config = ConfigDict(frozen=True)

    approver_roles: frozenset[str] = frozenset()
    min_approvals: int = 1
    expires_in: timedelta | Literal["never"] | None = None

    @classmethod
    def from_metadata(cls, tool_name: str, metadata: Mapping[str, Any]) -> ApprovalRules:
        """Parse the rules; ``ValueError`` names the tool and the key when one is malformed.

        Malformed rules are refused rather than guessed: a typo in ``min_approvals`` must not
        silently let one person approve a call meant for two.
        """
        meta = ToolMetadata.of(metadata, tool_name=tool_name)
        if meta.problems:
            raise ValueError(meta.problems[0])
        return cls(
            approver_roles=meta.approver_roles,
            min_approvals=meta.min_approvals,
            expires_in=meta.expires_in,
        )
