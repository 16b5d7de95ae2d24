"""Inbox sessions under attack: copied cookies, offline guessing, token spraying, two inboxes
behind a balancer, and the run's actor approving under another spelling of their name.

Every scenario runs on memory:// and on the wire server. Two inbox processes are two apps, each
in its own TestClient (its own event loop, so on the wire server its own database client), on
one database.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from pymongo import MongoClient
from starlette.testclient import TestClient

from evolving_agents import MongoDBClient, OpenAIAgentsProvider
from evolving_agents.approvals import ApprovalConflict, NotAuthorized, Reviewer
from evolving_agents.approvals.identity import canonical_identity, same_identity
from evolving_agents.approvals.models import utcnow
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.reviewers.directory import ReviewerDirectory, token_digest
from evolving_agents.web import create_app
from evolving_agents.web.session import COOKIE_NAME, SESSIONS_COLLECTION
from evolving_agents.web.throttle import Backoff, SignInThrottle
from tests.apps.review_app import AGENT_NAME, build_registry
from tests.test_store import make_record
from tests.test_web_inbox import ALICE, BOB, SECRET, csrf

ACTOR_TOKEN = "release-bot-token-0123456789"
# The run's actor ("release-bot") also holds a reviewer token, under another spelling.
REVIEWERS = ReviewerDirectory.of(
    [
        (ALICE, "alice", ["sre"]),
        (BOB, "bob", ["security"]),
        (ACTOR_TOKEN, "Release-Bot", ["sre", "security"]),
    ]
)
BASE_URL = "http://127.0.0.1:8765"


class Clock:
    """The inbox's clock, moved by hand: backoffs and expiry without sleeping."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Browser:
    """One browser on one inbox process."""

    http: TestClient

    def sign_in(self, token: str) -> Any:
        page = self.http.get("/login")
        return self.http.post(
            "/login",
            data={"token": token, "csrf_token": csrf(page.text), "next": "/"},
            follow_redirects=False,
        )

    def signed_in(self) -> bool:
        response = self.http.get("/", follow_redirects=False)
        assert response.status_code in (200, 303), response.text
        return response.status_code == 200

    def sign_out(self) -> Any:
        token = csrf(self.http.get("/").text)
        return self.http.post("/logout", data={"csrf_token": token}, follow_redirects=False)


def browser_on(process: TestClient, base_url: str = BASE_URL) -> Browser:
    """A browser with its own cookies on a running process (its event loop and lifespan)."""
    http = TestClient(process.app, base_url=base_url)
    http.portal = process.portal  # the process's loop: its database client is bound to it
    return Browser(http)


@dataclass
class Deployment:
    """Two inbox processes behind one balancer, on one database, with one secret."""

    first: TestClient
    second: TestClient
    clock: Clock
    provider: OpenAIAgentsProvider
    mongo: MongoDBClient

    def browser(self, process: TestClient | None = None) -> Browser:
        """A new browser (its own cookie jar) on ``process`` (default: the first)."""
        return browser_on(process or self.first)

    def stored_sessions(self) -> list[dict[str, Any]]:
        async def read() -> list[dict[str, Any]]:
            found = await self.mongo.collection(SESSIONS_COLLECTION).find({}).to_list(None)
            return [dict(document) for document in found]

        documents: list[dict[str, Any]] = self.first.portal.call(read)
        return documents


@pytest.fixture(params=["memory", "wire"])
def deployment(request: pytest.FixtureRequest) -> Iterator[Deployment]:
    db_name = f"eat_sessions_{uuid.uuid4().hex[:8]}"
    uri = "memory://" if request.param == "memory" else request.getfixturevalue("wire_uri")
    mongo = MongoDBClient(uri, db_name)
    # Each process's event loop needs its own client on the wire server; memory:// is one store.
    other = mongo if request.param == "memory" else MongoDBClient(uri, db_name)
    clock = Clock()
    provider = OpenAIAgentsProvider(mongodb_client=mongo, registry=build_registry())
    backoff = Backoff(free=5, base_delay=timedelta(seconds=2), max_delay=timedelta(seconds=60))
    options: dict[str, Any] = {
        "session_secret": SECRET,
        "poll_interval": 0.1,
        "clock": clock,
        "sign_in_backoff": backoff,
    }
    first = create_app(provider, REVIEWERS, **options)
    second = create_app(PendingApprovalStore(other), REVIEWERS, **options)
    with (
        TestClient(first, base_url=BASE_URL) as one,
        TestClient(second, base_url=BASE_URL) as two,
    ):
        yield Deployment(one, two, clock, provider, mongo)
        if other is not mongo:
            two.portal.call(other.close)
        one.portal.call(mongo.close)
    if request.param == "wire":
        with MongoClient(uri) as sync:
            sync.drop_database(db_name)


# -- sign-out and copied cookies ---------------------------------------------------------------


def test_signing_out_ends_a_copied_cookie_in_every_inbox_process(deployment: Deployment) -> None:
    alice = deployment.browser()
    assert alice.sign_in(ALICE).status_code == 303
    copied = alice.http.cookies[COOKIE_NAME]
    thief = deployment.browser(deployment.second)
    thief.http.cookies.set(COOKIE_NAME, copied)
    assert thief.signed_in(), "the same secret: the other process knows the session"

    assert alice.sign_out().status_code == 303
    assert not alice.signed_in()
    assert not thief.signed_in(), "sign-out ended the copy too, on the other process"
    assert deployment.stored_sessions() == []
    forged = thief.http.post(
        "/approvals/x/cancel", data={"csrf_token": "x"}, follow_redirects=False
    )
    assert forged.status_code == 403


def test_a_session_ends_twelve_hours_after_sign_in(deployment: Deployment) -> None:
    alice = deployment.browser()
    alice.sign_in(ALICE)
    deployment.clock.advance(11.9 * 3600)
    assert alice.signed_in()
    deployment.clock.advance(0.2 * 3600)
    assert not alice.signed_in()


def test_signing_in_again_ends_the_session_it_replaces(deployment: Deployment) -> None:
    browser = deployment.browser()
    browser.sign_in(ALICE)
    old = browser.http.cookies[COOKIE_NAME]
    assert browser.sign_in(BOB).status_code == 303
    assert browser.http.cookies[COOKIE_NAME] != old
    replay = deployment.browser()
    replay.http.cookies.set(COOKIE_NAME, old)
    assert not replay.signed_in()
    assert [doc["reviewer"] for doc in deployment.stored_sessions()] == ["bob"]


# -- nothing to guess from ---------------------------------------------------------------------


def _decodings(text: str) -> list[bytes]:
    """Every way a part of the cookie could be read: as is, base64, base64url."""
    found = [text.encode()]
    for part in re.split(r"[.|:]", text):
        for decode in (base64.urlsafe_b64decode, base64.b64decode):
            try:
                found.append(decode(part + "=" * (-len(part) % 4)))
            except (binascii.Error, ValueError):
                continue
    return found


def test_the_cookie_and_the_stored_session_hold_nothing_to_guess_a_token_from(
    deployment: Deployment,
) -> None:
    alice = deployment.browser()
    alice.sign_in(ALICE)
    cookie = alice.http.cookies[COOKIE_NAME]
    digest = token_digest(ALICE)

    assert re.fullmatch(r"[A-Za-z0-9_-]{32,}\.[A-Za-z0-9_-]{43}", cookie), cookie
    for readable in _decodings(cookie):
        assert digest.encode() not in readable and bytes.fromhex(digest) not in readable
        assert b"alice" not in readable and ALICE.encode() not in readable

    [stored] = deployment.stored_sessions()
    sid = cookie.split(".")[0]
    values = " ".join(str(value) for value in stored.values())
    assert digest not in values and ALICE not in values, "the database cannot test guesses"
    assert sid not in values, "a stored session is not a cookie for a database reader"
    assert stored["reviewer"] == "alice"


# -- wrong tokens ------------------------------------------------------------------------------


def test_sixty_wrong_tokens_in_a_row_are_slowed_down_and_even_the_right_one_waits(
    deployment: Deployment,
) -> None:
    guesser = deployment.browser()
    answers = [guesser.sign_in(f"guess-{n:04d}-0123456789") for n in range(60)]
    statuses = [answer.status_code for answer in answers]
    assert statuses[:5] == [401] * 5
    assert statuses[5:] == [429] * 55, "past five wrong tokens the next one must wait"
    assert answers[5].headers["retry-after"] == "2"
    assert "Too many sign-in attempts" in answers[5].text

    during = deployment.browser().sign_in(ALICE)
    assert during.status_code == 429, "during a backoff no token is tested, not even a right one"

    deployment.clock.advance(2)
    assert guesser.sign_in("guess-again-0123456789").status_code == 401
    assert guesser.sign_in("and-again-0123456789").status_code == 429
    assert int(guesser.sign_in("x-0123456789abcdef").headers["retry-after"]) == 4, "doubled"

    deployment.clock.advance(4)
    assert deployment.browser().sign_in(ALICE).status_code == 303
    assert guesser.sign_in(ALICE).status_code == 303, "a right token starts its client afresh"


def test_every_inbox_process_counts_the_same_wrong_tokens(deployment: Deployment) -> None:
    one, two = deployment.browser(), deployment.browser(deployment.second)
    for n in range(5):
        assert (one if n % 2 else two).sign_in(f"guess-{n}-0123456789").status_code == 401
    assert one.sign_in("guess-5-0123456789").status_code == 429
    assert two.sign_in("guess-6-0123456789").status_code == 429


async def test_racing_wrong_tokens_cannot_all_slip_in_before_the_backoff(
    mongo: MongoDBClient,
) -> None:
    throttle = SignInThrottle(mongo, per_client=Backoff(free=5))
    waits = await asyncio.gather(*(throttle.reserve("203.0.113.7") for _ in range(40)))
    assert sum(1 for wait in waits if wait == 0) == 5


async def test_a_guesser_spread_over_many_addresses_is_slowed_down_too(
    mongo: MongoDBClient,
) -> None:
    clock = Clock()
    throttle = SignInThrottle(
        mongo,
        per_client=Backoff(free=5),
        all_clients=Backoff(free=20, max_delay=timedelta(seconds=30)),
        clock=clock,
    )
    waits = [await throttle.reserve(f"198.51.100.{n}") for n in range(30)]
    assert waits[:20] == [0.0] * 20 and all(wait > 0 for wait in waits[21:])
    clock.advance(16 * 60)
    assert await throttle.reserve("198.51.100.99") == 0.0, "counts are forgotten after 15 min"


# -- one secret for every process --------------------------------------------------------------


@pytest.mark.parametrize("backend", ["memory"])
def test_an_inbox_without_a_configured_secret_serves_loopback_only(
    mongo: MongoDBClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EAT_WEB_SECRET", raising=False)
    app = create_app(PendingApprovalStore(mongo), REVIEWERS)
    with TestClient(app, base_url="http://10.1.2.3:8765") as remote:
        refused = remote.get("/login")
    assert refused.status_code == 503 and "EAT_WEB_SECRET" in refused.text
    with TestClient(app, base_url="http://127.0.0.1:8765") as local:
        assert local.get("/login").status_code == 200

    monkeypatch.setenv("EAT_WEB_SECRET", SECRET)
    configured = create_app(PendingApprovalStore(mongo), REVIEWERS)
    with TestClient(configured, base_url="http://10.1.2.3:8765") as remote:
        assert remote.get("/login").status_code == 200


def test_two_inboxes_sharing_EAT_WEB_SECRET_keep_each_others_users_signed_in(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EAT_WEB_SECRET", SECRET)
    # Built from the environment alone, as `eat inbox` builds it, on the same database.
    from_env = create_app(deployment.provider, REVIEWERS, clock=deployment.clock)
    with TestClient(from_env, base_url="http://10.1.2.3:8765") as process:
        process.portal = deployment.first.portal  # shares the provider's database client
        alice = Browser(process)
        assert alice.sign_in(ALICE).status_code == 303, "served beyond loopback: a shared key"
        elsewhere = deployment.browser(deployment.second)
        elsewhere.http.cookies.set(COOKIE_NAME, alice.http.cookies[COOKIE_NAME])
        assert elsewhere.signed_in()


# -- the run's actor under another spelling ----------------------------------------------------


SPELLINGS = [
    "Release-Bot",
    " release-bot ",
    "RELEASE-BOT",
    "r\u0435lease-bot",  # Cyrillic ie
    "release\u200b-bot",  # zero-width space
    "\uff52elease-bot",  # fullwidth r
    "release-bo\u0442",  # Cyrillic te
]


@pytest.mark.parametrize("spelling", SPELLINGS)
async def test_the_runs_actor_cannot_approve_under_another_spelling(
    mongo: MongoDBClient, spelling: str
) -> None:
    store = PendingApprovalStore(mongo)
    await store.create(make_record("a1", actor="release-bot"))
    with pytest.raises(NotAuthorized, match="started this run"):
        await store.decide("a1", call_id="c1", verdict="approved", reviewer=spelling)
    record = await store.get("a1")
    assert record.status.value == "pending" and record.tool_calls[0].votes == []


async def test_one_person_under_two_spellings_is_not_a_quorum_of_two(mongo: MongoDBClient) -> None:
    store = PendingApprovalStore(mongo)
    await store.create(make_record("a1", actor="release-bot", metadata={"min_approvals": 2}))
    await store.decide("a1", call_id="c1", verdict="approved", reviewer="alice")
    with pytest.raises(ApprovalConflict, match="already voted"):
        await store.decide("a1", call_id="c1", verdict="approved", reviewer="\u0430lice ")
    record = await store.get("a1")
    assert record.status.value == "pending" and len(record.tool_calls[0].votes) == 1
    await store.decide("a1", call_id="c1", verdict="approved", reviewer=Reviewer(name="bob"))
    assert (await store.get("a1")).status.value == "decided"


async def test_a_name_of_invisible_characters_cannot_vote(mongo: MongoDBClient) -> None:
    store = PendingApprovalStore(mongo)
    await store.create(make_record("a1", actor="release-bot"))
    with pytest.raises(NotAuthorized, match="no visible characters"):
        await store.decide("a1", call_id="c1", verdict="rejected", reviewer="\u200b\u2060")
    assert (await store.get("a1")).tool_calls[0].votes == []


def test_the_inbox_shows_the_actors_own_call_read_only_under_another_spelling(
    deployment: Deployment,
) -> None:
    portal = deployment.first.portal
    run = portal.call(
        lambda: deployment.provider.execute_agent(
            AGENT_NAME, "deploy payments-api", actor="release-bot"
        )
    )
    approval_id = str(run.approval_id)
    actor = deployment.browser()
    assert actor.sign_in(ACTOR_TOKEN).status_code == 303
    page = actor.http.get(f"/approvals/{approval_id}")
    assert "you started this run" in page.text and 'data-key="approve"' not in page.text
    forged = actor.http.post(
        f"/approvals/{approval_id}/decide",
        data={
            "csrf_token": csrf(page.text),
            "call_id": run.pending_tool_calls[0].call_id,
            "verdict": "approved",
        },
        follow_redirects=False,
    )
    assert forged.status_code == 403
    record = portal.call(deployment.provider.store.get, approval_id)
    assert record.status.value == "pending"


def test_canonical_identities_fold_case_space_invisibles_and_look_alikes() -> None:
    assert canonical_identity("  Alice\u00a0 Smith ") == "alice smith"
    assert same_identity("alice", "\U0001d41a\U0001d425\U0001d422\U0001d41c\U0001d41e")
    assert same_identity("alice", "\u0430l\u0456c\u0435")  # Cyrillic a, i, ie
    assert same_identity("alice", "alice\u202e")  # a bidi override
    assert not same_identity("alice", "alicia") and not same_identity("alice", None)
