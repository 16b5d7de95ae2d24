"""Settings read from the environment.

EAT's own names are kept (``MONGODB_URI``, ``MONGODB_DATABASE_NAME``, ``INTENT_REVIEW_ENABLED``,
``INTENT_REVIEW_LEVELS``); settings new to this package use the ``EAT_`` prefix::

    from evolving_agents.config import Settings

    settings = Settings()            # reads os.environ each time it is built
    settings.mongodb_uri             # None means: use the embedded local server
"""

from __future__ import annotations

import math
import os
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

APP_NAME = "evolving-agents"
# What production asks of a secret: this many bytes, and about this much estimated entropy.
MIN_PRODUCTION_SECRET_BYTES = 32
_MIN_ESTIMATED_BITS = 128.0
NEW_SECRET_HINT = "python -c 'import secrets; print(secrets.token_hex(32))'"


class Settings(BaseSettings):
    """Every setting the package reads, with the environment variable that sets it."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    mongodb_uri: str | None = Field(default=None, validation_alias="MONGODB_URI")
    mongodb_database_name: str = Field(
        default="evolving_agents", validation_alias="MONGODB_DATABASE_NAME"
    )
    intent_review_enabled: bool = Field(default=False, validation_alias="INTENT_REVIEW_ENABLED")
    intent_review_levels: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias="INTENT_REVIEW_LEVELS"
    )

    reviewer: str = Field(default="human", validation_alias="EAT_REVIEWER")
    env: str = Field(default="development", validation_alias="EAT_ENV")
    state_secret: str | None = Field(default=None, validation_alias="EAT_STATE_SECRET")
    # A file holding the state secret (a mounted secret); in production it must be private.
    state_secret_file: Path | None = Field(default=None, validation_alias="EAT_STATE_SECRET_FILE")
    web_secret: str | None = Field(default=None, validation_alias="EAT_WEB_SECRET")
    openai_api_key: str | None = Field(default=None, validation_alias="OPENAI_API_KEY")
    openai_model: str = Field(default="gpt-4.1-mini", validation_alias="EAT_OPENAI_MODEL")
    data_dir: Path | None = Field(default=None, validation_alias="EAT_DATA_DIR")
    config_dir: Path | None = Field(default=None, validation_alias="EAT_CONFIG_DIR")
    lease_seconds: float = Field(default=300.0, gt=0, validation_alias="EAT_LEASE_SECONDS")
    purge_after_days: float = Field(
        default=30.0, gt=0, validation_alias=AliasChoices("EAT_PURGE_AFTER_DAYS")
    )
    # "24h", "30m", "90s", "2d" or seconds; "0" or "never": calls wait for a decision forever.
    approval_timeout: timedelta | None = Field(
        default=timedelta(hours=24), validation_alias="EAT_APPROVAL_TIMEOUT"
    )

    @field_validator("intent_review_levels", mode="before")
    @classmethod
    def _split_levels(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("approval_timeout", mode="before")
    @classmethod
    def _parse_timeout(cls, value: object) -> object:
        # Imported here: the approvals package imports this module, not the other way round.
        from evolving_agents.approvals.models import parse_duration

        if isinstance(value, str | int | float | timedelta) and not isinstance(value, bool):
            return parse_duration(value)
        return value

    @property
    def is_production(self) -> bool:
        return self.env.lower() in {"production", "prod"}

    def resolved_data_dir(self) -> Path:
        """Where the embedded server keeps its data: ``EAT_DATA_DIR``, else XDG data home."""
        if self.data_dir is not None:
            return self.data_dir
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        return Path(base) / APP_NAME

    def resolved_config_dir(self) -> Path:
        """Where the generated state secret lives: ``EAT_CONFIG_DIR``, else XDG config home."""
        if self.config_dir is not None:
            return self.config_dir
        base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        return Path(base) / APP_NAME


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
