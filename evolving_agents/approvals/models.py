"""Plain typed data of the approval domain: what crosses processes and lands in MongoDB.

Behaviour lives elsewhere (``store.py`` changes records, the provider runs agents); these models
only describe a paused run and the decisions taken on it::

    record = await store.get(approval_id)
    for call in record.undecided_calls():
        print(call.tool_name, call.arguments, call.signal)
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from enum import Enum, StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _as_utc(value: datetime) -> datetime:
    # BSON dates carry no zone and come back naive from clients without tz_aware; they are UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]


def utcnow() -> datetime:
    """Now, in UTC, truncated to the millisecond BSON keeps, so values round-trip exactly."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def bson_ready(value: Any) -> Any:
    """Enums become their stored values, recursively; everything else is left for BSON."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {key: bson_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [bson_ready(item) for item in value]
    return value


class ApprovalStatus(StrEnum):
    """The life of one pending-approval record."""

    PENDING = "pending"
    DECIDED = "decided"
    RESUMING = "resuming"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in _FINAL_STATUSES


_FINAL_STATUSES = frozenset(
    {ApprovalStatus.COMPLETED, ApprovalStatus.FAILED, ApprovalStatus.CANCELLED}
)


class RunStatus(StrEnum):
    """The outcome of one call to ``execute_agent`` or ``resume_agent``."""

    SUCCESS = "success"
    AWAITING_APPROVAL = "awaiting_openai_tool_approval"
    ERROR = "error"


class Verdict(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"


class ReviewerKind(StrEnum):
    HUMAN = "human"
    AI = "ai"
    POLICY = "policy"
    TIMEOUT = "timeout"


def canonical_json(value: Any) -> str:
    """The one JSON spelling that hashes agree on: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def arguments_digest(arguments: Any) -> str:
    """SHA-256 of the canonical JSON of a call's arguments; decisions bind to it."""
    return hashlib.sha256(canonical_json(arguments).encode("utf-8")).hexdigest()


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", use_enum_values=False)


class ToolDecision(_Model):
    """What a reviewer decided for one call. Never changes once written."""

    verdict: Verdict
    reviewer: str
    reviewer_kind: ReviewerKind = ReviewerKind.HUMAN
    message: str | None = None
    always: bool = False
    at: UtcDatetime


class ToolCallRecord(_Model):
    """One interrupted tool call of a paused run, as the reviewer sees it."""

    call_id: str
    tool_name: str
    agent_name: str
    arguments: Any = None
    arguments_sha256: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    signal: dict[str, Any] | None = None
    decision: ToolDecision | None = None


class StoredState(_Model):
    """The serialized ``RunState``: compressed, hashed and signed (see ``codec.py``)."""

    schema_version: str
    sdk_version: str
    encoding: str
    data: bytes
    sha256: str
    hmac: str
    raw_bytes: int = 0


class Claim(_Model):
    worker_id: str | None = None
    lease_until: UtcDatetime | None = None
    attempts: int = 0


class RunOutcome(_Model):
    final_output: Any = None
    error: str | None = None


class AuditEntry(_Model):
    at: UtcDatetime
    action: str
    actor: str | None = None
    call_id: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class PendingApproval(_Model):
    """One paused run: its interrupted calls, their decisions and the state to resume from.

    ``id`` is stored as ``_id``. A run that pauses again after a resume gets a new record with
    the same ``run_id`` and ``sequence + 1``; the old one points to it with ``next_approval_id``.
    """

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str = Field(alias="_id")
    run_id: str
    sequence: int = 0
    status: ApprovalStatus = ApprovalStatus.PENDING
    agent_name: str
    actor: str | None = None
    domain: str | None = None
    input_preview: str = ""
    tool_calls: list[ToolCallRecord]
    state: StoredState | None = None
    claim: Claim = Field(default_factory=Claim)
    result: RunOutcome = Field(default_factory=RunOutcome)
    plan_id: str | None = None
    next_approval_id: str | None = None
    previous_approval_id: str | None = None
    expires_at: UtcDatetime | None = None
    purge_at: UtcDatetime | None = None
    audit: list[AuditEntry] = Field(default_factory=list)
    created_at: UtcDatetime
    updated_at: UtcDatetime
    version: int = 1

    def call(self, call_id: str) -> ToolCallRecord | None:
        return next((c for c in self.tool_calls if c.call_id == call_id), None)

    def undecided_calls(self) -> list[ToolCallRecord]:
        return [c for c in self.tool_calls if c.decision is None]

    def to_document(self) -> dict[str, Any]:
        """The BSON-ready document: dates stay datetimes, enums become their values."""
        document: dict[str, Any] = bson_ready(self.model_dump(by_alias=True, mode="python"))
        return document


class PendingToolCall(_Model):
    """A call waiting for a decision, as returned to the caller of ``execute_agent``."""

    call_id: str
    tool_name: str
    agent_name: str
    arguments: Any = None
    arguments_sha256: str
    metadata: dict[str, Any] = Field(default_factory=dict)


class ToolOutput(_Model):
    """What one tool call returned to the model during this run (a rejection's message too)."""

    call_id: str
    tool_name: str | None = None
    output: str


class AgentRunResult(_Model):
    """The JSON-safe outcome of running or resuming an agent."""

    status: RunStatus
    final_output: Any = None
    approval_id: str | None = None
    pending_tool_calls: list[PendingToolCall] = Field(default_factory=list)
    tool_outputs: list[ToolOutput] = Field(default_factory=list)
    run_id: str
    sequence: int = 0
    agent_name: str
    error: str | None = None
