"""An app for worker tests: one agent, one gated tool that logs every real execution.

``python -m tests.apps.worker_app [--concurrency N] [--drain] [--go FILE]`` runs a
``ResumeWorker`` on it (MONGODB_URI / MONGODB_DATABASE_NAME / EAT_STATE_SECRET from the
environment) and prints its final stats as one JSON line; ``eat worker --app
tests.apps.worker_app:registry`` does the same through the CLI.

The tool appends ``{"call_id", "ticket", "pid"}`` to the file named by ``EAT_TEST_TOOL_LOG``
*before* it does anything else, so a test counts every body that started, then sleeps
``EAT_TEST_TOOL_DELAY`` seconds (a slow tool) if set.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from agents import Agent
from agents.items import TResponseOutputItem
from agents.testing import ModelCall, ModelStep, ScriptedModel, assistant_message, function_call
from agents.tool_context import ToolContext

from evolving_agents import (
    AgentRegistry,
    MongoDBClient,
    OpenAIAgentsProvider,
    OpenAIToolAdapter,
    RunStatus,
)
from evolving_agents.approvals.worker import ResumeWorker, install_signal_handlers

AGENT_NAME = "change-agent"


async def apply_change(ctx: ToolContext[Any], ticket: str) -> str:
    """Apply a change ticket to production."""
    log = os.environ.get("EAT_TEST_TOOL_LOG")
    if log:
        line = json.dumps({"call_id": ctx.tool_call_id, "ticket": ticket, "pid": os.getpid()})
        # One short O_APPEND write per execution: lines from many processes never interleave.
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
    delay = float(os.environ.get("EAT_TEST_TOOL_DELAY") or 0)
    if delay:
        await asyncio.sleep(delay)
    return f"applied {ticket}"


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def respond(call: ModelCall) -> list[TResponseOutputItem]:
    items = call.input if isinstance(call.input, list) else []
    outputs = [_field(i, "output") for i in items if _field(i, "type") == "function_call_output"]
    if not outputs:
        token = secrets.token_hex(6)
        return [function_call("apply_change", {"ticket": f"CHG-{token}"}, call_id=f"call_{token}")]
    return [assistant_message("done: " + "; ".join(str(o) for o in outputs))]


def build_agent() -> Agent[Any]:
    tool = OpenAIToolAdapter().adapt(apply_change, metadata={"environment": "production"})
    model = ScriptedModel([ModelStep.respond(respond) for _ in range(4)])
    return Agent(name=AGENT_NAME, instructions="apply the change", tools=[tool], model=model)


def build_registry() -> AgentRegistry:
    registry = AgentRegistry()
    registry.register_factory(AGENT_NAME, build_agent)
    return registry


registry = build_registry()


def build_provider() -> OpenAIAgentsProvider:
    return OpenAIAgentsProvider(mongodb_client=MongoDBClient(), registry=build_registry())


async def pause_decided_runs(
    provider: OpenAIAgentsProvider, count: int, *, batch: int = 25
) -> list[str]:
    """Start ``count`` runs, each pausing on one gated call, and approve them all."""
    approval_ids: list[str] = []

    async def one() -> str:
        run = await provider.execute_agent(AGENT_NAME, "apply the change", actor="load")
        assert run.status is RunStatus.AWAITING_APPROVAL and run.approval_id is not None
        await provider.store.decide(run.approval_id, verdict="approved", reviewer="reviewer")
        return run.approval_id

    for start in range(0, count, batch):
        size = min(batch, count - start)
        approval_ids.extend(await asyncio.gather(*(one() for _ in range(size))))
    return approval_ids


def tool_executions(log: Path) -> Counter[str]:
    """How many times each call id's tool body started, from the ``EAT_TEST_TOOL_LOG`` file."""
    if not log.exists():
        return Counter()
    lines = log.read_text(encoding="utf-8").splitlines()
    return Counter(json.loads(line)["call_id"] for line in lines if line.strip())


async def _main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m tests.apps.worker_app")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--drain", action="store_true")
    parser.add_argument("--poll-interval", type=float, default=0.2)
    parser.add_argument("--max-poll-interval", type=float, default=2.0)
    parser.add_argument("--no-change-stream", action="store_true")
    parser.add_argument("--go", type=Path, help="say ready, then wait for this file to exist")
    args = parser.parse_args(argv)
    if args.go is not None:
        # Every worker of a load test starts claiming at the same moment, once all are up.
        Path(f"{args.go}.ready.{os.getpid()}").touch()
        while not args.go.exists():
            await asyncio.sleep(0.01)
    client = MongoDBClient()
    provider = OpenAIAgentsProvider(mongodb_client=client, registry=build_registry())
    worker = ResumeWorker(
        provider,
        concurrency=args.concurrency,
        poll_interval=args.poll_interval,
        max_poll_interval=args.max_poll_interval,
        use_change_stream=not args.no_change_stream,
    )
    install_signal_handlers(worker)
    try:
        stats = await worker.run(drain=args.drain)
    finally:
        await provider.aclose()
        await client.close()
    return stats.model_dump(mode="json")


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_main(sys.argv[1:]))))
