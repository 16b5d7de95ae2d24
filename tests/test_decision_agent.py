"""``DecisionAgent``: the seed's quickstart through the decision-first facade, offline.

Scripted models stand in for OpenAI; the decision layer is ``LocalRulePolicy`` or the real
``bighub`` SDK talking to ``FakeBighubServer`` on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from agents.testing import ScriptedModel, assistant_message, function_call
from pydantic import BaseModel

from evolving_agents import (
    ApprovalStatus,
    AsyncDecisionAgent,
    ConfigurationError,
    DecisionAgent,
    MongoDBClient,
    Settings,
)
from evolving_agents.testing.fake_bighub import FakeBighubServer

GRANT_48 = {"user": "alice", "duration_hours": 48}
ASK = [{"role": "user", "content": "Grant Alice temporary Okta admin access for 48h"}]
BLOCK_DELETES = {
    "name": "no-deletes",
    "tools": ["delete_*"],
    "verdict": "block",
    "risk": 1.0,
    "reason": "deleting an org is never automated",
    "better_action": "archive the org instead",
}
LONG_GRANTS = {
    "name": "long-okta-grants",
    "tools": ["grant_okta_admin"],
    "when": [{"arg": "duration_hours", "op": ">", "value": 4}],
    "verdict": "needs_approval",
    "risk": 0.9,
    "reason": "Okta admin for more than 4h",
    "better_action": "Grant scoped Okta admin access for 2h instead of 48h",
}


def _memory() -> MongoDBClient:
    return MongoDBClient("memory://", f"eat_test_{uuid.uuid4().hex[:10]}")


class Tools:
    """The seed's tools; ``runs`` records every body run with its arguments."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, dict[str, Any]]] = []

    def register(self, agent: DecisionAgent | AsyncDecisionAgent) -> None:
        @agent.action(system="okta", risk="high", environment="production")
        def grant_okta_admin(user: str, duration_hours: int) -> dict[str, Any]:
            """Grant a user Okta admin for some hours."""
            self.runs.append(("grant_okta_admin", {"user": user, "duration_hours": duration_hours}))
            return {"granted": user, "hours": duration_hours}

        @agent.action(system="directory")
        def lookup_user(user: str) -> dict[str, Any]:
            """Look a user up."""
            self.runs.append(("lookup_user", {"user": user}))
            return {"user": user, "exists": True}

        @agent.action(system="okta")
        def delete_org(org: str) -> str:
            self.runs.append(("delete_org", {"org": org}))
            return "deleted"

        @agent.action(system="ci")
        def deploy(service: str) -> str:
            self.runs.append(("deploy", {"service": service}))
            raise RuntimeError("the deploy API answered 502")


@pytest.fixture
def tools() -> Tools:
    return Tools()


def _agent(tools: Tools, steps: list[Any], **options: Any) -> DecisionAgent:
    options.setdefault("rules", [BLOCK_DELETES, LONG_GRANTS])
    agent = DecisionAgent(
        actor="ops-agent",
        domain="it_actions",
        model=ScriptedModel(steps),
        mongodb_client=_memory(),
        **options,
    )
    tools.register(agent)
    return agent


@pytest.fixture
def closing() -> Iterator[list[DecisionAgent]]:
    made: list[DecisionAgent] = []
    yield made
    for agent in made:
        agent.close()


def test_executed_blocked_and_tool_error_in_the_documented_shape(
    tools: Tools, closing: list[DecisionAgent]
) -> None:
    agent = _agent(
        tools,
        [
            [function_call("lookup_user", {"user": "alice"}, call_id="c1")],
            [function_call("delete_org", {"org": "acme"}, call_id="c2")],
            [function_call("deploy", {"service": "web"}, call_id="c3")],
            [assistant_message("I looked Alice up; deleting and deploying did not happen.")],
        ],
    )
    closing.append(agent)
    response = agent.run(messages=ASK)

    assert response["status"] == "completed"
    assert response["llm_response"]["output_text"].startswith("I looked Alice up")
    events = response["execution"]["events"]
    assert [(e["tool"], e["status"]) for e in events] == [
        ("lookup_user", "executed"),
        ("delete_org", "blocked"),
        ("deploy", "tool_error"),
    ]
    looked, blocked, failed = events
    assert looked["output"] == {"user": "alice", "exists": True}
    assert looked["decision"]["mode"] == "autonomous" and looked["decision"]["can_run"] is True
    assert blocked["decision"]["mode"] == "blocked"
    assert blocked["decision"]["should_not_run"] is True
    assert blocked["decision"]["better_action"] == "archive the org instead"
    assert "deleting an org is never automated" in blocked["output"], "the model read why"
    assert failed["error"] == "RuntimeError: the deploy API answered 502"
    assert response["execution"]["last"] == failed
    assert [name for name, _ in tools.runs] == ["lookup_user", "deploy"], "delete never ran"
    keys = [e["decision"]["idempotency_key"] for e in events]
    assert all(keys) and len(set(keys)) == 3, "every evaluation has its own idempotency key"
    json.dumps(response)  # JSON-safe throughout


def test_approval_required_pauses_durably_and_resumes_once(
    tools: Tools, closing: list[DecisionAgent]
) -> None:
    agent = _agent(
        tools,
        [
            [function_call("grant_okta_admin", GRANT_48, call_id="c1")],
            [assistant_message("Alice has Okta admin for 48h.")],
        ],
    )
    closing.append(agent)
    paused = agent.run(messages=ASK)

    last = paused["execution"]["last"]
    assert paused["status"] == last["status"] == "approval_required"
    assert last["decision"]["mode"] == "review" and last["decision"]["needs_review"] is True
    assert last["decision"]["risk"] == 0.9
    assert last["decision"]["better_action"] == (
        "Grant scoped Okta admin access for 2h instead of 48h"
    )
    approval_id = paused["approval_id"]
    assert approval_id and last["approval_id"] == last["decision"]["approval_id"] == approval_id
    assert tools.runs == [], "nothing runs while it waits"
    store = agent.provider.store
    record = agent._run(store.get(approval_id))
    assert record.status is ApprovalStatus.PENDING and record.actor == "ops-agent"

    agent._run(store.decide(approval_id, verdict="approved", reviewer="bob"))
    done = agent.resume(approval_id)
    assert done["status"] == "completed"
    assert done["llm_response"]["output_text"] == "Alice has Okta admin for 48h."
    assert done["execution"]["last"]["status"] == "executed"
    assert done["execution"]["last"]["review"]["reviewer"] == "bob"
    assert tools.runs == [("grant_okta_admin", GRANT_48)]


def test_needs_context_neither_runs_nor_pauses_and_the_model_reads_what_is_missing(
    tools: Tools, closing: list[DecisionAgent]
) -> None:
    needs_ticket = {
        "name": "needs-a-ticket",
        "tools": ["grant_okta_admin"],
        "when": [{"arg": "duration_hours", "op": "<=", "value": 4}],
        "verdict": "needs_approval",
        "mode": "needs_context",
        "reason": "Name the change ticket this grant is for.",
    }
    model = ScriptedModel(
        [
            [
                function_call(
                    "grant_okta_admin", {"user": "alice", "duration_hours": 2}, call_id="c1"
                )
            ],
            [assistant_message("Which change ticket is this for?")],
        ]
    )
    agent = DecisionAgent(
        actor="ops-agent", model=model, rules=[needs_ticket], mongodb_client=_memory()
    )
    tools.register(agent)
    closing.append(agent)
    response = agent.run(messages=ASK)

    assert response["status"] == "completed" and response["approval_id"] is None
    last = response["execution"]["last"]
    assert last["status"] == "needs_context"
    assert last["decision"]["needs_more_context"] is True and last["decision"]["can_run"] is False
    assert tools.runs == []
    sent_back = json.dumps(model.last_call.input if model.last_call else None)
    assert "Name the change ticket this grant is for" in sent_back


def test_run_stream_yields_events_as_they_settle_then_the_final_shape(
    tools: Tools, closing: list[DecisionAgent]
) -> None:
    agent = _agent(
        tools,
        [
            [function_call("lookup_user", {"user": "alice"}, call_id="c1")],
            [function_call("grant_okta_admin", GRANT_48, call_id="c2")],
        ],
    )
    closing.append(agent)
    items = list(agent.run_stream(messages=ASK))

    assert [item["type"] for item in items] == ["execution_event", "execution_event", "final"]
    assert [(item["tool"], item["status"]) for item in items[:2]] == [
        ("lookup_user", "executed"),
        ("grant_okta_admin", "approval_required"),
    ]
    final = items[-1]["response"]
    assert final["status"] == "approval_required"
    assert final["execution"]["events"] == items[:2]


def _two_grants() -> list[Any]:
    return [
        [
            function_call("grant_okta_admin", GRANT_48, call_id="c1"),
            function_call("grant_okta_admin", {"user": "bob", "duration_hours": 24}, call_id="c2"),
        ],
        [assistant_message("Both handled.")],
    ]


def test_run_with_approval_asks_about_every_paused_call_and_applies_each_answer(
    tools: Tools, closing: list[DecisionAgent]
) -> None:
    agent = _agent(tools, _two_grants())
    closing.append(agent)
    asked: list[dict[str, Any]] = []

    def on_approval_required(ctx: dict[str, Any]) -> dict[str, Any]:
        asked.append(ctx)
        if ctx["arguments"]["user"] == "alice":
            return {
                "resolution": "modified",
                "arguments": {"user": "alice", "duration_hours": 2},
                "comment": "2h is enough",
            }
        return {"resolution": "denied", "comment": "Bob is on leave"}

    response = agent.run_with_approval(messages=ASK, on_approval_required=on_approval_required)

    assert sorted(ctx["call_id"] for ctx in asked) == ["c1", "c2"], "both calls, not the last"
    assert all(ctx["decision"]["mode"] == "review" for ctx in asked)
    assert response["status"] == "completed" and response["approval_errors"] == []
    assert tools.runs == [("grant_okta_admin", {"user": "alice", "duration_hours": 2})]
    final = {
        e["call_id"]: e
        for e in response["execution"]["events"]
        if e["status"] != "approval_required"
    }
    assert final["c1"]["status"] == "executed"
    assert final["c1"]["arguments"] == {"user": "alice", "duration_hours": 2}
    assert final["c1"]["review"]["proposed_arguments"] == GRANT_48
    assert final["c2"]["status"] == "rejected"
    assert "Bob is on leave" in (final["c2"]["output"] or "")
    record = agent._run(agent.provider.store.get(final["c1"]["approval_id"]))
    assert {call.decision.reviewer for call in record.tool_calls if call.decision} == {
        "on_approval_required"
    }


def test_a_callback_that_raises_leaves_the_call_pending_for_a_person(
    tools: Tools, closing: list[DecisionAgent]
) -> None:
    agent = _agent(tools, _two_grants())
    closing.append(agent)

    def on_approval_required(ctx: dict[str, Any]) -> dict[str, Any]:
        if ctx["call_id"] == "c2":
            raise RuntimeError("the approvals channel is down")
        return {"resolution": "approved"}

    response = agent.run_with_approval(messages=ASK, on_approval_required=on_approval_required)

    assert response["status"] == "approval_required"
    assert [(e["call_id"], e["error"]) for e in response["approval_errors"]] == [
        ("c2", "RuntimeError: the approvals channel is down")
    ]
    record = agent._run(agent.provider.store.get(response["approval_id"]))
    assert record.status is ApprovalStatus.PENDING
    assert [call.call_id for call in record.undecided_calls()] == ["c2"]
    assert tools.runs == [], "nothing ran: the run waits for a person"


async def test_a_callback_that_times_out_or_answers_nonsense_leaves_calls_pending(
    tools: Tools,
) -> None:
    async with AsyncDecisionAgent(
        actor="ops-agent",
        model=ScriptedModel(_two_grants()),
        rules=[LONG_GRANTS],
        mongodb_client=_memory(),
    ) as agent:
        tools.register(agent)

        async def slow_or_odd(ctx: dict[str, Any]) -> Any:
            if ctx["call_id"] == "c1":
                await asyncio.sleep(5)
            return "yes please"

        response = await agent.run_with_approval(
            messages=ASK, on_approval_required=slow_or_odd, callback_timeout=0.2
        )
        errors = {e["call_id"]: e["error"] for e in response["approval_errors"]}
        assert errors["c1"] == "TimeoutError"
        assert "returned a str" in errors["c2"]
        record = await agent.provider.store.get(response["approval_id"])
        assert record.status is ApprovalStatus.PENDING and len(record.undecided_calls()) == 2


def test_the_runs_actor_cannot_approve_through_the_callback(
    tools: Tools, closing: list[DecisionAgent]
) -> None:
    agent = _agent(tools, _two_grants())
    closing.append(agent)
    response = agent.run_with_approval(
        messages=ASK,
        on_approval_required=lambda ctx: {"resolution": "approved"},
        reviewer="ops-agent",
    )
    assert response["status"] == "approval_required"
    assert {e["error"].split(":")[0] for e in response["approval_errors"]} == {"NotAuthorized"}
    assert tools.runs == []


class Target(BaseModel):
    cluster: str
    namespace: str = "default"


def test_schemas_are_real_json_schemas_and_no_value_is_required(
    closing: list[DecisionAgent],
) -> None:
    runs: list[dict[str, Any]] = []
    agent = DecisionAgent(
        actor="ops-agent",
        model=ScriptedModel(
            [
                [
                    function_call(
                        "scale",
                        {
                            "target": {"cluster": "eu-1", "namespace": "web"},
                            "replicas": 3,
                            "mode": "rolling",
                            "note": None,
                        },
                        call_id="c1",
                    )
                ],
                [assistant_message("scaled")],
            ]
        ),
        mongodb_client=_memory(),
    )
    closing.append(agent)

    @agent.action(system="kubernetes-staging")
    def scale(
        target: Target,
        replicas: int,
        mode: Literal["rolling", "recreate"] = "rolling",
        note: str | None = None,
    ) -> str:
        """Scale a deployment."""
        runs.append({"target": target.model_dump(), "replicas": replicas, "mode": mode})
        return "ok"

    schema = agent.sdk_agent.tools[0].params_json_schema
    assert schema["properties"]["mode"]["enum"] == ["rolling", "recreate"]
    assert schema["properties"]["mode"]["default"] == "rolling"
    assert {"type": "null"} in schema["properties"]["note"]["anyOf"]
    target = schema["$defs"]["Target"]
    assert target["properties"]["namespace"]["default"] == "default"
    response = agent.run(messages="scale web to 3")
    assert response["execution"]["last"]["status"] == "executed"
    assert runs == [
        {"target": {"cluster": "eu-1", "namespace": "web"}, "replicas": 3, "mode": "rolling"}
    ]


def test_a_parameters_schema_is_enforced_before_the_body_runs(
    closing: list[DecisionAgent],
) -> None:
    runs: list[Any] = []
    agent = DecisionAgent(
        actor="ops-agent",
        model=ScriptedModel(
            [
                [function_call("refund", {"order_id": "o1", "amount": -5}, call_id="c1")],
                [function_call("refund", {"order_id": "o1", "amount": 20}, call_id="c2")],
                [assistant_message("refunded")],
            ]
        ),
        mongodb_client=_memory(),
    )
    closing.append(agent)
    agent.tool(
        "refund",
        lambda order_id, amount: runs.append((order_id, amount)) or "ok",
        parameters_schema={
            "type": "object",
            "properties": {
                "order_id": {"type": "string"},
                "amount": {"type": "number", "minimum": 0},
            },
            "required": ["order_id", "amount"],
            "additionalProperties": False,
        },
    )
    response = agent.run(messages="refund o1")
    first, second = response["execution"]["events"]
    assert first["status"] == "tool_error" and "amount" in first["error"]
    assert second["status"] == "executed"
    assert runs == [("o1", 20)]


def test_argument_extractors_reach_the_decision_layer_and_a_broken_one_fails_closed(
    closing: list[DecisionAgent],
) -> None:
    rule = {
        "name": "prod-db",
        "match": {"target": "prod-db"},
        "verdict": "block",
        "reason": "never touch prod-db",
    }
    agent = DecisionAgent(
        actor="ops-agent",
        model=ScriptedModel(
            [
                [function_call("run_sql", {"db": "prod-db", "sql": "select 1"}, call_id="c1")],
                [function_call("refund", {"order_id": "o1"}, call_id="c2")],
                [assistant_message("done")],
            ]
        ),
        rules=[rule],
        mongodb_client=_memory(),
    )
    closing.append(agent)
    agent.tool("run_sql", lambda db, sql: "rows", target_from_args=lambda a: a["db"])
    agent.tool("refund", lambda order_id: "ok", value_from_args=lambda a: a["amount"])
    response = agent.run(messages="go")

    blocked, paused = response["execution"]["events"]
    assert blocked["status"] == "blocked" and blocked["decision"]["reason"] == "never touch prod-db"
    assert paused["status"] == "approval_required", "an extractor that raises fails closed"
    assert "KeyError" in paused["decision"]["error"]


def test_configuration_mistakes_are_typed_errors(closing: list[DecisionAgent]) -> None:
    with pytest.raises(ConfigurationError, match="fail_mode"):
        DecisionAgent(fail_mode="sometimes")
    with pytest.raises(ConfigurationError, match="max_tool_rounds"):
        DecisionAgent(max_tool_rounds=0)
    agent = DecisionAgent(model=ScriptedModel([]), mongodb_client=_memory())
    closing.append(agent)
    agent.tool("one", lambda: "x")
    with pytest.raises(ConfigurationError, match="already registered"):
        agent.tool("one", lambda: "y")
    with pytest.raises(ConfigurationError, match="exactly one"):
        agent.run()


async def test_the_blocking_agent_refuses_a_running_event_loop() -> None:
    agent = DecisionAgent(model=ScriptedModel([]), mongodb_client=_memory())
    with pytest.raises(ConfigurationError, match="AsyncDecisionAgent"):
        agent.run(messages="hi")


# -- BIGHUB: fail_mode, idempotency keys, outcome reports ------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeBighubServer]:
    with FakeBighubServer(api_key="bh_test") as server:
        yield server


def _bighub_settings(fake: FakeBighubServer, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("BIGHUB_API_KEY", "bh_test")
    monkeypatch.setenv("BIGHUB_BASE_URL", fake.base_url)
    monkeypatch.setenv("EAT_BIGHUB_TIMEOUT", "0.3")
    return Settings()


@pytest.mark.parametrize(
    ("fail_mode", "status"), [("closed", "approval_required"), ("open", "executed")]
)
def test_fail_mode_against_a_bighub_that_times_out(
    fake: FakeBighubServer,
    monkeypatch: pytest.MonkeyPatch,
    closing: list[DecisionAgent],
    fail_mode: str,
    status: str,
) -> None:
    runs: list[str] = []
    agent = DecisionAgent(
        actor="ops-agent",
        model=ScriptedModel(
            [
                [function_call("restart", {"service": "web"}, call_id="c1")],
                [assistant_message("restarted")],
            ]
        ),
        fail_mode=fail_mode,
        settings=_bighub_settings(fake, monkeypatch),
        mongodb_client=_memory(),
    )
    closing.append(agent)
    agent.tool("restart", lambda service: runs.append(service) or "ok", system="kubernetes")
    fake.delay_next(2.0, times=5)
    response = agent.run(messages="restart web")

    last = response["execution"]["last"]
    assert last["status"] == status
    assert last["decision"]["provider"] == "bighub" and last["decision"]["error"]
    assert runs == (["web"] if fail_mode == "open" else [])


def test_bighub_decides_the_quickstart_and_hears_the_outcome_after_the_resume(
    fake: FakeBighubServer,
    monkeypatch: pytest.MonkeyPatch,
    tools: Tools,
    closing: list[DecisionAgent],
) -> None:
    agent = DecisionAgent(
        actor="ops-agent",
        domain="it_actions",
        model=ScriptedModel(
            [
                [function_call("grant_okta_admin", GRANT_48, call_id="c1")],
                [assistant_message("granted")],
            ]
        ),
        settings=_bighub_settings(fake, monkeypatch),
        mongodb_client=_memory(),
    )
    tools.register(agent)
    closing.append(agent)
    paused = agent.run(messages=ASK)

    last = paused["execution"]["last"]
    assert last["status"] == "approval_required" and last["decision"]["provider"] == "bighub"
    sent = fake.decide_requests()[0]
    assert sent.json["context"]["arguments"] == GRANT_48, "declared parameters are shared"
    assert sent.json["domain"] == "it_actions"
    assert last["decision"]["request_id"]
    agent._run(
        agent.provider.store.decide(paused["approval_id"], verdict="approved", reviewer="bob")
    )
    done = agent.resume(paused["approval_id"])
    agent._run(agent.provider.aclose())

    assert done["execution"]["last"]["status"] == "executed"
    reports = fake.outcome_reports()
    assert [r.json["request_id"] for r in reports] == [last["decision"]["request_id"]]
    assert reports[0].json["status"] == "SUCCESS"


# -- across processes ----------------------------------------------------------------------


def _app(env: dict[str, str], *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.apps.decision_app", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.wire
def test_approval_required_in_one_process_resumed_from_another(
    wire_env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "tool.log"
    env = wire_env | {"EAT_TEST_TOOL_LOG": str(log)}
    paused = _app(env, "pause")
    assert paused["execution"]["last"]["status"] == "approval_required"
    assert not log.exists()

    with DecisionAgent() as here:  # this process: decide, as a reviewer would
        here._run(
            here.provider.store.decide(paused["approval_id"], verdict="approved", reviewer="alice")
        )
    done = _app(env, "resume", paused["approval_id"])

    assert done["status"] == "completed"
    assert done["llm_response"]["output_text"] == "Alice has Okta admin for 48h."
    assert done["execution"]["last"]["status"] == "executed"
    assert [json.loads(line) for line in log.read_text().splitlines()] == [
        {"user": "alice", "hours": 48}
    ]


async def test_the_async_twin_runs_streams_and_resumes_under_async_with(tools: Tools) -> None:
    steps = [
        [function_call("lookup_user", {"user": "alice"}, call_id="c1")],
        [function_call("grant_okta_admin", GRANT_48, call_id="c2")],
        [assistant_message("granted")],
    ]
    async with AsyncDecisionAgent(
        actor="ops-agent", model=ScriptedModel(steps), rules=[LONG_GRANTS],
        mongodb_client=_memory(),
    ) as agent:
        tools.register(agent)
        items = [item async for item in agent.run_stream(messages=ASK)]
        assert [item.get("status") for item in items] == ["executed", "approval_required", None]
        paused = items[-1]["response"]
        await agent.provider.store.decide(paused["approval_id"], verdict="approved",
                                          reviewer="bob")
        done = await agent.resume(paused["approval_id"])
        assert done["status"] == "completed"
        assert done["execution"]["last"]["status"] == "executed"
    assert tools.runs == [("lookup_user", {"user": "alice"}), ("grant_okta_admin", GRANT_48)]


async def test_the_registry_serves_a_worker_before_the_agent_ever_runs(tools: Tools) -> None:
    from evolving_agents import OpenAIAgentsProvider, ResumeWorker

    client = _memory()
    pausing = AsyncDecisionAgent(
        actor="ops-agent", model=ScriptedModel([[function_call("grant_okta_admin", GRANT_48,
                                                                call_id="c1")]]),
        rules=[LONG_GRANTS], mongodb_client=client,
    )
    tools.register(pausing)
    paused = await pausing.run(messages=ASK)
    await pausing.provider.store.decide(paused["approval_id"], verdict="approved", reviewer="bob")

    # What `eat worker --app myapp:agent.registry` does: a module that only defines the agent.
    defined = AsyncDecisionAgent(
        actor="ops-agent", model=ScriptedModel([[assistant_message("granted")]]),
        rules=[LONG_GRANTS], mongodb_client=client,
    )
    tools.register(defined)
    assert [tool.name for tool in defined.registry.get("decision-agent").tools] == [
        "grant_okta_admin", "lookup_user", "delete_org", "deploy"
    ]
    worker = ResumeWorker(OpenAIAgentsProvider(mongodb_client=client, registry=defined.registry),
                          worker_id="w1", poll_interval=0.05)
    stats = await asyncio.wait_for(worker.run(drain=True), timeout=30)
    assert stats.completed == 1
    assert tools.runs == [("grant_okta_admin", GRANT_48)]
    await client.close()
