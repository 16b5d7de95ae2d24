"""Risk decisions from BIGHUB: allow runs, review pauses for a person, block never runs.

    python examples/openai_agents/bighub_decisions.py

With BIGHUB_API_KEY set this asks the real service. Without it, it starts a small local fake
BIGHUB on 127.0.0.1 that answers with the real API's response shapes. Only allow-listed
argument fields leave the machine; after the resumed run, outcomes are reported back.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator

from agents import Agent
from agents.testing import ScriptedModel, assistant_message, function_call

from evolving_agents import (
    AgentRegistry,
    BighubDecisionProvider,
    MongoDBClient,
    OpenAIAgentsProvider,
    OpenAIToolAdapter,
)
from evolving_agents.testing import FakeBighubServer


def lookup_user(user: str) -> str:
    """Look up a user's groups."""
    return f"{user}: groups engineering, oncall"


def grant_okta_admin(user: str, duration_hours: int) -> str:
    """Grant Okta admin for a limited time."""
    return f"granted {user} Okta admin for {duration_hours}h"


def drop_table(database: str, table: str) -> str:
    """Drop a database table."""
    return f"dropped {database}.{table}"


@contextlib.contextmanager
def bighub_endpoint() -> Iterator[FakeBighubServer | None]:
    if os.environ.get("BIGHUB_API_KEY"):
        print("BIGHUB: the real service (BIGHUB_API_KEY is set)")
        yield None
        return
    with FakeBighubServer(api_key="offline-demo-key") as fake:
        print(f"BIGHUB: a local fake BIGHUB at {fake.base_url} (no BIGHUB_API_KEY)")
        os.environ["BIGHUB_API_KEY"] = "offline-demo-key"
        os.environ["BIGHUB_BASE_URL"] = fake.base_url
        yield fake


async def main() -> None:
    with bighub_endpoint() as fake:
        bighub = BighubDecisionProvider.from_env(
            allowed_argument_fields={"grant_okta_admin": ["duration_hours"], "drop_table": []}
        )
        adapter = OpenAIToolAdapter(decision_provider=bighub)
        model = ScriptedModel(
            [
                [
                    function_call("lookup_user", {"user": "alice"}, call_id="call_lookup"),
                    function_call(
                        "grant_okta_admin",
                        {"user": "alice", "duration_hours": 48},
                        call_id="call_grant",
                    ),
                    function_call(
                        "drop_table",
                        {"database": "billing", "table": "invoices"},
                        call_id="call_drop",
                    ),
                ],
                [
                    assistant_message(
                        "Looked Alice up, granted admin after review; the drop "
                        "was blocked by policy."
                    )
                ],
            ]
        )
        agent = Agent(
            name="ops-agent",
            tools=[
                adapter.adapt(lookup_user),
                adapter.adapt(grant_okta_admin, metadata={"system": "okta"}),
                adapter.adapt(
                    drop_table, metadata={"system": "postgres", "environment": "production"}
                ),
            ],
            model=model,
        )
        registry = AgentRegistry()
        registry.register(agent)
        client = MongoDBClient()
        provider = OpenAIAgentsProvider(
            mongodb_client=client, registry=registry, outcome_reporter=bighub
        )
        print("offline: the model is an agents.testing.ScriptedModel script")

        run = await provider.execute_agent("ops-agent", "Give Alice admin; clean up invoices")
        assert run.approval_id is not None
        record = await provider.store.get(run.approval_id)
        for call in record.tool_calls:
            signal = call.signal or {}
            print(
                f"needs a person: {call.tool_name} {call.arguments} -> "
                f"{signal.get('verdict')} ({signal.get('mode')}, risk {signal.get('risk')}): "
                f"{signal.get('reason')}; better: {signal.get('better_action')}"
            )
        await provider.store.decide(run.approval_id, verdict="approved", reviewer="alice")
        done = await provider.resume_agent(run.approval_id)
        for output in done.tool_outputs:
            print(f"tool {output.tool_name}: {output.output}")
        print(f"final: {done.status} {done.final_output}")
        await provider.aclose()
        await bighub.aclose()
        if fake is not None:
            sent = fake.decide_requests()
            print(
                f"fake BIGHUB saw {len(sent)} decide request(s) and "
                f"{len(fake.outcome_reports())} outcome report(s)"
            )
        await client.close()


if __name__ == "__main__":
    asyncio.run(main())
