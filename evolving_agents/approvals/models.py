"""Plain typed data of the approval domain: what crosses processes and lands in MongoDB.

Behaviour lives elsewhere (``store.py`` changes records, the provider runs agents); these models
only describe a paused run and the decisions taken on it::

    record = await store.get(approval_id)
    for call in record.undecided_calls():
        call.tool_name, call.arguments, call.signal
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from enum import Enum, StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr

# Re-exported: durations were defined here, and callers import them from here.
from evolving_agents.approvals.durations import format_duration as format_duration
from evolving_agents.approvals.durations import parse_duration as parse_duration

RECORD_SCHEMA = 1
"""The format of the approval records this release writes (``record_schema``); see the policy
in ``store.py``. Not ``version``, which counts a record's updates (the optimistic lock)."""


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
    # The run finished, but an approved call's body raised: the approved action did not happen.
    TOOL_ERROR = "tool_error"


class Verdict(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"


class CallKind(StrEnum):
    """What kind of tool call a reviewer is asked about; it decides how it is shown and edited.

    ``arguments`` of a call record hold what the call will do, per kind (see
    ``providers/call_kinds.py``): ``function`` and ``agent_tool`` the parsed JSON arguments
    (malformed JSON verbatim); ``mcp`` the parsed arguments, with ``tool_name`` as
    ``server.tool``; ``hosted_mcp`` ``{"server", "tool", "arguments"}``; ``shell``
    ``{"commands", "timeout_ms"?, "max_output_length"?, "environment"?}``; ``apply_patch``
    ``{"operations": [{"type", "path", "diff", "move_to"?}]}`` (``diff`` null for a delete);
    ``custom`` ``{"input"}``; ``other`` a JSON dump of the raw item.
    """

    FUNCTION = "function"
    AGENT_TOOL = "agent_tool"
    MCP = "mcp"
    HOSTED_MCP = "hosted_mcp"
    SHELL = "shell"
    APPLY_PATCH = "apply_patch"
    CUSTOM = "custom"
    OTHER = "other"

    @property
    def editable(self) -> bool:
        """Whether a reviewer may approve with edited arguments (JSON-schema tools only)."""
        return self in (CallKind.FUNCTION, CallKind.AGENT_TOOL)


class CallOutcomeStatus(StrEnum):
    """What became of one call of a resumed turn; the decision layer's words where they exist."""

    EXECUTED = "executed"
    REJECTED = "rejected"
    BLOCKED = "blocked"
    EXPIRED = "expired"
    TOOL_ERROR = "tool_error"


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
    # surrogatepass: a lone surrogate from a model still hashes; the store then refuses it.
    return hashlib.sha256(canonical_json(arguments).encode("utf-8", "surrogatepass")).hexdigest()


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", use_enum_values=False)


class Vote(_Model):
    """One reviewer's vote on one call: who, in which roles, from where, and what they said.

    ``edited_arguments_sha256`` is set when the reviewer approved edited arguments; every
    approving vote on a call must carry the same one. ``edit_signal`` is then the decision
    layer's fresh score of those arguments (a ``DecisionSignal`` as JSON), when it gave one.
    """

    reviewer: str
    roles: list[str] = Field(default_factory=list)
    reviewer_kind: ReviewerKind = ReviewerKind.HUMAN
    verdict: Verdict
    message: str | None = None
    at: UtcDatetime
    surface: str = "api"
    edited_arguments_sha256: str | None = None
    edit_signal: dict[str, Any] | None = None
    seal: str | None = None


class ToolDecision(_Model):
    """What was decided for one call. Never changes once written.

    ``reviewer`` is whoever settled it: the rejecting reviewer, or the approver whose vote
    reached the tool's ``min_approvals``; ``votes`` keeps every vote cast on the call.
    ``edited_arguments``, when set, replace the call's arguments for the run (the call keeps its
    original ``arguments`` and ``arguments_sha256``); ``edit_signal`` is the decision layer's
    fresh score of them (the settling vote's), which the AI cap judged an AI approval by.
    """

    verdict: Verdict
    reviewer: str
    reviewer_kind: ReviewerKind = ReviewerKind.HUMAN
    message: str | None = None
    always: bool = False
    at: UtcDatetime
    surface: str = "api"
    votes: list[Vote] = Field(default_factory=list)
    edited_arguments: dict[str, Any] | None = None
    edited_arguments_sha256: str | None = None
    edit_signal: dict[str, Any] | None = None
    seal: str | None = None


class CallOutcome(_Model):
    """What one decided call did when its run resumed.

    ``output`` is what the model read (the tool's output, or the rejection text); ``error`` is
    set for ``tool_error``: the approved body raised, so the approved action did not happen.
    """

    status: CallOutcomeStatus
    output: str | None = None
    error: str | None = None


class ToolCallRecord(_Model):
    """One interrupted tool call of a paused run, as the reviewer sees it."""

    call_id: str
    tool_name: str
    agent_name: str
    kind: CallKind = CallKind.FUNCTION
    arguments: Any = None
    arguments_sha256: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    signal: dict[str, Any] | None = None
    decision: ToolDecision | None = None
    votes: list[Vote] = Field(default_factory=list)
    expires_at: UtcDatetime | None = None
    outcome: CallOutcome | None = None


class StoredState(_Model):
    """The serialized ``RunState``: compressed, hashed and signed (see ``codec.py``)."""

    schema_version: str
    sdk_version: str
    encoding: str
    data: bytes = b""
    """Empty when the record was read without its state (the blob is not needed to show it)."""
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
    mac: str | None = None
    """This entry's link in the keyed hash chain of the record's audit trail (``seals.py``)."""


class TraceLink(_Model):
    """Where a pause sits in the application's distributed traces (``telemetry/traces.py``).

    ``traceparent`` and ``tracestate`` are the W3C trace context of the pause's span, so a
    decision or a resume in any process starts its span as a child of it; ``sdk_trace_id`` is
    the Agents SDK's own trace id of the run, when SDK tracing was on. Set only when a tracer
    provider (or SDK tracing) was configured where the run paused. Not sealed: it says where
    telemetry goes, never what a run may do.
    """

    traceparent: str | None = None
    tracestate: str | None = None
    sdk_trace_id: str | None = None

    @property
    def carrier(self) -> tuple[str | None, str | None]:
        """``(traceparent, tracestate)``, as ``telemetry.traces`` takes a stored context."""
        return self.traceparent, self.tracestate


class StoredRunOptions(_Model):
    """The ``Runner.run`` options of a paused run: what is stored, and what must come back.

    JSON-safe options are kept here and applied at resume (``max_turns``, the conversation
    ids, ``run_config``'s storable fields as a dict). ``session_id`` names the run's session,
    rebuilt at resume by a session factory. ``supplied`` lists what the run had that cannot be
    stored (``hooks``, ``session``, ``error_handlers``, ``context_codec``,
    ``run_config.<field>`` for callables, guardrails, providers): a resuming process that
    cannot supply each again refuses to resume. ``context_codec`` is how the context was
    stored: None for a mapping (or none), ``"type"`` for a dataclass or Pydantic context whose
    type is named in the signed state, ``"custom"`` for an application codec.
    """

    max_turns: int | None = None
    conversation_id: str | None = None
    previous_response_id: str | None = None
    auto_previous_response_id: bool = False
    run_config: dict[str, Any] = Field(default_factory=dict)
    session_id: str | None = None
    session_type: str | None = None
    context_codec: str | None = None
    supplied: list[str] = Field(default_factory=list)
    partial_resume: bool = False


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
    run_options: StoredRunOptions = Field(default_factory=StoredRunOptions)
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
    record_schema: int = RECORD_SCHEMA
    """The record's format (``RECORD_SCHEMA``); a document without it is schema 1."""
    seal: str | None = None
    """The app key's seal over what the record asks (``seals.py``); None: not sealed."""
    audit_head: str | None = None
    status_seal: str | None = None
    trace: TraceLink | None = None
    """The pause's trace context (optional: records without it read as before)."""

    def call(self, call_id: str) -> ToolCallRecord | None:
        return next((c for c in self.tool_calls if c.call_id == call_id), None)

    def undecided_calls(self) -> list[ToolCallRecord]:
        return [c for c in self.tool_calls if c.decision is None]

    def call_deadline(self, call: ToolCallRecord) -> datetime | None:
        """When ``call`` expires undecided, or None if it never does.

        Records written before calls carried their own expiry share the record's.
        """
        if call.expires_at is not None:
            return call.expires_at
        if all(other.expires_at is None for other in self.tool_calls):
            return self.expires_at
        return None

    def overdue_calls(self, now: datetime) -> list[int]:
        """Indexes of undecided calls whose deadline is at or before ``now``."""
        return [
            index
            for index, call in enumerate(self.tool_calls)
            if call.decision is None
            and (deadline := self.call_deadline(call)) is not None
            and deadline <= now
        ]

    def to_document(self) -> dict[str, Any]:
        """The BSON-ready document: dates stay datetimes, enums become their values."""
        document: dict[str, Any] = bson_ready(self.model_dump(by_alias=True, mode="python"))
        return document


class PendingToolCall(_Model):
    """A call waiting for a decision, as returned to the caller of ``execute_agent``."""

    call_id: str
    tool_name: str
    agent_name: str
    kind: CallKind = CallKind.FUNCTION
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
    outcomes: dict[str, CallOutcome] = Field(default_factory=dict)
    """Call id -> what each decided call of the resumed turn did (empty for a fresh run)."""
    _record: PendingApproval | None = PrivateAttr(default=None)

    @property
    def record(self) -> PendingApproval | None:
        """The record this pause stored, as this process wrote it (with its state): pass it
        as ``known=`` to ``store.decide`` to vote without reading it back. None when the run
        did not pause, and on a result rebuilt from JSON (it is never serialized)."""
        return self._record

    def with_record(self, record: PendingApproval) -> AgentRunResult:
        """This result, holding ``record`` (see ``record``)."""
        self._record = record
        return self
