"""The run surface: Runner.run's options, typed contexts, outcomes and partial resumes.

Each scenario pauses with one provider and resumes with a fresh one (a new registry, as another
process would build it), on both backends.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import pytest
from agents import Agent, ModelSettings, RunConfig, RunContextWrapper, RunHooks
from agents.run_config import ToolErrorFormatterArgs
from agents.testing import ScriptedModel, assistant_message, function_call
from pydantic import BaseModel

from evolving_agents import (
    AgentRegistry,
    ApprovalStatus,
    CallOutcomeStatus,
    ContextNotSerializable,
    MongoDBClient,
    OpenAIAgentsProvider,
    OpenAIToolAdapter,
    RunOptionMissing,
    RunStatus,
    TypeContextCodec,
)
from evolving_agents.approvals.ledger import ExecutionStatus, ToolExecutionLedger
from evolving_agents.approvals.store import COLLECTION_NAME


@dataclasses.dataclass
class OpsContext:
    team: str
    ticket: str
    seen: list[str] = dataclasses.field(default_factory=list)


class TicketContext(BaseModel):
    ticket: str
    priority: int = 3


class Box:
    """A context the SDK cannot store: a lock is not data."""

    def __init__(self) -> None:
        self.lock = threading.Lock()


class Spy:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.contexts: list[Any] = []


def grant_tools(spy: Spy, *, raises: bool = False) -> list[Any]:
    def grant_access(wrapper: RunContextWrapper[Any], user: str, hours: int) -> str:
        """Grant a user admin access for some hours."""
        spy.contexts.append(wrapper.context)
        if raises:
            raise RuntimeError("okta said 503")
        spy.calls.append(("grant_access", {"user": user, "hours": hours}))
        return f"granted {user} for {hours}h"

    def deploy(service: str) -> str:
        """Deploy a service to production."""
        spy.calls.append(("deploy", {"service": service}))
        return f"deployed {service}"

    adapter = OpenAIToolAdapter()
    return [
        adapter.adapt(grant_access, metadata={"system": "okta", "risk": "high"}),
        adapter.adapt(deploy, metadata={"environment": "production"}),
    ]


def agent_with(steps: list[Any], spy: Spy, *, raises: bool = False) -> tuple[Agent[Any], Any]:
    model = ScriptedModel(steps)
    agent: Agent[Any] = Agent(
        name="ops-agent", instructions="ops", tools=grant_tools(spy, raises=raises), model=model
    )
    return agent, model


def fresh(mongo: MongoDBClient, agent: Agent[Any], **supplies: Any) -> OpenAIAgentsProvider:
    registry = AgentRegistry()
    registry.register(agent, **supplies)
    return OpenAIAgentsProvider(mongodb_client=mongo, registry=registry)


def read_by_model(model: ScriptedModel) -> dict[str, str]:
    last = model.last_call
    assert last is not None and isinstance(last.input, list)
    return {
        item["call_id"]: item["output"]
        for item in last.input
        if isinstance(item, dict) and item.get("type") == "function_call_output"
    }


GRANT = [function_call("grant_access", {"user": "alice", "hours": 2}, call_id="c1")]


async def test_an_unknown_keyword_is_a_type_error_never_ignored(mongo: MongoDBClient) -> None:
    spy = Spy()
    agent, _ = agent_with([GRANT, [assistant_message("ok")]], spy)
    provider = fresh(mongo, agent)
    with pytest.raises(TypeError, match="sesion"):
        await provider.execute_agent("ops-agent", "go", sesion=None)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="contxt"):
        await provider.resume_agent("apr_x", contxt={})  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="hook"):
        AgentRegistry().register(agent, hook=RunHooks())  # type: ignore[call-arg]
    assert spy.calls == []


async def test_a_dataclass_context_comes_back_as_its_type_in_a_fresh_provider(
    mongo: MongoDBClient,
) -> None:
    spy = Spy()
    agent, _ = agent_with([GRANT, [assistant_message("done")]], spy)
    run = await fresh(mongo, agent).execute_agent(
        "ops-agent", "grant", context=OpsContext(team="sre", ticket="T-1")
    )
    assert run.approval_id is not None
    record = await fresh(mongo, agent).store.get(run.approval_id)
    assert record.run_options.context_codec == "type"

    resumer = fresh(mongo, agent)
    await resumer.store.decide(run.approval_id, verdict="approved", reviewer="alice")
    done = await resumer.resume_agent(run.approval_id)

    assert done.status is RunStatus.SUCCESS, done.error
    [seen] = spy.contexts
    assert seen == OpsContext(team="sre", ticket="T-1") and isinstance(seen, OpsContext)
    assert done.outcomes["c1"].status is CallOutcomeStatus.EXECUTED


async def test_a_pydantic_context_comes_back_as_its_type(mongo: MongoDBClient) -> None:
    spy = Spy()
    agent, _ = agent_with([GRANT, [assistant_message("done")]], spy)
    run = await fresh(mongo, agent).execute_agent(
        "ops-agent", "grant", context=TicketContext(ticket="T-9", priority=1)
    )
    assert run.approval_id is not None
    resumer = fresh(mongo, agent, context_codec=TypeContextCodec(TicketContext))
    await resumer.store.decide(run.approval_id, verdict="approved", reviewer="alice")
    done = await resumer.resume_agent(run.approval_id)
    assert done.status is RunStatus.SUCCESS
    assert spy.contexts == [TicketContext(ticket="T-9", priority=1)]
    assert isinstance(spy.contexts[0], TicketContext)


@pytest.mark.parametrize(
    "context", [Box(), {"client": threading.Lock()}], ids=["object", "dict-with-a-handle"]
)
async def test_a_context_that_cannot_be_stored_is_refused_at_pause_and_nothing_is_stored(
    mongo: MongoDBClient, context: Any
) -> None:
    spy = Spy()
    agent, _ = agent_with([GRANT, [assistant_message("done")]], spy)
    provider = fresh(mongo, agent)
    with pytest.raises(ContextNotSerializable, match="context"):
        await provider.execute_agent("ops-agent", "grant", context=context)
    assert await mongo.collection(COLLECTION_NAME).count_documents({}) == 0
    assert spy.calls == []


async def test_context_at_resume_replaces_handles_that_cannot_be_stored(
    mongo: MongoDBClient,
) -> None:
    spy = Spy()
    agent, _ = agent_with([GRANT, [assistant_message("done")]], spy)

    class DropClient:
        """An app codec: stores the ticket, never the client."""

        def serialize(self, context: Any) -> dict[str, Any]:
            return {"ticket": context["ticket"]}

        def deserialize(self, data: Any) -> Any:
            return {"ticket": data["ticket"]}

    run = await fresh(mongo, agent, context_codec=DropClient()).execute_agent(
        "ops-agent", "grant", context={"ticket": "T-2"}
    )
    assert run.approval_id is not None
    resumer = fresh(mongo, agent)  # no codec here: the paused run's cannot be rebuilt
    await resumer.store.decide(run.approval_id, verdict="approved", reviewer="alice")
    with pytest.raises(RunOptionMissing, match="context codec"):
        await resumer.resume_agent(run.approval_id)
    assert (await resumer.store.get(run.approval_id)).status is ApprovalStatus.DECIDED
    client = object()
    done = await resumer.resume_agent(run.approval_id, context={"ticket": "T-2", "client": client})
    assert done.status is RunStatus.SUCCESS
    assert spy.contexts == [{"ticket": "T-2", "client": client}]


def formatter(args: ToolErrorFormatterArgs[Any]) -> str | None:
    if args.kind == "approval_rejected":
        return f"policy says no to {args.tool_name}"
    return None


async def test_a_rejection_without_a_message_is_worded_by_the_runs_formatter(
    mongo: MongoDBClient,
) -> None:
    spy = Spy()
    agent, model = agent_with([GRANT, [assistant_message("understood")]], spy)
    config = RunConfig(tool_error_formatter=formatter, workflow_name="ops-approvals")
    run = await fresh(mongo, agent).execute_agent("ops-agent", "grant", run_config=config)
    assert run.approval_id is not None
    record = await fresh(mongo, agent).store.get(run.approval_id)
    assert record.run_options.run_config == {"workflow_name": "ops-approvals"}
    assert record.run_options.supplied == ["run_config.tool_error_formatter"]

    bare = fresh(mongo, agent)
    await bare.store.decide(run.approval_id, verdict="rejected", reviewer="alice")
    with pytest.raises(RunOptionMissing, match="tool_error_formatter"):
        await bare.resume_agent(run.approval_id)
    assert (await bare.store.get(run.approval_id)).status is ApprovalStatus.DECIDED

    supplied = fresh(mongo, agent, run_config=RunConfig(tool_error_formatter=formatter))
    result = await supplied.resume_agent(run.approval_id)
    assert result.status is RunStatus.SUCCESS and spy.calls == []
    assert read_by_model(model) == {"c1": "policy says no to grant_access"}
    assert result.outcomes["c1"].status is CallOutcomeStatus.REJECTED
    assert result.outcomes["c1"].output == "policy says no to grant_access"


async def test_without_a_formatter_the_projects_rejection_text_applies(
    mongo: MongoDBClient,
) -> None:
    spy = Spy()
    agent, model = agent_with([GRANT, [assistant_message("understood")]], spy)
    run = await fresh(mongo, agent).execute_agent("ops-agent", "grant")
    assert run.approval_id is not None
    resumer = fresh(mongo, agent)
    await resumer.store.decide(run.approval_id, verdict="rejected", reviewer="alice")
    await resumer.resume_agent(run.approval_id)
    assert read_by_model(model) == {"c1": "The tool call was rejected by alice. Do not retry it."}


async def test_stored_run_config_fields_apply_at_resume(mongo: MongoDBClient) -> None:
    spy = Spy()
    agent, model = agent_with([GRANT, [assistant_message("done")]], spy)
    config = RunConfig(model_settings=ModelSettings(temperature=0.15), workflow_name="grants")
    run = await fresh(mongo, agent).execute_agent(
        "ops-agent", "grant", run_config=config, max_turns=7
    )
    assert run.approval_id is not None
    resumer = fresh(mongo, agent)
    record = await resumer.store.get(run.approval_id)
    assert record.run_options.max_turns == 7
    assert record.run_options.run_config["model_settings"] == {"temperature": 0.15}
    await resumer.store.decide(run.approval_id, verdict="approved", reviewer="alice")
    await resumer.resume_agent(run.approval_id)
    assert model.last_call is not None
    assert model.last_call.model_settings.temperature == 0.15


async def test_hooks_of_the_paused_run_must_be_supplied_again(mongo: MongoDBClient) -> None:
    spy = Spy()
    agent, _ = agent_with([GRANT, [assistant_message("done")]], spy)
    started: list[str] = []

    class Hooks(RunHooks[Any]):
        async def on_tool_start(self, context: Any, agent: Any, tool: Any) -> None:
            started.append(tool.name)

    run = await fresh(mongo, agent).execute_agent("ops-agent", "grant", hooks=Hooks())
    assert run.approval_id is not None
    without = fresh(mongo, agent)
    await without.store.decide(run.approval_id, verdict="approved", reviewer="alice")
    with pytest.raises(RunOptionMissing, match="hooks"):
        await without.resume_agent(run.approval_id)
    assert spy.calls == []
    done = await fresh(mongo, agent, hooks=Hooks()).resume_agent(run.approval_id)
    assert done.status is RunStatus.SUCCESS and started == ["grant_access"]


async def test_an_approved_call_whose_body_raises_ends_tool_error_not_success(
    mongo: MongoDBClient,
) -> None:
    spy = Spy()
    agent, model = agent_with([GRANT, [assistant_message("I tried")]], spy, raises=True)
    run = await fresh(mongo, agent).execute_agent("ops-agent", "grant")
    assert run.approval_id is not None
    resumer = fresh(mongo, agent)
    await resumer.store.decide(run.approval_id, verdict="approved", reviewer="alice")
    done = await resumer.resume_agent(run.approval_id)

    assert done.status is RunStatus.TOOL_ERROR
    outcome = done.outcomes["c1"]
    assert outcome.status is CallOutcomeStatus.TOOL_ERROR
    assert outcome.error == "RuntimeError: okta said 503"
    assert done.error is not None and "did not happen" in done.error
    # The model read the SDK's own error message, as on a bare run.
    assert read_by_model(model)["c1"].startswith("An error occurred while running the tool")
    record = await resumer.store.get(run.approval_id)
    assert record.status is ApprovalStatus.COMPLETED
    stored = record.tool_calls[0].outcome
    assert stored is not None and stored.status is CallOutcomeStatus.TOOL_ERROR
    entry = await ToolExecutionLedger(mongo).get(record.run_id, "c1")
    assert entry is not None and entry.status is ExecutionStatus.RAISED


async def test_expired_and_rejected_calls_have_their_own_outcomes(mongo: MongoDBClient) -> None:
    spy = Spy()
    steps = [
        [
            function_call("grant_access", {"user": "bob", "hours": 1}, call_id="c1"),
            function_call("deploy", {"service": "api"}, call_id="c2"),
        ],
        [assistant_message("ok")],
    ]
    agent, _ = agent_with(steps, spy)
    run = await fresh(mongo, agent).execute_agent("ops-agent", "both")
    assert run.approval_id is not None
    resumer = fresh(mongo, agent)
    await resumer.store.decide(
        run.approval_id, call_id="c1", verdict="rejected", reviewer="alice", message="no"
    )
    await resumer.store.decide(run.approval_id, call_id="c2", verdict="approved", reviewer="bob")
    done = await resumer.resume_agent(run.approval_id)
    assert {k: v.status for k, v in done.outcomes.items()} == {
        "c1": CallOutcomeStatus.REJECTED,
        "c2": CallOutcomeStatus.EXECUTED,
    }
    assert done.outcomes["c1"].output == "no"
    assert done.outcomes["c2"].output == "deployed api"


async def test_partial_resume_keeps_votes_and_deadlines_of_the_undecided_call(
    mongo: MongoDBClient,
) -> None:
    spy = Spy()
    adapter = OpenAIToolAdapter()

    def grant_access(user: str) -> str:
        """Grant access."""
        spy.calls.append(("grant_access", user))
        return f"granted {user}"

    def deploy(service: str) -> str:
        """Deploy."""
        spy.calls.append(("deploy", service))
        return f"deployed {service}"

    model = ScriptedModel(
        [
            [
                function_call("grant_access", {"user": "bob"}, call_id="c1"),
                function_call("deploy", {"service": "api"}, call_id="c2"),
            ],
            [assistant_message("all done")],
        ]
    )
    agent: Agent[Any] = Agent(
        name="ops-agent",
        instructions="ops",
        model=model,
        tools=[
            adapter.adapt(grant_access, metadata={"risk": "high"}),
            adapter.adapt(deploy, metadata={"risk": "high", "min_approvals": 2}),
        ],
    )
    run = await fresh(mongo, agent).execute_agent("ops-agent", "both")
    assert run.approval_id is not None
    resumer = fresh(mongo, agent)
    store = resumer.store
    first = await store.get(run.approval_id)
    deadline = first.tool_calls[1].expires_at
    await store.decide(run.approval_id, call_id="c1", verdict="approved", reviewer="alice")
    await store.decide(run.approval_id, call_id="c2", verdict="approved", reviewer="alice")
    assert (await store.get(run.approval_id)).status is ApprovalStatus.PENDING

    with pytest.raises(Exception, match="not decided"):
        await resumer.resume_agent(run.approval_id)
    again = await resumer.resume_agent(run.approval_id, partial=True)

    assert again.status is RunStatus.AWAITING_APPROVAL and again.approval_id is not None
    assert spy.calls == [("grant_access", "bob")]
    assert again.outcomes["c1"].status is CallOutcomeStatus.EXECUTED
    old = await store.get(run.approval_id)
    assert old.status is ApprovalStatus.COMPLETED and old.next_approval_id == again.approval_id
    nxt = await store.get(again.approval_id)
    assert nxt.run_id == old.run_id and nxt.sequence == old.sequence + 1
    [carried] = nxt.tool_calls
    assert carried.call_id == "c2"
    assert [vote.reviewer for vote in carried.votes] == ["alice"]
    assert carried.expires_at == deadline

    await store.decide(again.approval_id, call_id="c2", verdict="approved", reviewer="bob")
    done = await resumer.resume_agent(again.approval_id)
    assert done.status is RunStatus.SUCCESS and done.final_output == "all done"
    assert spy.calls == [("grant_access", "bob"), ("deploy", "api")]


async def test_partial_resume_can_be_the_agents_default(mongo: MongoDBClient) -> None:
    spy = Spy()
    steps = [
        [
            function_call("grant_access", {"user": "bob", "hours": 1}, call_id="c1"),
            function_call("deploy", {"service": "api"}, call_id="c2"),
        ],
        [assistant_message("deploy still waits")],
    ]
    agent, _ = agent_with(steps, spy)
    run = await fresh(mongo, agent, partial_resume=True).execute_agent("ops-agent", "both")
    assert run.approval_id is not None
    record = await fresh(mongo, agent).store.get(run.approval_id)
    assert record.run_options.partial_resume is True
    resumer = fresh(mongo, agent)  # the record remembers the policy it paused under
    await resumer.store.decide(run.approval_id, call_id="c1", verdict="approved", reviewer="al")
    again = await resumer.resume_agent(run.approval_id)
    assert again.status is RunStatus.AWAITING_APPROVAL
    assert spy.calls == [("grant_access", {"user": "bob", "hours": 1})]


async def bare_sdk_session_items(tmp_path: Any) -> list[Any]:
    """What the raw SDK writes to a session across the same pause, in one process."""
    from agents import Runner, RunState, SQLiteSession

    spy = Spy()
    agent, _ = agent_with([GRANT, [assistant_message("done")]], spy)
    session = SQLiteSession("bare", str(tmp_path / "bare.db"))
    first = await Runner.run(agent, "grant", session=session)
    state = await RunState.from_json(agent, first.to_state().to_json())
    state.approve(state.get_interruptions()[0])
    await Runner.run(agent, state, session=session)
    return await session.get_items()


def comparable(items: list[Any]) -> list[Any]:
    return [{k: v for k, v in dict(item).items() if k != "id"} for item in items]


async def test_a_session_gets_what_the_raw_sdk_writes_and_is_rebuilt_at_resume(
    mongo: MongoDBClient, tmp_path: Any
) -> None:
    from agents import SQLiteSession

    path = str(tmp_path / "sessions.db")
    spy = Spy()
    agent, _ = agent_with([GRANT, [assistant_message("done")]], spy)
    session = SQLiteSession("ops-42", path)
    run = await fresh(mongo, agent).execute_agent("ops-agent", "grant", session=session)
    assert run.approval_id is not None
    paused_items = await session.get_items()
    assert [item.get("type", item.get("role")) for item in paused_items] == [
        "user",
        "function_call",
    ]
    record = await fresh(mongo, agent).store.get(run.approval_id)
    assert (record.run_options.session_id, record.run_options.session_type) == (
        "ops-42",
        "SQLiteSession",
    )

    no_factory = fresh(mongo, agent)
    await no_factory.store.decide(run.approval_id, verdict="approved", reviewer="alice")
    with pytest.raises(RunOptionMissing, match="ops-42"):
        await no_factory.resume_agent(run.approval_id)

    opened: list[str] = []

    def reopen(session_id: str) -> SQLiteSession:
        opened.append(session_id)
        return SQLiteSession(session_id, path)

    done = await fresh(mongo, agent, session_factory=reopen).resume_agent(run.approval_id)
    assert done.status is RunStatus.SUCCESS and opened == ["ops-42"]
    after = await SQLiteSession("ops-42", path).get_items()
    assert comparable(after) == comparable(await bare_sdk_session_items(tmp_path))


async def test_a_worker_resumes_a_partially_decided_run_under_a_partial_policy(
    mongo: MongoDBClient,
) -> None:
    from evolving_agents import ResumeWorker

    spy = Spy()
    steps = [
        [
            function_call("grant_access", {"user": "bob", "hours": 1}, call_id="c1"),
            function_call("deploy", {"service": "api"}, call_id="c2"),
        ],
        [assistant_message("deploy still waits")],
    ]
    agent, _ = agent_with(steps, spy)
    provider = fresh(mongo, agent, partial_resume=True)
    run = await provider.execute_agent("ops-agent", "both")
    assert run.approval_id is not None
    idle = await ResumeWorker(provider, poll_interval=0.05).run(drain=True)
    assert idle.claimed == 0 and spy.calls == []  # nothing decided yet: nothing to resume

    await provider.store.decide(run.approval_id, call_id="c1", verdict="approved", reviewer="al")
    stats = await ResumeWorker(provider, poll_interval=0.05).run(drain=True)

    assert stats.claimed == 1 and spy.calls == [("grant_access", {"user": "bob", "hours": 1})]
    old = await provider.store.get(run.approval_id)
    assert old.status is ApprovalStatus.COMPLETED and old.next_approval_id is not None
    nxt = await provider.store.get(old.next_approval_id)
    assert [call.call_id for call in nxt.undecided_calls()] == ["c2"]


async def test_a_session_across_chained_pauses_holds_each_item_once(
    mongo: MongoDBClient, tmp_path: Any
) -> None:
    from agents import Runner, RunState, SQLiteSession

    def script() -> list[Any]:
        return [
            GRANT,
            [function_call("deploy", {"service": "api"}, call_id="c2")],
            [assistant_message("granted and deployed")],
        ]

    # The raw SDK, in one process: two pauses, each approved after a JSON round trip.
    bare_agent, _ = agent_with(script(), Spy())
    bare = SQLiteSession("bare", str(tmp_path / "bare.db"))
    result = await Runner.run(bare_agent, "grant then deploy", session=bare)
    while result.interruptions:
        state = await RunState.from_json(bare_agent, result.to_state().to_json())
        for item in state.get_interruptions():
            state.approve(item)
        result = await Runner.run(bare_agent, state, session=bare)

    path = str(tmp_path / "eat.db")
    spy = Spy()
    agent, _ = agent_with(script(), spy)
    first = await fresh(mongo, agent).execute_agent(
        "ops-agent", "grant then deploy", session=SQLiteSession("chain", path)
    )
    approval_id = first.approval_id
    done = first
    while approval_id is not None and done.status is RunStatus.AWAITING_APPROVAL:
        resumer = fresh(mongo, agent, session_factory=lambda sid: SQLiteSession(sid, path))
        await resumer.store.decide(approval_id, verdict="approved", reviewer="alice")
        done = await resumer.resume_agent(approval_id)
        approval_id = done.approval_id
    assert done.status is RunStatus.SUCCESS and done.final_output == "granted and deployed"
    assert [name for name, _ in spy.calls] == ["grant_access", "deploy"]
    ours = comparable(await SQLiteSession("chain", path).get_items())
    assert ours == comparable(await bare.get_items())
    assert len(ours) == 6  # user, call, output, call, output, answer: nothing twice


async def test_a_dataclass_context_survives_chained_pauses(mongo: MongoDBClient) -> None:
    spy = Spy()
    steps = [GRANT, [function_call("grant_access", {"user": "bob", "hours": 1}, call_id="c2")]]
    agent, _ = agent_with([*steps, [assistant_message("both granted")]], spy)
    run = await fresh(mongo, agent).execute_agent(
        "ops-agent", "grant two", context=OpsContext(team="sre", ticket="T-3")
    )
    for _ in range(2):
        assert run.approval_id is not None and run.status is RunStatus.AWAITING_APPROVAL
        resumer = fresh(mongo, agent)
        record = await resumer.store.get(run.approval_id)
        assert record.run_options.context_codec == "type"
        await resumer.store.decide(run.approval_id, verdict="approved", reviewer="alice")
        run = await resumer.resume_agent(run.approval_id)
    assert run.status is RunStatus.SUCCESS
    assert spy.contexts == [OpsContext(team="sre", ticket="T-3")] * 2
    assert all(isinstance(context, OpsContext) for context in spy.contexts)


async def test_the_approval_tool_does_not_call_a_failed_approved_action_ok(
    mongo: MongoDBClient,
) -> None:
    from evolving_agents.tools.intent_review.openai_tool_approval_tool import (
        ApprovalToolInput,
        OpenAIToolApprovalTool,
    )

    spy = Spy()
    agent, _ = agent_with([GRANT, [assistant_message("I tried")]], spy, raises=True)
    run = await fresh(mongo, agent).execute_agent("ops-agent", "grant")
    tool = OpenAIToolApprovalTool(provider=fresh(mongo, agent))
    await tool.run(
        ApprovalToolInput(action="approve", approval_id=run.approval_id, reviewer="dana")
    )
    resumed = await tool.run(ApprovalToolInput(action="resume", approval_id=run.approval_id))
    assert not resumed.ok
    assert resumed.message.startswith("tool_error: ") and "okta said 503" in resumed.message
