"""The storage seam: what the worker, the surfaces and the provider need from a backend.

::

    store: ApprovalStore = PendingApprovalStore(client)    # the one shipped (MongoDB)
    queue: ResumeQueue = store.queue
    worker = ResumeWorker(provider)                          # uses only these two protocols

A second backend is one new module with a class of each shape; nothing above ``approvals/``
names the MongoDB classes except where it builds them. Both protocols are
``runtime_checkable`` (``isinstance`` checks the methods exist, not their signatures; mypy
checks those, see ``tests/test_protocols.py``).
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable

from evolving_agents.approvals.models import (
    ApprovalStatus,
    CallOutcome,
    PendingApproval,
    ReviewerKind,
    Verdict,
)
from evolving_agents.approvals.rules import Reviewer

if TYPE_CHECKING:
    from evolving_agents.approvals.lifecycle import Notice, NoticeDetail
    from evolving_agents.approvals.store import ApprovalPage
    from evolving_agents.storage.changes import ChangeFeed


class Ready(NamedTuple):
    """A run the worker may resume: its id, and the record as just read when it is decided
    (``known``, handed to ``resume_agent``); None for the rest (a lapsed lease, a partial
    resume, a record that does not parse): the resume reads those itself."""

    approval_id: str
    known: PendingApproval | None = None


@runtime_checkable
class ResumeQueue(Protocol):
    """Claiming decided runs exactly once, keeping their leases, finishing them; and the
    queries the worker loop asks. Every claim and finish is conditional: of two workers
    racing, one wins and the other gets ``ApprovalConflict``."""

    @property
    def unreadable_seen(self) -> dict[str, str]: ...

    async def ready(self, limit: int, *, excluded: Sequence[str] = ()) -> list[str]: ...

    async def abandoned(self, limit: int, *, excluded: Sequence[str] = ()) -> list[str]: ...

    async def still_ready(self, approval_id: str) -> Ready | None: ...

    async def expire_overdue(self, *, limit: int = 100) -> list[str]: ...

    def wakeups(
        self,
        *,
        label: str,
        enabled: bool,
        retry_seconds: float,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> ChangeFeed: ...

    async def claim_for_resume(
        self,
        approval_id: str,
        worker_id: str,
        lease_seconds: float,
        *,
        known: PendingApproval | None = None,
    ) -> PendingApproval: ...

    async def claim_partial(
        self, approval_id: str, worker_id: str, lease_seconds: float
    ) -> PendingApproval: ...

    async def renew_lease(
        self, approval_id: str, worker_id: str, lease_seconds: float
    ) -> datetime: ...

    async def release(
        self,
        approval_id: str,
        worker_id: str,
        reason: str,
        *,
        known: PendingApproval | None = None,
    ) -> PendingApproval: ...

    async def complete(
        self,
        approval_id: str,
        worker_id: str,
        *,
        final_output: Any = None,
        next_approval_id: str | None = None,
        outcomes: Mapping[int, CallOutcome] | None = None,
        known: PendingApproval | None = None,
    ) -> PendingApproval: ...

    async def fail(
        self,
        approval_id: str,
        worker_id: str,
        error: str,
        *,
        known: PendingApproval | None = None,
        outcomes: Mapping[int, CallOutcome] | None = None,
    ) -> PendingApproval: ...


@runtime_checkable
class ApprovalStore(Protocol):
    """Records of paused runs: read, create, vote, cancel, link, expire; plus the resume
    operations the provider calls on the store itself, and its ``queue``."""

    @property
    def queue(self) -> ResumeQueue: ...

    @property
    def unreadable_seen(self) -> dict[str, str]: ...

    @property
    def approval_timeout(self) -> timedelta | None: ...

    def integrity_problems(self, record: PendingApproval) -> builtins.list[str]: ...

    def check_integrity(self, record: PendingApproval) -> None: ...

    def prepared(self, record: PendingApproval) -> PendingApproval: ...

    async def ensure_indexes(self) -> None: ...

    async def get(self, approval_id: str, *, include_state: bool = False) -> PendingApproval: ...

    async def list(
        self,
        *,
        status: ApprovalStatus | str | None = None,
        agent_name: str | None = None,
        tool_name: str | None = None,
        run_id: str | None = None,
        newest_first: bool = False,
        limit: int = 50,
        cursor: str | None = None,
    ) -> ApprovalPage: ...

    async def run_history(self, run_id: str) -> builtins.list[PendingApproval]: ...

    async def create(self, record: PendingApproval) -> PendingApproval: ...

    async def decide(
        self,
        approval_id: str,
        *,
        call_id: str | None = None,
        verdict: Verdict | str,
        reviewer: str | Reviewer,
        reviewer_kind: ReviewerKind | str = ReviewerKind.HUMAN,
        message: str | None = None,
        always: bool = False,
        arguments_sha256: str | None = None,
        edited_arguments: dict[str, Any] | None = None,
        surface: str = "api",
    ) -> PendingApproval: ...

    async def cancel(
        self, approval_id: str, *, by: str | Reviewer | None = None, reason: str | None = None
    ) -> PendingApproval: ...

    async def link_plan(
        self, approval_id: str, plan_id: str, *, by: str | None = None
    ) -> PendingApproval: ...

    def awaiting_notice(
        self,
        notice: Notice,
        *,
        created_before: datetime | None = None,
        deadline_before: datetime | None = None,
    ) -> AsyncIterator[PendingApproval]: ...

    async def add_notice(
        self,
        approval_id: str,
        notice: Notice,
        detail_for: NoticeDetail,
        *,
        by: str | None = None,
        now: datetime | None = None,
    ) -> PendingApproval | None: ...

    async def expire(self, approval_id: str, *, now: datetime | None = None) -> PendingApproval: ...

    async def expire_overdue(self, *, limit: int = 100) -> builtins.list[str]: ...

    async def claim_for_resume(
        self,
        approval_id: str,
        worker_id: str,
        lease_seconds: float,
        *,
        known: PendingApproval | None = None,
    ) -> PendingApproval: ...

    async def claim_partial(
        self, approval_id: str, worker_id: str, lease_seconds: float
    ) -> PendingApproval: ...

    async def renew_lease(
        self, approval_id: str, worker_id: str, lease_seconds: float
    ) -> datetime: ...

    async def release(
        self,
        approval_id: str,
        worker_id: str,
        reason: str,
        *,
        known: PendingApproval | None = None,
    ) -> PendingApproval: ...

    async def complete(
        self,
        approval_id: str,
        worker_id: str,
        *,
        final_output: Any = None,
        next_approval_id: str | None = None,
        outcomes: Mapping[int, CallOutcome] | None = None,
        known: PendingApproval | None = None,
    ) -> PendingApproval: ...

    async def fail(
        self,
        approval_id: str,
        worker_id: str,
        error: str,
        *,
        known: PendingApproval | None = None,
        outcomes: Mapping[int, CallOutcome] | None = None,
    ) -> PendingApproval: ...
