"""The README's first screen shows only the two commands, and its first example runs as written
(its model is a scripted one: no API key here) on the wire server as ``MONGODB_URI``.

Every other block is run by ``tests/test_docs_blocks.py``; this one is read more closely: the
context comes back typed, and the SDK session holds what the raw SDK would write to it.
"""

from __future__ import annotations

import ast
import re
import sys
import types
from pathlib import Path

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"
TWO_COMMANDS = [
    "pip install -e '.[local]' && eat demo",
    "pip install -e '.[dev]' && python -m pytest",
]
SCREEN_LINES = 24


def first_python_block() -> str:
    match = re.search(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    assert match is not None
    return match.group(1)


def test_the_first_screen_shows_only_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    first_screen = text[: text.index("\n## ")]
    assert len(first_screen.splitlines()) <= SCREEN_LINES
    blocks = re.findall(r"```(\w*)\n(.*?)```", first_screen, re.DOTALL)
    assert blocks == [("bash", "\n".join(TWO_COMMANDS) + "\n")]


async def test_the_readme_example_pauses_with_a_session_and_a_typed_context_and_resumes(
    wire_env: dict[str, str],
) -> None:
    source = first_python_block()
    assert "session=" in source and "context=OpsContext(" in source
    assert "ScriptedModel(" in source, "offline as written"
    # A module of its own, as an app's would be: the context type is imported back by name.
    module = types.ModuleType("readme_example")
    sys.modules[module.__name__] = module
    try:
        code = compile(
            source, str(README), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True
        )
        coroutine = eval(code, module.__dict__)
        if coroutine is not None:
            await coroutine
    finally:
        del sys.modules[module.__name__]
    names = module.__dict__

    done = names["done"]
    assert done.status == "success" and done.final_output == "Alice is Okta admin for 48h."
    outcome = done.outcomes["c1"]
    assert outcome.status == "executed"
    # The tool body read ctx.context.ticket: the context came back as an OpsContext.
    assert outcome.output == "granted alice Okta admin for 48h under CHG-1234"
    items = await names["session_for"]("chat-42").get_items()
    assert [item.get("type", item.get("role")) for item in items] == [
        "user",
        "function_call",
        "function_call_output",
        "message",
    ]
    await names["client"].close()
