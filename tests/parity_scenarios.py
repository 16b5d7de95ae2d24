"""The OpenAI Agents SDK's own human-in-the-loop examples, rebuilt offline for parity tests.

::

    journal = Journal(tmp_path / "journal.jsonl")
    agent = build_weather_agent(journal)          # a fresh agent, tools and scripted model
    result = await Runner.run(agent, WEATHER_AND_TEMPERATURE)
    journal.entries()                             # every tool body run and every model call

Ported (not copied) from ``examples/agent_patterns/human_in_the_loop*.py``,
``examples/memory/memory_session_hitl_example.py``, ``examples/tools/shell_human_in_the_loop.py``
and ``tests/mcp/test_mcp_approval.py`` of openai/openai-agents-python.

Every builder returns a brand-new agent, so a test can build one for the pausing run and
another for the resuming run, in this process or another one (``tests/apps/parity_app.py``).
The models are ``ScriptedModel`` scripts that answer from the conversation they are sent, not
from a position in a list: a model built in a fresh process picks up where the run left off.
Tool bodies and model calls append to a ``Journal`` file, so the side effects of two
processes end up in one ordered list a test can compare.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from agents import (
    Agent,
    FunctionTool,
    RunConfig,
    RunContextWrapper,
    ShellCallOutcome,
    ShellCommandOutput,
    ShellCommandRequest,
    ShellResult,
    ShellTool,
    function_tool,
)
from agents.items import TResponseOutputItem
from agents.mcp import MCPServer
from agents.run_config import ToolErrorFormatterArgs
from agents.testing import ModelCall, ModelStep, ScriptedModel, assistant_message, function_call
from mcp.types import (
    CallToolResult,
    GetPromptResult,
    ListPromptsResult,
    PromptMessage,
    TextContent,
)
from mcp.types import Tool as MCPTool
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from evolving_agents import OpenAIToolAdapter

JOURNAL_ENV = "EAT_PARITY_JOURNAL"
SQLITE_ENV = "EAT_PARITY_SQLITE"

WEATHER_AGENT = "Weather Assistant"
HITL_AGENT = "HITL Assistant"
SHELL_AGENT = "Shell HITL Assistant"
MCP_AGENT = "MCP Assistant"
CONCIERGE_AGENT = "Concierge"

# The requests each script knows how to answer (the user's words select the script).
WEATHER_AND_TEMPERATURE = "What is the weather and temperature in Oakland?"
TWO_TEMPERATURES = "Temperature in Oakland, then in Oakland Hills?"
TEMPERATURE_AND_ALERT = "Temperature in Oakland, and raise a heat alert there."
OAKLAND_WEATHER = "What's the weather in Oakland?"
SF_WEATHER = "And in San Francisco?"
LIST_FILES = "List the files in the current directory and show the working directory."
ADD_NUMBERS = "Add 2 and 3 with the MCP tool."
BOOK_TABLE = "Book me a table at Chez Panisse."

_MODEL_STEPS = 12


class Journal:
    """An append-only JSON-lines file of what happened, shared by every process of a test.

    Each line is one event: a tool body that really ran (``{"tool": ..., "args": ...}``) or a
    model call (``{"model": agent, "read": [...]}``, the conversation items the model was sent).
    One ``write`` per line in append mode: lines from two processes never interleave.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    @classmethod
    def from_env(cls) -> Journal:
        return cls(os.environ[JOURNAL_ENV])

    def tool(self, name: str, **args: Any) -> None:
        self._append({"tool": name, "args": args})

    def model(self, agent: str, call: ModelCall) -> None:
        self._append({"model": agent, "read": conversation(call)})

    def entries(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines()]

    def tool_runs(self) -> list[dict[str, Any]]:
        return [entry for entry in self.entries() if "tool" in entry]

    def _append(self, entry: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, sort_keys=True) + "\n")


def conversation(call: ModelCall) -> list[Any]:
    """The input items of one model call as plain JSON, the way the model receives them."""
    items = call.input if isinstance(call.input, list) else [call.input]
    return [to_jsonable_python(item, fallback=str) for item in items]


_CALL_TYPES = ("function_call", "shell_call", "computer_call")
_OUTPUT_TYPES = ("function_call_output", "shell_call_output", "computer_call_output")


def tool_outputs_read(entries: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Call id, type and output of every tool output each model call read, call by call."""
    reads = []
    for entry in entries:
        if "model" not in entry:
            continue
        reads.append(
            [
                {"call_id": item.get("call_id"), "type": item["type"], "output": item["output"]}
                for item in entry["read"]
                if isinstance(item, dict) and item.get("type") in _OUTPUT_TYPES
            ]
        )
    return reads


# -- scripted models ---------------------------------------------------------------------

Turn = Callable[[list[dict[str, Any]]], list[TResponseOutputItem]]


def calls(*items: Callable[[], TResponseOutputItem]) -> Turn:
    """A turn proposing tool calls (built fresh per model call)."""
    return lambda _since_user: [make() for make in items]


def echo_outputs(since_user: list[dict[str, Any]]) -> list[TResponseOutputItem]:
    """The final answer: every tool output read since the user spoke, so it shows in the output."""
    read = [_text(item["output"]) for item in since_user if item.get("type") in _OUTPUT_TYPES]
    return [assistant_message("read: " + " | ".join(read))]


def scripted_model(agent_name: str, journal: Journal, scripts: dict[str, list[Turn]]) -> Any:
    """A model that answers the last user message with its script, from the conversation.

    The turn to play is the first one whose tool calls are not all in the conversation yet
    (after the last user message): a resumed run, whichever process builds the model, is sent
    the calls it made before the pause and so gets the next turn.
    """

    def respond(call: ModelCall) -> list[TResponseOutputItem]:
        journal.model(agent_name, call)
        items = conversation(call)
        last_user = max(
            (i for i, item in enumerate(items) if isinstance(item, dict) and _is_user(item)),
            default=-1,
        )
        request = _text(items[last_user].get("content")) if last_user >= 0 else ""
        since_user = [item for item in items[last_user + 1 :] if isinstance(item, dict)]
        made = {item.get("call_id") for item in since_user if item.get("type") in _CALL_TYPES}
        for turn in scripts[request]:
            proposed = turn(since_user)
            ids = {_call_id(item) for item in proposed} - {None}
            if not ids or not ids <= made:
                return proposed
        raise AssertionError(f"script for {request!r} has no turn left; the run looped")

    return ScriptedModel([ModelStep.respond(respond) for _ in range(_MODEL_STEPS)])


def _is_user(item: dict[str, Any]) -> bool:
    return item.get("role") == "user" and item.get("type", "message") == "message"


def _call_id(item: Any) -> str | None:
    if isinstance(item, dict):
        return item.get("call_id")
    return getattr(item, "call_id", None)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        # Content parts carry "text"; shell command outputs "stdout" and "stderr" (where a
        # rejected shell call's message goes).
        parts = [
            " ".join(str(part[key]) for key in ("text", "stdout", "stderr") if part.get(key))
            if isinstance(part, dict)
            else str(part)
            for part in value
        ]
        return " ".join(parts)
    return json.dumps(value, sort_keys=True)


# -- human_in_the_loop.py / human_in_the_loop_stream.py / custom rejection -------------------


def build_weather_agent(journal: Journal) -> Agent[Any]:
    """The SDK's Weather Assistant: weather runs freely, Oakland temperatures need approval.

    ``issue_heat_alert`` is the same kind of SDK tool adapted by EAT with a quorum of two
    (``min_approvals``), for the partial-resume scenario.
    """

    @function_tool
    async def get_weather(city: str) -> str:
        """Get the weather for a given city."""
        journal.tool("get_weather", city=city)
        return f"The weather in {city} is sunny"

    async def needs_temperature_approval(_ctx: Any, params: dict[str, Any], _call_id: str) -> bool:
        return "Oakland" in params.get("city", "")

    @function_tool(needs_approval=needs_temperature_approval)
    async def get_temperature(city: str) -> str:
        """Get the temperature for a given city."""
        journal.tool("get_temperature", city=city)
        return f"The temperature in {city} is 20° Celsius"

    async def issue_heat_alert(city: str, level: str) -> str:
        """Issue a public heat alert for a city."""
        journal.tool("issue_heat_alert", city=city, level=level)
        return f"{level} heat alert issued for {city}"

    alert = OpenAIToolAdapter().adapt(
        issue_heat_alert, metadata={"system": "alerts", "min_approvals": 2}, needs_approval=True
    )
    scripts: dict[str, list[Turn]] = {
        WEATHER_AND_TEMPERATURE: [
            calls(
                lambda: function_call("get_weather", {"city": "Oakland"}, call_id="call_weather"),
                lambda: function_call("get_temperature", {"city": "Oakland"}, call_id="call_temp"),
            ),
            echo_outputs,
        ],
        TWO_TEMPERATURES: [
            calls(lambda: function_call("get_temperature", {"city": "Oakland"}, call_id="call_t1")),
            calls(
                lambda: function_call(
                    "get_temperature", {"city": "Oakland Hills"}, call_id="call_t2"
                )
            ),
            echo_outputs,
        ],
        TEMPERATURE_AND_ALERT: [
            calls(
                lambda: function_call("get_temperature", {"city": "Oakland"}, call_id="call_temp"),
                lambda: function_call(
                    "issue_heat_alert", {"city": "Oakland", "level": "red"}, call_id="call_alert"
                ),
            ),
            echo_outputs,
        ],
    }
    return Agent(
        name=WEATHER_AGENT,
        instructions=(
            "You are a helpful weather assistant. "
            "Answer questions about weather and temperature using the available tools."
        ),
        tools=[get_weather, get_temperature, alert],
        model=scripted_model(WEATHER_AGENT, journal, scripts),
    )


def polite_rejection(args: ToolErrorFormatterArgs[Any]) -> str | None:
    """``RunConfig.tool_error_formatter``: the text read for a rejection without a message."""
    if args.kind != "approval_rejected":
        return None
    return f"Tool call {args.tool_name} ({args.call_id}) was declined by an operator."


def custom_rejection_config() -> RunConfig:
    return RunConfig(tool_error_formatter=polite_rejection)


# -- memory_session_hitl_example.py ----------------------------------------------------------


def build_hitl_agent(journal: Journal) -> Agent[Any]:
    """The SDK's HITL Assistant of the session example: every weather lookup needs approval."""

    async def always(_ctx: Any, _params: dict[str, Any], _call_id: str) -> bool:
        return True

    @function_tool(needs_approval=always)
    def get_weather(location: str) -> str:
        """Get weather for a location."""
        journal.tool("get_weather", location=location)
        weather = {"san francisco": "Foggy, 58°F", "oakland": "Sunny, 72°F"}
        for city, report in weather.items():
            if city in location.lower():
                return report
        return f"Weather data not available for {location}"

    scripts: dict[str, list[Turn]] = {
        OAKLAND_WEATHER: [
            calls(lambda: function_call("get_weather", {"location": "Oakland"}, call_id="call_w1")),
            echo_outputs,
        ],
        SF_WEATHER: [
            calls(
                lambda: function_call(
                    "get_weather", {"location": "San Francisco"}, call_id="call_w2"
                )
            ),
            echo_outputs,
        ],
    }
    return Agent(
        name=HITL_AGENT,
        instructions="You help users with information. Always use available tools.",
        tools=[get_weather],
        model=scripted_model(HITL_AGENT, journal, scripts),
    )


# -- shell_human_in_the_loop.py --------------------------------------------------------------


@dataclasses.dataclass
class RecordingShellExecutor:
    """A local shell executor that records the commands it is asked to run and runs none."""

    journal: Journal

    async def __call__(self, request: ShellCommandRequest) -> ShellResult:
        commands = list(request.data.action.commands)
        self.journal.tool("shell", commands=commands)
        return ShellResult(
            output=[
                ShellCommandOutput(
                    command=command,
                    stdout=f"(not run) {command}",
                    outcome=ShellCallOutcome(type="exit", exit_code=0),
                )
                for command in commands
            ]
        )


def shell_call(commands: list[str], *, call_id: str) -> TResponseOutputItem:
    """A model's ``shell_call`` output item, as the Responses API sends it."""
    item: Any = {
        "type": "shell_call",
        "id": call_id,
        "call_id": call_id,
        "status": "completed",
        "action": {"commands": commands, "timeout_ms": 5000},
    }
    return item  # type: ignore[no-any-return]


def build_shell_agent(journal: Journal) -> Agent[Any]:
    scripts: dict[str, list[Turn]] = {
        LIST_FILES: [calls(lambda: shell_call(["ls", "pwd"], call_id="call_shell")), echo_outputs]
    }
    return Agent(
        name=SHELL_AGENT,
        instructions="You can run shell commands using the shell tool.",
        tools=[ShellTool(executor=RecordingShellExecutor(journal), needs_approval=True)],
        model=scripted_model(SHELL_AGENT, journal, scripts),
    )


# -- tests/mcp/test_mcp_approval.py ----------------------------------------------------------


class JournalMCPServer(MCPServer):
    """A local, in-process MCP server (like the SDK's FakeMCPServer) whose calls are journaled."""

    def __init__(self, journal: Journal, *, require_approval: Any = "always") -> None:
        super().__init__(require_approval=require_approval)
        self.journal = journal
        self.tools = [
            MCPTool(
                name="add",
                description="Add two integers.",
                inputSchema={
                    "type": "object",
                    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                    "required": ["a", "b"],
                },
            )
        ]

    @property
    def name(self) -> str:
        return "calculator"

    async def connect(self) -> None:
        return None

    async def cleanup(self) -> None:
        return None

    async def list_tools(self, run_context: Any = None, agent: Any = None) -> list[MCPTool]:
        return list(self.tools)

    async def call_tool(
        self, tool_name: str, arguments: dict[str, Any] | None, meta: dict[str, Any] | None = None
    ) -> CallToolResult:
        self.journal.tool(f"mcp:{tool_name}", **(arguments or {}))
        total = sum(int(value) for value in (arguments or {}).values())
        return CallToolResult(content=[TextContent(type="text", text=f"sum={total}")])

    async def list_prompts(self) -> ListPromptsResult:
        return ListPromptsResult(prompts=[])

    async def get_prompt(
        self, name: str, arguments: dict[str, Any] | None = None
    ) -> GetPromptResult:
        message = PromptMessage(role="user", content=TextContent(type="text", text=name))
        return GetPromptResult(description=name, messages=[message])


def build_mcp_agent(journal: Journal) -> Agent[Any]:
    scripts: dict[str, list[Turn]] = {
        ADD_NUMBERS: [
            calls(lambda: function_call("add", {"a": 2, "b": 3}, call_id="call_add")),
            echo_outputs,
        ]
    }
    return Agent(
        name=MCP_AGENT,
        instructions="Use the calculator.",
        mcp_servers=[JournalMCPServer(journal)],
        model=scripted_model(MCP_AGENT, journal, scripts),
    )


# -- typed run context -----------------------------------------------------------------------


@dataclasses.dataclass
class Guest:
    name: str
    party: int


class GuestModel(BaseModel):
    name: str
    party: int


def build_concierge_agent(journal: Journal) -> Agent[Any]:
    """A tool that reads a typed run context: the context must come back as its own type."""

    async def book_table(ctx: RunContextWrapper[Any], restaurant: str) -> str:
        guest = ctx.context
        journal.tool(
            "book_table", restaurant=restaurant, context_type=type(guest).__name__, guest=guest.name
        )
        return f"table for {guest.party} at {restaurant}, name {guest.name}"

    tool: FunctionTool = function_tool(book_table, needs_approval=True)
    scripts: dict[str, list[Turn]] = {
        BOOK_TABLE: [
            calls(
                lambda: function_call(
                    "book_table", {"restaurant": "Chez Panisse"}, call_id="call_book"
                )
            ),
            echo_outputs,
        ]
    }
    return Agent(
        name=CONCIERGE_AGENT,
        instructions="Book restaurants for the guest.",
        tools=[tool],
        model=scripted_model(CONCIERGE_AGENT, journal, scripts),
    )
