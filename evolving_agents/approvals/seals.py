"""Seals: what a reviewer reads and what decides a resume, bound to the app's key.

::

    signer = codec.signer                    # the state secret's record key
    signer.seal_record(record)               # at create: ids, run, calls, arguments, state digest
    signer.seal_vote(approval_id, call, vote), signer.seal_decision(approval_id, call, decision)
    entries, head = signer.chain(approval_id, record.audit_head, status, new_entries)
    problems = signer.verify(record)         # [] when intact; else what was altered

Who is trusted: the app processes holding ``EAT_STATE_SECRET``. Someone with write access to
the database but not the secret can change any field; a seal makes each change they can make
to what matters detectable. Sealed, per record: its id, run id, sequence, agent, actor, the
state blob's digest and signature, its run options, and per call its id, tool name, agent,
kind, arguments and their digest, metadata, decision signal and deadline. Per vote and per
decision: every field (an edit's fresh ``edit_signal`` included), bound to the call's id and
argument digest (a decision's seal covers its votes' seals). The audit trail is a keyed hash
chain, its head and the record's status sealed together, so an entry removed, reordered or
edited, or a status set by hand, shows.

Fields that change during the record's life without deciding anything (the claim's lease, the
plan link, the sweep's ``expires_at`` key, the final output) are not sealed; the transitions
that write them extend the chain, so their history is.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from evolving_agents.approvals.models import (
    AuditEntry,
    PendingApproval,
    ToolCallRecord,
    ToolDecision,
    Vote,
    canonical_json,
)

_DOMAIN = b"eat-record-seal-v1"


class RecordSigner:
    """HMAC-SHA256 seals under a key derived from the state secret (a key of its own, so a
    record seal can never stand in for a state signature or the other way round)."""

    def __init__(self, secret: bytes) -> None:
        self._key = hmac.new(secret, _DOMAIN, hashlib.sha256).digest()

    # -- what is sealed ------------------------------------------------------------------

    def seal_record(self, record: PendingApproval) -> str:
        state = record.state
        return self._mac(
            "record",
            record.id,
            {
                "run_id": record.run_id,
                "sequence": record.sequence,
                "agent_name": record.agent_name,
                "actor": record.actor,
                "domain": record.domain,
                "input_preview": record.input_preview,
                "previous_approval_id": record.previous_approval_id,
                "state": None if state is None else [state.sha256, state.hmac],
                "run_options": record.run_options.model_dump(mode="json"),
                "calls": [_call_core(call) for call in record.tool_calls],
            },
        )

    def seal_vote(self, approval_id: str, call: ToolCallRecord, vote: Vote) -> str:
        return self._mac("vote", approval_id, _bound(call, _vote_core(vote)))

    def seal_decision(self, approval_id: str, call: ToolCallRecord, decision: ToolDecision) -> str:
        core = {
            "verdict": decision.verdict.value,
            "reviewer": decision.reviewer,
            "reviewer_kind": decision.reviewer_kind.value,
            "message": decision.message,
            "always": decision.always,
            "at": _time(decision.at),
            "surface": decision.surface,
            "votes": [vote.seal for vote in decision.votes],
            "edited_arguments": decision.edited_arguments,
            "edited_arguments_sha256": decision.edited_arguments_sha256,
        }
        if decision.edit_signal is not None:
            # Only when present, so decisions sealed before the field existed still verify.
            core["edit_signal"] = decision.edit_signal
        return self._mac("decision", approval_id, _bound(call, core))

    def chain(
        self,
        approval_id: str,
        head: str | None,
        status: str,
        entries: Sequence[Mapping[str, Any]],
    ) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """``entries`` linked after ``head``, and the record fields the update must set."""
        linked = []
        for entry in entries:
            head = self._link(approval_id, head, entry)
            linked.append({**entry, "mac": head})
        assert head is not None, "a chain update appends at least one entry"
        status_seal = self.seal_status(approval_id, status, head)
        return linked, {"audit_head": head, "status_seal": status_seal}

    def seal_status(self, approval_id: str, status: str, head: str) -> str:
        return self._mac("status", approval_id, {"status": status, "head": head})

    # -- checking ------------------------------------------------------------------------

    def verify(self, record: PendingApproval) -> list[str]:
        """What in ``record`` does not match its seals; empty when it is intact."""
        problems = []
        if record.seal is None or not _same(record.seal, self.seal_record(record)):
            problems.append(
                "the record's calls, arguments, run or state digest do not match its seal"
            )
        for call in record.tool_calls:
            for vote in call.votes:
                if vote.seal is None or not _same(vote.seal, self.seal_vote(record.id, call, vote)):
                    problems.append(
                        f"call {call.call_id}: the vote of {vote.reviewer} is not sealed"
                    )
            decision = call.decision
            if decision is None:
                continue
            if decision.seal is None or not _same(
                decision.seal, self.seal_decision(record.id, call, decision)
            ):
                problems.append(
                    f"call {call.call_id}: the decision ({decision.verdict.value} by "
                    f"{decision.reviewer}) was not made through the store"
                )
            for vote in decision.votes:
                if vote.seal is None or not _same(vote.seal, self.seal_vote(record.id, call, vote)):
                    problems.append(
                        f"call {call.call_id}: the decision counts a vote of {vote.reviewer} "
                        "that is not sealed"
                    )
        problems.extend(self._verify_audit(record))
        return problems

    def _verify_audit(self, record: PendingApproval) -> list[str]:
        head: str | None = None
        for position, entry in enumerate(record.audit):
            expected = self._link(record.id, head, _entry_fields(entry))
            if entry.mac is None or not _same(entry.mac, expected):
                return [f"audit entry {position + 1} ({entry.action}) was altered or removed"]
            head = expected
        if head is None or record.audit_head is None or not _same(head, record.audit_head):
            return ["the audit trail was cut short (its last entries are missing)"]
        status_seal = self.seal_status(record.id, record.status.value, head)
        if record.status_seal is None or not _same(record.status_seal, status_seal):
            return [f"the status {record.status.value!r} was not set by a transition"]
        return []

    # -- internals -----------------------------------------------------------------------

    def _link(self, approval_id: str, head: str | None, entry: Mapping[str, Any]) -> str:
        fields = {key: value for key, value in entry.items() if key != "mac"}
        return self._mac("audit", approval_id, {"after": head, "entry": _jsonable(fields)})

    def _mac(self, kind: str, approval_id: str, payload: Any) -> str:
        message = "\n".join((kind, approval_id, canonical_json(payload))).encode("utf-8")
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()


def _call_core(call: ToolCallRecord) -> dict[str, Any]:
    return {
        "call_id": call.call_id,
        "tool_name": call.tool_name,
        "agent_name": call.agent_name,
        "kind": call.kind.value,
        "arguments": call.arguments,
        "arguments_sha256": call.arguments_sha256,
        "metadata": call.metadata,
        "signal": call.signal,
        "expires_at": None if call.expires_at is None else _time(call.expires_at),
    }


def _vote_core(vote: Vote) -> dict[str, Any]:
    core: dict[str, Any] = {
        "reviewer": vote.reviewer,
        "roles": sorted(vote.roles),
        "reviewer_kind": vote.reviewer_kind.value,
        "verdict": vote.verdict.value,
        "message": vote.message,
        "at": _time(vote.at),
        "surface": vote.surface,
        "edited_arguments_sha256": vote.edited_arguments_sha256,
    }
    if vote.edit_signal is not None:
        # The score an AI approval of an edit stands on; absent, the seal is as before.
        core["edit_signal"] = vote.edit_signal
    return core


def _bound(call: ToolCallRecord, core: dict[str, Any]) -> dict[str, Any]:
    # A vote or decision means something only for one call with its arguments.
    return {"call_id": call.call_id, "arguments_sha256": call.arguments_sha256, **core}


def _entry_fields(entry: AuditEntry) -> dict[str, Any]:
    return {
        "at": entry.at,
        "action": entry.action,
        "actor": entry.actor,
        "call_id": entry.call_id,
        "detail": entry.detail,
    }


def _jsonable(value: Any) -> Any:
    """Audit entries as stored (BSON) and as read back agree: dates to the millisecond."""
    if isinstance(value, datetime):
        return _time(value)
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if hasattr(value, "value") and isinstance(getattr(value, "value", None), str):
        return value.value  # an enum
    return value


def _time(moment: datetime) -> str:
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _same(left: str, right: str) -> bool:
    return hmac.compare_digest(left, right)
