"""BighubDecisionProvider against the real ``bighub`` SDK talking to a local FakeBighubServer.

Every request goes through the SDK's own transport over HTTP, so the shapes, headers and
error classes are the SDK's, not a mock's.
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("bighub")

from evolving_agents.decisions.base import (
    DecisionContext,
    DecisionMode,
    DecisionProvider,
    DecisionVerdict,
    ToolCallRequest,
)
from evolving_agents.decisions.bighub import BighubDecisionProvider
from evolving_agents.errors import ConfigurationError
from evolving_agents.testing.fake_bighub import FakeBighubServer

API_KEY = "bhk_test"
FAST = 0.2  # seconds: every test timeout, so outage tests stay well under a second each

MakeProvider = Callable[..., BighubDecisionProvider]


@pytest.fixture
def fake() -> Iterator[FakeBighubServer]:
    with FakeBighubServer(api_key=API_KEY) as server:
        yield server


@pytest.fixture
async def make(fake: FakeBighubServer) -> AsyncIterator[MakeProvider]:
    made: list[BighubDecisionProvider] = []

    def factory(**options: Any) -> BighubDecisionProvider:
        options.setdefault("api_key", API_KEY)
        options.setdefault("base_url", fake.base_url)
        options.setdefault("timeout", FAST)
        provider = BighubDecisionProvider(**options)
        made.append(provider)
        return provider

    yield factory
    for provider in made:
        await provider.aclose()


def okta_grant(call_id: str = "call_1", **arguments: Any) -> ToolCallRequest:
    return ToolCallRequest(
        tool_name="grant_okta_admin",
        arguments=arguments or {"user": "alice", "duration_hours": 2},
        metadata={"system": "okta"},
        call_id=call_id,
    )


# -- response shapes --------------------------------------------------------------------------


async def test_advisory_proceed_allows_autonomously(make: MakeProvider) -> None:
    signal = await make().decide(okta_grant(), DecisionContext())

    assert signal.verdict is DecisionVerdict.ALLOW
    assert signal.mode is DecisionMode.AUTONOMOUS
    assert signal.provider == "bighub"
    assert signal.risk == pytest.approx(0.1)
    assert signal.request_id == "req_0001"
    assert signal.latency_ms > 0
    assert signal.error is None


async def test_advisory_review_needs_approval_with_the_better_action(make: MakeProvider) -> None:
    provider = make(allowed_argument_fields=["duration_hours"])

    signal = await provider.decide(okta_grant(duration_hours=48), DecisionContext())

    assert signal.verdict is DecisionVerdict.NEEDS_APPROVAL
    assert signal.mode is DecisionMode.REVIEW
    assert signal.risk == pytest.approx(0.7)
    assert "duration over 24h" in signal.reason
    assert signal.better_action == "grant_okta_admin with duration_hours=4"


async def test_production_context_needs_approval(make: MakeProvider) -> None:
    signal = await make().decide(okta_grant(), DecisionContext(environment="production"))

    assert signal.verdict is DecisionVerdict.NEEDS_APPROVAL
    assert "production environment" in signal.reason


async def test_destructive_tool_is_blocked(make: MakeProvider) -> None:
    call = ToolCallRequest(tool_name="drop_customer_table", call_id="call_drop")

    signal = await make().decide(call, DecisionContext())

    assert signal.verdict is DecisionVerdict.BLOCK
    assert signal.mode is DecisionMode.BLOCKED
    assert signal.risk == pytest.approx(0.95)


@pytest.mark.parametrize(
    ("enforced_verdict", "expected"),
    [
        ("allowed", DecisionVerdict.ALLOW),
        ("requires_approval", DecisionVerdict.NEEDS_APPROVAL),
        ("blocked", DecisionVerdict.BLOCK),
    ],
)
async def test_enforced_verdict_overrides_the_advice(
    make: MakeProvider, fake: FakeBighubServer, enforced_verdict: str, expected: DecisionVerdict
) -> None:
    # The advice says proceed; in enforced mode only enforced_verdict counts.
    fake.respond_next({
        "request_id": "req_enf", "recommendation": "proceed", "risk_score": 0.3,
        "enforcement_mode": "enforced", "enforced_verdict": enforced_verdict,
    })

    signal = await make().decide(okta_grant(), DecisionContext())

    assert signal.verdict is expected
    assert signal.request_id == "req_enf"
    assert signal.error is None


async def test_fake_in_enforced_mode_reports_its_verdict(make: MakeProvider) -> None:
    with FakeBighubServer(enforcement_mode="enforced") as enforced:
        provider = make(base_url=enforced.base_url)
        signal = await provider.decide(okta_grant(), DecisionContext(environment="production"))

        assert enforced.decide_requests()[0].json["context"]["environment"] == "production"
    assert signal.verdict is DecisionVerdict.NEEDS_APPROVAL


async def test_review_enforcement_turns_caution_into_approval(
    make: MakeProvider, fake: FakeBighubServer
) -> None:
    fake.respond_next({
        "recommendation": "proceed_with_caution", "enforcement_mode": "review", "risk_score": 0.4,
    })

    signal = await make().decide(okta_grant(), DecisionContext())

    assert signal.verdict is DecisionVerdict.NEEDS_APPROVAL
    assert signal.mode is DecisionMode.REVIEW


async def test_advisory_caution_allows_constrained(
    make: MakeProvider, fake: FakeBighubServer
) -> None:
    fake.respond_next({"recommendation": "proceed_with_caution", "enforcement_mode": "advisory"})

    signal = await make().decide(okta_grant(), DecisionContext())

    assert (signal.verdict, signal.mode) == (DecisionVerdict.ALLOW, DecisionMode.CONSTRAINED)


@pytest.mark.parametrize(
    ("legacy", "verdict", "mode"),
    [
        ({"allowed": True, "result": "allowed"}, DecisionVerdict.ALLOW, DecisionMode.AUTONOMOUS),
        ({"allowed": True, "mode": "LIMITED"}, DecisionVerdict.ALLOW, DecisionMode.CONSTRAINED),
        ({"allowed": False, "result": "requires_approval"}, DecisionVerdict.NEEDS_APPROVAL,
         DecisionMode.REVIEW),
        ({"allowed": False, "result": "blocked", "reason": "Rule R-7"}, DecisionVerdict.BLOCK,
         DecisionMode.BLOCKED),
    ],
)
async def test_legacy_allowed_result_shapes(
    make: MakeProvider, fake: FakeBighubServer, legacy: dict[str, Any],
    verdict: DecisionVerdict, mode: DecisionMode,
) -> None:
    fake.respond_next({"validation_id": "val_9", **legacy})

    signal = await make().decide(okta_grant(), DecisionContext())

    assert (signal.verdict, signal.mode) == (verdict, mode)
    assert signal.request_id == "val_9"
    if "reason" in legacy:
        assert signal.reason == "Rule R-7"


async def test_needs_more_context_needs_approval(
    make: MakeProvider, fake: FakeBighubServer
) -> None:
    fake.respond_next({"needs_more_context": True, "reason": "Which group?"})

    signal = await make().decide(okta_grant(), DecisionContext())

    assert signal.verdict is DecisionVerdict.NEEDS_APPROVAL
    assert signal.mode is DecisionMode.NEEDS_CONTEXT
    assert signal.reason == "Which group?"


async def test_canonical_better_decision_contract(
    make: MakeProvider, fake: FakeBighubServer
) -> None:
    # Trimmed from the SDK's own fixture (tests/fixtures/canonical_better_decision_response.json).
    better = "Grant admin access only to users 1-3 for 4h, require MFA, and create expiry review."
    fake.respond_next({
        "request_id": "VAL_1010", "allowed": False, "result": "requires_approval",
        "reason": "Production privileged access requires review.", "requires_approval": True,
        "risk_score": 0.68, "mode": "CONDITIONAL", "human_review": True,
        "recommendation": "review_recommended", "better_action": better,
        "execution_mode": "review", "risk": 0.68,
        "decision_intelligence": {"alternatives": [{"action": better}]},
    })

    signal = await make().decide(okta_grant(), DecisionContext())

    assert (signal.verdict, signal.mode) == (DecisionVerdict.NEEDS_APPROVAL, DecisionMode.REVIEW)
    assert signal.risk == pytest.approx(0.68)
    assert signal.better_action == better
    assert signal.request_id == "VAL_1010"
    assert signal.reason == "Production privileged access requires review."


@pytest.mark.parametrize(
    ("on_error", "expected"),
    [
        ("needs_approval", DecisionVerdict.NEEDS_APPROVAL),
        ("allow", DecisionVerdict.NEEDS_APPROVAL),  # an unreadable answer never allows
        ("block", DecisionVerdict.BLOCK),
    ],
)
async def test_empty_response_fails_closed(
    make: MakeProvider, fake: FakeBighubServer, on_error: str, expected: DecisionVerdict
) -> None:
    fake.empty_next()

    signal = await make(on_error=on_error).decide(okta_grant(), DecisionContext())

    assert signal.verdict is expected
    assert signal.error is not None and signal.error.startswith("malformed_response")


@pytest.mark.parametrize(
    "body",
    [
        {"recommendation": "maybe_later"},
        {"enforcement_mode": "enforced", "recommendation": "proceed"},  # no enforced_verdict
        {"mode": "shadow", "allowed": True},
        ["not", "an", "object"],
    ],
)
async def test_unknown_responses_need_approval(
    make: MakeProvider, fake: FakeBighubServer, body: Any
) -> None:
    fake.respond_next(body)

    signal = await make(on_error="allow").decide(okta_grant(), DecisionContext())

    assert signal.verdict is DecisionVerdict.NEEDS_APPROVAL
    assert signal.error is not None and signal.error.startswith("malformed_response")


# -- outages ----------------------------------------------------------------------------------

OUTAGES: dict[str, Callable[[FakeBighubServer], None]] = {
    "auth": lambda fake: fake.fail_next(401),
    "validation": lambda fake: fake.fail_next(422),
    "rate_limited": lambda fake: fake.fail_next(429, times=2, retry_after=0),
    "server_error": lambda fake: fake.fail_next(503, times=2),
    "timeout": lambda fake: fake.delay_next(FAST * 2.5, times=2),
}


@pytest.mark.parametrize("kind", list(OUTAGES))
@pytest.mark.parametrize(
    ("on_error", "expected"),
    [
        (None, DecisionVerdict.NEEDS_APPROVAL),
        ("block", DecisionVerdict.BLOCK),
        ("allow", DecisionVerdict.ALLOW),
    ],
)
async def test_outage_follows_on_error_and_is_recorded(
    make: MakeProvider, fake: FakeBighubServer, kind: str, on_error: str | None,
    expected: DecisionVerdict,
) -> None:
    OUTAGES[kind](fake)
    provider = make() if on_error is None else make(on_error=on_error)

    signal = await provider.decide(okta_grant(), DecisionContext())

    assert signal.verdict is expected
    assert signal.error is not None and signal.error.startswith(f"{kind}:")
    assert f"on_error={expected.value}" in signal.reason
    retried = kind in {"rate_limited", "server_error", "timeout"}
    assert len(fake.decide_requests()) == (2 if retried else 1)


async def test_wrong_api_key_is_an_auth_outage_not_an_exception(make: MakeProvider) -> None:
    signal = await make(api_key="revoked").decide(okta_grant(), DecisionContext())

    assert signal.verdict is DecisionVerdict.NEEDS_APPROVAL
    assert signal.error == "auth: Invalid API key"


async def test_unreachable_service_is_a_network_outage(fake: FakeBighubServer) -> None:
    base_url = fake.base_url
    fake.stop()
    provider = BighubDecisionProvider(api_key=API_KEY, base_url=base_url, timeout=FAST)

    signal = await provider.decide(okta_grant(), DecisionContext())
    await provider.aclose()

    assert signal.verdict is DecisionVerdict.NEEDS_APPROVAL
    assert signal.error is not None and signal.error.startswith("network:")


@pytest.mark.parametrize(
    "first_failure",
    [
        lambda fake: fake.fail_next(500),
        lambda fake: fake.fail_next(429, retry_after=0),
        lambda fake: fake.delay_next(FAST * 2.5),
    ],
    ids=["500", "429", "timeout"],
)
async def test_one_retry_then_success_with_the_same_idempotency_key(
    make: MakeProvider, fake: FakeBighubServer, first_failure: Callable[[FakeBighubServer], None]
) -> None:
    first_failure(fake)

    signal = await make().decide(okta_grant("call_retry"), DecisionContext())

    assert signal.verdict is DecisionVerdict.ALLOW
    assert signal.error is None
    first, again = [r.idempotency_key for r in fake.decide_requests()]
    assert first == again and first is not None and first.startswith("call_retry:")


async def test_retries_zero_means_a_single_attempt(
    make: MakeProvider, fake: FakeBighubServer
) -> None:
    fake.fail_next(500)

    signal = await make(retries=0).decide(okta_grant(), DecisionContext())

    assert signal.error is not None and signal.error.startswith("server_error")
    assert len(fake.decide_requests()) == 1


async def test_timeout_bounds_the_whole_decision(
    make: MakeProvider, fake: FakeBighubServer
) -> None:
    fake.delay_next(5.0, times=2)

    started = time.perf_counter()
    signal = await make().decide(okta_grant(), DecisionContext())

    # Two attempts of FAST seconds and one short backoff, far from the server's 5 s.
    assert time.perf_counter() - started < 1.5
    assert signal.error is not None and signal.error.startswith("timeout")


# -- what is sent -----------------------------------------------------------------------------


async def test_idempotency_key_is_one_call_of_one_run(
    make: MakeProvider, fake: FakeBighubServer
) -> None:
    # Was the bare call id: a model reusing call ids (across runs, or with other arguments) got
    # the first call's answer back from BIGHUB's idempotency cache.
    provider = make(allowed_argument_fields=["duration_hours"])
    short, long = {"duration_hours": 2}, {"duration_hours": 72}
    await provider.decide(okta_grant("call_A", **short), DecisionContext(run_id="run_1"))
    await provider.decide(okta_grant("call_B", **short), DecisionContext(run_id="run_1"))
    allowed = await provider.decide(okta_grant("call_A", **short), DecisionContext(run_id="run_2"))
    reused = await provider.decide(okta_grant("call_A", **long), DecisionContext(run_id="run_2"))

    keys = [r.idempotency_key or "" for r in fake.decide_requests()]
    assert [key.split(":")[:2] for key in keys] == [
        ["run_1", "call_A"],
        ["run_1", "call_B"],
        ["run_2", "call_A"],
        ["run_2", "call_A"],
    ]
    assert len(set(keys)) == 4, "a reused call id with other arguments is a new key"
    assert allowed.verdict is DecisionVerdict.ALLOW
    assert reused.verdict is DecisionVerdict.NEEDS_APPROVAL, "scored afresh, not the first answer"
    assert all(r.api_key == API_KEY for r in fake.decide_requests())


async def test_only_allow_listed_argument_fields_leave_the_machine(
    make: MakeProvider, fake: FakeBighubServer
) -> None:
    provider = make(
        allowed_argument_fields={"*": ["ticket"], "grant_okta_admin": ["duration_hours", "group"]},
        domain="it_ops",
    )
    call = ToolCallRequest(
        tool_name="grant_okta_admin",
        arguments={
            "duration_hours": 48, "group": "admins", "ticket": "CHG-1",
            "user_email": "alice@example.com", "justification": "secret incident details",
        },
        metadata={"system": "okta", "risk": "high", "environment": "production",
                  "owner_email": "bob@example.com"},
        call_id="call_priv",
        agent_name="ops-agent",
    )
    other = ToolCallRequest(
        tool_name="restart_service", arguments={"duration_hours": 1, "ticket": "CHG-2"},
        call_id="call_other",
    )

    await provider.decide(call, DecisionContext(actor="alice@example.com", run_id="run_1"))
    await provider.decide(other, DecisionContext())

    first, second = (r.json for r in fake.decide_requests())
    assert first["context"]["arguments"] == {
        "duration_hours": 48, "group": "admins", "ticket": "CHG-1",
    }
    assert {k: first["context"][k] for k in ("tool", "system", "risk", "environment")} == {
        "tool": "grant_okta_admin", "system": "okta", "risk": "high", "environment": "production",
    }
    assert first["action"] == "grant_okta_admin"
    assert first["domain"] == "it_ops"
    assert second["context"]["arguments"] == {"ticket": "CHG-2"}  # global list only
    for leaked in ("alice@example.com", "bob@example.com", "secret incident", "run_1", "ops-agent"):
        assert leaked not in str(first)


async def test_no_allow_list_sends_no_arguments(make: MakeProvider, fake: FakeBighubServer) -> None:
    await make().decide(okta_grant(duration_hours=48, user="alice"), DecisionContext())

    assert fake.decide_requests()[0].json["context"]["arguments"] == {}


# -- configuration mistakes -------------------------------------------------------------------


def test_missing_api_key_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BIGHUB_API_KEY", raising=False)

    with pytest.raises(ConfigurationError, match="BIGHUB_API_KEY"):
        BighubDecisionProvider()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"on_error": "ignore"}, "on_error"),
        ({"allowed_argument_fields": "duration_hours"}, "list of argument names"),
        ({"allowed_argument_fields": {"grant_okta_admin": "duration_hours"}}, "grant_okta_admin"),
        ({"allowed_argument_fields": [1, 2]}, "non-string"),
        ({"allowed_argument_fields": 42}, "list of argument names"),
        ({"timeout": 0}, "timeout"),
        ({"retries": -1}, "retries"),
        ({"base_url": "http://bighub.example.com"}, "base_url"),
    ],
)
def test_configuration_mistakes_raise(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        BighubDecisionProvider(api_key=API_KEY, **options)


async def test_client_and_api_key_together_raise(make: MakeProvider) -> None:
    from bighub import AsyncBighubClient

    client = AsyncBighubClient(api_key=API_KEY, max_retries=0)
    with pytest.raises(ConfigurationError, match="not both"):
        BighubDecisionProvider(client, api_key=API_KEY)
    await client.close()


def test_missing_sdk_raises_only_when_constructed(monkeypatch: pytest.MonkeyPatch) -> None:
    import evolving_agents.decisions as decisions

    # Re-importing rebinds the package attribute; the original comes back after the test.
    monkeypatch.setattr(decisions, "bighub", sys.modules["evolving_agents.decisions.bighub"])
    monkeypatch.delitem(sys.modules, "evolving_agents.decisions.bighub")
    monkeypatch.setitem(sys.modules, "bighub", None)  # makes `import bighub` fail

    module = importlib.import_module("evolving_agents.decisions.bighub")

    with pytest.raises(ConfigurationError, match=r"evolving-agents\[bighub\]"):
        module.BighubDecisionProvider(api_key=API_KEY)


async def test_from_env_and_injected_client(
    fake: FakeBighubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bighub import AsyncBighubClient

    monkeypatch.setenv("BIGHUB_API_KEY", API_KEY)
    monkeypatch.setenv("BIGHUB_BASE_URL", fake.base_url)
    monkeypatch.setenv("EAT_BIGHUB_ON_ERROR", "block")
    from_env = BighubDecisionProvider.from_env(timeout=FAST)
    client = AsyncBighubClient(api_key=API_KEY, base_url=fake.base_url, max_retries=0)
    injected = BighubDecisionProvider(client, timeout=FAST)

    assert isinstance(from_env, DecisionProvider)
    allowed = await from_env.decide(okta_grant("c1"), DecisionContext())
    via_client = await injected.decide(okta_grant("c2"), DecisionContext())
    fake.fail_next(401)
    blocked = await from_env.decide(okta_grant("c3"), DecisionContext())  # EAT_BIGHUB_ON_ERROR

    assert allowed.verdict is DecisionVerdict.ALLOW
    assert via_client.verdict is DecisionVerdict.ALLOW
    assert blocked.verdict is DecisionVerdict.BLOCK

    await from_env.aclose()
    await injected.aclose()  # an injected client stays the caller's to close
    assert not client._transport._client.is_closed
    await client.close()


# -- outcome reporting ------------------------------------------------------------------------


async def test_report_outcome_by_call_id_links_the_request(
    make: MakeProvider, fake: FakeBighubServer
) -> None:
    provider = make()
    signal = await provider.decide(okta_grant("call_done"), DecisionContext())

    reported = await provider.report_outcome(
        call_id="call_done", outcome="success", details={"ticket": "CHG-1"}
    )

    assert reported is True
    (report,) = fake.outcome_reports()
    assert report.json["request_id"] == signal.request_id
    assert report.json["status"] == "SUCCESS"
    assert report.json["details"] == {
        "outcome": "success", "ticket": "CHG-1", "call_id": "call_done",
    }


async def test_report_outcome_with_request_id_from_a_stored_signal(
    make: MakeProvider, fake: FakeBighubServer
) -> None:
    # Another process decided; only the request id stored on the approval record is known.
    assert await make().report_outcome(request_id="req_elsewhere", outcome="rejected") is True
    assert fake.outcome_reports()[0].json["status"] == "ESCALATION"


@pytest.mark.parametrize(
    "break_it",
    [
        lambda fake: fake.stop(),
        lambda fake: fake.fail_next(500, path="/outcomes/report"),
        lambda fake: fake.fail_next(401, path="/outcomes/report"),
        lambda fake: fake.delay_next(5.0, path="/outcomes/report"),
    ],
    ids=["down", "500", "401", "slow"],
)
async def test_report_outcome_never_raises(
    make: MakeProvider, fake: FakeBighubServer, break_it: Callable[[FakeBighubServer], None]
) -> None:
    provider = make()
    break_it(fake)

    started = time.perf_counter()
    reported = await provider.report_outcome(request_id="req_1", outcome="failure")

    assert reported is False
    assert time.perf_counter() - started < 1.0


async def test_report_outcome_without_a_request_id_or_known_outcome_is_skipped(
    make: MakeProvider, fake: FakeBighubServer
) -> None:
    provider = make()

    assert await provider.report_outcome(call_id="never_decided", outcome="success") is False
    assert await provider.report_outcome(request_id="req_1", outcome="exploded") is False  # type: ignore[arg-type]
    assert fake.outcome_reports() == []
