"""Parity with the bare OpenAI Agents SDK: its own human-in-the-loop examples, run through us.

Each scenario plays one script twice and compares what came out:

(a) the SDK's recipe in one process: ``Runner.run``, ``result.to_state()``, a JSON round trip
    (``RunState.from_json``), ``state.approve`` / ``state.reject``, ``Runner.run`` again;
(b) the provider: ``execute_agent`` pauses and stores a record, a reviewer decides with
    ``store.decide``, and a fresh ``OpenAIAgentsProvider`` (a new registry of freshly built
    agents, the same database) resumes it; for the key cases in another OS process, through
    ``eat approvals resume --app tests.apps.parity_app:registry``.

Both must give the same final output, the same pauses, the same tool bodies run (the journal of
``tests/parity_scenarios.py``), the same conversation sent to every model call (so the same tool
outputs and rejection texts read), the same session contents and, streamed, the same events.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from agents import Agent, RunConfig, Runner, RunState, SQLiteSession
from agents.memory import Session
from agents.stream_events import StreamEvent

from evolving_agents import (
    AgentRegistry,
    AgentRunResult,
    ApprovalStatus,
    MongoDBClient,
    OpenAIAgentsProvider,
    RunStatus,
)
from tests.parity_scenarios import (
    ADD_NUMBERS,
    BOOK_TABLE,
    JOURNAL_ENV,
    LIST_FILES,
    OAKLAND_WEATHER,
    SF_WEATHER,
    SQLITE_ENV,
    TEMPERATURE_AND_ALERT,
    TWO_TEMPERATURES,
    WEATHER_AGENT,
    WEATHER_AND_TEMPERATURE,
    Guest,
    GuestModel,
    Journal,
    build_concierge_agent,
    build_hitl_agent,
    build_mcp_agent,
    build_shell_agent,
    build_weather_agent,
    custom_rejection_config,
    tool_outputs_read,
)

ROOT = Path(__file__).parent.parent

Builder = Callable[[Journal], Agent[Any]]


@dataclass(frozen=True)
class Decision:
    verdict: str
    message: str | None = None


APPROVE = Decision("approved")


def reject(message: str | None = None) -> Decision:
    return Decision("rejected", message)


@dataclass
class Transcript:
    """What one way of running a scenario produced."""

    final_outputs: list[Any]
    pauses: list[list[str]]
    """The call ids each pause waited on, pause by pause."""
    journal: list[dict[str, Any]]
    """Tool bodies that ran and the conversation each model call was sent, in order."""
    session_items: list[Any] | None = None
    events: list[list[str]] = field(default_factory=list)
    """Streamed runs: the name of every event, run by run (the pause, then each resume)."""
    resumed: list[AgentRunResult] = field(default_factory=list)
    """Through the provider only: what each resume returned (not compared: the SDK has none)."""


def tool_runs(transcript: Transcript) -> list[dict[str, Any]]:
    return [entry for entry in transcript.journal if "tool" in entry]


def assert_same_run(through_provider: Transcript, bare: Transcript) -> None:
    """The provider's run is the SDK's run: one assert per thing a user can observe."""
    assert through_provider.final_outputs == bare.final_outputs
    assert through_provider.pauses == bare.pauses
    assert tool_runs(through_provider) == tool_runs(bare), "the same tool bodies ran, once each"
    assert tool_outputs_read(through_provider.journal) == tool_outputs_read(bare.journal)
    assert through_provider.journal == bare.journal, "every model call got the same conversation"
    assert through_provider.session_items == bare.session_items
    assert through_provider.events == bare.events


# -- (a) the bare SDK ----------------------------------------------------------------------


async def run_bare(
    build: Builder,
    journal: Journal,
    inputs: list[str],
    decisions: list[dict[str, Decision]],
    *,
    session: Session | None = None,
    run_config: RunConfig | None = None,
    context: Any = None,
    context_deserializer: Callable[[dict[str, Any]], Any] | None = None,
    streamed: bool = False,
) -> Transcript:
    """The SDK examples' loop: run, and while interrupted: to_state, JSON, decide, run again.

    A call without a decision in this pause's mapping is left undecided (it pauses again).
    """
    agent = build(journal)
    pending = list(decisions)
    finals: list[Any] = []
    pauses: list[list[str]] = []
    events: list[list[str]] = []
    for text in inputs:
        result = await _sdk_run(
            agent,
            text,
            events,
            session=session,
            run_config=run_config,
            context=context,
            streamed=streamed,
        )
        while result.interruptions:
            pauses.append([str(item.call_id) for item in result.interruptions])
            state = await RunState.from_json(
                agent, result.to_state().to_json(), context_deserializer=context_deserializer
            )
            verdicts = pending.pop(0)
            for item in state.get_interruptions():
                decision = verdicts.get(str(item.call_id))
                if decision is None:
                    continue
                if decision.verdict == "approved":
                    state.approve(item)
                else:
                    state.reject(item, rejection_message=decision.message)
            result = await _sdk_run(
                agent, state, events, session=session, run_config=run_config, streamed=streamed
            )
        finals.append(result.final_output)
    assert pending == [], "the script decided more pauses than the run had"
    return Transcript(finals, pauses, journal.entries(), await _items(session), events)


async def _sdk_run(
    agent: Agent[Any],
    input: str | RunState[Any, Any],
    events: list[list[str]],
    *,
    session: Session | None,
    run_config: RunConfig | None,
    streamed: bool,
    context: Any = None,
) -> Any:
    if not streamed:
        return await Runner.run(
            agent, input, session=session, run_config=run_config, context=context
        )
    result = Runner.run_streamed(
        agent, input, session=session, run_config=run_config, context=context
    )
    events.append([event_name(event) async for event in result.stream_events()])
    return result


def event_name(event: StreamEvent) -> str:
    if event.type == "raw_response_event":
        return f"raw:{event.data.type}"
    if event.type == "run_item_stream_event":
        return f"item:{event.name}"
    return f"agent:{event.new_agent.name}"


async def _items(session: Session | None) -> list[Any] | None:
    return None if session is None else list(await session.get_items())


# -- (b) through the provider ---------------------------------------------------------------

Resumer = Callable[[str], Awaitable[AgentRunResult]]


def fresh_provider(
    mongo: MongoDBClient, build: Builder, journal: Journal, register: dict[str, Any]
) -> OpenAIAgentsProvider:
    """What any process of the app does: build its agents, register them, make a provider."""
    registry = AgentRegistry()
    registry.register(build(journal), **register)
    return OpenAIAgentsProvider(mongodb_client=mongo, registry=registry)


def agent_name(provider: OpenAIAgentsProvider) -> str:
    [name] = provider.registry.names()
    return name


async def run_through_provider(
    mongo: MongoDBClient,
    build: Builder,
    journal: Journal,
    inputs: list[str],
    decisions: list[dict[str, Decision]],
    *,
    register: dict[str, Any] | None = None,
    execute: dict[str, Any] | None = None,
    resume: dict[str, Any] | None = None,
    streamed: bool = False,
    resume_elsewhere: Resumer | None = None,
) -> Transcript:
    """Pause with one provider, decide in the store, resume with a fresh provider (or process).

    ``register``: keywords of ``registry.register`` in every provider (the app's own setup);
    ``execute`` / ``resume``: keywords of ``execute_agent`` / ``resume_agent``.
    """
    register = register or {}
    execute = execute or {}
    provider = fresh_provider(mongo, build, journal, register)
    name = agent_name(provider)
    pending = list(decisions)
    finals: list[Any] = []
    pauses: list[list[str]] = []
    events: list[list[str]] = []
    resumed: list[AgentRunResult] = []
    for text in inputs:
        if streamed:
            run = await _streamed(provider.execute_agent_streamed(name, text, **execute), events)
        else:
            run = await provider.execute_agent(name, text, **execute)
        while run.status is RunStatus.AWAITING_APPROVAL:
            assert run.approval_id is not None
            pauses.append(call_ids(run))
            for call_id, decision in pending.pop(0).items():
                await provider.store.decide(
                    run.approval_id,
                    call_id=call_id,
                    verdict=decision.verdict,
                    reviewer="alice",
                    message=decision.message,
                )
            if resume_elsewhere is not None:
                run = await resume_elsewhere(run.approval_id)
            elif streamed:
                resumer = fresh_provider(mongo, build, journal, register)
                run = await _streamed(
                    resumer.resume_agent_streamed(run.approval_id, **(resume or {})), events
                )
            else:
                resumer = fresh_provider(mongo, build, journal, register)
                run = await resumer.resume_agent(run.approval_id, **(resume or {}))
            resumed.append(run)
        assert run.status is RunStatus.SUCCESS, f"{name}: {run.status}: {run.error}"
        finals.append(run.final_output)
    assert pending == [], "the script decided more pauses than the run had"
    session_items = await _items(execute.get("session"))
    return Transcript(finals, pauses, journal.entries(), session_items, events, resumed)


async def _streamed(stream: Any, events: list[list[str]]) -> AgentRunResult:
    names: list[str] = []
    final: AgentRunResult | None = None
    async for item in stream:
        if isinstance(item, AgentRunResult):
            final = item
        else:
            assert final is None, "the AgentRunResult comes last"
            names.append(event_name(item))
    assert final is not None, "a streamed run ends with its AgentRunResult"
    events.append(names)
    return final


def resume_with_eat_cli(env: dict[str, str]) -> Resumer:
    """Resume in another OS process: ``eat approvals resume ID --app ... --json``."""

    async def resume(approval_id: str) -> AgentRunResult:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "evolving_agents",
            "approvals",
            "resume",
            approval_id,
            "--app",
            "tests.apps.parity_app:registry",
            "--json",
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=120)
        assert process.returncode == 0, err.decode()
        return AgentRunResult.model_validate_json(out)

    return resume


def outcome_of(transcript: Transcript, call_id: str) -> tuple[str, str | None]:
    """What the provider reports a decided call did: its status and the text the model read."""
    [found] = [run.outcomes[call_id] for run in transcript.resumed if call_id in run.outcomes]
    return found.status, found.output


def call_ids(run: AgentRunResult) -> list[str]:
    return [call.call_id for call in run.pending_tool_calls]


def journals(tmp_path: Path) -> tuple[Journal, Journal]:
    return Journal(tmp_path / "bare.jsonl"), Journal(tmp_path / "provider.jsonl")


# -- human_in_the_loop.py -------------------------------------------------------------------

WEATHER_READ = "The weather in Oakland is sunny"
TEMPERATURE_READ = "The temperature in Oakland is 20° Celsius"


async def test_approved_temperature_runs_once_and_the_answer_is_the_sdks(
    mongo: MongoDBClient, tmp_path: Path
) -> None:
    bare_log, provider_log = journals(tmp_path)
    decisions = [{"call_temp": APPROVE}]
    bare = await run_bare(build_weather_agent, bare_log, [WEATHER_AND_TEMPERATURE], decisions)
    assert bare.final_outputs == [f"read: {WEATHER_READ} | {TEMPERATURE_READ}"]
    assert [run["tool"] for run in tool_runs(bare)] == ["get_weather", "get_temperature"]

    provider = await run_through_provider(
        mongo, build_weather_agent, provider_log, [WEATHER_AND_TEMPERATURE], decisions
    )
    assert_same_run(provider, bare)
    assert outcome_of(provider, "call_temp") == ("executed", TEMPERATURE_READ)


async def test_rejected_temperature_never_runs_and_the_model_reads_the_reviewers_message(
    mongo: MongoDBClient, tmp_path: Path
) -> None:
    bare_log, provider_log = journals(tmp_path)
    decisions = [{"call_temp": reject("Oakland temperatures need a ticket")}]
    bare = await run_bare(build_weather_agent, bare_log, [WEATHER_AND_TEMPERATURE], decisions)
    assert bare.final_outputs == [f"read: {WEATHER_READ} | Oakland temperatures need a ticket"]
    assert [run["tool"] for run in tool_runs(bare)] == ["get_weather"]

    provider = await run_through_provider(
        mongo, build_weather_agent, provider_log, [WEATHER_AND_TEMPERATURE], decisions
    )
    assert_same_run(provider, bare)
    assert outcome_of(provider, "call_temp") == ("rejected", "Oakland temperatures need a ticket")


# -- human_in_the_loop_custom_rejection.py ------------------------------------------------

DECLINED = "Tool call get_temperature (call_temp) was declined by an operator."


@pytest.mark.parametrize("given", ["registered", "per_call"])
async def test_a_rejection_without_a_message_reads_the_run_configs_formatter_text(
    mongo: MongoDBClient, tmp_path: Path, given: str
) -> None:
    bare_log, provider_log = journals(tmp_path)
    decisions = [{"call_temp": reject()}]
    bare = await run_bare(
        build_weather_agent,
        bare_log,
        [WEATHER_AND_TEMPERATURE],
        decisions,
        run_config=custom_rejection_config(),
    )
    assert bare.final_outputs == [f"read: {WEATHER_READ} | {DECLINED}"]

    if given == "registered":
        options: dict[str, Any] = {"register": {"run_config": custom_rejection_config()}}
    else:
        # Like Runner.run(run_config=...): given to the run, and again to the resume, since a
        # callable cannot be stored with the paused run.
        options = {
            "execute": {"run_config": custom_rejection_config()},
            "resume": {"run_config": custom_rejection_config()},
        }
    provider = await run_through_provider(
        mongo, build_weather_agent, provider_log, [WEATHER_AND_TEMPERATURE], decisions, **options
    )
    assert_same_run(provider, bare)
    assert outcome_of(provider, "call_temp") == ("rejected", DECLINED)


async def test_an_unknown_run_option_is_a_type_error_as_with_runner_run(
    mongo: MongoDBClient, tmp_path: Path
) -> None:
    bare_log, provider_log = journals(tmp_path)
    with pytest.raises(TypeError, match="bogus"):
        await Runner.run(build_weather_agent(bare_log), WEATHER_AND_TEMPERATURE, bogus=1)

    provider = fresh_provider(mongo, build_weather_agent, provider_log, {})
    with pytest.raises(TypeError, match="bogus"):
        await provider.execute_agent(WEATHER_AGENT, WEATHER_AND_TEMPERATURE, bogus=1)
    with pytest.raises(TypeError, match="bogus"):
        async for _ in provider.execute_agent_streamed(
            WEATHER_AGENT, WEATHER_AND_TEMPERATURE, bogus=1
        ):
            pass
    with pytest.raises(TypeError, match="bogus"):
        await provider.resume_agent("apr_0123456789abcdef", bogus=1)
    assert provider_log.entries() == [], "no model was called, no tool ran"
    assert (await provider.store.list()).items == []


# -- human_in_the_loop_stream.py ------------------------------------------------------------


async def test_streamed_pause_and_streamed_resume_yield_the_sdks_events_and_answer(
    mongo: MongoDBClient, tmp_path: Path
) -> None:
    bare_log, provider_log = journals(tmp_path)
    decisions = [{"call_temp": APPROVE}]
    bare = await run_bare(
        build_weather_agent, bare_log, [WEATHER_AND_TEMPERATURE], decisions, streamed=True
    )
    assert bare.final_outputs == [f"read: {WEATHER_READ} | {TEMPERATURE_READ}"]
    paused, resumed = bare.events
    assert paused.count("item:tool_output") == 1, "the weather ran, the temperature waits"
    assert resumed[-1] == "item:message_output_created"

    provider = await run_through_provider(
        mongo,
        build_weather_agent,
        provider_log,
        [WEATHER_AND_TEMPERATURE],
        decisions,
        streamed=True,
    )
    assert_same_run(provider, bare)


# -- memory_session_hitl_example.py -------------------------------------------------------

SESSION_DECISIONS = [{"call_w1": APPROVE}, {"call_w2": reject("Not today")}]
SESSION_ANSWERS = ["read: Sunny, 72°F", "read: Not today"]


async def test_sqlite_session_holds_the_same_history_as_the_sdks_over_two_messages(
    mongo: MongoDBClient, tmp_path: Path
) -> None:
    bare_log, provider_log = journals(tmp_path)
    bare = await run_bare(
        build_hitl_agent,
        bare_log,
        [OAKLAND_WEATHER, SF_WEATHER],
        SESSION_DECISIONS,
        session=SQLiteSession("conversation", tmp_path / "bare.sqlite"),
    )
    assert bare.final_outputs == SESSION_ANSWERS
    assert bare.session_items is not None and len(bare.session_items) == 8

    db = tmp_path / "provider.sqlite"
    provider = await run_through_provider(
        mongo,
        build_hitl_agent,
        provider_log,
        [OAKLAND_WEATHER, SF_WEATHER],
        SESSION_DECISIONS,
        register={"session_factory": lambda session_id: SQLiteSession(session_id, db)},
        execute={"session": SQLiteSession("conversation", db)},
    )
    assert_same_run(provider, bare)


# MongoDBSession needs PyMongo's AsyncMongoClient: on memory:// (mongomock-motor) its constructor
# already fails (`client.append_metadata` is read as a database name, then called), and its
# reads use `Cursor.to_list()`, which mongomock's cursor lacks. So it runs on the wire only.
@pytest.mark.wire
@pytest.mark.parametrize("backend", ["wire"])
async def test_mongodb_session_next_to_the_approvals_holds_the_sdks_history(
    mongo: MongoDBClient, tmp_path: Path
) -> None:
    from agents.extensions.memory import MongoDBSession

    def session(session_id: str) -> MongoDBSession:
        return MongoDBSession(session_id, client=mongo.client, database=mongo.db_name)

    bare_log, provider_log = journals(tmp_path)
    bare = await run_bare(
        build_hitl_agent,
        bare_log,
        [OAKLAND_WEATHER, SF_WEATHER],
        SESSION_DECISIONS,
        session=session("bare-conversation"),
    )
    assert bare.final_outputs == SESSION_ANSWERS

    provider = await run_through_provider(
        mongo,
        build_hitl_agent,
        provider_log,
        [OAKLAND_WEATHER, SF_WEATHER],
        SESSION_DECISIONS,
        register={"session_factory": session},
        execute={"session": session("provider-conversation")},
    )
    assert_same_run(provider, bare)
    names = await mongo.db.list_collection_names()
    assert {"agent_sessions", "agent_messages"} <= set(names), "sessions share the database"


async def test_mongodb_session_cannot_use_the_memory_backend(tmp_path: Path) -> None:
    """Why the test above is wire-only; when mongomock-motor catches up, run it on memory too."""
    from agents.extensions.memory import MongoDBSession

    memory = MongoDBClient("memory://", "eat_parity_memory")
    with pytest.raises(TypeError, match="not callable"):
        MongoDBSession("conversation", client=memory.client, database=memory.db_name)
    await memory.close()


# -- the examples' `while result.interruptions` loop: chained pauses -----------------------


async def test_two_gated_calls_in_successive_turns_pause_twice_like_the_sdk(
    mongo: MongoDBClient, tmp_path: Path
) -> None:
    bare_log, provider_log = journals(tmp_path)
    decisions = [{"call_t1": APPROVE}, {"call_t2": reject("Hills are out of scope")}]
    bare = await run_bare(build_weather_agent, bare_log, [TWO_TEMPERATURES], decisions)
    assert bare.pauses == [["call_t1"], ["call_t2"]]
    assert bare.final_outputs == [f"read: {TEMPERATURE_READ} | Hills are out of scope"]

    provider = await run_through_provider(
        mongo, build_weather_agent, provider_log, [TWO_TEMPERATURES], decisions
    )
    assert_same_run(provider, bare)
    [first, second] = provider.resumed
    assert second.run_id == first.run_id, "one run, two records in its chain"
    history = await OpenAIAgentsProvider(mongodb_client=mongo).store.run_history(first.run_id)
    assert [(r.sequence, r.status) for r in history] == [
        (0, ApprovalStatus.COMPLETED),
        (1, ApprovalStatus.COMPLETED),
    ]


# -- shell_human_in_the_loop.py -------------------------------------------------------------


async def test_shell_commands_reach_the_executor_only_once_approved_like_the_sdk(
    mongo: MongoDBClient, tmp_path: Path
) -> None:
    bare_log, provider_log = journals(tmp_path)
    decisions = [{"call_shell": APPROVE}]
    bare = await run_bare(build_shell_agent, bare_log, [LIST_FILES], decisions)
    assert tool_runs(bare) == [{"tool": "shell", "args": {"commands": ["ls", "pwd"]}}]
    assert bare.final_outputs == ["read: (not run) ls (not run) pwd"]

    provider = await run_through_provider(
        mongo, build_shell_agent, provider_log, [LIST_FILES], decisions
    )
    assert_same_run(provider, bare)


async def test_a_rejected_shell_call_never_reaches_the_executor_like_the_sdk(
    mongo: MongoDBClient, tmp_path: Path
) -> None:
    bare_log, provider_log = journals(tmp_path)
    decisions = [{"call_shell": reject("No shell access on this host")}]
    bare = await run_bare(build_shell_agent, bare_log, [LIST_FILES], decisions)
    assert tool_runs(bare) == []
    assert bare.final_outputs == ["read: No shell access on this host"]

    provider = await run_through_provider(
        mongo, build_shell_agent, provider_log, [LIST_FILES], decisions
    )
    assert_same_run(provider, bare)


# -- tests/mcp/test_mcp_approval.py ---------------------------------------------------------


async def test_a_local_mcp_tool_requiring_approval_pauses_and_resumes_like_the_sdk(
    mongo: MongoDBClient, tmp_path: Path
) -> None:
    bare_log, provider_log = journals(tmp_path)
    decisions = [{"call_add": APPROVE}]
    bare = await run_bare(build_mcp_agent, bare_log, [ADD_NUMBERS], decisions)
    assert tool_runs(bare) == [{"tool": "mcp:add", "args": {"a": 2, "b": 3}}]
    assert bare.final_outputs == ["read: sum=5"]

    provider = await run_through_provider(
        mongo, build_mcp_agent, provider_log, [ADD_NUMBERS], decisions
    )
    assert_same_run(provider, bare)


# -- partial resume ---------------------------------------------------------------------------


async def test_partial_resume_runs_the_decided_call_and_pauses_again_on_the_rest(
    mongo: MongoDBClient, tmp_path: Path
) -> None:
    bare_log, provider_log = journals(tmp_path)
    # The SDK: approve one of two interruptions, run: it runs that one and interrupts on the other.
    bare = await run_bare(
        build_weather_agent,
        bare_log,
        [TEMPERATURE_AND_ALERT],
        [{"call_temp": APPROVE}, {"call_alert": APPROVE}],
    )
    assert bare.pauses == [["call_temp", "call_alert"], ["call_alert"]]
    assert [run["tool"] for run in tool_runs(bare)] == ["get_temperature", "issue_heat_alert"]

    # Us: the alert needs two approvals; alice's is not enough, so only the temperature runs.
    provider = fresh_provider(mongo, build_weather_agent, provider_log, {})
    first = await provider.execute_agent(WEATHER_AGENT, TEMPERATURE_AND_ALERT)
    assert first.approval_id is not None
    store = provider.store
    await store.decide(first.approval_id, call_id="call_temp", verdict="approved", reviewer="alice")
    await store.decide(
        first.approval_id, call_id="call_alert", verdict="approved", reviewer="alice"
    )
    before = (await store.get(first.approval_id)).call("call_alert")
    assert before is not None and before.decision is None and len(before.votes) == 1

    second = await fresh_provider(mongo, build_weather_agent, provider_log, {}).resume_agent(
        first.approval_id, partial=True
    )
    assert second.status is RunStatus.AWAITING_APPROVAL and second.approval_id is not None
    assert second.run_id == first.run_id and second.approval_id != first.approval_id
    assert [call.call_id for call in second.pending_tool_calls] == ["call_alert"]
    assert [run["tool"] for run in provider_log.tool_runs()] == ["get_temperature"]
    again = (await store.get(second.approval_id)).call("call_alert")
    assert again is not None
    assert [(v.reviewer, v.verdict) for v in again.votes] == [("alice", "approved")]
    assert again.expires_at == before.expires_at, "the call keeps its deadline"
    assert (await store.get(first.approval_id)).next_approval_id == second.approval_id

    await store.decide(second.approval_id, call_id="call_alert", verdict="approved", reviewer="bob")
    done = await fresh_provider(mongo, build_weather_agent, provider_log, {}).resume_agent(
        second.approval_id
    )
    assert done.status is RunStatus.SUCCESS, done.error
    through_provider = Transcript(
        [done.final_output],
        [call_ids(first), call_ids(second)],
        provider_log.entries(),
    )
    assert_same_run(through_provider, bare)


# -- typed run context ------------------------------------------------------------------------


@pytest.mark.parametrize("context_type", [Guest, GuestModel], ids=["dataclass", "pydantic"])
async def test_a_typed_context_comes_back_as_its_type_like_with_a_context_deserializer(
    mongo: MongoDBClient, tmp_path: Path, context_type: type[Any]
) -> None:
    from evolving_agents import TypeContextCodec

    bare_log, provider_log = journals(tmp_path)
    decisions = [{"call_book": APPROVE}]
    bare = await run_bare(
        build_concierge_agent,
        bare_log,
        [BOOK_TABLE],
        decisions,
        context=context_type(name="alice", party=4),
        context_deserializer=lambda data: context_type(**data),
    )
    assert tool_runs(bare)[0]["args"]["context_type"] == context_type.__name__
    assert bare.final_outputs == ["read: table for 4 at Chez Panisse, name alice"]

    provider = await run_through_provider(
        mongo,
        build_concierge_agent,
        provider_log,
        [BOOK_TABLE],
        decisions,
        register={"context_codec": TypeContextCodec(context_type)},
        execute={"context": context_type(name="alice", party=4)},
    )
    assert_same_run(provider, bare)


# -- across processes: paused here, resumed by `eat approvals resume` in another --------------
# The wire server only: a memory:// database lives and dies with its process.


def _other_process_env(wire_env: dict[str, str], journal: Journal, **extra: str) -> dict[str, str]:
    return wire_env | {JOURNAL_ENV: str(journal.path)} | extra


@pytest.mark.wire
@pytest.mark.parametrize(
    "verdict",
    [APPROVE, reject("Oakland temperatures need a ticket")],
    ids=["approved", "rejected"],
)
async def test_resumed_by_eat_in_another_process_the_run_is_the_sdks(
    wire_env: dict[str, str], tmp_path: Path, verdict: Decision
) -> None:
    bare_log, provider_log = journals(tmp_path)
    decisions = [{"call_temp": verdict}]
    bare = await run_bare(build_weather_agent, bare_log, [WEATHER_AND_TEMPERATURE], decisions)

    client = MongoDBClient()  # MONGODB_URI and MONGODB_DATABASE_NAME of the other process
    try:
        provider = await run_through_provider(
            client,
            build_weather_agent,
            provider_log,
            [WEATHER_AND_TEMPERATURE],
            decisions,
            resume_elsewhere=resume_with_eat_cli(_other_process_env(wire_env, provider_log)),
        )
    finally:
        await client.close()
    assert_same_run(provider, bare)
    status = "executed" if verdict is APPROVE else "rejected"
    assert outcome_of(provider, "call_temp")[0] == status


@pytest.mark.wire
async def test_sqlite_session_reopened_by_eat_in_another_process_holds_the_sdks_history(
    wire_env: dict[str, str], tmp_path: Path
) -> None:
    bare_log, provider_log = journals(tmp_path)
    bare = await run_bare(
        build_hitl_agent,
        bare_log,
        [OAKLAND_WEATHER, SF_WEATHER],
        SESSION_DECISIONS,
        session=SQLiteSession("conversation", tmp_path / "bare.sqlite"),
    )
    db = tmp_path / "provider.sqlite"
    env = _other_process_env(wire_env, provider_log, **{SQLITE_ENV: str(db)})
    client = MongoDBClient()
    try:
        provider = await run_through_provider(
            client,
            build_hitl_agent,
            provider_log,
            [OAKLAND_WEATHER, SF_WEATHER],
            SESSION_DECISIONS,
            # The pausing process registers the factory too: it is the same app.
            register={"session_factory": lambda session_id: SQLiteSession(session_id, db)},
            execute={"session": SQLiteSession("conversation", db)},
            resume_elsewhere=resume_with_eat_cli(env),
        )
    finally:
        await client.close()
    assert_same_run(provider, bare)
