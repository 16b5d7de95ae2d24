"""Who may approve: roles, quorum, self-approval, one vote each, edited arguments.

Every scenario runs on memory:// and on a real wire server (the ``mongo`` fixture).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from evolving_agents.approvals import (
    ApprovalConflict,
    InvalidDecision,
    NotAuthorized,
    PendingApproval,
    Reviewer,
    StateIntegrityError,
    ToolCallRecord,
)
from evolving_agents.approvals.models import (
    ApprovalStatus,
    ReviewerKind,
    Verdict,
    arguments_digest,
)
from evolving_agents.approvals.store import COLLECTION_NAME, PendingApprovalStore
from evolving_agents.storage.mongodb_client import MongoDBClient
from tests.test_store import make_record

ALICE = Reviewer(name="alice", roles=frozenset({"sre"}))
BOB = Reviewer(name="bob", roles=frozenset({"sre"}))
CAROL = Reviewer(name="carol", roles=frozenset({"security"}))
DAVE = Reviewer(name="dave", roles=frozenset({"sre", "security"}))


@pytest.fixture
def store(mongo: MongoDBClient) -> PendingApprovalStore:
    return PendingApprovalStore(mongo)


async def raw(mongo: MongoDBClient, approval_id: str) -> dict[str, Any]:
    document = await mongo.collection(COLLECTION_NAME).find_one({"_id": approval_id})
    assert document is not None
    return dict(document)


# -- quorum, self-approval, one vote each ---------------------------------------------------


async def test_quorum_of_two_with_a_self_approval_attempt_and_a_duplicate_vote(
    store: PendingApprovalStore, mongo: MongoDBClient
) -> None:
    await store.create(make_record("a1", actor="alice", metadata={"min_approvals": 2}))

    before = await raw(mongo, "a1")
    with pytest.raises(NotAuthorized, match="alice started this run") as refused:
        await store.decide("a1", call_id="c1", verdict="approved", reviewer=ALICE)
    assert refused.value.reviewer == "alice" and refused.value.call_id == "c1"
    assert await raw(mongo, "a1") == before

    first = await store.decide(
        "a1", call_id="c1", verdict="approved", reviewer=BOB, message="ok", surface="cli"
    )
    call = first.tool_calls[0]
    assert first.status is ApprovalStatus.PENDING and call.decision is None
    assert [(v.reviewer, v.verdict, v.surface, v.roles) for v in call.votes] == [
        ("bob", Verdict.APPROVED, "cli", ["sre"])
    ]

    before = await raw(mongo, "a1")
    with pytest.raises(ApprovalConflict, match="bob already voted on call c1"):
        await store.decide("a1", call_id="c1", verdict="approved", reviewer=BOB)
    with pytest.raises(ApprovalConflict, match="already voted"):
        await store.decide("a1", call_id="c1", verdict="rejected", reviewer="bob")
    assert await raw(mongo, "a1") == before

    second = await store.decide("a1", call_id="c1", verdict="approved", reviewer=CAROL)
    call = second.tool_calls[0]
    assert second.status is ApprovalStatus.DECIDED
    assert call.decision is not None and call.decision.verdict is Verdict.APPROVED
    assert call.decision.reviewer == "carol"
    assert [v.reviewer for v in call.decision.votes] == ["bob", "carol"]
    assert [v.reviewer for v in call.votes] == ["bob", "carol"]
    actions = [(e.action, e.actor) for e in second.audit if e.call_id == "c1"]
    assert actions == [("vote.approved", "bob"), ("decision.approved", "carol")]


async def test_the_actor_may_reject_their_own_call(store: PendingApprovalStore) -> None:
    await store.create(make_record("a1", actor="alice"))
    record = await store.decide(
        "a1", call_id="c1", verdict="rejected", reviewer="alice", message="changed my mind"
    )
    decision = record.tool_calls[0].decision
    assert decision is not None and decision.reviewer == "alice"
    assert decision.verdict is Verdict.REJECTED and record.status is ApprovalStatus.DECIDED


async def test_any_rejection_wins_over_earlier_approvals(store: PendingApprovalStore) -> None:
    await store.create(make_record("a1", metadata={"min_approvals": 3}))
    await store.decide("a1", call_id="c1", verdict="approved", reviewer=ALICE)
    await store.decide("a1", call_id="c1", verdict="approved", reviewer=BOB)
    record = await store.decide(
        "a1", call_id="c1", verdict="rejected", reviewer=CAROL, message="not during the freeze"
    )
    decision = record.tool_calls[0].decision
    assert decision is not None and decision.verdict is Verdict.REJECTED
    assert decision.reviewer == "carol" and decision.message == "not during the freeze"
    assert [(v.reviewer, v.verdict) for v in decision.votes] == [
        ("alice", Verdict.APPROVED),
        ("bob", Verdict.APPROVED),
        ("carol", Verdict.REJECTED),
    ]
    assert record.status is ApprovalStatus.DECIDED
    with pytest.raises(ApprovalConflict, match="already rejected by carol"):
        await store.decide("a1", call_id="c1", verdict="approved", reviewer=DAVE)


async def test_every_vote_is_audited_with_who_roles_what_and_where(
    store: PendingApprovalStore,
) -> None:
    await store.create(make_record("a1", metadata={"min_approvals": 2}))
    await store.decide(
        "a1", call_id="c1", verdict="approved", reviewer=DAVE, message="fine", surface="web"
    )
    record = await store.decide("a1", call_id="c1", verdict="approved", reviewer=ALICE)
    votes = [e for e in record.audit if e.call_id == "c1"]
    assert [e.actor for e in votes] == ["dave", "alice"]
    first = votes[0].detail
    assert first["roles"] == ["security", "sre"] and first["surface"] == "web"
    assert first["message"] == "fine" and first["reviewer_kind"] == "human"
    assert first["arguments_sha256"] == record.tool_calls[0].arguments_sha256
    assert (first["approvals"], first["min_approvals"]) == (1, 2)
    assert votes[1].detail["surface"] == "api" and votes[1].detail["approvals"] == 2
    assert all(e.at is not None for e in votes)


# -- roles -------------------------------------------------------------------------------------


async def test_a_reviewer_without_the_tool_role_cannot_vote_at_all(
    store: PendingApprovalStore, mongo: MongoDBClient
) -> None:
    await store.create(make_record("a1", metadata={"approver_roles": ["security"]}))
    before = await raw(mongo, "a1")
    for verdict in ("approved", "rejected"):
        with pytest.raises(NotAuthorized, match=r"bob holds none of the roles .*: security"):
            await store.decide("a1", call_id="c1", verdict=verdict, reviewer=BOB)
    with pytest.raises(NotAuthorized, match="security"):
        await store.decide("a1", call_id="c1", verdict="approved", reviewer="mallory")
    assert await raw(mongo, "a1") == before
    record = await store.decide("a1", call_id="c1", verdict="approved", reviewer=CAROL)
    assert record.status is ApprovalStatus.DECIDED


async def test_an_ai_reviewer_needs_the_ai_role_listed(store: PendingApprovalStore) -> None:
    # The tools opt into AI review: without it the store now refuses any AI approval (the AI
    # cap, tests/test_hardening_metadata.py); this test is about the role.
    ai_ok = {"ai_review": True}
    await store.create(make_record("a1", metadata={**ai_ok, "approver_roles": ["sre"]}))
    await store.create(make_record("a2", metadata={**ai_ok, "approver_roles": ["sre", "ai"]}))
    await store.create(make_record("a3", metadata=ai_ok))
    with pytest.raises(NotAuthorized, match=r"AI reviewer .* does not list the role 'ai'"):
        await store.decide(
            "a1", call_id="c1", verdict="approved", reviewer="reviewer:gpt", reviewer_kind="ai"
        )
    for approval_id in ("a2", "a3"):
        record = await store.decide(
            approval_id,
            call_id="c1",
            verdict="approved",
            reviewer="reviewer:gpt",
            reviewer_kind=ReviewerKind.AI,
        )
        assert record.status is ApprovalStatus.DECIDED


async def test_policy_and_timeout_decisions_are_exempt_from_roles(
    store: PendingApprovalStore,
) -> None:
    await store.create(make_record("a1", metadata={"approver_roles": ["security"]}))
    await store.create(make_record("a2", metadata={"approver_roles": ["security"]}))
    policy = await store.decide(
        "a1", call_id="c1", verdict="rejected", reviewer="policy:rules", reviewer_kind="policy"
    )
    timeout = await store.decide(
        "a2", call_id="c1", verdict="rejected", reviewer="eat-timeout", reviewer_kind="timeout"
    )
    assert policy.status is timeout.status is ApprovalStatus.DECIDED


async def test_deciding_every_call_at_once_is_all_or_nothing(
    store: PendingApprovalStore, mongo: MongoDBClient
) -> None:
    record = make_record("a1", calls=("c1", "c2"))
    record.tool_calls[1].metadata["approver_roles"] = ["security"]
    await store.create(record)
    before = await raw(mongo, "a1")
    with pytest.raises(NotAuthorized, match="c2"):
        await store.decide("a1", verdict="approved", reviewer=BOB)
    assert await raw(mongo, "a1") == before
    decided = await store.decide("a1", verdict="approved", reviewer=DAVE)
    assert decided.status is ApprovalStatus.DECIDED
    assert {c.decision.reviewer for c in decided.tool_calls if c.decision} == {"dave"}


async def test_deciding_every_call_at_once_votes_towards_each_quorum(
    store: PendingApprovalStore,
) -> None:
    await store.create(make_record("a1", calls=("c1", "c2"), metadata={"min_approvals": 2}))
    first = await store.decide("a1", verdict="approved", reviewer=ALICE)
    assert first.status is ApprovalStatus.PENDING
    assert [len(c.votes) for c in first.tool_calls] == [1, 1]
    with pytest.raises(ApprovalConflict, match="alice already voted"):
        await store.decide("a1", verdict="approved", reviewer=ALICE)
    second = await store.decide("a1", verdict="approved", reviewer=BOB)
    assert second.status is ApprovalStatus.DECIDED
    assert all(c.decision is not None and c.decision.reviewer == "bob" for c in second.tool_calls)


async def test_malformed_approval_rules_are_refused_not_guessed(
    store: PendingApprovalStore, mongo: MongoDBClient
) -> None:
    with pytest.raises(InvalidDecision, match="min_approvals must be an integer >= 1"):
        await store.create(make_record("a1", metadata={"min_approvals": "two"}))
    with pytest.raises(InvalidDecision, match="approver_roles"):
        await store.create(make_record("a2", metadata={"approver_roles": {"sre": True}}))
    with pytest.raises(InvalidDecision, match="expires_in"):
        await store.create(make_record("a3", metadata={"expires_in": "soon"}))
    # A record written by something else with rules nobody can read: nobody may decide it
    # (it is not sealed by the app's key, so it is refused before its rules are even read).
    document = make_record("a4").to_document()
    document["tool_calls"][0]["metadata"]["min_approvals"] = 0
    await mongo.collection(COLLECTION_NAME).insert_one(document)
    with pytest.raises(StateIntegrityError, match="altered outside the app"):
        await store.decide("a4", call_id="c1", verdict="approved", reviewer=ALICE)


async def test_a_plain_name_and_a_reviewer_with_role_tuples_are_accepted(
    store: PendingApprovalStore,
) -> None:
    await store.create(make_record("a1", metadata={"approver_roles": "sre", "min_approvals": 2}))
    await store.decide(
        "a1", call_id="c1", verdict="approved", reviewer=Reviewer(name="erin", roles=("sre",))
    )
    with pytest.raises(NotAuthorized):
        await store.decide("a1", call_id="c1", verdict="approved", reviewer="frank")
    record = await store.get("a1")
    assert [v.roles for v in record.tool_calls[0].votes] == [["sre"]]


# -- races -------------------------------------------------------------------------------------


async def test_two_reviewers_racing_for_the_last_approval_only_one_decision_lands(
    store: PendingApprovalStore,
) -> None:
    for round_ in range(5):
        approval_id = f"a{round_}"
        await store.create(make_record(approval_id, metadata={"min_approvals": 2}))
        await store.decide(approval_id, call_id="c1", verdict="approved", reviewer=ALICE)
        outcomes = await asyncio.gather(
            store.decide(approval_id, call_id="c1", verdict="approved", reviewer=BOB),
            store.decide(approval_id, call_id="c1", verdict="approved", reviewer=CAROL),
            return_exceptions=True,
        )
        landed = [o for o in outcomes if isinstance(o, PendingApproval)]
        conflicts = [o for o in outcomes if isinstance(o, ApprovalConflict)]
        assert len(landed) == 1 and len(conflicts) == 1, outcomes
        record = await store.get(approval_id)
        call = record.tool_calls[0]
        assert call.decision is not None and len(call.votes) == 2
        assert call.decision.reviewer == call.votes[-1].reviewer
        decisions = [e for e in record.audit if e.action.startswith("decision.")]
        assert len(decisions) == 1


async def test_first_votes_racing_on_a_quorum_both_count(store: PendingApprovalStore) -> None:
    await store.create(make_record("a1", metadata={"min_approvals": 2}))
    await asyncio.gather(
        store.decide("a1", call_id="c1", verdict="approved", reviewer=ALICE),
        store.decide("a1", call_id="c1", verdict="approved", reviewer=BOB),
    )
    record = await store.get("a1")
    call = record.tool_calls[0]
    assert record.status is ApprovalStatus.DECIDED and call.decision is not None
    assert sorted(v.reviewer for v in call.votes) == ["alice", "bob"]
    assert record.version == 3


async def test_one_reviewer_submitting_twice_at_once_votes_once(
    store: PendingApprovalStore,
) -> None:
    await store.create(make_record("a1", metadata={"min_approvals": 2}))
    outcomes = await asyncio.gather(
        *(store.decide("a1", call_id="c1", verdict="approved", reviewer=ALICE) for _ in range(4)),
        return_exceptions=True,
    )
    assert sum(isinstance(o, PendingApproval) for o in outcomes) == 1
    assert all(
        isinstance(o, ApprovalConflict) for o in outcomes if not isinstance(o, PendingApproval)
    )
    record = await store.get("a1")
    assert [v.reviewer for v in record.tool_calls[0].votes] == ["alice"]


async def test_many_reviewers_racing_on_a_quorum_of_three(store: PendingApprovalStore) -> None:
    await store.create(make_record("a1", metadata={"min_approvals": 3}))
    reviewers = [Reviewer(name=f"r{i}", roles=frozenset({"sre"})) for i in range(8)]
    outcomes = await asyncio.gather(
        *(store.decide("a1", call_id="c1", verdict="approved", reviewer=r) for r in reviewers),
        return_exceptions=True,
    )
    landed = [o for o in outcomes if isinstance(o, PendingApproval)]
    assert len(landed) == 3
    assert all(isinstance(o, ApprovalConflict) for o in outcomes if o not in landed)
    record = await store.get("a1")
    call = record.tool_calls[0]
    assert call.decision is not None and len(call.votes) == 3 == len(call.decision.votes)
    assert len({v.reviewer for v in call.votes}) == 3


# -- edited arguments --------------------------------------------------------------------------


class RecordingChecker:
    """Stands in for the provider's checker: refuses what ``refuse`` names, records the rest."""

    def __init__(self, refuse: str | None = None) -> None:
        self.refuse = refuse
        self.seen: list[tuple[str, str, dict[str, Any]]] = []

    async def __call__(
        self, record: PendingApproval, call: ToolCallRecord, edited: dict[str, Any]
    ) -> None:
        self.seen.append((record.id, call.call_id, edited))
        if self.refuse is not None and edited.get("user") == self.refuse:
            raise InvalidDecision(
                record.id, f"the edited arguments are blocked by policy: {edited}"
            )


EDIT = {"user": "alice", "hours": 2}


async def test_edits_need_a_store_that_can_check_them(
    store: PendingApprovalStore, mongo: MongoDBClient
) -> None:
    await store.create(make_record("a1"))
    before = await raw(mongo, "a1")
    with pytest.raises(InvalidDecision, match="OpenAIAgentsProvider"):
        await store.decide(
            "a1", call_id="c1", verdict="approved", reviewer=ALICE, edited_arguments=EDIT
        )
    assert await raw(mongo, "a1") == before


async def test_an_accepted_edit_is_stored_beside_the_original_arguments(
    mongo: MongoDBClient,
) -> None:
    checker = RecordingChecker()
    store = PendingApprovalStore(mongo, edit_checker=checker)
    created = await store.create(make_record("a1"))
    record = await store.decide(
        "a1", call_id="c1", verdict="approved", reviewer=ALICE, edited_arguments=EDIT
    )
    call = record.tool_calls[0]
    assert call.decision is not None
    assert call.decision.edited_arguments == EDIT
    assert call.decision.edited_arguments_sha256 == arguments_digest(EDIT)
    assert call.arguments == created.tool_calls[0].arguments
    assert call.arguments_sha256 == created.tool_calls[0].arguments_sha256
    assert call.tool_name == created.tool_calls[0].tool_name
    assert checker.seen == [("a1", "c1", EDIT)]
    entry = next(e for e in record.audit if e.action == "decision.approved")
    assert entry.detail["arguments"] == {"user": "alice", "hours": 48}
    assert entry.detail["edited_arguments"] == EDIT
    assert entry.detail["edited_arguments_sha256"] == arguments_digest(EDIT)


async def test_an_edit_the_rules_block_is_refused_and_changes_nothing(
    mongo: MongoDBClient,
) -> None:
    store = PendingApprovalStore(mongo, edit_checker=RecordingChecker(refuse="root"))
    await store.create(make_record("a1"))
    before = await raw(mongo, "a1")
    with pytest.raises(InvalidDecision, match="blocked by policy"):
        await store.decide(
            "a1",
            call_id="c1",
            verdict="approved",
            reviewer=ALICE,
            edited_arguments={"user": "root", "hours": 2},
        )
    assert await raw(mongo, "a1") == before


async def test_malformed_edit_requests_are_refused(mongo: MongoDBClient) -> None:
    checker = RecordingChecker()
    store = PendingApprovalStore(mongo, edit_checker=checker)
    await store.create(make_record("a1"))
    with pytest.raises(InvalidDecision, match="only with an approval"):
        await store.decide(
            "a1", call_id="c1", verdict="rejected", reviewer=ALICE, edited_arguments=EDIT
        )
    with pytest.raises(InvalidDecision, match="call_id"):
        await store.decide("a1", verdict="approved", reviewer=ALICE, edited_arguments=EDIT)
    with pytest.raises(InvalidDecision, match="JSON object"):
        await store.decide(
            "a1",
            call_id="c1",
            verdict="approved",
            reviewer=ALICE,
            edited_arguments=["alice"],  # type: ignore[arg-type]
        )
    with pytest.raises(InvalidDecision, match="not JSON"):
        await store.decide(
            "a1",
            call_id="c1",
            verdict="approved",
            reviewer=ALICE,
            edited_arguments={"when": object()},
        )
    assert checker.seen == []


async def test_a_refused_reviewer_never_reaches_the_edit_checker(mongo: MongoDBClient) -> None:
    checker = RecordingChecker()
    store = PendingApprovalStore(mongo, edit_checker=checker)
    await store.create(make_record("a1", actor="alice"))
    with pytest.raises(NotAuthorized):
        await store.decide(
            "a1", call_id="c1", verdict="approved", reviewer=ALICE, edited_arguments=EDIT
        )
    assert checker.seen == []


async def test_an_edit_equal_to_the_original_is_a_plain_approval(mongo: MongoDBClient) -> None:
    checker = RecordingChecker()
    store = PendingApprovalStore(mongo, edit_checker=checker)
    await store.create(make_record("a1"))
    record = await store.decide(
        "a1",
        call_id="c1",
        verdict="approved",
        reviewer=ALICE,
        edited_arguments={"hours": 48, "user": "alice"},
    )
    decision = record.tool_calls[0].decision
    assert decision is not None and decision.edited_arguments is None
    assert checker.seen == []


async def test_a_quorum_must_approve_the_same_edit(mongo: MongoDBClient) -> None:
    store = PendingApprovalStore(mongo, edit_checker=RecordingChecker())
    await store.create(make_record("a1", metadata={"min_approvals": 2}))
    await store.decide(
        "a1", call_id="c1", verdict="approved", reviewer=ALICE, edited_arguments=EDIT
    )
    with pytest.raises(ApprovalConflict, match="approved different arguments"):
        await store.decide("a1", call_id="c1", verdict="approved", reviewer=BOB)
    with pytest.raises(ApprovalConflict, match="approved different arguments"):
        await store.decide(
            "a1",
            call_id="c1",
            verdict="approved",
            reviewer=BOB,
            edited_arguments={"user": "alice", "hours": 1},
        )
    record = await store.decide(
        "a1", call_id="c1", verdict="approved", reviewer=BOB, edited_arguments=dict(EDIT)
    )
    decision = record.tool_calls[0].decision
    assert decision is not None and decision.reviewer == "bob"
    assert decision.edited_arguments == EDIT
    assert {v.edited_arguments_sha256 for v in decision.votes} == {arguments_digest(EDIT)}
