"""Who hears about an approval, by tool and risk band: the routing file and tool metadata.

::

    routes = NotifyRoutes.from_settings(settings.notify)   # EAT_NOTIFY_FILE, or the defaults
    route = routes.route_for(record)
    route.slack_channel, route.emails                      # where the new approval goes
    route.escalate_after, route.escalate_to                # no decision by then: tell them
    route.warn_before                                      # this long before the deadline: warn

The file (TOML, or YAML by its ``.yaml``/``.yml`` suffix) has an optional ``[default]`` table
and ``[[routes]]`` tables, tried in order; the first route that matches any call of the record
wins, and what it leaves unset comes from the default::

    [default]
    slack_channel = "#approvals"
    emails = ["oncall@example.com"]
    warn_before = "10m"

    [[routes]]
    tools = ["grant_*", "rotate_credentials"]   # shell-style patterns; omitted: any tool
    risk = ["high"]                             # low, medium, high; omitted: any band
    slack_channel = "#prod-access"
    escalate_after = "15m"
    escalate_to = { slack_channel = "#security-leads", role = "security-lead" }

A tool's own metadata wins over the file for its calls: ``slack_channel`` (a channel) and
``notify_emails`` (a list of addresses). Without a file, the default is ``EAT_SLACK_CHANNEL``
and ``EAT_EMAIL_TO``. A risk band is the call's known risk (``approvals/risk.py``): the
highest of the decision layer's score and the tool's declared floor.
"""

from __future__ import annotations

import fnmatch
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from evolving_agents.approvals.models import PendingApproval, ToolCallRecord
from evolving_agents.approvals.risk import RiskBand, known_risk, risk_band
from evolving_agents.config import NotifySettings, parse_duration
from evolving_agents.errors import ConfigurationError

SLACK_CHANNEL_KEY = "slack_channel"
"""Tool metadata: the Slack channel its calls are posted to."""
EMAILS_KEY = "notify_emails"
"""Tool metadata: the addresses its calls are mailed to."""


def _duration(value: object) -> object:
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    return value


class Target(BaseModel):
    """Somewhere to tell: a channel, addresses, and the reviewers holding a role."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    slack_channel: str | None = None
    emails: tuple[str, ...] = ()
    role: str | None = None
    """Reviewers with this role are mentioned in Slack and mailed at their ``email``."""

    @property
    def empty(self) -> bool:
        return self.slack_channel is None and not self.emails and self.role is None


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tools: tuple[str, ...] = ()
    risk: tuple[RiskBand, ...] = ()
    slack_channel: str | None = None
    emails: tuple[str, ...] | None = None
    escalate_after: timedelta | None = None
    escalate_to: Target | None = None
    warn_before: timedelta | None = None

    _durations = field_validator("escalate_after", "warn_before", mode="before")(_duration)

    @field_validator("tools", "emails", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value

    def matches(self, call: ToolCallRecord) -> bool:
        if self.tools and not any(
            fnmatch.fnmatchcase(call.tool_name, pattern) for pattern in self.tools
        ):
            return False
        return not self.risk or risk_band(known_risk(call)) in self.risk


class Route(BaseModel):
    """Where one record's notifications go, resolved from the file, the default and metadata."""

    model_config = ConfigDict(frozen=True)

    slack_channel: str | None = None
    emails: tuple[str, ...] = ()
    escalate_after: timedelta | None = None
    escalate_to: Target | None = None
    warn_before: timedelta | None = None
    matched: int | None = None
    """The index of the ``[[routes]]`` entry that matched; None: the default."""


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default: _Rule = Field(default_factory=_Rule)
    routes: list[_Rule] = Field(default_factory=list)


class NotifyRoutes:
    """The parsed routing: build it once at start (``from_settings``), ask it per record."""

    def __init__(self, default: _Rule | None = None, routes: list[_Rule] | None = None) -> None:
        self._default = default or _Rule()
        self._routes = list(routes or [])

    @classmethod
    def from_data(cls, data: Any, *, source: str) -> NotifyRoutes:
        """From a decoded document; a wrong key or value is one error naming where."""
        try:
            parsed = _File.model_validate(data if data is not None else {})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "the file"
            raise ConfigurationError(f"{source}: {where}: {first['msg']}") from None
        return cls(parsed.default, parsed.routes)

    @classmethod
    def from_file(cls, path: str | Path) -> NotifyRoutes:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(f"cannot read the routing file {path}: {exc}") from exc
        try:
            if path.suffix in (".yaml", ".yml"):
                data: Any = yaml.safe_load(text)
            else:
                data = tomllib.loads(text)
        except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
            raise ConfigurationError(f"routing file {path} (EAT_NOTIFY_FILE): {exc}") from exc
        return cls.from_data(data, source=f"routing file {path} (EAT_NOTIFY_FILE)")

    @classmethod
    def from_settings(cls, settings: NotifySettings) -> NotifyRoutes:
        """The file ``EAT_NOTIFY_FILE`` names, with ``EAT_SLACK_CHANNEL`` and ``EAT_EMAIL_TO``
        filling what its default leaves unset."""
        routes = cls() if settings.routes_file is None else cls.from_file(settings.routes_file)
        default = routes._default
        updates: dict[str, Any] = {}
        if default.slack_channel is None and settings.slack_channel:
            updates["slack_channel"] = settings.slack_channel
        if default.emails is None and settings.email_to:
            updates["emails"] = tuple(settings.email_to)
        if updates:
            routes._default = default.model_copy(update=updates)
        return routes

    def route_for(self, record: PendingApproval) -> Route:
        matched: int | None = None
        rule = self._default
        for index, candidate in enumerate(self._routes):
            if any(candidate.matches(call) for call in record.tool_calls):
                matched, rule = index, candidate
                break
        base = self._default
        slack_channel = _metadata_text(record, SLACK_CHANNEL_KEY)
        emails = _metadata_emails(record)
        return Route(
            slack_channel=slack_channel or rule.slack_channel or base.slack_channel,
            emails=emails or _first_set(rule.emails, base.emails) or (),
            escalate_after=_first_set(rule.escalate_after, base.escalate_after),
            escalate_to=_first_set(rule.escalate_to, base.escalate_to),
            warn_before=_first_set(rule.warn_before, base.warn_before),
            matched=matched,
        )

    def __len__(self) -> int:
        """How many ``[[routes]]`` entries (the default not counted)."""
        return len(self._routes)

    @property
    def escalates(self) -> bool:
        """Whether any route escalates or warns (else the scheduler has nothing to do)."""
        rules = [self._default, *self._routes]
        return any(
            rule.warn_before is not None
            or (rule.escalate_after is not None and rule.escalate_to is not None)
            for rule in rules
        )

    @property
    def shortest_escalation(self) -> timedelta | None:
        """The least ``escalate_after`` of any entry (None: nothing escalates): records younger
        than this need no look by the escalation scheduler."""
        rules = [self._default, *self._routes]
        if not any(rule.escalate_to is not None for rule in rules):
            return None
        delays = [rule.escalate_after for rule in rules if rule.escalate_after is not None]
        return min(delays, default=None)

    @property
    def longest_warning(self) -> timedelta | None:
        """The greatest ``warn_before`` of any entry (None: nothing warns): deadlines further
        off than this need no look by the escalation scheduler."""
        leads = [rule.warn_before for rule in [self._default, *self._routes]]
        return max((lead for lead in leads if lead is not None), default=None)


def _first_set(first: Any, second: Any) -> Any:
    return second if first is None else first


def _metadata_text(record: PendingApproval, key: str) -> str | None:
    for call in record.tool_calls:
        value = call.metadata.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _metadata_emails(record: PendingApproval) -> tuple[str, ...]:
    found: list[str] = []
    for call in record.tool_calls:
        value: object = call.metadata.get(EMAILS_KEY)
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list | tuple):
            found.extend(item.strip() for item in value if isinstance(item, str) and item.strip())
    return tuple(dict.fromkeys(found))
