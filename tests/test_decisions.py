"""The decision layer: local rules on a table of cases, composition, and the adapter's gate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from agents import Agent, Runner
from agents.testing import ScriptedModel, assistant_message, function_call

from evolving_agents import AgentRegistry, MongoDBClient, OpenAIAgentsProvider, OpenAIToolAdapter
from evolving_agents.approvals.models import RunStatus
from evolving_agents.decisions.base import (
    DecisionContext,
    DecisionMode,
    DecisionSignal,
    DecisionVerdict,
    ToolCallRequest,
)
from evolving_agents.decisions.composite import CompositeDecisionProvider
from evolving_agents.decisions.local_rules import LocalRulePolicy
from evolving_agents.errors import ConfigurationError

RULES: dict[str, Any] = {
    "rules": [
        {
            "name": "long-okta-grants",
            "tools": ["grant_*"],
            "match": {"system": "okta"},
            "when": [{"arg": "duration_hours", "op": ">", "value": 24}],
            "verdict": "needs_approval",
            "risk": 0.8,
            "reason": "Okta admin for more than 24h",
            "better_action": "grant for 2h instead of 48h",
        },
        {
            "name": "short-okta-grants",
            "tools": ["grant_*"],
            "match": {"system": "okta"},
            "when": [{"arg": "duration_hours", "op": "<=", "value": 2}],
            "verdict": "allow",
            "risk": 0.2,
        },
        {
            "name": "big-payments",
            "tools": ["pay_*", "transfer_*"],
            "when": [{"arg": "amount", "op": ">=", "value": 10000}],
            "verdict": "needs_approval",
            "risk": 0.7,
            "reason": "amount over the limit",
        },
        {
            "name": "sanctioned-payees",
            "tools": ["pay_*", "transfer_*"],
            "when": [{"arg": "payee.country", "op": "in", "value": ["KP", "IR"]}],
            "verdict": "block",
            "risk": 1.0,
            "reason": "sanctioned country",
        },
        {
            "name": "prod-deploys",
            "tools": ["deploy*"],
            "when": [{"arg": "environment", "op": "==", "value": "production"}],
            "verdict": "needs_approval",
            "mode": "constrained",
            "risk": 0.6,
        },
        {
            "name": "prod-terraform",
            "match": {"system": "terraform", "environment": ["prod", "production"]},
            "verdict": "needs_approval",
            "risk": 0.9,
        },
        {
            "name": "destroy",
            "when": [{"arg": "command", "op": "matches", "value": "\\bdestroy\\b"}],
            "verdict": "block",
            "risk": 1.0,
            "reason": "destroy is never automated",
        },
    ]
}


def call(
    tool: str, arguments: dict[str, Any], metadata: dict[str, Any] | None = None, own: bool = False
) -> ToolCallRequest:
    return ToolCallRequest(
        tool_name=tool,
        arguments=arguments,
        metadata=metadata or {},
        call_id="c1",
        tool_requires_approval=own,
    )


CASES = [
    (
        "okta 48h",
        call("grant_okta_admin", {"duration_hours": 48}, {"system": "okta"}),
        "needs_approval",
        "long-okta-grants",
    ),
    (
        "okta 2h",
        call("grant_okta_admin", {"duration_hours": 2}, {"system": "OKTA"}),
        "allow",
        "short-okta-grants",
    ),
    (
        "okta 12h falls to the tool's own setting",
        call("grant_okta_admin", {"duration_hours": 12}, {"system": "okta"}, own=True),
        "needs_approval",
        None,
    ),
    (
        "grant on another system",
        call("grant_okta_admin", {"duration_hours": 48}, {"system": "github"}),
        "allow",
        None,
    ),
    ("small payment", call("pay_vendor", {"amount": 500}), "allow", None),
    (
        "payment at the limit",
        call("pay_vendor", {"amount": 10000}),
        "needs_approval",
        "big-payments",
    ),
    (
        "amount as a string",
        call("transfer_funds", {"amount": "25000"}),
        "needs_approval",
        "big-payments",
    ),
    (
        "big payment to a sanctioned payee: block wins",
        call("transfer_funds", {"amount": 50000, "payee": {"country": "KP"}}),
        "block",
        "sanctioned-payees",
    ),
    (
        "missing nested argument never matches",
        call("transfer_funds", {"amount": 5, "payee": "acme"}),
        "allow",
        None,
    ),
    (
        "prod deploy",
        call("deploy_service", {"environment": "Production"}),
        "needs_approval",
        "prod-deploys",
    ),
    ("staging deploy", call("deploy_service", {"environment": "staging"}), "allow", None),
    (
        "terraform in prod by metadata",
        call(
            "terraform_apply", {"command": "apply"}, {"system": "terraform", "environment": "prod"}
        ),
        "needs_approval",
        "prod-terraform",
    ),
    (
        "terraform destroy anywhere",
        call(
            "terraform_apply",
            {"command": "terraform destroy -auto"},
            {"system": "terraform", "environment": "prod"},
        ),
        "block",
        "destroy",
    ),
    ("a bool is not a number", call("pay_vendor", {"amount": True}), "allow", None),
]


@pytest.mark.parametrize(("label", "request_", "verdict", "rule"), CASES, ids=[c[0] for c in CASES])
async def test_local_rules_table(
    label: str, request_: ToolCallRequest, verdict: str, rule: str | None
) -> None:
    signal = await LocalRulePolicy.from_dict(RULES).decide(request_, DecisionContext())
    assert signal.verdict == verdict, label
    assert signal.request_id == rule
    assert signal.provider == "local-rules"


async def test_the_matching_rule_explains_itself() -> None:
    signal = await LocalRulePolicy.from_dict(RULES).decide(CASES[0][1], DecisionContext())
    assert signal.reason == "Okta admin for more than 24h"
    assert signal.better_action == "grant for 2h instead of 48h"
    assert signal.risk == 0.8 and signal.mode is DecisionMode.REVIEW
    prod = await LocalRulePolicy.from_dict(RULES).decide(CASES[9][1], DecisionContext())
    assert prod.mode is DecisionMode.CONSTRAINED


def test_rules_load_from_toml_and_report_mistakes_by_rule(tmp_path: Path) -> None:
    good = tmp_path / "rules.toml"
    good.write_text(
        '[[rules]]\nname = "long"\ntools = ["grant_*"]\nverdict = "needs_approval"\n'
        'when = [{ arg = "duration_hours", op = ">", value = 24 }]\n'
    )
    assert [rule.name for rule in LocalRulePolicy.from_file(good).rules] == ["long"]

    bad = tmp_path / "bad.toml"
    bad.write_text('[[rules]]\nname = "oops"\nverdict = "maybe"\n')
    with pytest.raises(ConfigurationError, match=r"bad\.toml: rule #1 \(oops\): verdict"):
        LocalRulePolicy.from_file(bad)
    with pytest.raises(ConfigurationError, match=r"when\.0\.op"):
        LocalRulePolicy.from_dict([{"verdict": "allow", "when": [{"arg": "a", "op": "~"}]}])
    with pytest.raises(ConfigurationError, match="invalid regular expression"):
        LocalRulePolicy.from_dict(
            [{"verdict": "block", "when": [{"arg": "a", "op": "matches", "value": "("}]}]
        )
    with pytest.raises(ConfigurationError, match=r"use a \.toml"):
        LocalRulePolicy.from_file(tmp_path / "rules.json")
    with pytest.raises(ConfigurationError, match="cannot read"):
        LocalRulePolicy.from_file(tmp_path / "missing.toml")


class Fixed:
    def __init__(self, name: str, verdict: str, risk: float) -> None:
        self.name, self.verdict, self.risk = name, verdict, risk

    async def decide(self, tool_call: ToolCallRequest, context: DecisionContext) -> DecisionSignal:
        return DecisionSignal.of(self.verdict, provider=self.name, risk=self.risk)


class Broken:
    name = "broken"

    async def decide(self, tool_call: ToolCallRequest, context: DecisionContext) -> DecisionSignal:
        raise RuntimeError("provider down")


async def test_composite_most_restrictive_wins_and_keeps_every_signal() -> None:
    composite = CompositeDecisionProvider(
        [Fixed("a", "allow", 0.1), Fixed("b", "needs_approval", 0.4), Fixed("c", "allow", 0.9)]
    )
    signal = await composite.decide(CASES[0][1], DecisionContext())
    assert signal.verdict is DecisionVerdict.NEEDS_APPROVAL
    assert signal.provider == "composite:b"
    assert [s.provider for s in signal.signals] == ["a", "b", "c"]
    blocked = await CompositeDecisionProvider(
        [Fixed("a", "needs_approval", 0.9), Fixed("b", "block", 0.2)]
    ).decide(CASES[0][1], DecisionContext())
    assert blocked.verdict is DecisionVerdict.BLOCK


async def test_composite_with_a_broken_provider_fails_closed() -> None:
    signal = await CompositeDecisionProvider([Fixed("a", "allow", 0.0), Broken()]).decide(
        CASES[0][1], DecisionContext()
    )
    assert signal.verdict is DecisionVerdict.NEEDS_APPROVAL
    assert signal.signals[1].error == "RuntimeError: provider down"


# -- the gate, end to end through the SDK and the provider ---------------------------------


def _tools(executed: list[str], policy: Any) -> list[Any]:
    def grant_okta_admin(user: str, duration_hours: int) -> str:
        """Grant Okta admin."""
        executed.append(f"{user}:{duration_hours}")
        return f"granted {user} for {duration_hours}h"

    adapter = OpenAIToolAdapter(decision_provider=policy)
    return [adapter.adapt(grant_okta_admin, metadata={"system": "okta"})]


async def _run(
    hours: int, policy: Any
) -> tuple[Any, list[str], ScriptedModel, OpenAIAgentsProvider]:
    executed: list[str] = []
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
    agent = Agent(name="ops-agent", tools=_tools(executed, policy), model=model)
    registry = AgentRegistry()
    registry.register(agent)
    provider = OpenAIAgentsProvider(mongodb_client=MongoDBClient("memory://"), registry=registry)
    return await provider.execute_agent("ops-agent", "grant"), executed, model, provider


async def test_allowed_calls_run_without_a_pause() -> None:
    run, executed, _, _ = await _run(2, LocalRulePolicy.from_dict(RULES))
    assert run.status is RunStatus.SUCCESS and executed == ["alice:2"]


async def test_calls_needing_approval_pause_and_carry_the_signal() -> None:
    run, executed, _, provider = await _run(48, LocalRulePolicy.from_dict(RULES))
    assert run.status is RunStatus.AWAITING_APPROVAL and executed == []
    assert run.approval_id is not None
    record = await provider.store.get(run.approval_id)
    signal = record.tool_calls[0].signal
    assert signal is not None
    assert signal["verdict"] == "needs_approval"
    assert signal["better_action"] == "grant for 2h instead of 48h"


async def test_blocked_calls_never_run_and_the_model_reads_why() -> None:
    policy = LocalRulePolicy.from_dict(
        [
            {
                "name": "no-okta",
                "match": {"system": "okta"},
                "verdict": "block",
                "reason": "Okta changes are frozen",
                "better_action": "open a ticket",
            }
        ]
    )
    run, executed, model, _ = await _run(2, policy)
    assert run.status is RunStatus.SUCCESS and executed == []
    last = model.last_call
    assert last is not None and isinstance(last.input, list)
    outputs = [i["output"] for i in last.input if i.get("type") == "function_call_output"]
    assert outputs == [
        "Blocked by policy (local-rules): Okta changes are frozen Instead: open a ticket"
    ]


async def test_a_failing_provider_means_approval() -> None:
    run, executed, _, provider = await _run(2, Broken())
    assert run.status is RunStatus.AWAITING_APPROVAL and executed == []
    assert run.approval_id is not None
    signal = (await provider.store.get(run.approval_id)).tool_calls[0].signal
    assert signal is not None and signal["error"] == "RuntimeError: provider down"


async def test_an_explicit_setting_is_not_overridden_by_the_provider() -> None:
    executed: list[str] = []

    def lookup(user: str) -> str:
        """Look a user up."""
        executed.append(user)
        return user

    adapter = OpenAIToolAdapter(decision_provider=Fixed("strict", "block", 1.0))
    tool = adapter.adapt(lookup, needs_approval=False)
    model = ScriptedModel(
        [[function_call("lookup", {"user": "a"}, call_id="c1")], [assistant_message("ok")]]
    )
    result = await Runner.run(Agent(name="a", tools=[tool], model=model), "go")
    assert result.final_output == "ok" and executed == ["a"]


async def test_rules_load_from_yaml(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n"
        "  - name: big-payments\n"
        "    tools: ['pay_*']\n"
        "    when: [{arg: amount, op: '>', value: 1000}]\n"
        "    verdict: needs_approval\n"
        "    better_action: split the payment\n"
    )
    policy = LocalRulePolicy.from_file(rules)
    signal = await policy.decide(call("pay_vendor", {"amount": 5000}), DecisionContext())
    assert signal.verdict is DecisionVerdict.NEEDS_APPROVAL
    assert signal.better_action == "split the payment"
    broken = tmp_path / "broken.yml"
    broken.write_text("rules: [unclosed\n")
    with pytest.raises(ConfigurationError, match=r"broken\.yml"):
        LocalRulePolicy.from_file(broken)
