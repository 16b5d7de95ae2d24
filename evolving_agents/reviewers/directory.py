"""Who a reviewer is, and how their decision reaches the store.

::

    reviewers = ReviewerDirectory.from_env()          # EAT_REVIEWERS_FILE or EAT_REVIEWERS
    alice = reviewers.authenticate(token)             # Reviewer(name, roles) or None
    refusal = decide_refusal(record, call, alice, "approved")   # rules.py; None: she may
    await decide_as(store, approval_id, alice, call_id=..., verdict="rejected",
                    message="needs a change ticket", surface="web")
    await cancel_as(store, approval_id, alice, reason="duplicate")

A reviewers file (TOML) lists one table per person; tokens may be stored as their SHA-256 so
the file itself grants nothing if it leaks::

    [[reviewers]]
    name = "alice"
    roles = ["sre", "security"]
    token_sha256 = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"
    slack_user_id = "U024BE7LH"      # optional: who she is when she clicks in Slack
    email = "alice@example.com"      # optional: where an escalation to her role is mailed

``EAT_REVIEWERS`` holds the same list as JSON (``[{"name": ..., "token": ..., "roles": [...]}]``)
or a JSON object mapping each token to ``{"name": ..., "roles": [...]}``.

Both surfaces (``eat approvals`` and the web inbox) decide through :func:`decide_as` and cancel
through :func:`cancel_as`. Who may do either is answered once, in ``approvals/rules.py``: the
store enforces it on every vote, and the surfaces ask it to show what the store will refuse.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from evolving_agents.approvals.models import PendingApproval, ToolCallRecord, Verdict
from evolving_agents.approvals.rules import (
    Refusal,
    Reviewer,
    ToolMetadata,
    cast_votes,
    decide_refusal,
)
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.config import Settings
from evolving_agents.errors import ConfigurationError

REVIEWERS_FILE_ENV = "EAT_REVIEWERS_FILE"
REVIEWERS_ENV = "EAT_REVIEWERS"


ReviewerIdentity = Reviewer
"""A signed-in person: another name for ``Reviewer``, the one identity type."""


class _ReviewerEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    roles: list[str] = Field(default_factory=list)
    token: str | None = Field(default=None, min_length=16)
    token_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    slack_user_id: str | None = Field(default=None, pattern=r"^[UW][A-Z0-9]{2,}$")
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")


class Contact(BaseModel):
    """How to reach a reviewer outside the inbox (their entry's optional fields)."""

    model_config = ConfigDict(frozen=True)

    name: str
    roles: frozenset[str] = frozenset()
    slack_user_id: str | None = None
    email: str | None = None


def token_digest(token: str) -> str:
    """The SHA-256 a reviewers file may store instead of the token itself."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class ReviewerDirectory:
    """Tokens mapped to identities. Only digests are kept in memory, never the tokens."""

    def __init__(
        self,
        entries: Mapping[str, Reviewer] | None = None,
        contacts: Iterable[Contact] = (),
    ) -> None:
        # digest -> identity
        self._by_digest: dict[str, Reviewer] = dict(entries or {})
        self._contacts: list[Contact] = list(contacts)

    @classmethod
    def of(cls, reviewers: Iterable[tuple[str, str, Iterable[str]]]) -> ReviewerDirectory:
        """Build from ``(token, name, roles)`` triples, e.g. in tests."""
        return cls(
            {
                token_digest(token): Reviewer(name=name, roles=frozenset(roles))
                for token, name, roles in reviewers
            }
        )

    @classmethod
    def from_data(cls, data: Any, *, source: str) -> ReviewerDirectory:
        """From a decoded TOML/JSON document: a list, ``{"reviewers": [...]}``, or token map."""
        if isinstance(data, Mapping) and "reviewers" in data:
            data = data["reviewers"]
        if isinstance(data, Mapping):
            data = [
                {"token": token, **value} if isinstance(value, Mapping) else value
                for token, value in data.items()
            ]
        if not isinstance(data, list):
            raise ConfigurationError(f"{source}: expected a list of reviewers")
        directory: dict[str, Reviewer] = {}
        contacts: list[Contact] = []
        slack_ids: set[str] = set()
        for index, item in enumerate(data):
            try:
                entry = _ReviewerEntry.model_validate(item)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(part) for part in first["loc"]) or "entry"
                raise ConfigurationError(
                    f"{source}: reviewer #{index + 1}: {where}: {first['msg']}"
                ) from None
            if (entry.token is None) == (entry.token_sha256 is None):
                raise ConfigurationError(
                    f"{source}: reviewer {entry.name!r} needs exactly one of token, token_sha256"
                )
            digest = entry.token_sha256 or token_digest(entry.token or "")
            if digest in directory:
                raise ConfigurationError(f"{source}: two reviewers share one token")
            directory[digest] = Reviewer(name=entry.name, roles=frozenset(entry.roles))
            if entry.slack_user_id is not None:
                if entry.slack_user_id in slack_ids:
                    raise ConfigurationError(
                        f"{source}: two reviewers share slack_user_id {entry.slack_user_id!r}"
                    )
                slack_ids.add(entry.slack_user_id)
            if entry.slack_user_id is not None or entry.email is not None:
                contacts.append(
                    Contact(
                        name=entry.name,
                        roles=frozenset(entry.roles),
                        slack_user_id=entry.slack_user_id,
                        email=entry.email,
                    )
                )
        return cls(directory, contacts)

    @classmethod
    def from_file(cls, path: str | Path) -> ReviewerDirectory:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(f"cannot read reviewers file {path}: {exc}") from exc
        try:
            data: Any = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
        except (tomllib.TOMLDecodeError, ValueError) as exc:
            raise ConfigurationError(f"reviewers file {path}: {exc}") from exc
        return cls.from_data(data, source=f"reviewers file {path}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ReviewerDirectory:
        """``EAT_REVIEWERS_FILE`` (TOML or .json) if set, else ``EAT_REVIEWERS`` (JSON)."""
        env = os.environ if environ is None else environ
        path = env.get(REVIEWERS_FILE_ENV)
        if path:
            return cls.from_file(path)
        raw = env.get(REVIEWERS_ENV)
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise ConfigurationError(f"{REVIEWERS_ENV} is not valid JSON: {exc}") from exc
        return cls.from_data(data, source=REVIEWERS_ENV)

    @classmethod
    def from_settings(cls, settings: Settings) -> ReviewerDirectory:
        """The directory ``settings`` names (its reviewers file, else its ``EAT_REVIEWERS``),
        read from the settings rather than the environment; empty when neither is set."""
        return cls.from_env(
            {
                REVIEWERS_FILE_ENV: settings.reviewers_file or "",
                REVIEWERS_ENV: settings.reviewers or "",
            }
        )

    def __len__(self) -> int:
        return len(self._by_digest)

    def digests(self) -> Iterator[tuple[str, Reviewer]]:
        """Each token's SHA-256 with its identity (what a session is bound to, keyed)."""
        return iter(self._by_digest.items())

    def authenticate(self, token: str) -> Reviewer | None:
        return self.by_digest(token_digest(token.strip()))

    def by_slack_user(self, slack_user_id: str) -> Reviewer | None:
        """The reviewer whose entry names this Slack user id, or None (nobody may decide)."""
        for contact in self._contacts:
            if contact.slack_user_id is not None and hmac.compare_digest(
                contact.slack_user_id, slack_user_id
            ):
                return Reviewer(name=contact.name, roles=contact.roles)
        return None

    def contacts(self, role: str | None = None) -> list[Contact]:
        """Everyone with a Slack id or an email, or only those holding ``role``."""
        return [c for c in self._contacts if role is None or role in c.roles]

    def by_digest(self, digest: str) -> Reviewer | None:
        for known, identity in self._by_digest.items():
            # Constant-time per comparison: a timing probe learns nothing about stored digests.
            if hmac.compare_digest(known, digest):
                return identity
        return None


# -- what a reviewer may decide: thin wrappers over the one rules module ------------------


def approver_roles(call: ToolCallRecord) -> frozenset[str]:
    """Roles the tool's metadata asks for (``approver_roles``); empty means any reviewer."""
    return ToolMetadata.of(call.metadata, tool_name=call.tool_name).approver_roles


def min_approvals(call: ToolCallRecord) -> int:
    return ToolMetadata.of(call.metadata, tool_name=call.tool_name).min_approvals


def votes_of(call: ToolCallRecord) -> list[dict[str, Any]]:
    """The call's votes as plain dicts (``rules.cast_votes``)."""
    return [vote.model_dump(mode="json") for vote in cast_votes(call)]


def why_cannot_decide(
    identity: Reviewer, record: PendingApproval, call: ToolCallRecord
) -> Refusal | None:
    """Why this reviewer may not decide this call at all, or None when they may (reject, at
    least: the run's actor may reject its own call, never approve it). ``rules.decide_refusal``
    answers per verdict."""
    return decide_refusal(record, call, identity, Verdict.REJECTED)


# -- deciding ------------------------------------------------------------------------------


async def decide_as(
    store: PendingApprovalStore,
    approval_id: str,
    identity: Reviewer,
    *,
    call_id: str | None,
    verdict: Verdict | str,
    message: str | None = None,
    always: bool = False,
    surface: str,
    arguments_sha256: str | None = None,
    edited_arguments: dict[str, Any] | None = None,
) -> PendingApproval:
    """Record ``identity``'s decision, under their name and roles, from ``surface``.

    ``always`` makes it sticky: every later call of the same tool in this run is decided the
    same way without asking (the SDK's ``always_approve`` / ``always_reject``).

    Raises whatever the store raises (``ApprovalConflict``, ``InvalidDecision``,
    ``NotAuthorized``).
    """
    return await store.decide(
        approval_id,
        call_id=call_id,
        verdict=verdict,
        reviewer=identity,
        message=message,
        always=always,
        arguments_sha256=arguments_sha256,
        edited_arguments=edited_arguments,
        surface=surface,
    )


async def cancel_as(
    store: PendingApprovalStore,
    approval_id: str,
    identity: Reviewer,
    *,
    reason: str | None = None,
) -> PendingApproval:
    """Cancel the run as ``identity``, if the rules let them (``rules.cancel_refusal``).

    Raises ``NotAuthorized`` (a role one of its tools asks for), ``ApprovalConflict`` (the
    record is no longer pending or decided), ``ApprovalNotFound``.
    """
    return await store.cancel(approval_id, by=identity, reason=reason)
