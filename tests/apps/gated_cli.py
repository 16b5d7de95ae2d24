"""``python -m tests.apps.gated_cli pause|resume [APPROVAL_ID] [--go FILE]``: one JSON line out.

Uses MONGODB_URI / MONGODB_DATABASE_NAME / EAT_STATE_SECRET from the environment, like any
real process of an app would.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from evolving_agents import ApprovalConflict, MongoDBClient, OpenAIAgentsProvider
from tests.apps.gated_app import AGENT_NAME, build_registry


async def main(argv: list[str]) -> dict[str, object]:
    client = MongoDBClient()
    provider = OpenAIAgentsProvider(mongodb_client=client, registry=build_registry())
    try:
        if argv[0] == "pause":
            run = await provider.execute_agent(AGENT_NAME, "grant alice", actor="ops-bot")
            return run.model_dump(mode="json")
        approval_id = argv[1]
        if "--go" in argv:
            # Both racers wait for the same signal so their claims overlap in time.
            go = Path(argv[argv.index("--go") + 1])
            while not go.exists():
                time.sleep(0.005)
        try:
            done = await provider.resume_agent(approval_id)
        except ApprovalConflict as exc:
            return {"conflict": str(exc)}
        return done.model_dump(mode="json")
    finally:
        await client.close()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1:]))))
