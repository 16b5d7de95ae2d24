"""One step of a paused run per process, each exporting its OpenTelemetry spans to a file.

``python -m tests.apps.traced_app pause|decide|resume --spans FILE [--approval ID]
[--sdk-tracing]`` configures an OpenTelemetry SDK tracer provider with an in-memory exporter,
does its step on the worker app (MONGODB_URI / MONGODB_DATABASE_NAME / EAT_STATE_SECRET from
the environment), and writes every finished span to FILE as one JSON object a line (``name``,
``trace_id``, ``span_id``, ``parent_id``, ``attributes``). ``pause`` prints the approval id.
``--sdk-tracing`` turns the Agents SDK's own tracing on, with no processor (nothing leaves the
machine), as an application that traces with the SDK would.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from agents import set_trace_processors, set_tracing_disabled
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from evolving_agents import MongoDBClient, OpenAIAgentsProvider, RunStatus
from evolving_agents.approvals.worker import ResumeWorker
from tests.apps.worker_app import AGENT_NAME, build_registry


def as_json(span: ReadableSpan) -> dict[str, Any]:
    context = span.get_span_context()
    assert context is not None
    attributes = {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in (span.attributes or {}).items()
    }
    return {
        "name": span.name,
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
        "parent_id": None if span.parent is None else format(span.parent.span_id, "016x"),
        "attributes": attributes,
    }


async def step(args: argparse.Namespace, provider: OpenAIAgentsProvider) -> str:
    if args.step == "pause":
        run = await provider.execute_agent(AGENT_NAME, "apply the change", actor="ops")
        assert run.status is RunStatus.AWAITING_APPROVAL and run.approval_id is not None
        return run.approval_id
    if args.step == "decide":
        await provider.store.decide(
            args.approval, verdict="approved", reviewer="alice", surface="cli"
        )
        return args.approval
    stats = await ResumeWorker(provider, poll_interval=0.05, max_poll_interval=0.2).run(drain=True)
    assert stats.completed == 1, stats
    return args.approval


async def main(argv: list[str]) -> str:
    parser = argparse.ArgumentParser(prog="python -m tests.apps.traced_app")
    parser.add_argument("step", choices=["pause", "decide", "resume"])
    parser.add_argument("--spans", type=Path, required=True)
    parser.add_argument("--approval", default="")
    parser.add_argument("--sdk-tracing", action="store_true")
    args = parser.parse_args(argv)

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(tracer_provider)

    if args.sdk_tracing:
        # The application's own choice, before the provider: it is kept without an OpenAI
        # key (the provider only turns off tracing nobody decided on).
        set_trace_processors([])
        set_tracing_disabled(False)
    client = MongoDBClient()
    provider = OpenAIAgentsProvider(mongodb_client=client, registry=build_registry())
    try:
        approval_id = await step(args, provider)
    finally:
        await provider.aclose()
        await client.close()
    tracer_provider.force_flush()
    lines = [json.dumps(as_json(span)) for span in exporter.get_finished_spans()]
    args.spans.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return approval_id


if __name__ == "__main__":
    print(asyncio.run(main(sys.argv[1:])))
