"""Every error this package raises on purpose, as one typed hierarchy.

::

    try:
        await provider.resume_agent(approval_id)
    except ApprovalConflict as exc:          # someone else won the race: nothing to do
        ...
    except EvolvingAgentsError as exc:       # anything else this package raised on purpose
        ...

The hierarchy (each message names what was wrong and what to do)::

    EvolvingAgentsError
    ├── ConfigurationError                  a setting is missing or wrong
    │   ├── PortInUse                       the port to listen on is taken (``host``, ``port``)
    │   └── EmbeddedServerError             the embedded server cannot start or be reached
    │       └── EmbeddedPortInUse           its port (``EAT_DB_PORT``) is taken: also PortInUse
    ├── ApprovalError                       about one approval (``approval_id``, ``reason``)
    │   ├── ApprovalNotFound
    │   ├── ApprovalConflict                not in a state that allows this (lost a race)
    │   ├── InvalidDecision                 the decision itself is malformed
    │   ├── NotAuthorized                   this reviewer may not decide this call
    │   ├── StateIntegrityError             the signed state does not verify: refused
    │   ├── IncompatibleStateVersion        a state or record from a version we cannot read
    │   ├── RunOptionMissing                the resuming process cannot supply an option
    │   ├── StateTooLarge
    │   │   └── RecordTooLarge
    │   ├── UnstorableRecord
    │   │   └── UnstorableToolCall
    │   ├── UnreadableRecord                a stored record that does not parse: skipped
    │   │   └── NewerRecordSchema           written by a newer release: skipped, named
    │   └── ApprovalStoreError              the database failed (``outcome_unknown``)
    │       └── LeaseLost                   a worker stopped a run it could not keep
    ├── ToolOutcomeUnknown                  a governed call may have run: never re-run
    ├── ContextNotSerializable (TypeError)  a run context that cannot cross a pause
    ├── AgentNotRegistered                  no agent of that name in the registry
    ├── ToolAdapterError                    a tool the adapter cannot govern
    ├── PlanNotFound                        no intent plan with that id
    ├── UnexpectedPause                     an agent run to its output paused for approval
    └── DeliveryFailed                      a notification sink did not deliver (retried)

``EmbeddedServerError``, ``EmbeddedPortInUse`` and the last five are defined with the module
that raises them (the embedded server, the ledger, the provider's codec and registry, the
adapter, the plans); the rest are defined here. All are importable from the package root.
"""

from __future__ import annotations


class EvolvingAgentsError(Exception):
    """Base class: catch this to handle any error raised by evolving_agents."""


class ConfigurationError(EvolvingAgentsError):
    """A setting is missing or wrong; the message names it and how to fix it."""


class PortInUse(ConfigurationError):
    """A port this process was told to listen on is taken by another program.

    ``host`` and ``port`` say where; the message says which setting or option picks another.
    The command line exits 8 for it, whichever command needed the port.
    """

    def __init__(self, message: str, *, host: str, port: int) -> None:
        super().__init__(message)
        self.host = host
        self.port = port


class ApprovalError(EvolvingAgentsError):
    """Base class for errors about one pending approval."""

    def __init__(self, approval_id: str, reason: str) -> None:
        super().__init__(f"approval {approval_id}: {reason}")
        self.approval_id = approval_id
        self.reason = reason


class ApprovalNotFound(ApprovalError):
    """No approval with this id exists."""

    def __init__(self, approval_id: str) -> None:
        super().__init__(approval_id, "not found")


class ApprovalConflict(ApprovalError):
    """The approval is not in a state that allows this: already decided, claimed or finished.

    ``status`` is the record's status when the conflict was seen.
    """

    def __init__(self, approval_id: str, reason: str, *, status: str | None = None) -> None:
        super().__init__(approval_id, reason)
        self.status = status


class InvalidDecision(ApprovalError):
    """The decision itself is malformed: unknown call id, unknown verdict, stale arguments."""


class StateIntegrityError(ApprovalError):
    """The stored run state failed its hash or signature check, or cannot be decoded."""


class IncompatibleStateVersion(ApprovalError):
    """The stored run state was written in a schema the installed SDK cannot read."""

    def __init__(self, approval_id: str, reason: str, *, schema_version: str | None) -> None:
        super().__init__(approval_id, reason)
        self.schema_version = schema_version


class RunOptionMissing(ApprovalError):
    """The paused run had run options that cannot be stored (a session, hooks, a context
    codec, callables in its ``RunConfig``) and this process cannot supply them again.

    Raised before the record is claimed, so it stays ``decided``; ``missing`` names each one.
    Register them with the agent (``registry.register(agent, session_factory=..., ...)``) or
    on the provider, or pass them to ``resume_agent``.
    """

    def __init__(self, approval_id: str, missing: list[str]) -> None:
        super().__init__(
            approval_id,
            "cannot resume: the paused run had "
            + ", ".join(missing)
            + ", which this process cannot supply again; register them with the agent "
            "(registry.register(agent, ...)) or the provider, or pass them to resume_agent",
        )
        self.missing = missing


class StateTooLarge(ApprovalError):
    """The encoded run state does not fit in one MongoDB document."""


class RecordTooLarge(StateTooLarge):
    """The record as it would be written (arguments, metadata, state) is over the store's
    document limit. Raised by ``create`` before anything is written; ``run_id`` names the run
    and ``size`` is the record's BSON size in bytes."""

    def __init__(self, approval_id: str, reason: str, *, run_id: str, size: int) -> None:
        super().__init__(approval_id, reason)
        self.run_id = run_id
        self.size = size


class UnstorableRecord(ApprovalError):
    """The record cannot be stored as it is: BSON or MongoDB would refuse a key or a value.
    Raised by ``create`` before anything is written."""


class UnstorableToolCall(UnstorableRecord):
    """A call's arguments cannot be stored as they are (an argument key with a NUL byte, a
    value BSON cannot encode). Raised by ``create`` before anything is written; ``call_id``
    and ``tool_name`` name the call."""

    def __init__(self, approval_id: str, reason: str, *, call_id: str, tool_name: str) -> None:
        super().__init__(approval_id, reason)
        self.call_id = call_id
        self.tool_name = tool_name


class UnreadableRecord(ApprovalError):
    """A stored document does not parse as a record (an unknown status, a field of the wrong
    type, a half-migrated document). Nothing is written to it; lists skip it and show it as
    "unreadable record <id>". ``problems`` says which fields do not parse."""

    def __init__(self, approval_id: str, problems: list[str]) -> None:
        super().__init__(approval_id, "unreadable record: " + "; ".join(problems))
        self.problems = problems


class NotAuthorized(ApprovalError):
    """The reviewer may not cast this vote: a missing role, or the run's actor approving itself.

    Raised before anything is written; ``reviewer`` and ``call_id`` say who and where.
    """

    def __init__(
        self, approval_id: str, reason: str, *, reviewer: str, call_id: str | None = None
    ) -> None:
        super().__init__(approval_id, reason)
        self.reviewer = reviewer
        self.call_id = call_id


class ApprovalStoreError(ApprovalError):
    """The database failed an operation of the store (after the driver's own retry, if any).

    ``outcome_unknown`` is True when the write may have been applied anyway (the connection
    dropped, or the server reported a write-concern error after writing): read the record
    again before deciding what to do. Otherwise nothing was written.
    """

    def __init__(
        self, approval_id: str | None, operation: str, detail: str, *, outcome_unknown: bool
    ) -> None:
        reason = f"{operation} failed in the database: {detail}"
        if outcome_unknown:
            reason += "; the write may have been applied, read the record before retrying"
        if approval_id is None:
            # A query over many records (list, the expiry sweep) concerns no single approval.
            EvolvingAgentsError.__init__(self, f"approval store: {reason}")
            self.approval_id = ""
            self.reason = reason
        else:
            super().__init__(approval_id, reason)
        self.operation = operation
        self.outcome_unknown = outcome_unknown


class LeaseLost(ApprovalStoreError):
    """A worker could not keep the lease of the run it was resuming, so it stopped the run
    before the lease ran out (a governed tool body already running was let finish first).

    Nothing was reported as done: the record stays ``resuming`` until its lease runs out and
    another worker takes it over; the tool ledger gives that worker the outputs of the calls
    that ran. ``outcome_unknown`` is True: the stopped run may have acted before it stopped.
    A subclass of ``ApprovalStoreError``, so callers that retry a failed database operation
    later treat it the same way.
    """

    def __init__(self, approval_id: str, worker_id: str, reason: str) -> None:
        ApprovalError.__init__(
            self,
            approval_id,
            f"worker {worker_id} lost the lease ({reason}); the run was stopped before the "
            "lease ran out and is left for another worker to take over",
        )
        self.worker_id = worker_id
        self.operation = "renew_lease"
        self.outcome_unknown = True


class UnexpectedPause(EvolvingAgentsError):
    """An agent run through ``run_to_output`` paused for a tool approval: it had approval
    tools, which only the provider can pause and resume. ``tools`` names the paused calls."""

    def __init__(self, agent_name: str, tools: list[str]) -> None:
        super().__init__(
            f"agent {agent_name!r} paused for approval of {', '.join(tools) or 'a call'}; "
            "run agents with approval tools through OpenAIAgentsProvider"
        )
        self.agent_name = agent_name
        self.tools = tools


class DeliveryFailed(EvolvingAgentsError):
    """A sink did not deliver; ``reason`` goes into the delivery's ``last_error``.

    ``permanent``: no later attempt can succeed (the event cannot be expressed on this
    channel), so the delivery is given up at once instead of retried.
    """

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class NewerRecordSchema(UnreadableRecord):
    """A record written by a newer release, in a format this one cannot read: refused, and
    skipped and shown like any unreadable record. Names both versions.

    An ``UnreadableRecord``, so every reader that skips those skips this.
    """

    def __init__(self, approval_id: str, found: int, supported: int) -> None:
        super().__init__(
            approval_id,
            [
                f"record_schema: written in record schema {found} by a newer release; this "
                f"release reads schema {supported} and older: upgrade it to read the record"
            ],
        )
        self.found = found
        self.supported = supported
