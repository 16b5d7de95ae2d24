"""Decision-to-resume latency: ``python -m bench.latency [--runs 200] [--poll-interval 0.2]``.

From the last vote landing (the moment ``store.decide`` returns in this, the reviewer's,
process) to the approved tool body starting in a separate worker process::

    from bench.latency import decision_to_resume

    found = await decision_to_resume(uri, 200, change_stream=True)
    found["p50_ms"], found["p99_ms"]          # and every sample in found["samples_ms"]

One worker process runs against the wire server at ``uri``. For each run this process pauses
a run of this module's agent, waits a moment (the worker is idle when a human decides, as it
would be), approves it, notes ``time.time()`` as ``decide`` returns, and waits for the tool
body, whose first act is to append its own ``time.time()``, keyed by call id, to a file; then
it waits for the run to complete before the next one, so no run queues behind another. Both
processes are on one machine, so their wall clocks agree.

Twice, with ``eat worker --app bench.latency:registry`` both times: woken by its change
stream (the default), and with ``--no-change-stream`` polling every ``poll_interval`` seconds,
without backing off (``--max-poll-interval`` the same). Before a polling decision the wait is
drawn at random over one poll interval, so decisions do not fall in step with the worker's
polls.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from agents import Agent
from agents.items import TResponseOutputItem
from agents.testing import ModelCall, ModelStep, ScriptedModel, assistant_message, function_call
from agents.tool_context import ToolContext

from evolving_agents import AgentRegistry, MongoDBClient, OpenAIAgentsProvider, OpenAIToolAdapter
from evolving_agents.config import Settings

ROOT = Path(__file__).resolve().parent.parent
AGENT_NAME = "latency-agent"
BODY_LOG_ENV = "EAT_BENCH_LATENCY_LOG"
_FIRST_TIMEOUT = 90.0  # the first run also waits for the worker process to start
_TIMEOUT = 30.0
_POLL_SECONDS = 0.005
_UNSETTLED = ("pending", "decided", "resuming")


# -- the app the worker runs -------------------------------------------------------------------


async def apply_change(ctx: ToolContext[Any], ticket: str) -> str:
    """Apply a change ticket to production."""
    started = time.time()  # first, before anything else: this is the moment measured
    log = os.environ.get(BODY_LOG_ENV)
    if log:
        line = json.dumps({"call_id": ctx.tool_call_id, "started": started, "pid": os.getpid()})
        # One short O_APPEND write per body: whole lines, readable while the worker runs.
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
    return f"applied {ticket}"


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def _respond(call: ModelCall) -> list[TResponseOutputItem]:
    items = call.input if isinstance(call.input, list) else []
    outputs = [_field(i, "output") for i in items if _field(i, "type") == "function_call_output"]
    if not outputs:
        token = secrets.token_hex(6)
        return [function_call("apply_change", {"ticket": f"CHG-{token}"}, call_id=f"call_{token}")]
    return [assistant_message("done: " + "; ".join(str(o) for o in outputs))]


def build_agent() -> Agent[Any]:
    tool = OpenAIToolAdapter().adapt(apply_change, needs_approval=True)
    model = ScriptedModel([ModelStep.respond(_respond) for _ in range(4)])
    return Agent(name=AGENT_NAME, instructions="apply the change", tools=[tool], model=model)


def build_registry() -> AgentRegistry:
    agents = AgentRegistry()
    agents.register_factory(AGENT_NAME, build_agent)
    return agents


registry = build_registry()
"""What ``eat worker --app bench.latency:registry`` resumes with."""


# -- the measurement ---------------------------------------------------------------------------


class _BodyLog:
    """The tool bodies' start times, read from their log as it grows: call id -> time.time()."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.started: dict[str, float] = {}
        self.bodies: Counter[str] = Counter()
        self._offset = 0
        self._partial = b""

    def _read(self) -> None:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
        except FileNotFoundError:
            return
        self._offset += len(chunk)
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        for line in lines:
            if line.strip():
                entry = json.loads(line)
                self.bodies[entry["call_id"]] += 1
                self.started.setdefault(entry["call_id"], float(entry["started"]))

    async def wait_for(
        self, call_id: str, timeout: float, worker: asyncio.subprocess.Process
    ) -> float:
        deadline = time.monotonic() + timeout
        while True:
            self._read()
            if call_id in self.started:
                return self.started[call_id]
            if worker.returncode is not None:
                raise RuntimeError(f"the worker exited {worker.returncode} before {call_id} ran")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the tool body of {call_id} did not start in {timeout:g} s")
            await asyncio.sleep(_POLL_SECONDS)


def percentile(values: list[float], q: int) -> float:
    """The ``q``-th percentile (1..99), interpolated between samples."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def _eat() -> str:
    beside = Path(sys.executable).parent / "eat"
    found = str(beside) if beside.exists() else shutil.which("eat")
    if found is None:
        raise RuntimeError("no `eat` executable: pip install -e . first")
    return found


def worker_command(change_stream: bool, poll_interval: float) -> list[str]:
    """The worker process: ``eat worker``, woken by its change stream or polling only."""
    command = [_eat(), "worker", "--app", "bench.latency:registry", "--json"]
    if change_stream:
        return command
    every = str(poll_interval)
    return [*command, "--no-change-stream", "--poll-interval", every, "--max-poll-interval", every]


async def _settled(provider: OpenAIAgentsProvider, approval_id: str, timeout: float) -> str:
    """Wait until the run has left pending/decided/resuming; return its status."""
    deadline = time.monotonic() + timeout
    while True:
        document = await provider.store._collection.find_one({"_id": approval_id}, {"status": 1})
        status = str((document or {}).get("status"))
        if status not in _UNSETTLED:
            return status
        if time.monotonic() > deadline:
            raise TimeoutError(f"{approval_id} still {status} after {timeout:g} s")
        await asyncio.sleep(0.01)


async def decision_to_resume(
    uri: str,
    runs: int,
    *,
    change_stream: bool,
    poll_interval: float = 0.2,
    warmup: int = 3,
    settle: float = 0.05,
) -> dict[str, Any]:
    """``runs`` timed decisions (after ``warmup`` untimed ones) with one worker process."""
    db_name = f"bench_latency_{secrets.token_hex(3)}"
    env = dict(os.environ)
    env.setdefault("EAT_STATE_SECRET", secrets.token_hex(32))
    settings = Settings(state_secret=env["EAT_STATE_SECRET"])
    with tempfile.TemporaryDirectory(prefix="eat-latency-") as scratch:
        body_log = _BodyLog(Path(scratch) / "bodies.jsonl")
        env |= {
            "MONGODB_URI": uri,
            "MONGODB_DATABASE_NAME": db_name,
            BODY_LOG_ENV: str(body_log.path),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        }
        out_path, err_path = Path(scratch) / "worker.out", Path(scratch) / "worker.err"
        async with MongoDBClient(uri, db_name, settings=settings) as client:
            provider = OpenAIAgentsProvider(
                mongodb_client=client, registry=build_registry(), settings=settings
            )
            await provider.store.ensure_indexes()
            # Files, not pipes: nobody reads a pipe while the worker runs, and a full one blocks it.
            with open(out_path, "wb") as out, open(err_path, "wb") as err:
                worker = await asyncio.create_subprocess_exec(
                    *worker_command(change_stream, poll_interval),
                    cwd=ROOT,
                    env=env,
                    stdout=out,
                    stderr=err,
                )
            try:
                samples, statuses = await _decide_one_by_one(
                    provider, worker, body_log, runs, warmup, settle,
                    poll_interval if not change_stream else 0.0,
                )
            finally:
                stats = await _stop(worker, out_path, err_path)
            await client.client.drop_database(db_name)
    duplicates = sum(count - 1 for count in body_log.bodies.values() if count > 1)
    return {
        "wakeup": "change_stream" if change_stream else "polling",
        "worker": " ".join(["eat", *worker_command(change_stream, poll_interval)[1:]]),
        "poll_interval_s": None if change_stream else poll_interval,
        "runs": runs,
        "warmup": warmup,
        "completed": statuses.get("completed", 0),
        "statuses": dict(statuses),
        "duplicates": duplicates,
        "worker_stats": stats,
        "samples_ms": samples,
        "p50_ms": statistics.median(samples),
        "p99_ms": percentile(samples, 99),
        "max_ms": max(samples),
    }


async def _decide_one_by_one(
    provider: OpenAIAgentsProvider,
    worker: asyncio.subprocess.Process,
    body_log: _BodyLog,
    runs: int,
    warmup: int,
    settle: float,
    jitter: float,
) -> tuple[list[float], Counter[str]]:
    samples: list[float] = []
    statuses: Counter[str] = Counter()
    for i in range(warmup + runs):
        run = await provider.execute_agent(AGENT_NAME, "apply the change", actor="bench")
        assert run.approval_id is not None and run.pending_tool_calls, run
        call_id = run.pending_tool_calls[0].call_id
        await asyncio.sleep(settle + random.uniform(0, settle + jitter))
        await provider.store.decide(run.approval_id, verdict="approved", reviewer="reviewer")
        decided = time.time()
        started = await body_log.wait_for(call_id, _FIRST_TIMEOUT if i == 0 else _TIMEOUT, worker)
        if i >= warmup:
            samples.append((started - decided) * 1000)
            statuses[await _settled(provider, run.approval_id, _TIMEOUT)] += 1
        else:
            await _settled(provider, run.approval_id, _TIMEOUT)
    return samples, statuses


async def _stop(worker: asyncio.subprocess.Process, out: Path, err: Path) -> dict[str, Any]:
    """SIGTERM (finish what is in flight, exit 0), SIGKILL after 30 s; the worker's stats."""
    if worker.returncode is None:
        worker.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(worker.wait(), 30)
        except TimeoutError:
            worker.kill()
            await worker.wait()
    lines = out.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    if worker.returncode != 0 or not lines:
        tail = err.read_text(encoding="utf-8", errors="replace")[-2000:]
        raise RuntimeError(f"the worker exited {worker.returncode}: {tail}")
    stats: dict[str, Any] = json.loads(lines[-1])
    return stats


async def latency(
    uri: str, runs: int, *, poll_interval: float = 0.2, warmup: int = 3
) -> dict[str, dict[str, Any]]:
    """Both wake-ups, change stream first: what ``python -m bench`` records."""
    return {
        "change_stream": await decision_to_resume(uri, runs, change_stream=True, warmup=warmup),
        "polling": await decision_to_resume(
            uri, runs, change_stream=False, poll_interval=poll_interval, warmup=warmup
        ),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__)
    parser.add_argument("--runs", type=int, default=200, help="timed decisions per wake-up")
    parser.add_argument("--poll-interval", type=float, default=0.2, help="polling worker (s)")
    parser.add_argument("--in-memory", action="store_true", help="server storage in memory")
    args = parser.parse_args(argv)
    from evolving_agents.storage.embedded import EmbeddedServer

    with tempfile.TemporaryDirectory(prefix="eat-bench-latency-") as scratch:
        os.environ["EAT_CONFIG_DIR"] = str(Path(scratch) / "config")
        os.environ["EAT_DATA_DIR"] = str(Path(scratch) / "data")
        os.environ.setdefault("EAT_STATE_SECRET", secrets.token_hex(32))
        extra = ("--storage-path", ":memory:") if args.in_memory else ()
        server = EmbeddedServer(Path(scratch) / "server", extra_args=extra)
        uri = server.ensure_running()
        try:
            found = asyncio.run(latency(uri, args.runs, poll_interval=args.poll_interval))
        finally:
            server.stop()
    summary = {
        mode: {k: v for k, v in result.items() if k != "samples_ms"}
        for mode, result in found.items()
    }
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
