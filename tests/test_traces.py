"""One paused run reads as one trace: pause, decision and resume in three processes.

Each step runs in its own interpreter (``tests/apps/traced_app.py``) with the OpenTelemetry
SDK's in-memory exporter, sharing only the wire database: the trace context crosses on the
approval record. This process configures no tracer provider, so it also shows the default:
nothing is carried and the record keeps no trace context.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from evolving_agents import MongoDBClient, OpenAIAgentsProvider
from evolving_agents.approvals.store import PendingApprovalStore
from tests.apps.worker_app import AGENT_NAME, build_registry

ROOT = Path(__file__).parent.parent


def traced_step(
    env: dict[str, str], step: str, spans: Path, *extra: str
) -> tuple[str, list[dict[str, Any]]]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.apps.traced_app", step, "--spans", str(spans), *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = spans.read_text(encoding="utf-8").splitlines()
    return done.stdout.strip().splitlines()[-1], [json.loads(line) for line in lines]


def only(spans: list[dict[str, Any]], name: str) -> dict[str, Any]:
    found = [span for span in spans if span["name"] == name]
    assert len(found) == 1, f"{name}: {found}"
    return found[0]


@pytest.mark.parametrize("sdk_tracing", [False, True], ids=["sdk-tracing-off", "sdk-tracing-on"])
async def test_pause_decision_and_resume_in_three_processes_share_one_trace(
    wire_env: dict[str, str], tmp_path: Path, sdk_tracing: bool
) -> None:
    sdk = ["--sdk-tracing"] if sdk_tracing else []
    approval_id, paused = traced_step(wire_env, "pause", tmp_path / "pause.jsonl", *sdk)
    _, decided = traced_step(
        wire_env, "decide", tmp_path / "decide.jsonl", "--approval", approval_id
    )
    _, resumed = traced_step(
        wire_env, "resume", tmp_path / "resume.jsonl", "--approval", approval_id
    )

    run, pause = only(paused, "eat.run"), only(paused, "eat.pause")
    decision, resume = only(decided, "eat.decision"), only(resumed, "eat.resume")
    trace_ids = {span["trace_id"] for span in (run, pause, decision, resume)}
    assert len(trace_ids) == 1, "one trace across the three processes"
    assert run["parent_id"] is None and pause["parent_id"] == run["span_id"]
    assert decision["parent_id"] == pause["span_id"], "the decision is a child of the pause"
    assert resume["parent_id"] == pause["span_id"], "so is the resume"
    for span in (pause, decision, resume):
        assert span["attributes"]["eat.approval_id"] == approval_id
        assert span["attributes"]["eat.run_id"] == run["attributes"]["eat.run_id"]
    assert decision["attributes"]["eat.surface"] == "cli"
    assert decision["attributes"]["eat.calls_settled"] == 1

    store = PendingApprovalStore(MongoDBClient())  # the database of wire_env
    try:
        record = await store.get(approval_id)
    finally:
        await store.client.close()
    assert record.trace is not None and record.trace.traceparent is not None
    version, trace_id, span_id, _ = record.trace.traceparent.split("-")
    assert (version, trace_id, span_id) == ("00", pause["trace_id"], pause["span_id"])
    if sdk_tracing:
        sdk_trace_id = record.trace.sdk_trace_id
        assert sdk_trace_id is not None and sdk_trace_id.startswith("trace_")
        assert pause["attributes"]["eat.sdk_trace_id"] == sdk_trace_id
        assert resume["attributes"]["eat.sdk_trace_id"] == sdk_trace_id
    else:
        # Offline the SDK's tracing stays off, as it was: no SDK trace id to carry.
        assert record.trace.sdk_trace_id is None
        assert "eat.sdk_trace_id" not in pause["attributes"]
        assert "eat.sdk_trace_id" not in resume["attributes"]


async def test_without_a_tracer_provider_a_record_keeps_no_trace_context(
    mongo: MongoDBClient,
) -> None:
    provider = OpenAIAgentsProvider(mongodb_client=mongo, registry=build_registry())
    run = await provider.execute_agent(AGENT_NAME, "apply the change", actor="ops")
    assert run.approval_id is not None
    record = await provider.store.get(run.approval_id)
    assert record.trace is None
    raw = await provider.store._collection.find_one({"_id": run.approval_id})
    assert raw is not None and raw["trace"] is None


_FAILING_EXPORTER = """
import asyncio, json, sys
from opentelemetry import trace
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

WHEN = sys.argv[1]

class Broken(SpanProcessor):  # an application's exporter with a bug
    def on_start(self, span, parent_context=None):
        if WHEN == "start":
            raise RuntimeError("processor bug on start")

    def on_end(self, span):
        if WHEN == "end":
            raise RuntimeError("exporter bug on end")

provider = TracerProvider()
provider.add_span_processor(Broken())
trace.set_tracer_provider(provider)

from evolving_agents import MongoDBClient, OpenAIAgentsProvider
from tests.apps.worker_app import AGENT_NAME, build_registry

async def main() -> dict:
    client = MongoDBClient("memory://", "eat_failing_exporter")
    agents = OpenAIAgentsProvider(mongodb_client=client, registry=build_registry())
    run = await agents.execute_agent(AGENT_NAME, "apply the change", actor="ops")
    await agents.store.decide(run.approval_id, verdict="approved", reviewer="alice")
    done = await agents.resume_agent(run.approval_id)
    record = await agents.store.get(run.approval_id)
    return {"paused": run.status.value, "resumed": done.status.value,
            "record": record.status.value,
            "outcomes": [o.status.value for o in done.outcomes.values()]}

print(json.dumps(asyncio.run(main())))
"""


@pytest.mark.parametrize("when", ["start", "end"])
def test_an_exporter_that_raises_never_fails_a_pause_a_decision_or_a_resume(
    when: str, tmp_path: Path
) -> None:
    """The SDK does not catch what a span processor raises; the approval path must not feel it
    (the write a span reports has landed by then). Its own process: a tracer provider is
    global and set once."""
    done = subprocess.run(
        [sys.executable, "-c", _FAILING_EXPORTER, when],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "EAT_CONFIG_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome == {
        "paused": "awaiting_openai_tool_approval",
        "resumed": "success",
        "record": "completed",
        "outcomes": ["executed"],
    }
    warned = [line for line in done.stderr.splitlines() if "telemetry:" in line]
    assert warned, "the failure is logged"
    assert all("the approval path goes on" in line for line in warned)
