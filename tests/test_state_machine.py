"""Random sequences of store operations never break the record's state machine.

A Hypothesis ``RuleBasedStateMachine`` creates records with random approval rules, and several
reviewers, actors and workers decide, race, claim, renew, release, complete, fail, cancel and
expire them while a fake clock moves. After every step the raw documents are checked:

- the status is a known value, and pending / decided / resuming / finished each have the shape
  they must (a record is ``decided`` iff every call has a decision and nobody holds it);
- a finished record never changes again, not one field;
- a decision, once written, is identical forever; votes and audit entries are only appended;
- ``claim.attempts`` and ``version`` only grow;
- every vote was allowed (roles, no self-approval, one per reviewer) and every approval met
  its quorum;
- at most one of several workers racing for a claim wins.

The default runs finish in seconds on memory:// and on the wire server; ``-m slow`` runs a
longer profile.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from evolving_agents.approvals import (
    ApprovalConflict,
    InvalidDecision,
    NotAuthorized,
    PendingApproval,
    Reviewer,
)
from evolving_agents.approvals.models import ApprovalStatus, utcnow
from evolving_agents.approvals.store import COLLECTION_NAME, PendingApprovalStore
from evolving_agents.storage.mongodb_client import MongoDBClient
from tests.test_store import make_record

REVIEWERS = [
    Reviewer(name="alice", roles=frozenset({"sre"})),
    Reviewer(name="bob", roles=frozenset({"security"})),
    Reviewer(name="carol", roles=frozenset({"sre", "security"})),
    Reviewer(name="dave"),
]
ACTORS = ["alice", "erin", None]
WORKERS = ["w1", "w2", "w3"]
# Mostly whoever holds the claim, so runs get to complete; sometimes a worker that does not.
HOLDER_OR_NOT = st.sampled_from(["holder", "holder", "holder", *WORKERS])
LEASE_SECONDS = 120
STATUSES = {status.value for status in ApprovalStatus}
FINISHED = {"completed", "failed", "cancelled"}
EXPECTED_FAILURES = (ApprovalConflict, NotAuthorized, InvalidDecision)
STATS_ENDINGS = {"decided", "completed", "failed", "cancelled"}

# Figures for docs/RELIABILITY.md, summed over every run in this process.
STATS: dict[str, int] = {
    "examples": 0,
    "steps": 0,
    "refused": 0,
    "claim_races": 0,
    "records": 0,
    **{f"ended {status}": 0 for status in ("decided", "completed", "failed", "cancelled")},
    "timeout decisions": 0,
    "quorum decisions": 0,
    "reclaimed after lease": 0,
}


async def _accept_edit(record: PendingApproval, call: Any, edited: dict[str, Any]) -> None:
    return None


class FakeClock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> Any:
        return self.now


class StoreStateMachine(RuleBasedStateMachine):
    """Drives one store; ``uri`` is set per test (memory:// or the wire server)."""

    uri = "memory://"
    approvals = Bundle("approvals")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = FakeClock()
        self.mongo = MongoDBClient(self.uri, f"eat_test_sm_{uuid.uuid4().hex[:10]}")
        self.store = PendingApprovalStore(
            self.mongo, clock=self.clock, approval_timeout="1h", edit_checker=_accept_edit
        )
        self.created = 0
        # What each record looked like at the last check, to compare the next one against.
        self.seen: dict[str, dict[str, Any]] = {}
        STATS["examples"] += 1

    def teardown(self) -> None:
        for document in self.seen.values():
            STATS["records"] += 1
            if document["status"] in STATS_ENDINGS:
                STATS[f"ended {document['status']}"] += 1
            if (document.get("claim") or {}).get("attempts", 0) > 1:
                STATS["reclaimed after lease"] += 1
            for call in document["tool_calls"]:
                decision = call.get("decision") or {}
                if decision.get("reviewer_kind") == "timeout":
                    STATS["timeout decisions"] += 1
                if decision.get("verdict") == "approved" and len(decision.get("votes", [])) > 1:
                    STATS["quorum decisions"] += 1

        async def close() -> None:
            if self.uri != "memory://":
                await self.mongo.client.drop_database(self.mongo.db_name)
            await self.mongo.close()

        self.run(close())
        self.loop.close()

    def resolve(self, approval_id: str, worker: str) -> str:
        if worker != "holder":
            return worker
        document = self.seen.get(approval_id) or {}
        return str((document.get("claim") or {}).get("worker_id") or "w1")

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return self.loop.run_until_complete(coroutine)

    def attempt(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        """Run one operation; a refusal is a legal outcome, anything else untyped is a bug."""
        STATS["steps"] += 1
        try:
            return self.run(coroutine)
        except EXPECTED_FAILURES:
            STATS["refused"] += 1
            return None

    # -- rules ------------------------------------------------------------------------------

    @precondition(lambda self: self.created < 5)
    @rule(
        target=approvals,
        calls=st.sampled_from([1, 1, 2, 3]),
        quorum=st.sampled_from([1, 1, 1, 2, 3]),
        roles=st.sampled_from([None, ["sre"], ["security", "ai"]]),
        expires_in=st.sampled_from([None, None, "10m", "never"]),
        actor=st.sampled_from(ACTORS),
    )
    def create(
        self,
        calls: int,
        quorum: int,
        roles: list[str] | None,
        expires_in: str | None,
        actor: str | None,
    ) -> str:
        self.created += 1
        approval_id = f"a{self.created}"
        metadata: dict[str, Any] = {"min_approvals": quorum}
        if roles is not None:
            metadata["approver_roles"] = roles
        record = make_record(
            approval_id,
            calls=tuple(f"c{i}" for i in range(calls)),
            created_at=self.clock.now,
            metadata=metadata,
            actor=actor,
        )
        if expires_in is not None:
            record.tool_calls[-1].metadata["expires_in"] = expires_in
        STATS["steps"] += 1
        self.run(self.store.create(record))
        return approval_id

    @rule(
        approval_id=approvals,
        reviewer=st.sampled_from(REVIEWERS),
        kind=st.sampled_from(["human", "human", "ai", "policy"]),
        verdict=st.sampled_from(["approved"] * 4 + ["rejected"]),
        call_id=st.sampled_from([None, "c0", "c0", "c1", "c2"]),
        edit=st.booleans(),
    )
    def decide(
        self,
        approval_id: str,
        reviewer: Reviewer,
        kind: str,
        verdict: str,
        call_id: str | None,
        edit: bool,
    ) -> None:
        edited = {"user": "alice", "hours": 1} if edit and verdict == "approved" else None
        self.attempt(
            self.store.decide(
                approval_id,
                call_id=call_id if edited is None else (call_id or "c0"),
                verdict=verdict,
                reviewer=reviewer,
                reviewer_kind=kind,
                edited_arguments=edited,
                surface="api",
            )
        )

    @rule(approval_id=approvals, reviewer=st.sampled_from(REVIEWERS))
    def approve_everything(self, approval_id: str, reviewer: Reviewer) -> None:
        self.attempt(self.store.decide(approval_id, verdict="approved", reviewer=reviewer))

    @rule(
        approval_id=approvals,
        reviewers=st.lists(st.sampled_from(REVIEWERS), min_size=2, max_size=3),
        verdicts=st.lists(st.sampled_from(["approved"] * 3 + ["rejected"]), min_size=3, max_size=3),
        call_id=st.sampled_from([None, "c0"]),
    )
    def reviewers_race(
        self, approval_id: str, reviewers: list[Reviewer], verdicts: list[str], call_id: str | None
    ) -> None:
        async def race() -> list[Any]:
            return await asyncio.gather(
                *(
                    self.store.decide(
                        approval_id, call_id=call_id, verdict=verdict, reviewer=reviewer
                    )
                    for reviewer, verdict in zip(reviewers, verdicts, strict=False)
                ),
                return_exceptions=True,
            )

        STATS["steps"] += 1
        for outcome in self.run(race()):
            assert isinstance(outcome, (PendingApproval, *EXPECTED_FAILURES)), outcome

    @rule(approval_id=approvals, worker=st.sampled_from(WORKERS))
    def claim(self, approval_id: str, worker: str) -> None:
        self.attempt(self.store.claim_for_resume(approval_id, worker, LEASE_SECONDS))

    @rule(approval_id=approvals, workers=st.lists(st.sampled_from(WORKERS), min_size=2))
    def workers_race(self, approval_id: str, workers: list[str]) -> None:
        async def race() -> list[Any]:
            return await asyncio.gather(
                *(self.store.claim_for_resume(approval_id, w, LEASE_SECONDS) for w in workers),
                return_exceptions=True,
            )

        STATS["steps"] += 1
        STATS["claim_races"] += 1
        outcomes = self.run(race())
        winners = [o for o in outcomes if isinstance(o, PendingApproval)]
        assert len(winners) <= 1, winners
        assert all(isinstance(o, ApprovalConflict) for o in outcomes if o not in winners)

    @rule(approval_id=approvals, worker=HOLDER_OR_NOT)
    def renew(self, approval_id: str, worker: str) -> None:
        worker = self.resolve(approval_id, worker)
        self.attempt(self.store.renew_lease(approval_id, worker, LEASE_SECONDS))

    @rule(approval_id=approvals, worker=HOLDER_OR_NOT)
    def release(self, approval_id: str, worker: str) -> None:
        worker = self.resolve(approval_id, worker)
        self.attempt(self.store.release(approval_id, worker, reason="stopping"))

    @rule(approval_id=approvals, worker=HOLDER_OR_NOT)
    def complete(self, approval_id: str, worker: str) -> None:
        worker = self.resolve(approval_id, worker)
        self.attempt(self.store.complete(approval_id, worker, final_output={"ok": True}))

    @rule(approval_id=approvals, worker=HOLDER_OR_NOT)
    def fail(self, approval_id: str, worker: str) -> None:
        worker = self.resolve(approval_id, worker)
        self.attempt(self.store.fail(approval_id, worker, "RuntimeError: boom"))

    @rule(approval_id=approvals, actor=st.sampled_from(ACTORS), dice=st.integers(0, 3))
    def cancel(self, approval_id: str, actor: str | None, dice: int) -> None:
        # One time in four: cancelling every record early would leave little else to test.
        if dice == 0:
            self.attempt(self.store.cancel(approval_id, by=actor, reason="withdrawn"))

    @rule(approval_id=approvals)
    def expire(self, approval_id: str) -> None:
        self.attempt(self.store.expire(approval_id))

    @precondition(lambda self: self.created > 0)
    @rule()
    def sweep(self) -> None:
        self.attempt(self.store.expire_overdue(limit=5))

    @rule(minutes=st.integers(min_value=1, max_value=20))
    def time_passes(self, minutes: int) -> None:
        self.clock.now += timedelta(minutes=minutes)

    @rule(approval_id=approvals)
    def read(self, approval_id: str) -> None:
        STATS["steps"] += 1
        record = self.run(self.store.get(approval_id))
        listed = self.run(self.store.list(status="pending", limit=100))
        for current in [record, *listed.items]:
            if current.status is ApprovalStatus.PENDING:
                assert current.overdue_calls(self.clock.now) == [], current.id

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def records_keep_their_invariants(self) -> None:
        documents = self.run(self.mongo.collection(COLLECTION_NAME).find({}).to_list(None))
        for document in documents:
            _check_shape(document)
            previous = self.seen.get(document["_id"])
            if previous is not None:
                _check_progress(previous, document)
            self.seen[document["_id"]] = document
        assert len(documents) == self.created


def _check_shape(document: dict[str, Any]) -> None:
    status = document["status"]
    assert status in STATUSES, status
    calls = document["tool_calls"]
    decided = [call.get("decision") is not None for call in calls]
    claim = document.get("claim") or {}
    if status == "pending":
        assert not all(decided), document["_id"]
    if status in ("pending", "decided") and all(decided):
        assert status == "decided"
    if status == "decided":
        assert claim.get("worker_id") is None and claim.get("lease_until") is None
    if status == "resuming":
        assert all(decided) and claim.get("worker_id") and claim.get("lease_until")
    if status in ("completed", "failed"):
        assert all(decided) and claim.get("attempts", 0) >= 1
    if status in FINISHED:
        assert document.get("purge_at") is not None
    for call in calls:
        _check_votes(document, call)


def _check_votes(document: dict[str, Any], call: dict[str, Any]) -> None:
    metadata = call.get("metadata") or {}
    needed = set(metadata.get("approver_roles") or [])
    votes = call.get("votes") or []
    assert len({vote["reviewer"] for vote in votes}) == len(votes), "two votes by one reviewer"
    for vote in votes:
        if vote["verdict"] == "approved":
            assert vote["reviewer"] != document.get("actor"), "the actor approved its own call"
        if needed and vote["reviewer_kind"] == "human":
            assert needed & set(vote["roles"]), vote
        if needed and vote["reviewer_kind"] == "ai":
            assert "ai" in needed, vote
    decision = call.get("decision")
    if decision is None:
        return
    if decision["verdict"] == "approved":
        approvers = {v["reviewer"] for v in decision["votes"] if v["verdict"] == "approved"}
        assert len(approvers) >= metadata.get("min_approvals", 1)
        assert decision["reviewer"] == decision["votes"][-1]["reviewer"]
        assert len({v["edited_arguments_sha256"] for v in decision["votes"]}) == 1
    elif decision["reviewer_kind"] != "timeout":
        assert decision["votes"][-1]["verdict"] == "rejected"


def _check_progress(previous: dict[str, Any], current: dict[str, Any]) -> None:
    if previous["status"] in FINISHED:
        assert current == previous, "a finished record changed"
        return
    assert current["version"] >= previous["version"]
    attempts = (current.get("claim") or {}).get("attempts", 0)
    assert attempts >= (previous.get("claim") or {}).get("attempts", 0)
    assert current["audit"][: len(previous["audit"])] == previous["audit"]
    for before, after in zip(previous["tool_calls"], current["tool_calls"], strict=True):
        if before.get("decision") is not None:
            assert after["decision"] == before["decision"], "a decided call changed"
        old_votes = before.get("votes") or []
        assert (after.get("votes") or [])[: len(old_votes)] == old_votes
    if previous["status"] != "pending":
        assert current["status"] != "pending", "a record went back to pending"


@pytest.fixture(autouse=True, scope="module")
def _hypothesis_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Hypothesis caches in ./.hypothesis by default; keep the working tree clean.
    set_hypothesis_home_dir(str(tmp_path_factory.mktemp("hypothesis")))


def _run(uri: str, *, examples: int, steps: int) -> None:
    machine = type("Machine", (StoreStateMachine,), {"uri": uri})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


def test_random_operations_keep_the_invariants_in_memory() -> None:
    before = dict(STATS)
    _run("memory://", examples=120, steps=60)
    assert STATS["examples"] > before["examples"] and STATS["steps"] > before["steps"]
    print(f"state machine, memory: { {k: STATS[k] - before[k] for k in STATS} }")


def test_random_operations_keep_the_invariants_on_the_wire_server(wire_uri: str) -> None:
    before = dict(STATS)
    _run(wire_uri, examples=20, steps=50)
    assert STATS["examples"] > before["examples"]
    print(f"state machine, wire: { {k: STATS[k] - before[k] for k in STATS} }")


@pytest.mark.slow
def test_random_operations_keep_the_invariants_long_run(wire_uri: str) -> None:
    before = dict(STATS)
    _run("memory://", examples=1000, steps=80)
    _run(wire_uri, examples=200, steps=60)
    print(f"state machine, long: { {k: STATS[k] - before[k] for k in STATS} }")
