"""One matrix of who may decide or cancel, run through the store, ``eat approvals`` and the inbox.

Each case prepares the same record three times (a tool's roles and quorum, the run's actor, the
votes already cast), then one reviewer acts on it through each surface. All three must give the
rules function's answer: allowed, or refused for the same kind of reason (who the reviewer is,
or the record's state). Also here: the risk bands, and how ``ToolMetadata`` reads metadata.
"""

from __future__ import annotations

import html
import math
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from evolving_agents import MongoDBClient, PendingApprovalStore
from evolving_agents.approvals.models import PendingApproval, ReviewerKind, Verdict
from evolving_agents.approvals.risk import risk_words
from evolving_agents.approvals.rules import (
    HIGH_RISK,
    MEDIUM_RISK,
    RefusalKind,
    Reviewer,
    RiskBand,
    ToolMetadata,
    cancel_refusal,
    decide_refusal,
    risk_band,
)
from evolving_agents.cli.common import ExitCode
from evolving_agents.cli.main import app as eat_app
from evolving_agents.errors import ApprovalConflict, InvalidDecision, NotAuthorized
from evolving_agents.present.views import call_risk
from evolving_agents.reviewers.directory import ReviewerDirectory
from evolving_agents.web import create_app
from tests.test_store import make_record

SECRET = "rules-matrix-secret-0123456789"
ACTOR = "release-bot"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')

ALLOWED = "allowed"
FORBIDDEN = "forbidden"  # who the reviewer is: NotAuthorized, exit 7, HTTP 403
CONFLICT = "conflict"  # the record's state: ApprovalConflict, exit 4, HTTP 409
INVALID = "invalid"  # the request or the rules: InvalidDecision, exit 2, HTTP 400


def category(kind: RefusalKind | None) -> str:
    if kind is None:
        return ALLOWED
    if kind is RefusalKind.MALFORMED_RULES:
        return INVALID
    return FORBIDDEN if kind.forbidden else CONFLICT


@dataclass(frozen=True)
class Case:
    id: str
    reviewer: str
    roles: tuple[str, ...]
    action: str  # "approved", "rejected" or "cancel"
    expected: RefusalKind | None
    approver_roles: tuple[str, ...] = ()
    min_approvals: int = 1
    votes: tuple[tuple[str, tuple[str, ...], str], ...] = ()
    """Votes cast before the case: (reviewer, roles, verdict)."""
    cancelled: bool = False
    actor: str = ACTOR


CASES = [
    Case("anyone-approves", "alice", ("sre",), "approved", None),
    Case("role-held", "bob", ("security",), "approved", None, approver_roles=("security",)),
    Case(
        "role-missing-approve",
        "carol",
        ("sre",),
        "approved",
        RefusalKind.ROLE,
        approver_roles=("security",),
    ),
    Case(
        "role-missing-reject",
        "carol",
        ("sre",),
        "rejected",
        RefusalKind.ROLE,
        approver_roles=("security",),
    ),
    Case("actor-approves-own-call", ACTOR, (), "approved", RefusalKind.OWN_RUN),
    Case("actor-approves-other-spelling", " Release-Bot", (), "approved", RefusalKind.OWN_RUN),
    Case("actor-rejects-own-call", ACTOR, (), "rejected", None),
    Case("ai-role-without-it", "dave", (), "approved", RefusalKind.ROLE, approver_roles=("ai",)),
    Case("ai-role-held", "dave", ("ai",), "approved", None, approver_roles=("ai",)),
    Case(
        "quorum-second-voter",
        "bob",
        (),
        "approved",
        None,
        min_approvals=2,
        votes=(("alice", (), "approved"),),
    ),
    Case(
        "quorum-same-reviewer-other-spelling",
        "ALICE",
        (),
        "approved",
        RefusalKind.VOTED,
        min_approvals=2,
        votes=(("alice", (), "approved"),),
    ),
    Case(
        "quorum-same-reviewer-rejects",
        "\u0430lice",  # a Cyrillic a
        (),
        "rejected",
        RefusalKind.VOTED,
        min_approvals=2,
        votes=(("alice", (), "approved"),),
    ),
    Case(
        "already-rejected",
        "alice",
        (),
        "approved",
        RefusalKind.DECIDED,
        votes=(("bob", (), "rejected"),),
    ),
    Case("record-cancelled", "alice", (), "approved", RefusalKind.STATUS, cancelled=True),
    Case("nameless", "\u200b\u2060", (), "rejected", RefusalKind.NAMELESS),
    Case("actor-cancels-own-run", ACTOR, (), "cancel", None),
    Case(
        "cancel-role-missing",
        "carol",
        ("sre",),
        "cancel",
        RefusalKind.ROLE,
        approver_roles=("security",),
    ),
    Case("cancel-role-held", "bob", ("security",), "cancel", None, approver_roles=("security",)),
    Case("cancel-a-cancelled-run", "alice", (), "cancel", RefusalKind.STATUS, cancelled=True),
]

TOKENS = {
    (case.reviewer, case.roles): f"matrix-token-{index:02d}-0123456789"
    for index, case in enumerate(CASES)
}
DIRECTORY = ReviewerDirectory.of([(token, name, roles) for (name, roles), token in TOKENS.items()])


@dataclass
class World:
    """One memory:// database, the inbox over it, and a way to prepare a case's record."""

    client: MongoDBClient
    http: TestClient
    store: PendingApprovalStore = field(init=False)

    def __post_init__(self) -> None:
        self.store = PendingApprovalStore(self.client)

    def prepare(self, case: Case) -> PendingApproval:
        approval_id = f"apr_{uuid.uuid4().hex[:10]}"
        metadata: dict[str, Any] = {"min_approvals": case.min_approvals}
        if case.approver_roles:
            metadata["approver_roles"] = list(case.approver_roles)

        async def go() -> PendingApproval:
            await self.store.create(make_record(approval_id, actor=case.actor, metadata=metadata))
            for name, roles, verdict in case.votes:
                await self.store.decide(
                    approval_id,
                    call_id="c1",
                    verdict=verdict,
                    reviewer=Reviewer(name=name, roles=frozenset(roles)),
                    message="earlier vote",
                )
            if case.cancelled:
                await self.store.cancel(approval_id, by="ops", reason="withdrawn")
            return await self.store.get(approval_id)

        record: PendingApproval = self.http.portal.call(go)
        return record

    # -- the three surfaces ------------------------------------------------------------------

    def through_store(self, case: Case, approval_id: str) -> str:
        reviewer = Reviewer(name=case.reviewer, roles=frozenset(case.roles))

        async def go() -> None:
            if case.action == "cancel":
                # The store itself applies the rule when given a Reviewer.
                await self.store.cancel(approval_id, by=reviewer, reason="matrix")
                return
            await self.store.decide(
                approval_id,
                call_id="c1",
                verdict=case.action,
                reviewer=reviewer,
                message="matrix",
                surface="api",
            )

        try:
            self.http.portal.call(go)
        except NotAuthorized:
            return FORBIDDEN
        except ApprovalConflict:
            return CONFLICT
        except InvalidDecision:
            return INVALID
        return ALLOWED

    def through_cli(self, case: Case, approval_id: str) -> tuple[str, str]:
        roles = [part for role in case.roles for part in ("--role", role)]
        if case.action == "cancel":
            args = ["approvals", "cancel", approval_id, "--as", case.reviewer, *roles]
        else:
            verb = "approve" if case.action == "approved" else "reject"
            args = ["approvals", verb, approval_id, "--call", "c1", "--as", case.reviewer, *roles]
            if case.action == "rejected":
                args += ["--message", "matrix"]
        result = CliRunner().invoke(eat_app, args, obj=self.client)
        assert "Traceback" not in result.output, result.output
        codes = {
            ExitCode.OK: ALLOWED,
            ExitCode.FORBIDDEN: FORBIDDEN,
            ExitCode.CONFLICT: CONFLICT,
            ExitCode.USAGE: INVALID,
        }
        assert result.exit_code in codes, result.output
        return codes[ExitCode(result.exit_code)], result.stderr

    def sign_in(self, case: Case) -> None:
        self.http.cookies.clear()
        page = self.http.get("/login")
        signed_in = self.http.post(
            "/login",
            data={"token": TOKENS[(case.reviewer, case.roles)], "csrf_token": csrf(page.text)},
            follow_redirects=False,
        )
        assert signed_in.status_code == 303, signed_in.text

    def through_inbox(self, case: Case, approval_id: str) -> tuple[str, str]:
        self.sign_in(case)
        token = csrf(self.http.get("/").text)
        if case.action == "cancel":
            path, form = f"/approvals/{approval_id}/cancel", {"reason": "matrix"}
        else:
            path = f"/approvals/{approval_id}/decide"
            form = {"call_id": "c1", "verdict": case.action, "message": "matrix"}
        response = self.http.post(path, data={"csrf_token": token, **form}, follow_redirects=False)
        statuses = {303: ALLOWED, 403: FORBIDDEN, 409: CONFLICT, 400: INVALID}
        assert response.status_code in statuses, response.text
        return statuses[response.status_code], html.unescape(response.text)


def csrf(html: str) -> str:
    match = _CSRF.search(html)
    assert match is not None
    return match.group(1)


@pytest.fixture
def world() -> Iterator[World]:
    client = MongoDBClient("memory://", f"eat_matrix_{uuid.uuid4().hex[:8]}")
    inbox = create_app(PendingApprovalStore(client), DIRECTORY, session_secret=SECRET)
    with TestClient(inbox, base_url="http://127.0.0.1:8765") as http:
        yield World(client, http)
        http.portal.call(client.close)


def _answer(case: Case, record: PendingApproval) -> RefusalKind | None:
    reviewer = Reviewer(name=case.reviewer, roles=frozenset(case.roles))
    if case.action == "cancel":
        refusal = cancel_refusal(record, reviewer)
    else:
        refusal = decide_refusal(record, record.tool_calls[0], reviewer, case.action)
    return None if refusal is None else refusal.kind


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_the_store_the_cli_and_the_inbox_give_the_rules_answer(world: World, case: Case) -> None:
    records = [world.prepare(case) for _ in range(3)]
    assert _answer(case, records[0]) is case.expected, "the rules function's own answer"
    expected = category(case.expected)

    by_store = world.through_store(case, records[0].id)
    by_cli, cli_text = world.through_cli(case, records[1].id)
    by_inbox, inbox_text = world.through_inbox(case, records[2].id)

    assert (by_store, by_cli, by_inbox) == (expected, expected, expected)
    if expected == FORBIDDEN:
        # Each surface says why in the rules' words for the reviewer.
        reviewer = Reviewer(name=case.reviewer, roles=frozenset(case.roles))
        if case.action == "cancel":
            refusal = cancel_refusal(records[1], reviewer)
        else:
            refusal = decide_refusal(records[1], records[1].tool_calls[0], reviewer, case.action)
        assert refusal is not None
        assert refusal.reason in cli_text or refusal.detail in cli_text
        assert refusal.reason in inbox_text or refusal.detail in inbox_text
    if expected == ALLOWED:
        assert all(
            world.http.portal.call(world.store.get, r.id).version > r.version for r in records
        )


def test_the_actor_may_reject_but_never_approve_their_own_call_on_every_surface(
    world: World,
) -> None:
    case = Case("actor", ACTOR, (), "approved", RefusalKind.OWN_RUN)
    record = world.prepare(case)
    world.sign_in(case)
    page = html.unescape(world.http.get(f"/approvals/{record.id}").text)
    # The page offers the reject form and says why there is no approve button.
    assert "you started this run; someone else must approve it" in page
    assert 'data-key="approve"' not in page and 'data-key="reject"' in page
    assert world.through_inbox(case, record.id)[0] == FORBIDDEN
    rejecting = Case("actor", ACTOR, (), "rejected", None)
    assert world.through_inbox(rejecting, record.id)[0] == ALLOWED
    decided = world.http.portal.call(world.store.get, record.id)
    decision = decided.tool_calls[0].decision
    assert decision is not None and decision.verdict is Verdict.REJECTED
    assert decision.reviewer == ACTOR and decision.surface == "web"


def test_malformed_rules_refuse_everyone_and_cancelling_is_the_way_out() -> None:
    record = make_record("a1", actor=ACTOR, metadata={"min_approvals": "two"})
    alice = Reviewer(name="alice", roles=frozenset({"sre"}))
    refusal = decide_refusal(record, record.tool_calls[0], alice, Verdict.REJECTED)
    assert refusal is not None and refusal.kind is RefusalKind.MALFORMED_RULES
    assert isinstance(refusal.error(), InvalidDecision) and "min_approvals" in refusal.detail
    assert cancel_refusal(record, alice) is None


def test_an_ai_reviewer_needs_the_ai_role_and_stays_within_the_cap() -> None:
    record = make_record("a1", metadata={"approver_roles": ["sre"]})
    call = record.tool_calls[0]
    refusal = decide_refusal(
        record, call, "reviewer:model", Verdict.APPROVED, reviewer_kind=ReviewerKind.AI
    )
    assert refusal is not None and refusal.kind is RefusalKind.AI_ROLE
    listed = make_record("a2", metadata={"approver_roles": ["ai"], "risk": "high"})
    capped = decide_refusal(
        listed, listed.tool_calls[0], "r:m", Verdict.APPROVED, reviewer_kind=ReviewerKind.AI
    )
    assert capped is not None and capped.kind is RefusalKind.AI_CAP
    rejected = decide_refusal(
        listed, listed.tool_calls[0], "r:m", Verdict.REJECTED, reviewer_kind=ReviewerKind.AI
    )
    assert rejected is None, "an AI may always reject"


# -- risk bands ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("risk", "band"),
    [
        (0.0, RiskBand.LOW),
        (0.49, RiskBand.LOW),
        (0.5, RiskBand.MEDIUM),
        (0.69, RiskBand.MEDIUM),
        (0.7, RiskBand.HIGH),
        (1.0, RiskBand.HIGH),
        (math.nan, RiskBand.HIGH),
    ],
)
def test_risk_bands(risk: float, band: RiskBand) -> None:
    assert risk_band(risk) is band
    assert (MEDIUM_RISK, HIGH_RISK) == (0.5, 0.7)


def test_the_inbox_badge_uses_the_bands() -> None:
    record = make_record("a1")
    call = record.tool_calls[0]
    for score, level in [(0.45, "low"), (0.5, "medium"), (0.7, "high")]:
        shown = call_risk(call.model_copy(update={"signal": {"risk": score}}))
        assert (shown.level, shown.score) == (level, score)
    declared = call.model_copy(update={"metadata": {"risk": " Critical "}})
    assert call_risk(declared).level == "critical"


def test_messages_word_a_declared_risk_as_the_inbox_does() -> None:
    call = make_record("a1").tool_calls[0].model_copy(update={"signal": None})
    for declared, words in [("medium", "medium"), (" Critical ", "critical"), ("high", "high")]:
        with_risk = call.model_copy(update={"metadata": {"risk": declared}})
        assert risk_words(with_risk) == words == call_risk(with_risk).level
    assert risk_words(call.model_copy(update={"metadata": {}})) == "unknown"


# -- ToolMetadata ----------------------------------------------------------------------------------


def test_tool_metadata_reads_every_key_the_package_reads() -> None:
    meta = ToolMetadata.of(
        {
            "needs_approval": True,
            "risk": "High",
            "system": "okta",
            "environment": "production",
            "approver_roles": ["sre", "security"],
            "min_approvals": 2,
            "expires_in": "30m",
            "ai_review": "allowed",
            "action": "grant_access",
            "unrelated": {"kept": "in the record"},
        },
        tool_name="grant",
    )
    assert meta.needs_approval is True
    assert (meta.risk_label, meta.risk_floor) == ("high", HIGH_RISK)
    assert (meta.system, meta.environment, meta.action) == ("okta", "production", "grant_access")
    assert meta.approver_roles == frozenset({"sre", "security"}) and meta.min_approvals == 2
    assert meta.expires_in == timedelta(minutes=30) and meta.ai_review and meta.problems == ()
    assert ToolMetadata.of({"expires_in": "never"}).expires_in == "never"
    assert ToolMetadata.of({"reviewer": "ai"}).ai_review


@pytest.mark.parametrize(
    ("metadata", "problem"),
    [
        ({"min_approvals": "two"}, "min_approvals must be an integer >= 1"),
        ({"min_approvals": True}, "min_approvals must be an integer >= 1"),
        ({"min_approvals": 0}, "min_approvals must be an integer >= 1"),
        ({"approver_roles": [1, 2]}, "approver_roles must be a list of role names"),
        ({"approver_roles": {"sre": True}}, "approver_roles must be a list of role names"),
        ({"expires_in": "soon"}, "expires_in"),
        ({"expires_in": ["1h"]}, "is not a duration"),
    ],
)
def test_malformed_rules_fail_closed(metadata: dict[str, Any], problem: str) -> None:
    meta = ToolMetadata.of(metadata, tool_name="grant")
    assert len(meta.problems) == 1 and problem in meta.problems[0]
    assert meta.problems[0].startswith("tool grant: ")
    # The rest still reads as "not set": one person, no roles, the store's default expiry.
    assert (meta.min_approvals, meta.approver_roles) == (1, frozenset())


def test_other_bad_values_read_as_not_set() -> None:
    meta = ToolMetadata.of(
        {"needs_approval": "yes", "risk": ["high"], "system": 3, "ai_review": 1, "action": None}
    )
    assert meta.needs_approval is None and meta.risk_label is None
    assert meta.risk_floor == 1.0, "an unreadable risk is the highest"
    assert (meta.system, meta.ai_review, meta.action, meta.problems) == (None, False, None, ())
    assert ToolMetadata.of({"risk": "medium"}).risk_floor == 0.0
    assert ToolMetadata.of({"risk": 0.6}).risk_floor == 0.6
