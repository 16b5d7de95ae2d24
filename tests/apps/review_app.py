"""A small app for the reviewer surfaces: a release agent whose calls carry decision signals.

``eat approvals resume --app tests.apps.review_app:build_registry`` and the inbox tests use it.
The model is a ScriptedModel that proposes a call per action named in the request ("deploy",
"grant"), then answers with every tool output it read, a rejection's message included.
"""

from __future__ import annotations

import secrets
from typing import Any

from agents import Agent
from agents.items import TResponseOutputItem
from agents.testing import ModelCall, ModelStep, ScriptedModel, assistant_message, function_call

from evolving_agents import AgentRegistry, OpenAIToolAdapter
from evolving_agents.decisions.local_rules import LocalRulePolicy

AGENT_NAME = "release-agent"

RULES = LocalRulePolicy.from_dict(
    {
        "rules": [
            {
                "name": "production-deploys",
                "tools": ["deploy_*"],
                "when": [{"arg": "environment", "op": "==", "value": "production"}],
                "verdict": "needs_approval",
                "risk": 0.8,
                "reason": "Production deploy outside the release window",
                "better_action": "Deploy to staging first, then promote",
            },
            {
                "name": "long-admin-grants",
                "tools": ["grant_*"],
                "when": [{"arg": "hours", "op": ">", "value": 24}],
                "verdict": "needs_approval",
                "risk": 0.9,
                "reason": "Admin access for more than 24h",
                "better_action": "Grant for 2h instead of 48h",
            },
        ]
    }
)


def deploy_service(service: str, version: str, environment: str) -> str:
    """Deploy a version of a service to an environment."""
    return f"deployed {service} {version} to {environment}"


def grant_access(user: str, role: str, hours: int) -> str:
    """Grant a user an admin role for some hours."""
    return f"granted {user} {role} for {hours}h"


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def _request_text(items: list[Any]) -> str:
    for item in items:
        if _field(item, "role") == "user":
            content = _field(item, "content")
            return content if isinstance(content, str) else str(content)
    return ""


def respond(call: ModelCall) -> list[TResponseOutputItem]:
    items = call.input if isinstance(call.input, list) else []
    outputs = [_field(i, "output") for i in items if _field(i, "type") == "function_call_output"]
    if outputs:
        return [assistant_message("final: " + "; ".join(str(o) for o in outputs))]
    request = _request_text(items).lower()
    token = secrets.token_hex(4)
    calls: list[TResponseOutputItem] = []
    if "deploy" in request:
        calls.append(
            function_call(
                "deploy_service",
                {"service": "payments-api", "version": "2.4.1", "environment": "production"},
                call_id=f"call_deploy_{token}",
            )
        )
    if "grant" in request:
        calls.append(
            function_call(
                "grant_access",
                {"user": "alice@example.com", "role": "Super Administrator", "hours": 48},
                call_id=f"call_grant_{token}",
            )
        )
    return calls or [assistant_message("nothing to do")]


def build_agent() -> Agent[Any]:
    adapter = OpenAIToolAdapter(decision_provider=RULES)
    tools = [
        adapter.adapt(deploy_service, metadata={"system": "kubernetes"}),
        adapter.adapt(grant_access, metadata={"system": "okta", "approver_roles": ["security"]}),
    ]
    model = ScriptedModel([ModelStep.respond(respond) for _ in range(4)])
    return Agent(name=AGENT_NAME, instructions="release things", tools=tools, model=model)


def build_registry() -> AgentRegistry:
    registry = AgentRegistry()
    registry.register_factory(AGENT_NAME, build_agent)
    return registry
