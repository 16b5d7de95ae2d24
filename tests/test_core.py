"""Agent and provider registries, app loading, and MongoDBClient backends."""

from __future__ import annotations

from typing import Any

import pytest
from agents import Agent
from agents.testing import ScriptedModel, assistant_message, function_call
from motor.motor_asyncio import AsyncIOMotorClient
from pymongo import AsyncMongoClient

from evolving_agents import (
    AgentRegistry,
    ConfigurationError,
    MongoDBClient,
    OpenAIAgentsProvider,
    ProviderRegistry,
    RunStatus,
)
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.providers.agent_registry import AgentNotRegistered, load_app
from tests.test_store import make_record


def test_registry_keeps_instances_and_calls_factories_per_get() -> None:
    registry = AgentRegistry()
    agent = Agent(name="ops-agent")
    registry.register(agent)
    built: list[Agent[Any]] = []

    def build() -> Agent[Any]:
        built.append(Agent(name="billing-agent"))
        return built[-1]

    registry.register_factory("billing-agent", build)
    assert registry.get("ops-agent") is agent
    assert registry.get("billing-agent") is not registry.get("billing-agent")
    assert len(built) == 2
    assert registry.names() == ["billing-agent", "ops-agent"]
    with pytest.raises(ConfigurationError, match="already registered"):
        registry.register(Agent(name="ops-agent"))
    registry.register(Agent(name="ops-agent"), replace=True)
    with pytest.raises(AgentNotRegistered, match="registered: billing-agent, ops-agent"):
        registry.get("nobody")


def test_a_factory_must_build_the_agent_it_is_named_for() -> None:
    registry = AgentRegistry()
    registry.register_factory("ops-agent", lambda: Agent(name="other"))
    with pytest.raises(ConfigurationError, match="built an agent named 'other'"):
        registry.get("ops-agent")


def test_load_app_finds_module_attributes_like_uvicorn() -> None:
    build = load_app("tests.apps.gated_app:build_registry")
    assert callable(build)
    with pytest.raises(ConfigurationError, match="module:attribute"):
        load_app("tests.apps.gated_app")
    with pytest.raises(ConfigurationError, match="cannot import"):
        load_app("no_such_module_here:registry")
    with pytest.raises(ConfigurationError, match="has no attribute 'nothing'"):
        load_app("tests.apps.gated_app:nothing")


def test_provider_registry_lists_the_openai_provider_under_its_name() -> None:
    providers = ProviderRegistry()
    provider = OpenAIAgentsProvider(mongodb_client=MongoDBClient("memory://"))
    providers.register(provider)
    assert providers.get("openai-agents") is provider
    assert providers.for_framework("openai-agents") is provider
    with pytest.raises(ConfigurationError, match="no provider named 'beeai'"):
        providers.get("beeai")


async def test_create_agent_from_an_eat_record_gates_its_risky_tool() -> None:
    calls: list[str] = []

    def rotate_credential(secret_path: str) -> str:
        """Rotate a credential."""
        calls.append(secret_path)
        return "rotated"

    provider = OpenAIAgentsProvider(mongodb_client=MongoDBClient("memory://"))
    model = ScriptedModel(
        [
            [function_call("rotate_credential", {"secret_path": "db"}, call_id="c1")],
            [assistant_message("rotated it")],
        ]
    )
    agent = await provider.create_agent(
        {"name": "vault-agent", "instructions": "Rotate secrets.", "model": model},
        [{"name": "rotate_credential", "description": "Rotate", "metadata": {"system": "vault"},
          "func": rotate_credential}],
        firmware="Never act outside change windows.",
    )
    assert "vault-agent" in provider.registry
    assert isinstance(agent.instructions, str)
    assert agent.instructions.startswith("Never act outside change windows.")
    run = await provider.execute_agent("vault-agent", "rotate db")
    assert run.status is RunStatus.AWAITING_APPROVAL and calls == []
    assert run.approval_id is not None
    await provider.store.decide(run.approval_id, verdict="approved", reviewer="alice")
    assert (await provider.resume_agent(run.approval_id)).final_output == "rotated it"
    assert calls == ["db"]


def test_a_uri_that_is_not_mongodb_is_refused_with_the_fix() -> None:
    client = MongoDBClient("postgres://localhost/db")
    with pytest.raises(ConfigurationError, match="mongodb://"):
        _ = client.db


@pytest.mark.wire
@pytest.mark.parametrize("driver", ["pymongo", "motor"])
async def test_an_injected_driver_client_serves_the_store(wire_uri: str, driver: str) -> None:
    raw: Any = (
        AsyncMongoClient(wire_uri, tz_aware=True)
        if driver == "pymongo"
        else AsyncIOMotorClient(wire_uri, tz_aware=True)
    )
    client = MongoDBClient(client=raw, db_name=f"eat_inject_{driver}")
    store = PendingApprovalStore(client)
    try:
        await store.create(make_record("a1"))
        await store.decide("a1", verdict="approved", reviewer="alice")
        claimed = await store.claim_for_resume("a1", "w1", 30)
        assert claimed.claim.worker_id == "w1"
        await client.close()  # not ours: must leave the injected client open
        assert (await store.get("a1")).status == "resuming"
    finally:
        await raw.drop_database(f"eat_inject_{driver}")
        closing = raw.close()
        if closing is not None:
            await closing
