"""A ``DecisionAgent`` app for the cross-process test: pause in one interpreter, resume in
another. ``python -m tests.apps.decision_app pause`` prints the response of a run that pauses
on an Okta grant; ``... resume ID`` resumes it; each tool body run is appended to
``$EAT_TEST_TOOL_LOG`` (one JSON line). The environment names the database and the secret."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from agents.testing import ScriptedModel, assistant_message, function_call

from evolving_agents import DecisionAgent


def build(steps: list[Any]) -> DecisionAgent:
    agent = DecisionAgent(actor="ops-agent", domain="it_actions", model=ScriptedModel(steps))

    @agent.action(system="okta", risk="high", environment="production")
    def grant_okta_admin(user: str, duration_hours: int) -> dict[str, Any]:
        """Grant a user Okta admin for some hours."""
        with open(os.environ["EAT_TEST_TOOL_LOG"], "a", encoding="utf-8") as log:
            log.write(json.dumps({"user": user, "hours": duration_hours}) + "\n")
        return {"granted": user, "hours": duration_hours}

    return agent


def main(argv: list[str]) -> None:
    if argv[0] == "pause":
        steps = [
            [
                function_call(
                    "grant_okta_admin",
                    {"user": "alice", "duration_hours": 48},
                    call_id="call_grant",
                )
            ]
        ]
        with build(steps) as agent:
            response = agent.run(messages=[{"role": "user", "content": "Grant Alice for 48h"}])
    else:
        with build([[assistant_message("Alice has Okta admin for 48h.")]]) as agent:
            response = agent.resume(argv[1])
    print(json.dumps(response, default=str))


if __name__ == "__main__":
    main(sys.argv[1:])
