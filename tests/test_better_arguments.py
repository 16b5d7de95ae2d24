"""Suggested arguments: a rule's ``suggest``, BIGHUB's structured alternative, and approving one.

The decision layer may answer a risky call with the same tool and better arguments, in full
(``DecisionSignal.better_arguments``); a reviewer applies them through the edited-arguments
path, so the tool runs once, with them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from agents import Agent
from agents.testing import ScriptedModel, assistant_message, function_call

from evolving_agents import AgentRegistry, MongoDBClient, OpenAIAgentsProvider, OpenAIToolAdapter
from evolving_agents.approvals.models import RunStatus
from evolving_agents.approvals.suggestions import (
    SUGGESTION_APPLIED,
    better_action,
    suggested_arguments,
)
from evolving_agents.decisions.base import (
    DecisionContext,
    DecisionMode,
    DecisionProvider,
    DecisionVerdict,
    ToolCallRequest,
)
from evolving_agents.decisions.local_rules import LocalRulePolicy
from evolving_agents.errors import ConfigurationError

LONG_GRANTS: dict[str, Any] = {
    "name": "long-grants",
    "tools": ["grant_*"],
    "when": [{"arg": "duration_hours", "op": ">", "value": 2}],
    "verdict": "needs_approval",
    "risk": 0.9,
    "reason": "admin for more than 2h",
    "suggest": {"duration_hours": 2},
}


def grant(call_id: str = "c1", **arguments: Any) -> ToolCallRequest:
    return ToolCallRequest(
        tool_name="grant_okta_admin",
        arguments=arguments or {"user": "alice", "duration_hours": 48},
        metadata={"system": "okta"},
        call_id=call_id,
    )


async def decide(policy: LocalRulePolicy, call: ToolCallRequest) -> Any:
    return await policy.decide(call, DecisionContext())


# -- rules: suggest ---------------------------------------------------------------------------


async def test_a_winning_rule_suggests_the_whole_call_with_its_paths_set() -> None:
    call = grant(user="alice", duration_hours=48, groups=["admins"])

    signal = await decide(LocalRulePolicy.from_dict([LONG_GRANTS]), call)

    assert signal.better_arguments == {"user": "alice", "duration_hours": 2, "groups": ["admins"]}
    assert signal.better_action == "duration_hours=2 instead of 48"  # generated: none was given
    assert call.arguments["duration_hours"] == 48, "the call itself is left as the model sent it"
    assert signal.better_arguments["groups"] is not call.arguments["groups"], "a deep copy"


async def test_a_given_better_action_is_kept_beside_the_suggestion() -> None:
    rule = {**LONG_GRANTS, "better_action": "Grant for 2h instead of 48h"}

    signal = await decide(LocalRulePolicy.from_dict([rule]), grant())

    assert signal.better_action == "Grant for 2h instead of 48h"
    assert signal.better_arguments == {"user": "alice", "duration_hours": 2}


async def test_nested_paths_set_inside_objects_and_create_the_missing_ones() -> None:
    rule = {
        "name": "prod-deploys",
        "tools": ["deploy"],
        "when": [{"arg": "target.environment", "op": "==", "value": "production"}],
        "verdict": "needs_approval",
        "suggest": {"target.environment": "staging", "rollout.canary": {"percent": 5}},
    }
    call = ToolCallRequest(
        tool_name="deploy",
        arguments={"service": "api", "target": {"environment": "production", "region": "eu"}},
        call_id="c1",
    )

    signal = await decide(LocalRulePolicy.from_dict([rule]), call)

    assert signal.better_arguments == {
        "service": "api",
        "target": {"environment": "staging", "region": "eu"},
        "rollout": {"canary": {"percent": 5}},
    }
    assert signal.better_action == (
        "target.environment=staging instead of production, rollout.canary.percent=5 (not set)"
    )


async def test_a_path_inside_an_argument_that_is_not_an_object_suggests_nothing() -> None:
    rule = {**LONG_GRANTS, "suggest": {"duration_hours.value": 2}}

    signal = await decide(LocalRulePolicy.from_dict([rule]), grant())

    assert signal.verdict is DecisionVerdict.NEEDS_APPROVAL
    assert signal.better_arguments is None and signal.better_action is None


async def test_no_suggestion_when_the_suggesting_rule_does_not_win() -> None:
    frozen = {
        "name": "okta-freeze",
        "match": {"system": "okta"},
        "verdict": "block",
        "reason": "Okta changes are frozen",
        "better_action": "open a ticket",
    }
    policy = LocalRulePolicy.from_dict([LONG_GRANTS, frozen])

    blocked = await decide(policy, grant())
    short = await decide(LocalRulePolicy.from_dict([LONG_GRANTS]), grant(duration_hours=1))

    assert blocked.request_id == "okta-freeze"
    assert blocked.better_arguments is None and blocked.better_action == "open a ticket"
    assert short.request_id is None and short.better_arguments is None  # no rule matched


async def test_a_suggestion_that_changes_nothing_is_no_suggestion() -> None:
    rule = {**LONG_GRANTS, "when": [], "suggest": {"user": "alice"}}

    signal = await decide(LocalRulePolicy.from_dict([rule]), grant())

    assert signal.request_id == "long-grants"
    assert signal.better_arguments is None and signal.better_action is None


@pytest.mark.parametrize(
    ("suggest", "problem"),
    [
        ({"": 2}, "suggest has an empty argument path"),
        ({"target..environment": "staging"}, "suggest path 'target..environment' has an empty"),
        ({"target.": "staging"}, "suggest path 'target.' has an empty segment"),
        ({"duration_hours": float("nan")}, "suggest path 'duration_hours': nan is not a JSON"),
        ({"duration_hours": {1, 2}}, "a set is not a JSON value"),
        ({"target": {}}, "suggest path 'target' is an empty table"),
        ({"target": "x", "target.environment": "y"}, "sets both 'target' and 'target.env"),
        ({"target": {"environment": "x"}, "target.environment": "y"}, "sets 'target.envir"),
        ("duration_hours=2", "suggest: Input should be a valid dictionary"),
    ],
    ids=[
        "empty",
        "empty-segment",
        "trailing-dot",
        "nan",
        "set",
        "empty-table",
        "inside",
        "twice",
        "not-a-table",
    ],
)
def test_a_bad_suggestion_is_refused_at_load_naming_the_rule(suggest: Any, problem: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        LocalRulePolicy.from_dict([{**LONG_GRANTS, "name": "grants-2h", "suggest": suggest}])

    assert str(refused.value).startswith("rule #1 (grants-2h): ")
    assert problem in str(refused.value)


TOML_RULES = """
[[rules]]
name = "long-okta-grants"
tools = ["grant_*"]
match = { system = "okta" }
when = [{ arg = "duration_hours", op = ">", value = 2 }]
verdict = "needs_approval"
risk = 0.9
suggest = { duration_hours = 2, "approval.ticket" = "CHG-1", scope.groups = ["helpdesk"] }
"""

YAML_RULES = """
rules:
  - name: long-okta-grants
    tools: [grant_*]
    match: {system: okta}
    when: [{arg: duration_hours, op: '>', value: 2}]
    verdict: needs_approval
    risk: 0.9
    suggest:
      duration_hours: 2
      approval.ticket: CHG-1
      scope: {groups: [helpdesk]}
"""


@pytest.mark.parametrize(("name", "text"), [("rules.toml", TOML_RULES), ("rules.yaml", YAML_RULES)])
async def test_suggestions_load_from_toml_and_yaml_files(
    tmp_path: Path, name: str, text: str
) -> None:
    path = tmp_path / name
    path.write_text(text)

    signal = await decide(LocalRulePolicy.from_file(path), grant())

    # TOML's unquoted dotted key and YAML's nested mapping are paths, like a quoted one.
    assert signal.better_arguments == {
        "user": "alice",
        "duration_hours": 2,
        "approval": {"ticket": "CHG-1"},
        "scope": {"groups": ["helpdesk"]},
    }


def test_a_bad_suggestion_in_a_file_names_the_file_and_the_rule(tmp_path: Path) -> None:
    toml = tmp_path / "rules.toml"
    toml.write_text(
        '[[rules]]\nname = "dated"\nverdict = "allow"\nsuggest = { until = 2026-01-01 }\n'
    )
    yaml = tmp_path / "rules.yml"
    yaml.write_text("rules:\n- name: dotty\n  verdict: allow\n  suggest: {'a..b': 1}\n")

    with pytest.raises(ConfigurationError, match=r"rules\.toml: rule #1 \(dated\): .*a date is"):
        LocalRulePolicy.from_file(toml)
    with pytest.raises(ConfigurationError, match=r"rules\.yml: rule #1 \(dotty\): .*empty segm"):
        LocalRulePolicy.from_file(yaml)


# -- rules: needs_context ---------------------------------------------------------------------


async def test_a_needs_context_rule_needs_only_its_mode_and_a_reason() -> None:
    policy = LocalRulePolicy.from_dict(
        [
            {
                "name": "no-ticket",
                "tools": ["grant_*"],
                "when": [{"arg": "ticket", "op": "missing"}],
                "mode": "needs_context",
                "reason": "no change ticket given",
            }
        ]
    )

    signal = await decide(policy, grant())

    assert signal.mode is DecisionMode.NEEDS_CONTEXT
    assert signal.verdict is DecisionVerdict.NEEDS_APPROVAL  # ranks with needing approval
    assert signal.reason == "no change ticket given"
    with pytest.raises(ConfigurationError, match=r"rule #1 \(mute\): a needs_context rule needs"):
        LocalRulePolicy.from_dict([{"name": "mute", "mode": "needs_context"}])
    with pytest.raises(ConfigurationError, match=r"rule #1 \(none\): verdict: Field required"):
        LocalRulePolicy.from_dict([{"name": "none", "reason": "?"}])


def _grant_agent(
    policy: DecisionProvider, executed: list[dict[str, Any]], hours: int = 48
) -> tuple[OpenAIAgentsProvider, ScriptedModel]:
    def grant_okta_admin(user: str, duration_hours: int) -> str:
        """Grant Okta admin for a while."""
        executed.append({"user": user, "duration_hours": duration_hours})
        return f"granted {user} for {duration_hours}h"

    model = ScriptedModel(
        [
            [
                function_call(
                    "grant_okta_admin", {"user": "alice", "duration_hours": hours}, call_id="c1"
                )
            ],
            [assistant_message("done")],
        ]
    )
    adapter = OpenAIToolAdapter(decision_provider=policy)
    tool = adapter.adapt(grant_okta_admin, metadata={"system": "okta"})
    registry = AgentRegistry()
    registry.register(Agent(name="ops-agent", tools=[tool], model=model))
    provider = OpenAIAgentsProvider(mongodb_client=MongoDBClient("memory://"), registry=registry)
    return provider, model


def _tool_outputs(model: ScriptedModel) -> list[str]:
    last = model.last_call
    assert last is not None and isinstance(last.input, list)
    return [item["output"] for item in last.input if item.get("type") == "function_call_output"]


async def test_a_needs_context_call_neither_runs_nor_pauses_and_the_model_reads_why() -> None:
    policy = LocalRulePolicy.from_dict(
        [{"name": "no-ticket", "mode": "needs_context", "reason": "no change ticket given"}]
    )
    executed: list[dict[str, Any]] = []
    provider, model = _grant_agent(policy, executed)

    run = await provider.execute_agent("ops-agent", "grant alice admin")

    assert run.status is RunStatus.SUCCESS and executed == []
    (output,) = _tool_outputs(model)
    assert "needs more context" in output and "no change ticket given" in output


# -- approving a suggestion, end to end -------------------------------------------------------


async def test_approving_a_rules_suggestion_runs_the_tool_once_with_it() -> None:
    executed: list[dict[str, Any]] = []
    provider, model = _grant_agent(LocalRulePolicy.from_dict([LONG_GRANTS]), executed)
    run = await provider.execute_agent("ops-agent", "grant alice admin for 48h")
    assert run.status is RunStatus.AWAITING_APPROVAL and run.approval_id is not None
    (call,) = (await provider.store.get(run.approval_id)).tool_calls
    suggested = suggested_arguments(call)
    assert suggested == {"user": "alice", "duration_hours": 2}
    assert better_action(call) == "duration_hours=2 instead of 48"

    await provider.store.decide(
        run.approval_id,
        call_id=call.call_id,
        verdict="approved",
        reviewer="bob",
        edited_arguments=suggested,
        message=SUGGESTION_APPLIED,
    )
    done = await provider.resume_agent(run.approval_id)

    assert done.status is RunStatus.SUCCESS
    assert executed == [{"user": "alice", "duration_hours": 2}], "once, with the suggestion"
    assert _tool_outputs(model) == ["granted alice for 2h"]
    decided = (await provider.store.get(run.approval_id)).tool_calls[0].decision
    assert decided is not None and decided.edited_arguments == suggested
    assert decided.message == SUGGESTION_APPLIED


# -- BIGHUB: a structured alternative ---------------------------------------------------------

bighub = pytest.importorskip("bighub")

from evolving_agents.decisions.bighub import BighubDecisionProvider  # noqa: E402
from evolving_agents.testing.fake_bighub import FakeBighubServer  # noqa: E402

API_KEY = "bhk_test"
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
        options.setdefault("timeout", 0.5)
        options.setdefault("allowed_argument_fields", {"grant_okta_admin": ["duration_hours"]})
        provider = BighubDecisionProvider(**options)
        made.append(provider)
        return provider

    yield factory
    for provider in made:
        await provider.aclose()


async def test_bighubs_alternative_for_the_same_tool_becomes_the_full_better_arguments(
    make: MakeProvider, fake: FakeBighubServer
) -> None:
    fake.alternative_next({"duration_hours": 2})

    signal = await make().decide(grant(), DecisionContext(run_id="run_1"))

    assert signal.verdict is DecisionVerdict.NEEDS_APPROVAL
    assert signal.better_arguments == {"user": "alice", "duration_hours": 2}  # merged, in full
    assert signal.better_action == "grant_okta_admin with duration_hours=2"  # the SDK's text
    (sent,) = fake.decide_requests()
    assert signal.idempotency_key is not None and signal.idempotency_key == sent.idempotency_key
    assert "alice" not in json.dumps(sent.json), "the merge happens here, not at BIGHUB"


@pytest.mark.parametrize(
    ("alternative", "why"),
    [
        ({"arguments": {"duration_hours": 2}, "tool": "request_okta_access"}, "another tool"),
        ({"arguments": {"user": "mallory"}}, "a field BIGHUB was never shown"),
        ({"arguments": {"duration_hours": 48}}, "the same arguments"),
        ({"arguments": {}}, "no arguments"),
    ],
    ids=["other-tool", "not-allow-listed", "unchanged", "empty"],
)
async def test_an_alternative_this_call_cannot_take_is_no_suggestion(
    make: MakeProvider, fake: FakeBighubServer, alternative: dict[str, Any], why: str
) -> None:
    fake.alternative_next(alternative["arguments"], tool=alternative.get("tool"))

    signal = await make().decide(grant(), DecisionContext())

    assert signal.verdict is DecisionVerdict.NEEDS_APPROVAL
    assert signal.better_arguments is None, why
    assert signal.better_action is not None, "the SDK's text is still shown"


async def test_text_only_alternatives_and_later_usable_ones(
    make: MakeProvider, fake: FakeBighubServer
) -> None:
    # The fake's own long-grant alternative is the SDK's documented text shape: no arguments.
    text_only = await make().decide(grant(call_id="c1"), DecisionContext())
    fake.respond_next(
        {
            "request_id": "req_alt",
            "recommendation": "review_recommended",
            "risk_score": 0.8,
            "decision_intelligence": {
                "alternatives": [
                    {"action": "revoke_okta_admin", "arguments": {"duration_hours": 0}},
                    {"action": "grant_okta_admin", "params": {"duration_hours": 4}},
                ]
            },
        }
    )
    later = await make().decide(grant(call_id="c2"), DecisionContext())

    assert text_only.better_action == "grant_okta_admin with duration_hours=4"
    assert text_only.better_arguments is None
    assert later.better_arguments == {"user": "alice", "duration_hours": 4}


async def test_every_signal_names_its_idempotency_key_fallbacks_too(
    make: MakeProvider, fake: FakeBighubServer
) -> None:
    provider = make(retries=0)
    fake.fail_next(503)
    outage = await provider.decide(grant(call_id="c1"), DecisionContext())
    fake.empty_next()
    unreadable = await provider.decide(grant(call_id="c2"), DecisionContext())
    scored = await provider.decide(grant(call_id="c3"), DecisionContext())

    assert outage.error is not None and outage.error.startswith("server_error")
    assert unreadable.error is not None and unreadable.error.startswith("malformed_response")
    assert [outage.idempotency_key, unreadable.idempotency_key, scored.idempotency_key] == [
        request.idempotency_key for request in fake.decide_requests()
    ]
    assert all(
        key is not None and key.startswith(f"c{n}:")
        for n, key in enumerate(
            (outage.idempotency_key, unreadable.idempotency_key, scored.idempotency_key), start=1
        )
    )


async def test_approving_bighubs_suggestion_runs_the_tool_once_with_it(
    make: MakeProvider, fake: FakeBighubServer
) -> None:
    fake.alternative_next({"duration_hours": 2})
    executed: list[dict[str, Any]] = []
    provider, _ = _grant_agent(make(), executed)
    run = await provider.execute_agent("ops-agent", "grant alice admin for 48h")
    assert run.status is RunStatus.AWAITING_APPROVAL and run.approval_id is not None
    (call,) = (await provider.store.get(run.approval_id)).tool_calls
    assert call.signal is not None and call.signal["idempotency_key"] is not None

    await provider.store.decide(
        run.approval_id,
        call_id=call.call_id,
        verdict="approved",
        reviewer="bob",
        edited_arguments=suggested_arguments(call),
        message=SUGGESTION_APPLIED,
    )
    done = await provider.resume_agent(run.approval_id)

    assert done.status is RunStatus.SUCCESS
    assert executed == [{"user": "alice", "duration_hours": 2}]
    # The edit was scored again before it was accepted, and the resumed call once more.
    durations = [r.json["context"]["arguments"]["duration_hours"] for r in fake.decide_requests()]
    assert durations[0] == 48 and set(durations[1:]) == {2}


async def test_an_edit_that_would_need_more_context_is_refused_before_any_vote() -> None:
    """Approved, it could never run (the resume's guardrail asks for context): refused now."""
    from agents import Agent
    from agents.testing import ScriptedModel, function_call

    from evolving_agents import (
        InvalidDecision,
        LocalRulePolicy,
        MongoDBClient,
        OpenAIAgentsProvider,
        OpenAIToolAdapter,
    )

    policy = LocalRulePolicy(
        [
            {
                "name": "long",
                "tools": ["grant"],
                "when": [{"arg": "hours", "op": ">", "value": 4}],
                "verdict": "needs_approval",
                "risk": 0.9,
                "suggest": {"hours": 2},
            },
            {
                "name": "ticket",
                "tools": ["grant"],
                "when": [{"arg": "hours", "op": "<=", "value": 4}],
                "mode": "needs_context",
                "reason": "Name the ticket.",
            },
        ]
    )

    def grant(user: str, hours: int) -> str:
        return "granted"

    adapter = OpenAIToolAdapter(decision_provider=policy)
    model = ScriptedModel([[function_call("grant", {"user": "a", "hours": 48}, call_id="c1")]])
    agent = Agent(
        name="ops", tools=[adapter.adapt(grant, metadata={"system": "okta"})], model=model
    )
    client = MongoDBClient("memory://", "eat_test_needs_context_edit")
    provider = OpenAIAgentsProvider(mongodb_client=client)
    run = await provider.execute_agent(agent, "grant")
    record = await provider.store.get(run.approval_id)
    suggested = record.tool_calls[0].signal["better_arguments"]
    assert suggested == {"user": "a", "hours": 2}
    with pytest.raises(InvalidDecision, match="needs more context first: Name the ticket"):
        await provider.store.decide(
            run.approval_id,
            call_id="c1",
            verdict="approved",
            reviewer="bob",
            edited_arguments=suggested,
        )
    again = await provider.store.get(run.approval_id)
    assert again.tool_calls[0].votes == [] and again.status.value == "pending"
    await client.close()
