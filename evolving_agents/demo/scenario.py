"""The seed scenario: an ops agent asked to grant Okta admin, deploy, and rotate a credential.

::

    registry = build_registry()           # eat --app evolving_agents.demo:build_registry
    registry = offline_registry()         # ... :offline_registry, scripted with a key set too
    provider = OpenAIAgentsProvider(mongodb_client=client, registry=registry)
    run = await provider.execute_agent(OPS_AGENT, DEMO_REQUEST, actor="ops-bot")

The decision layer is on: ``demo_policy()`` (a ``LocalRulePolicy``) scores each call. The 48h
Okta grant is high risk, with a better action and a suggestion (``duration_hours = 2``) a
reviewer can apply in one step; the other calls fall to their tools' own setting (a sensitive
system: review).

Offline (no ``OPENAI_API_KEY``, or ``offline=True`` as ``eat demo --offline`` asks) the agent's
model is an ``agents.testing.ScriptedModel`` whose steps answer from the conversation they are
shown, so a run paused in one process resumes correctly in another: ``offline_registry`` is
the registry such a process loads. With a key, the same agent uses a real model
(``EAT_OPENAI_MODEL``). The demo's runs are not traced. The tools only describe what they would
do; they touch no real system.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from agents import Agent, RunConfig
from agents.items import TResponseOutputItem
from agents.models.interface import Model
from agents.testing import ModelCall, ModelStep, ScriptedModel, assistant_message, function_call

from evolving_agents.adapters.openai_tool_adapter import OpenAIToolAdapter
from evolving_agents.config import Settings
from evolving_agents.decisions.local_rules import LocalRulePolicy
from evolving_agents.providers.agent_registry import AgentRegistry

OPS_AGENT = "ops-agent"
DEMO_REQUEST = (
    "Grant Alice (alice@example.com) temporary Okta admin access for 48h, deploy payments-api "
    "2.4.1 to production, and rotate the payments database credential."
)
_SCRIPTED_STEPS = 8
GRANT_BETTER_ACTION = "Grant scoped Okta admin access for 2h instead of 48h"
DEMO_RULES: list[dict[str, Any]] = [
    {
        "name": "long-okta-admin-grants",
        "tools": ["grant_okta_admin"],
        "match": {"system": "okta"},
        "when": [{"arg": "duration_hours", "op": ">", "value": 2}],
        "verdict": "needs_approval",
        "risk": 0.9,
        "reason": (
            "Okta admin access for more than 2h: a stolen session keeps admin rights for the "
            "whole grant"
        ),
        "better_action": GRANT_BETTER_ACTION,
        "suggest": {"duration_hours": 2},
    },
]
"""The demo's rules, as a rules file would hold them (``docs/RULES.md``)."""


def grant_okta_admin(user: str, role: str, duration_hours: int) -> str:
    """Grant a user an Okta admin role for a limited time.

    Args:
        user: The user's email address.
        role: The Okta admin role to grant.
        duration_hours: How long the grant lasts, in hours.
    """
    until = datetime.now(UTC) + timedelta(hours=duration_hours)
    return (
        f"granted {user} the Okta role '{role}' for {duration_hours}h, "
        f"until {until:%Y-%m-%d %H:%M} UTC"
    )


def deploy_service(service: str, version: str, environment: str) -> str:
    """Deploy a version of a service to an environment.

    Args:
        service: The service name.
        version: The version to deploy.
        environment: The target environment.
    """
    return f"deployed {service} {version} to {environment} (rollout 3/3 pods ready)"


def rotate_credential(secret_path: str) -> str:
    """Rotate a stored credential and roll the services that use it.

    Args:
        secret_path: The credential's path in the secret store.
    """
    return f"rotated {secret_path}; new version v{secrets.randbelow(90) + 10} is live"


OPS_TOOLS: Sequence[tuple[Any, dict[str, Any]]] = (
    (grant_okta_admin, {"system": "okta", "risk": "high", "action": "grant_access"}),
    (
        deploy_service,
        {"system": "kubernetes", "environment": "production", "risk": "medium"},
    ),
    (rotate_credential, {"system": "vault", "risk": "high", "action": "rotate_secret"}),
)


def _respond(call: ModelCall) -> list[TResponseOutputItem]:
    """Play the ops model: propose the three actions, then report what came back."""
    items = call.input if isinstance(call.input, list) else []
    outputs = [item for item in items if _field(item, "type") == "function_call_output"]
    if not outputs:
        token = secrets.token_hex(4)
        return [
            function_call(
                "grant_okta_admin",
                {"user": "alice@example.com", "role": "Super Administrator", "duration_hours": 48},
                call_id=f"call_grant_{token}",
            ),
            function_call(
                "deploy_service",
                {"service": "payments-api", "version": "2.4.1", "environment": "production"},
                call_id=f"call_deploy_{token}",
            ),
            function_call(
                "rotate_credential",
                {"secret_path": "prod/payments/db-password"},
                call_id=f"call_rotate_{token}",
            ),
        ]
    names = {
        _field(item, "call_id"): _field(item, "name")
        for item in items
        if _field(item, "type") == "function_call"
    }
    lines = [
        f"- {names.get(_field(item, 'call_id'), 'tool')}: {_field(item, 'output')}"
        for item in outputs
    ]
    return [assistant_message("Here is where the three requests stand:\n" + "\n".join(lines))]


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def scripted_ops_model() -> ScriptedModel:
    """A ScriptedModel whose every step derives its answer from the conversation it sees."""
    return ScriptedModel([ModelStep.respond(_respond) for _ in range(_SCRIPTED_STEPS)])


def is_offline(settings: Settings) -> bool:
    return not settings.openai_api_key


def demo_policy() -> LocalRulePolicy:
    return LocalRulePolicy.from_dict(DEMO_RULES)


def build_ops_agent(settings: Settings, *, offline: bool = False) -> Agent[Any]:
    """The ops agent: on the scripted model when ``offline`` or without an API key."""
    scripted = offline or is_offline(settings)
    model: Model | str = scripted_ops_model() if scripted else settings.openai_model
    adapter = OpenAIToolAdapter(decision_provider=demo_policy())
    tools = [adapter.adapt(func, metadata=metadata) for func, metadata in OPS_TOOLS]
    return Agent(
        name=OPS_AGENT,
        instructions=(
            "You are an operations agent. Carry out the user's requests with your tools, one "
            "call per action, then summarise what happened. If a call is rejected, report the "
            "reviewer's message and do not retry it."
        ),
        tools=list(tools),
        model=model,
    )


def build_registry(settings: Settings | None = None, *, offline: bool = False) -> AgentRegistry:
    """The registry ``eat --app evolving_agents.demo:build_registry`` loads.

    Called with no settings (that is what ``--app`` does), it is the demo's entry point and
    reads the environment once, here. ``offline`` keeps the scripted model even with
    ``OPENAI_API_KEY`` set.
    """
    settings = Settings() if settings is None else settings
    registry = AgentRegistry()
    registry.register_factory(
        OPS_AGENT,
        functools.partial(build_ops_agent, settings, offline=offline or is_offline(settings)),
        # Untraced: with a key set the SDK uploads traces to api.openai.com whatever the model
        # (a scripted one too), and with no network it retries and logs each failure at exit.
        run_config=RunConfig(tracing_disabled=True),
    )
    return registry


def offline_registry() -> AgentRegistry:
    """``eat --app evolving_agents.demo:offline_registry``: the demo's agents on the scripted
    model whatever the environment holds, for the runs ``eat demo --offline`` paused."""
    return build_registry(offline=True)


def demo_app(*, offline: bool) -> str:
    """The ``--app`` value that resumes a demo run the way it started."""
    attribute = "offline_registry" if offline else "build_registry"
    return f"evolving_agents.demo:{attribute}"
