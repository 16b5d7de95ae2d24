"""Every setting the package reads, built once at the entry point and passed down.

EAT's own names are kept (``MONGODB_URI``, ``MONGODB_DATABASE_NAME``, ``INTENT_REVIEW_ENABLED``,
``INTENT_REVIEW_LEVELS``); settings new to this package use the ``EAT_`` prefix::

    from evolving_agents.config import Settings, WebhookSettings

    settings = Settings()                 # reads os.environ, once: build it where you start
    settings.mongodb_uri                  # store: None means the embedded local server
    settings.webhooks.url                 # a group: EAT_WEBHOOK_*
    settings.bighub.api_key               # a group: BIGHUB_API_KEY, BIGHUB_BASE_URL, EAT_BIGHUB_*
    client = MongoDBClient(settings=settings)        # everything below takes it from here
    Settings(webhooks=WebhookSettings(url="https://hooks.example.com/eat"))   # or override

Only entry points build ``Settings()``: the ``eat`` commands, the demo, and the user-facing
constructors that are a program's first line (``MongoDBClient()``, ``start_webhooks_from_env``,
``BighubDecisionProvider.from_env``). Everything else takes the settings it is given, so one
process never runs on two readings of the environment (``tests/test_settings_flow.py``).

The groups: *store* (``MONGODB_*``, ``EAT_DATA_DIR``, ``EAT_DB_PORT``, ``EAT_APPROVAL_TIMEOUT``,
``EAT_PURGE_AFTER_DAYS``, ``EAT_STATE_SECRET*``, ``EAT_SERVER_SELECTION_TIMEOUT``), *worker*
(``EAT_LEASE_SECONDS``), *web* (``EAT_WEB_SECRET``, ``EAT_REVIEWERS_FILE``, ``EAT_REVIEWERS``),
*review* (``INTENT_REVIEW_*``, ``EAT_REVIEWER``, ``OPENAI_*``) are fields of ``Settings``;
*webhooks*, *bighub* and *notify* (``EAT_SLACK_*``, ``EAT_SMTP_*``, ``EAT_EMAIL_*``,
``EAT_NOTIFY_FILE``, ``EAT_INBOX_URL``) are nested models that can also be built on their own
(``WebhookSettings(url=...)``).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, Field, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

APP_NAME = "evolving-agents"
# What production asks of a secret: this many bytes, and about this much estimated entropy.
MIN_PRODUCTION_SECRET_BYTES = 32
_MIN_ESTIMATED_BITS = 128.0
NEW_SECRET_HINT = "python -c 'import secrets; print(secrets.token_hex(32))'"
# Where the embedded server listens unless EAT_DB_PORT says otherwise: next to MongoDB's own
# 27017-27019 without taking them, clear of UniFi's embedded mongod (27117), and below every
# OS's ephemeral range (32768+ on Linux, 49152+ elsewhere), so no outgoing connection holds it.
DEFAULT_DB_PORT = 27217

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(d|h|m|s)", re.IGNORECASE)
_DURATION_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_NEVER = frozenset({"0", "never", "none", "off"})


def parse_duration(value: str | float | timedelta) -> timedelta | None:
    """``"24h"``, ``"30m"``, ``"90s"``, ``"2d"``, ``"1h30m"`` or seconds; ``None`` means never.

    ``"0"``, ``"never"``, ``0`` and a zero ``timedelta`` all mean "never expires". Anything else
    that is not a positive duration raises ``ValueError`` naming the value. (Defined here, on
    the lowest floor, because settings parse ``EAT_APPROVAL_TIMEOUT`` with it;
    ``evolving_agents.approvals`` re-exports it.)
    """
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool):
        # bool is an int: True would silently mean one second.
        raise ValueError(f"invalid duration {value!r}: use e.g. '24h', '30m', '90s' or 'never'")
    elif isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip().lower()
        if text in _NEVER:
            return None
        try:
            seconds = float(text)
        except ValueError:
            parts = _DURATION_PART.findall(text)
            if not parts or _DURATION_PART.sub("", text).strip():
                raise ValueError(
                    f"invalid duration {value!r}: use e.g. '24h', '30m', '90s', '2d' or 'never'"
                ) from None
            seconds = sum(float(number) * _DURATION_UNITS[unit] for number, unit in parts)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"invalid duration {value!r}: it must be a finite, positive duration")
    return None if seconds == 0 else timedelta(seconds=seconds)


class WebhookSettings(BaseSettings):
    """Where events go and how hard to try; every field has an ``EAT_WEBHOOK_*`` variable.

    The retry fields (``max_attempts``, ``backoff_seconds``, ``max_backoff_seconds``,
    ``lease_seconds``) and ``poll_interval`` govern the outbox, so every notification sink,
    not only the webhook, is retried by them; the names are the ones they had when the
    webhook was the only channel.
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    url: str | None = Field(default=None, validation_alias="EAT_WEBHOOK_URL")
    secret: str | None = Field(default=None, validation_alias="EAT_WEBHOOK_SECRET", repr=False)
    timeout_seconds: float = Field(default=5.0, gt=0, validation_alias="EAT_WEBHOOK_TIMEOUT")
    max_attempts: int = Field(default=10, ge=1, validation_alias="EAT_WEBHOOK_MAX_ATTEMPTS")
    backoff_seconds: float = Field(default=2.0, gt=0, validation_alias="EAT_WEBHOOK_BACKOFF")
    max_backoff_seconds: float = Field(
        default=3600.0, gt=0, validation_alias="EAT_WEBHOOK_MAX_BACKOFF"
    )
    poll_interval: float = Field(default=1.0, gt=0, validation_alias="EAT_WEBHOOK_POLL_INTERVAL")
    lease_seconds: float = Field(default=60.0, gt=0, validation_alias="EAT_WEBHOOK_LEASE")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"EAT_WEBHOOK_URL must be an http(s) URL, got {value!r}")
        return value or None

    def backoff(self, attempts: int) -> timedelta:
        """Wait before attempt ``attempts + 1``: doubling from ``backoff_seconds``, capped."""
        seconds = self.backoff_seconds * 2 ** max(attempts - 1, 0)
        return timedelta(seconds=min(seconds, self.max_backoff_seconds))


class BighubSettings(BaseSettings):
    """``BighubDecisionProvider.from_settings``: the key, the endpoint, and how to fail.

    ``on_error`` is checked by the provider (it names the allowed values in its error).
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    api_key: str | None = Field(default=None, validation_alias="BIGHUB_API_KEY", repr=False)
    base_url: str | None = Field(default=None, validation_alias="BIGHUB_BASE_URL")
    timeout: float | None = Field(default=None, gt=0, validation_alias="EAT_BIGHUB_TIMEOUT")
    on_error: str | None = Field(default=None, validation_alias="EAT_BIGHUB_ON_ERROR")
    domain: str | None = Field(default=None, validation_alias="EAT_BIGHUB_DOMAIN")

    @field_validator("api_key", "base_url", "timeout", "on_error", "domain", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # ``EAT_BIGHUB_TIMEOUT=`` in a deployment file means "not set", as it always did.
        return None if isinstance(value, str) and not value.strip() else value


class NotifySettings(BaseSettings):
    """Where people are told about approvals: Slack, email, routing, and the inbox's address.

    Slack is on with ``EAT_SLACK_BOT_TOKEN`` and ``EAT_SLACK_SIGNING_SECRET`` (the second
    verifies the button clicks Slack posts to the inbox's ``/slack/actions``); email with
    ``EAT_SMTP_HOST``. ``EAT_NOTIFY_FILE`` routes by tool and risk band (channels, addresses,
    escalation and deadline warnings: ``notify/routing.py``); without it every approval goes to
    ``EAT_SLACK_CHANNEL`` and ``EAT_EMAIL_TO``. ``EAT_INBOX_URL`` is the inbox as reviewers
    reach it, for the links in messages.
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    routes_file: Path | None = Field(default=None, validation_alias="EAT_NOTIFY_FILE")
    inbox_url: str | None = Field(default=None, validation_alias="EAT_INBOX_URL")
    escalation_interval: float = Field(
        default=30.0, gt=0, validation_alias="EAT_ESCALATION_INTERVAL"
    )
    """Seconds between the escalation scheduler's looks for overdue and near-deadline calls."""
    # -- Slack ----------------------------------------------------------------------------
    slack_bot_token: str | None = Field(
        default=None, validation_alias="EAT_SLACK_BOT_TOKEN", repr=False
    )
    slack_signing_secret: str | None = Field(
        default=None, validation_alias="EAT_SLACK_SIGNING_SECRET", repr=False
    )
    slack_channel: str | None = Field(default=None, validation_alias="EAT_SLACK_CHANNEL")
    slack_api_url: str | None = Field(default=None, validation_alias="EAT_SLACK_API_URL")
    """The Web API's base URL (``https://slack.com/api/`` when unset); tests point it at a peer."""
    slack_team_id: str | None = Field(default=None, validation_alias="EAT_SLACK_TEAM_ID")
    """The workspace whose clicks count (``T0...``); unset: any workspace the app is in."""
    # -- email ----------------------------------------------------------------------------
    smtp_host: str | None = Field(default=None, validation_alias="EAT_SMTP_HOST")
    smtp_port: int = Field(default=587, ge=1, le=65535, validation_alias="EAT_SMTP_PORT")
    smtp_username: str | None = Field(default=None, validation_alias="EAT_SMTP_USERNAME")
    smtp_password: str | None = Field(
        default=None, validation_alias="EAT_SMTP_PASSWORD", repr=False
    )
    smtp_starttls: bool = Field(default=True, validation_alias="EAT_SMTP_STARTTLS")
    smtp_tls: bool = Field(default=False, validation_alias="EAT_SMTP_TLS")
    """Implicit TLS from the first byte (port 465); ``smtp_starttls`` upgrades a plain one."""
    email_from: str | None = Field(default=None, validation_alias="EAT_EMAIL_FROM")
    email_to: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias="EAT_EMAIL_TO"
    )

    @field_validator(
        "routes_file",
        "inbox_url",
        "slack_bot_token",
        "slack_signing_secret",
        "slack_channel",
        "slack_api_url",
        "slack_team_id",
        "smtp_host",
        "smtp_username",
        "smtp_password",
        "email_from",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("email_to", mode="before")
    @classmethod
    def _split_addresses(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("inbox_url")
    @classmethod
    def _inbox_http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"EAT_INBOX_URL must be an http(s) URL, got {value!r}")
        return None if value is None else value.rstrip("/")

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token)

    @property
    def email_enabled(self) -> bool:
        return bool(self.smtp_host)

    def inbox_link(self, approval_id: str) -> str | None:
        """The record's page in the inbox, when ``EAT_INBOX_URL`` says where the inbox is."""
        return None if self.inbox_url is None else f"{self.inbox_url}/approvals/{approval_id}"


# The nested groups read their own variables when ``Settings`` is built (their default
# factories); the outer environment source must not look for a variable named after them.
_GROUPS = frozenset({"webhooks", "bighub", "notify"})


class _FlatEnvironment(EnvSettingsSource):
    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        if field_name in _GROUPS:
            return None, field_name, False
        return super().get_field_value(field, field_name)


class Settings(BaseSettings):
    """Every setting the package reads, with the environment variable that sets it."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    # -- store ----------------------------------------------------------------------------
    mongodb_uri: str | None = Field(default=None, validation_alias="MONGODB_URI")
    mongodb_database_name: str = Field(
        default="evolving_agents", validation_alias="MONGODB_DATABASE_NAME"
    )
    data_dir: Path | None = Field(default=None, validation_alias="EAT_DATA_DIR")
    # The embedded server's port, the same on every start so every process finds it again;
    # 0: any free port (the last one again while it stays free).
    db_port: int = Field(default=DEFAULT_DB_PORT, ge=0, le=65535, validation_alias="EAT_DB_PORT")
    config_dir: Path | None = Field(default=None, validation_alias="EAT_CONFIG_DIR")
    # Where data_dir and config_dir default to (the XDG base directories).
    xdg_data_home: Path | None = Field(default=None, validation_alias="XDG_DATA_HOME")
    xdg_config_home: Path | None = Field(default=None, validation_alias="XDG_CONFIG_HOME")
    state_secret: str | None = Field(default=None, validation_alias="EAT_STATE_SECRET", repr=False)
    # A file holding the state secret (a mounted secret); in production it must be private.
    state_secret_file: Path | None = Field(default=None, validation_alias="EAT_STATE_SECRET_FILE")
    purge_after_days: float = Field(
        default=30.0, gt=0, validation_alias=AliasChoices("EAT_PURGE_AFTER_DAYS")
    )
    # "24h", "30m", "90s", "2d" or seconds; "0" or "never": calls wait for a decision forever.
    approval_timeout: timedelta | None = Field(
        default=timedelta(hours=24), validation_alias="EAT_APPROVAL_TIMEOUT"
    )
    env: str = Field(default="development", validation_alias="EAT_ENV")
    # How long an operation waits for a server to answer before it fails ("5s", "0.5", "1m").
    # A few seconds, so a dead MONGODB_URI is an error at once rather than 30 s of silence;
    # raise it (e.g. "30s") to ride out a replica-set election instead of failing during one.
    # A serverSelectionTimeoutMS in the URI wins over it.
    server_selection_timeout: timedelta = Field(
        default=timedelta(seconds=5), validation_alias="EAT_SERVER_SELECTION_TIMEOUT"
    )

    # -- worker ---------------------------------------------------------------------------
    lease_seconds: float = Field(default=300.0, gt=0, validation_alias="EAT_LEASE_SECONDS")

    # -- web ------------------------------------------------------------------------------
    web_secret: str | None = Field(default=None, validation_alias="EAT_WEB_SECRET", repr=False)
    metrics_token: str | None = Field(
        default=None, validation_alias="EAT_METRICS_TOKEN", repr=False
    )
    """With it, ``/metrics`` (inbox and worker) answers only ``Authorization: Bearer <it>``."""
    # Who may sign in to the inbox and decide from the CLI: a TOML (or .json) file, else JSON.
    reviewers_file: str | None = Field(default=None, validation_alias="EAT_REVIEWERS_FILE")
    reviewers: str | None = Field(default=None, validation_alias="EAT_REVIEWERS")

    # -- review and models ----------------------------------------------------------------
    intent_review_enabled: bool = Field(default=False, validation_alias="INTENT_REVIEW_ENABLED")
    intent_review_levels: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias="INTENT_REVIEW_LEVELS"
    )
    reviewer: str = Field(default="human", validation_alias="EAT_REVIEWER")
    openai_api_key: str | None = Field(default=None, validation_alias="OPENAI_API_KEY", repr=False)
    openai_model: str = Field(default="gpt-4.1-mini", validation_alias="EAT_OPENAI_MODEL")

    # -- groups ---------------------------------------------------------------------------
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    bighub: BighubSettings = Field(default_factory=BighubSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _FlatEnvironment(settings_cls), dotenv_settings, file_secret_settings

    @field_validator("intent_review_levels", mode="before")
    @classmethod
    def _split_levels(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("approval_timeout", mode="before")
    @classmethod
    def _parse_timeout(cls, value: object) -> object:
        if isinstance(value, str | int | float | timedelta) and not isinstance(value, bool):
            return parse_duration(value)
        return value

    @field_validator("server_selection_timeout", mode="before")
    @classmethod
    def _parse_selection_timeout(cls, value: object) -> object:
        if isinstance(value, str | int | float | timedelta) and not isinstance(value, bool):
            parsed = parse_duration(value)
            if parsed is None:
                raise ValueError(
                    f"{value!r} would wait forever for a server that is gone: use a positive "
                    "duration such as '5s' or '30s'"
                )
            return parsed
        return value

    @field_validator("xdg_data_home", "xdg_config_home", mode="before")
    @classmethod
    def _empty_xdg_is_unset(cls, value: object) -> object:
        # The XDG spec: an empty value is treated as unset.
        return None if value == "" else value

    @property
    def server_selection_timeout_ms(self) -> int:
        """``server_selection_timeout`` as PyMongo's ``serverSelectionTimeoutMS``."""
        return max(1, round(self.server_selection_timeout.total_seconds() * 1000))

    @property
    def is_production(self) -> bool:
        return self.env.lower() in {"production", "prod"}

    def resolved_data_dir(self) -> Path:
        """Where the embedded server keeps its data: ``EAT_DATA_DIR``, else XDG data home."""
        if self.data_dir is not None:
            return self.data_dir
        base = self.xdg_data_home or Path.home() / ".local" / "share"
        return base / APP_NAME

    def resolved_config_dir(self) -> Path:
        """Where the generated state secret lives: ``EAT_CONFIG_DIR``, else XDG config home."""
        if self.config_dir is not None:
            return self.config_dir
        base = self.xdg_config_home or Path.home() / ".config"
        return base / APP_NAME


def secret_weakness(secret: bytes) -> str | None:
    """Why ``secret`` is too weak for production, or None.

    A heuristic, not a proof of randomness: it catches short values, repeated patterns and
    values drawn from a few symbols (``changeme...``, ``aaaa...``, ``0123...0123...``), which
    is what ends up in a deployment's environment by mistake. A generated value passes; a long
    English sentence may too, so generate the value.
    """
    if len(secret) < MIN_PRODUCTION_SECRET_BYTES:
        return f"it is {len(secret)} bytes long, under {MIN_PRODUCTION_SECRET_BYTES}"
    for period in range(1, min(len(secret) // 2, 512) + 1):
        if secret == (secret[:period] * (len(secret) // period + 1))[: len(secret)]:
            return f"it repeats a {period}-byte pattern"
    counts = Counter(secret)
    # Shannon entropy of the bytes seen, times the length: an optimistic estimate, so a value
    # under the bar is certainly weak (32 random bytes as hex estimate ~240 bits).
    bits = -sum(n / len(secret) * math.log2(n / len(secret)) for n in counts.values())
    bits *= len(secret)
    if bits < _MIN_ESTIMATED_BITS:
        return (
            f"it looks low-entropy (about {bits:.0f} bits estimated, "
            f"under {_MIN_ESTIMATED_BITS:.0f})"
        )
    return None
