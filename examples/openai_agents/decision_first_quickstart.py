"""The decision-first quickstart (``bighub-openai``'s surface), durable.

    python examples/openai_agents/decision_first_quickstart.py

Every proposed call gets a decision (mode, risk, reason, better action) before it runs. A call
that needs approval pauses the run and is stored as a pending approval; here the callback of
``run_with_approval`` plays the reviewer and applies the decision layer's better action (2h
instead of 48h), so the grant runs once, with the suggested arguments.

Offline by default: the model is an ``agents.testing.ScriptedModel`` script and the decision
layer is local rules. With ``OPENAI_API_KEY`` set the model is ``gpt-4.1``; with
``BIGHUB_API_KEY`` (and no ``rules=``) BIGHUB decides.
"""

from __future__ import annotations

import os
from typing import Any

from agents.testing import ScriptedModel, assistant_message, function_call

from evolving_agents import DecisionAgent

ASK = [{"role": "user", "content": "Grant Alice temporary Okta admin access for 48h"}]
RULES = [
    {
        "name": "long-okta-grants",
        "tools": ["grant_okta_admin"],
        "when": [{"arg": "duration_hours", "op": ">", "value": 4}],
        "verdict": "needs_approval",
        "risk": 0.9,
        "reason": "Okta admin for more than 4h on production",
        "better_action": "Grant scoped Okta admin access for 2h instead of 48h",
        "suggest": {"duration_hours": 2},
    }
]


def model() -> Any:
    if os.environ.get("OPENAI_API_KEY"):
        print("model: gpt-4.1 (OPENAI_API_KEY is set)")
        return "gpt-4.1"
    print("model: an agents.testing.ScriptedModel script (offline, no OPENAI_API_KEY)")
    grant = {"user": "alice", "duration_hours": 48}
    return ScriptedModel(
        [
            [function_call("grant_okta_admin", grant, call_id="call_grant_1")],
            [function_call("grant_okta_admin", grant, call_id="call_grant_2")],
            [assistant_message("Alice has scoped Okta admin access for 2h (not 48h).")],
        ]
    )


def reviewer(ctx: dict[str, Any]) -> dict[str, Any]:
    """Plays the person at 3 a.m.: takes the better action when there is one."""
    decision = ctx["decision"]
    print(f"  asked about {ctx['tool']}({ctx['arguments']}): risk {decision['risk']}, "
          f"{decision['reason']}")
    if ctx["better_arguments"] is not None:
        print(f"  applying the better action: {ctx['better_action']}")
        return {"resolution": "modified", "comment": "2h is enough"}
    return {"resolution": "denied", "comment": "no better action offered"}


def main() -> None:
    with DecisionAgent(
        actor="ops-agent",
        domain="it_actions",
        model=model(),
        rules=RULES,  # the database: MONGODB_URI, else the embedded local server
    ) as agent:

        @agent.action(system="okta", risk="high", environment="production")
        def grant_okta_admin(user: str, duration_hours: int) -> dict[str, Any]:
            """Grant a user Okta admin access for some hours."""
            print(f"  grant_okta_admin ran: {user} for {duration_hours}h")
            return {"ok": True, "user": user, "duration_hours": duration_hours}

        response = agent.run(messages=ASK)
        last = response["execution"]["last"]
        print(f"run: {last['status']} (record {response['approval_id']})")
        print(f"  mode {last['decision']['mode']}, risk {last['decision']['risk']}")
        print(f"  better action: {last['decision']['better_action']}")

        response = agent.run_with_approval(messages=ASK, on_approval_required=reviewer)
        last = response["execution"]["last"]
        print(f"run_with_approval: {response['status']}; last call {last['status']} "
              f"with {last['arguments']}")
        print(f"answer: {response['llm_response']['output_text']}")


if __name__ == "__main__":
    main()
